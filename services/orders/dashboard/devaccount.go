package dashboard

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnsureDevManager creates the development dashboard account (DevManagerEmail), or resets
// its password, and marks it dev-only: its password is published, so a start outside dev
// mode removes it (RemoveDevAccounts).
func EnsureDevManager(ctx context.Context, pool *pgxpool.Pool, password string) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := SetManager(ctx, tx, DevManagerEmail, password); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE orders.managers SET dev_only = true WHERE lower(email) = lower($1)`, DevManagerEmail); err != nil {
			return fmt.Errorf("mark %s dev-only: %w", DevManagerEmail, err)
		}
		return nil
	})
}

// RemoveDevAccounts deletes every dev-only dashboard account and, with it, its sessions, so
// that after a dev-mode run on the same database neither the account's published password
// nor a session it opened works. A start outside dev mode calls it; it returns the emails
// it removed. Decisions those accounts made stay in the event store, which names deciders
// by email and does not depend on the account.
func RemoveDevAccounts(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	rows, err := pool.Query(ctx, `DELETE FROM orders.managers WHERE dev_only RETURNING email`)
	if err != nil {
		return nil, fmt.Errorf("remove dev-only accounts: %w", err)
	}
	emails, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("remove dev-only accounts: %w", err)
	}
	return emails, nil
}
