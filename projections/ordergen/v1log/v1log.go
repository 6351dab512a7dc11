// Package v1log holds, for tests, a log the code wrote before order.placed.v2: the
// histories ordergen.Generate wrote with Options, dumped from the events table in position
// order, one envelope a line. It stays out of every binary.
package v1log

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/projections/ordergen"
)

//go:embed testdata/log_order_placed_v1.jsonl
var log []byte

// Options are the options ordergen.Generate wrote the log's histories with: Generate with
// them today writes the same histories in the current versions of the events.
var Options = ordergen.Options{Events: 250, Seed: 61, InFlight: 20, Prefix: "v1-"}

// Import stores the log as it was (positions follow the database's), and returns how
// many events of each name it holds.
func Import(ctx context.Context, pool *pgxpool.Pool) (map[string]int, error) {
	var events []eventstore.Recorded
	names := map[string]int{}
	for i, line := range bytes.Split(bytes.TrimSpace(log), []byte("\n")) {
		var r eventstore.Recorded
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, fmt.Errorf("v1 log, line %d: %w", i+1, err)
		}
		events = append(events, r)
		names[r.Name]++
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return eventstore.Import(ctx, tx, events) })
	return names, err
}
