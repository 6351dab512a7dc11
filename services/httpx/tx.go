package httpx

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/eventstore"
)

// Create serves a create-or-get command: it decodes and validates the body as C, runs create
// in a transaction and commits it, then answers 201 with a new resource or 200 with the
// existing one, so a retried request is safe and tells the caller which happened. Both
// answers carry the resource's Location, the path that reads it (RFC 9110 §10.2.2), as
// the orders service's POST /api/orders does.
func Create[C interface{ Validate() error }, R any](w http.ResponseWriter, r *http.Request, logger *slog.Logger, db eventstore.TxBeginner,
	create func(ctx context.Context, tx pgx.Tx, cmd C) (R, bool, error), location func(R) string,
) {
	var cmd C
	if err := DecodeJSON(w, r, &cmd); err != nil {
		WriteError(w, r, logger, err)
		return
	}
	if err := cmd.Validate(); err != nil {
		WriteError(w, r, logger, err)
		return
	}
	ctx := r.Context()
	tx, err := db.Begin(ctx)
	if err != nil {
		WriteError(w, r, logger, fmt.Errorf("begin: %w", err))
		return
	}
	defer func() { _ = tx.Rollback(ctx) }()
	res, created, err := create(ctx, tx, cmd)
	if err == nil {
		err = tx.Commit(ctx)
	}
	if err != nil {
		WriteError(w, r, logger, err)
		return
	}
	w.Header().Set("Location", location(res))
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	WriteJSON(w, status, res)
}
