package projections

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/eventstore"
)

// The tables of a rebuild are built in a schema of their own, copied from the live tables'
// definitions as the database holds them (so they follow every migration): columns,
// defaults, checks, storage parameters (a fillfactor), comments, keys and indexes, all before the
// first row, so that no statement of the rebuild ever runs long (a long statement would
// hold a transaction id and with it every consumer of the log). The triggers come once the bulk of the rows is in.

// createTables creates schema and, in it, an empty copy of every table of ps with its keys
// and indexes, under the live ones' names.
func createTables(ctx context.Context, pool *pgxpool.Pool, schema string, ps []Projection) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return fmt.Errorf("create schema %s: %w", schema, err)
		}
		for _, t := range tablesOf(ps) {
			_, err := tx.Exec(ctx, "CREATE TABLE "+table(schema, t.Name)+" (LIKE "+table(Schema, t.Name)+
				" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING IDENTITY INCLUDING STORAGE INCLUDING COMPRESSION INCLUDING COMMENTS)")
			if err != nil {
				return fmt.Errorf("create %s.%s: %w", schema, t.Name, err)
			}
			keys, err := queryStrings(ctx, tx, `
				SELECT format('ALTER TABLE %s SET (%s)', $2::text, array_to_string(reloptions, ', '))
				FROM pg_class WHERE oid = $1::regclass AND reloptions IS NOT NULL
				UNION ALL
				SELECT format('COMMENT ON TABLE %s IS %L', $2::text, obj_description($1::regclass, 'pg_class'))
				WHERE obj_description($1::regclass, 'pg_class') IS NOT NULL
				UNION ALL (
				SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s', $2::text, conname, pg_get_constraintdef(oid))
				FROM pg_constraint WHERE conrelid = $1::regclass AND contype IN ('p', 'u', 'x') ORDER BY conname)`,
				table(Schema, t.Name), table(schema, t.Name))
			if err != nil {
				return err
			}
			indexes, err := queryStrings(ctx, tx, `
				SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
				WHERE i.indrelid = $1::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
				ORDER BY i.indexrelid::regclass::text`, table(Schema, t.Name))
			if err != nil {
				return err
			}
			for _, def := range indexes {
				keys = append(keys, onTable(def, schema, t.Name))
			}
			for _, k := range keys {
				if _, err := tx.Exec(ctx, k); err != nil {
					return fmt.Errorf("keys and indexes of %s.%s: %w", schema, t.Name, err)
				}
			}
		}
		return nil
	})
}

// finishTables completes the tables of a rebuild once the bulk of their rows is in: the
// tables computed from others (the counters), the live tables' triggers (so rows written
// from now on keep them up to date) and fresh planner statistics.
func finishTables(ctx context.Context, pool *pgxpool.Pool, schema string, ps []Projection) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, p := range ps {
			if p.finish != nil {
				if err := p.finish(ctx, tx, schema); err != nil {
					return err
				}
			}
		}
		for _, t := range tablesOf(ps) {
			triggers, err := queryStrings(ctx, tx, `
				SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal ORDER BY tgname`,
				table(Schema, t.Name))
			if err != nil {
				return err
			}
			for _, def := range triggers {
				if _, err := tx.Exec(ctx, onTable(def, schema, t.Name)); err != nil {
					return fmt.Errorf("trigger of %s.%s: %w", schema, t.Name, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, t := range tablesOf(ps) {
		if _, err := pool.Exec(ctx, "ANALYZE "+table(schema, t.Name)); err != nil {
			return fmt.Errorf("analyze %s.%s: %w", schema, t.Name, err)
		}
	}
	return nil
}

// onTableClause finds the table a CREATE INDEX or CREATE TRIGGER statement is about, as
// pg_get_indexdef and pg_get_triggerdef print it.
var onTableClause = regexp.MustCompile(` ON (ONLY )?\S+ `)

// onTable points a definition printed for a live table at the table of the same name in
// schema.
func onTable(def, schema, name string) string {
	loc := onTableClause.FindStringSubmatchIndex(def)
	if loc == nil {
		return def
	}
	only := ""
	if loc[2] >= 0 {
		only = "ONLY "
	}
	return def[:loc[0]] + " ON " + only + table(schema, name) + " " + def[loc[1]:]
}

// swapTables replaces the live tables of ps by those of schema, through tx: the live ones
// are dropped, the new ones move into Schema under the same names with their indexes,
// keys and triggers, and sequences the live columns own pass to the new columns. Readers
// of the live tables wait for tx; whoever comes after it reads the new ones.
func swapTables(ctx context.Context, tx pgx.Tx, schema string, ps []Projection) error {
	// Readers of a table wait behind the swap's lock on it, order placement among them: a
	// reader in the way for longer fails the swap in seconds rather than holding them for
	// ten, as it did.
	if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '"+swapLockWait+"'"); err != nil {
		return err
	}
	for _, t := range tablesOf(ps) {
		if _, err := tx.Exec(ctx, "LOCK TABLE "+table(Schema, t.Name)+" IN ACCESS EXCLUSIVE MODE"); err != nil {
			return fmt.Errorf("swap %s: a reader held the live table for more than %s (a long report or a backup?); nothing was swapped, run the rebuild again: %w",
				t.Name, swapLockWait, err)
		}
	}
	// A migration applied during the build changed a live table after it was copied: the
	// swap would drop the change with the live table, and goose would not apply it again.
	for _, t := range tablesOf(ps) {
		var live, built string
		if err := tx.QueryRow(ctx, tableShapeSQL, table(Schema, t.Name)).Scan(&live); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, tableShapeSQL, table(schema, t.Name)).Scan(&built); err != nil {
			return err
		}
		if live != built {
			return fmt.Errorf("swap %s: the live table changed during the rebuild (a migration applied meanwhile?); nothing was swapped, run the rebuild again", t.Name)
		}
	}
	for _, t := range tablesOf(ps) {
		live := table(Schema, t.Name)
		// A sequence must live in its table's schema: it is let go before the drop and
		// given to the moved table after.
		owned, err := queryStrings(ctx, tx, `
			SELECT format('%s %s.%I', s, $1::text, a.attname)
			FROM pg_attribute a, pg_get_serial_sequence($1, a.attname) s
			WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND s IS NOT NULL`, live)
		if err != nil {
			return err
		}
		// What the operator granted on the live table (a reporting role's SELECT, on the
		// table or some columns) goes with it: a rebuild dropped every grant, and the
		// reports failed with "permission denied" from the swap on (a probe's reading).
		stmts, err := queryStrings(ctx, tx, grantsSQL, live, table(schema, t.Name))
		if err != nil {
			return err
		}
		for _, o := range owned {
			seq, _, _ := strings.Cut(o, " ")
			stmts = append(stmts, "ALTER SEQUENCE "+seq+" OWNED BY NONE")
		}
		stmts = append(stmts, "DROP TABLE "+live, "ALTER TABLE "+table(schema, t.Name)+" SET SCHEMA "+pgx.Identifier{Schema}.Sanitize())
		for _, o := range owned {
			seq, col, _ := strings.Cut(o, " ")
			stmts = append(stmts, "ALTER SEQUENCE "+seq+" OWNED BY "+col)
		}
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("swap %s: %w", t.Name, err)
			}
		}
	}
	return nil
}

// grantsSQL writes the GRANT statements that give the table $2 the privileges granted on
// the live table $1, to every role but $2's owner (who holds them all): the table's, with
// their grant options, and its columns'.
const grantsSQL = `
	SELECT format('GRANT %s ON %s TO %s%s', a.privilege_type, $2::text,
		CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
		CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
	FROM pg_class c, aclexplode(c.relacl) a
	WHERE c.oid = $1::regclass AND a.grantee <> (SELECT relowner FROM pg_class WHERE oid = $2::regclass)
	UNION ALL
	SELECT format('GRANT %s (%I) ON %s TO %s%s', a.privilege_type, att.attname, $2::text,
		CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
		CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
	FROM pg_attribute att, aclexplode(att.attacl) a
	WHERE att.attrelid = $1::regclass AND att.attnum > 0 AND NOT att.attisdropped
		AND a.grantee <> (SELECT relowner FROM pg_class WHERE oid = $2::regclass)`

// swapLockWait bounds how long the swap waits for each live table's lock.
const swapLockWait = "3s"

// tableShapeSQL describes the table $1 as createTables copies it, whatever its schema: its
// columns (names, types, nullability, defaults) and its indexes and constraints (by name
// and definition, without the table's schema; the constraints createTables copies).
const tableShapeSQL = `SELECT
	(SELECT string_agg(format('%s %s %s %s', a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid)), ', ' ORDER BY a.attnum)
	 FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
	 WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped)
	|| ' | ' || coalesce((SELECT string_agg(regexp_replace(pg_get_indexdef(i.indexrelid), ' ON (ONLY )?\S+ ', ' ON '), ', ' ORDER BY c.relname)
	 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = $1::regclass), '')
	|| ' | ' || coalesce((SELECT string_agg(conname || ' ' || pg_get_constraintdef(oid), ', ' ORDER BY conname)
	 FROM pg_constraint WHERE conrelid = $1::regclass AND contype IN ('p', 'u', 'x', 'c')), '')`

// dropSchema removes a rebuild's schema and whatever is left in it.
func dropSchema(ctx context.Context, db eventstore.Execer, schema string) error {
	_, err := db.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	return err
}

// tablesOf lists the tables of ps.
func tablesOf(ps []Projection) []Table {
	var out []Table
	for _, p := range ps {
		out = append(out, p.Tables...)
	}
	return out
}

func queryStrings(ctx context.Context, q eventstore.Querier, sql string, args ...any) ([]string, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
