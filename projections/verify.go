package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/eventstore"
)

// Diff is how the live read models differ from a build of the same log.
type Diff struct {
	// Tables lists the tables that differ, in the projections' order.
	Tables []TableDiff
	// Changing is how many orders were left out of the comparison because events of
	// theirs were on their way while it ran (one side had them, the other not yet).
	Changing int
	// Unchecked names tables that could not be compared for that reason (counters over
	// every order).
	Unchecked []string
}

// Equal reports whether no compared row differs.
func (d Diff) Equal() bool { return len(d.Tables) == 0 }

// TableDiff is how one table differs.
type TableDiff struct {
	Table string
	// Count is how many rows differ; Rows holds the first of them, in key order.
	Count int
	Rows  []RowDiff
}

// Row problems.
const (
	// Missing: the build has the row, the live table has not.
	Missing = "missing"
	// Extra: the live table has a row the build has not.
	Extra = "extra"
	// Differs: both have the row, with different values.
	Differs = "differs"
)

// RowDiff is one row that differs.
type RowDiff struct {
	// Key names the row: its key columns and values ("order_id=ord-1").
	Key     string
	Problem string
	// Columns are the columns whose values differ (all of them for a missing or extra row).
	Columns []ColumnDiff
}

// ColumnDiff is one column's value in the live table and in the build, as JSON (absent
// when the row is).
type ColumnDiff struct {
	Column, Live, Rebuilt string
}

// verifyAttempts is how many times Verify compares when orders keep changing under it,
// hoping for a quiet moment.
const verifyAttempts = 3

// groupWait bounds how long Verify waits for the live consumer group to reach the point
// its build has reached.
const groupWait = 30 * time.Second

// Verify builds the read models of opts.Projections from the log into a schema of its
// own and compares them with the live ones, at most maxRows differing rows per table
// listed (all counted). The live tables are compared once the projections' consumer group
// has reached the build's point in the log, in one snapshot; orders whose events are on
// their way (consumed on one side but not the other, or not consumed yet while the live
// row already shows them) are left out and counted, as are the counters over all orders
// then. The build is dropped afterwards; nothing live is touched.
func Verify(ctx context.Context, pool *pgxpool.Pool, opts Options, maxRows int) (Diff, Result, error) {
	if opts.Until != 0 || !opts.UntilTime.IsZero() {
		return Diff{}, Result{}, errors.New("verify compares with the live read models, which are at the head of the log")
	}
	b, err := newWorkingBuilder(ctx, pool, verifyPrefix, opts)
	if err != nil {
		return Diff{}, Result{}, err
	}
	defer b.drop(ctx)
	if err := b.reachHead(ctx); err != nil {
		return Diff{}, b.result(), err
	}
	if err := b.finish(ctx); err != nil {
		return Diff{}, b.result(), err
	}
	for attempt := 1; ; attempt++ {
		if _, err := b.catchUp(ctx, nil); err != nil {
			return Diff{}, b.result(), err
		}
		if err := waitForGroup(ctx, pool, b.cursor()); err != nil {
			return Diff{}, b.result(), err
		}
		d, err := compare(ctx, pool, b, max(maxRows, 1))
		if err != nil || d.Changing == 0 || attempt == verifyAttempts {
			return d, b.result(), err
		}
	}
}

// waitForGroup waits until the projections' consumer group has consumed every topic at
// least up to at.
func waitForGroup(ctx context.Context, pool *pgxpool.Pool, at map[string]eventstore.Offset) error {
	deadline := time.Now().Add(groupWait)
	topics := slices.Sorted(maps.Keys(at))
	for {
		group, err := eventstore.GroupOffsets(ctx, pool, ConsumerGroup, topics, false)
		if err != nil {
			return err
		}
		behind := slices.DeleteFunc(slices.Clone(topics), func(t string) bool { return !group[t].Less(at[t]) })
		if len(behind) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the live read models are behind the log on %s (is the orders service consuming?): "+
				"verify compares them once their consumer group %q has caught up", strings.Join(behind, ", "), ConsumerGroup)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(headPoll):
		}
	}
}

// compare compares the live tables with the build's in one snapshot.
func compare(ctx context.Context, pool *pgxpool.Pool, b *builder, maxRows int) (Diff, error) {
	var d Diff
	err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		changing, err := changingOrders(ctx, tx, b)
		if err != nil {
			return err
		}
		d.Changing = len(changing)
		for _, t := range tablesOf(b.ps) {
			cols, keys, err := columnsOf(ctx, tx, t.Name)
			if err != nil {
				return err
			}
			if len(changing) > 0 && !slices.Contains(cols, "order_id") {
				d.Unchecked = append(d.Unchecked, t.Name)
				continue
			}
			td, err := diffTable(ctx, tx, b.schema, t, cols, keys, changing, maxRows)
			if err != nil {
				return err
			}
			if td.Count > 0 {
				d.Tables = append(d.Tables, td)
			}
		}
		return nil
	})
	return d, err
}

// changingOrders lists the orders with events after the earlier of the build's and the
// live group's point in some topic, as tx sees the log: those rows may differ only
// because one side is ahead.
func changingOrders(ctx context.Context, tx pgx.Tx, b *builder) ([]string, error) {
	group, err := eventstore.GroupOffsets(ctx, tx, ConsumerGroup, b.topics, false)
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for topic, at := range b.cursor() {
		from := at
		if group[topic].Less(from) {
			from = group[topic]
		}
		for {
			var last eventstore.Offset
			n, err := eventstore.ReadCommitted(ctx, tx, topic, from, chunkSize, func(o eventstore.Offset, payload []byte) error {
				last = o
				if payload == nil {
					return nil // a re-driven copy of a message already read
				}
				var r struct {
					StreamID string `json:"streamId"`
				}
				if err := json.Unmarshal(payload, &r); err != nil {
					return fmt.Errorf("decode event envelope: %w", err)
				}
				ids[r.StreamID] = true
				return nil
			})
			if err != nil {
				return nil, err
			}
			if n < chunkSize {
				break
			}
			from = last
		}
	}
	return slices.Sorted(maps.Keys(ids)), nil
}

// columnsOf lists a live table's columns, in order, and its primary key's.
func columnsOf(ctx context.Context, q eventstore.Querier, name string) (cols, keys []string, err error) {
	cols, err = queryStrings(ctx, q, `
		SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
		table(Schema, name))
	if err != nil {
		return nil, nil, err
	}
	keys, err = queryStrings(ctx, q, `
		SELECT a.attname FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(attnum, n), pg_attribute a
		WHERE i.indrelid = $1::regclass AND i.indisprimary AND a.attrelid = i.indrelid AND a.attnum = k.attnum
		ORDER BY k.n`, table(Schema, name))
	if err != nil {
		return nil, nil, err
	}
	if len(keys) == 0 {
		return nil, nil, fmt.Errorf("%s has no primary key to compare rows by", name)
	}
	return cols, keys, nil
}

// diffTable compares one live table with the build's, leaving out the rows of changing
// orders.
func diffTable(ctx context.Context, tx pgx.Tx, schema string, t Table, cols, keys, changing []string, maxRows int) (TableDiff, error) {
	void := "false"
	if t.Void != "" {
		void = t.Void
	}
	var join, order, live, built []string
	for _, k := range keys {
		k = pgx.Identifier{k}.Sanitize()
		join = append(join, "l."+k+" = s."+k)
		order = append(order, "coalesce(l."+k+", s."+k+")")
	}
	for _, c := range cols {
		c = pgx.Identifier{c}.Sanitize()
		live, built = append(live, "l."+c), append(built, "s."+c)
	}
	skip, args := "true", []any{maxRows}
	if slices.Contains(cols, "order_id") {
		// coalesce: pgx sends a nil slice as NULL, and nothing is <> ALL(NULL).
		skip, args = "coalesce(l.order_id, s.order_id) <> ALL(coalesce($2::text[], '{}'))", append(args, changing)
	}
	rows, err := tx.Query(ctx, `
		WITH l AS (SELECT * FROM `+table(Schema, t.Name)+` WHERE NOT (`+void+`)),
		     s AS (SELECT * FROM `+table(schema, t.Name)+` WHERE NOT (`+void+`))
		SELECT to_jsonb(l), to_jsonb(s), count(*) OVER ()
		FROM l FULL JOIN s ON `+strings.Join(join, " AND ")+`
		WHERE (`+strings.Join(live, ", ")+`) IS DISTINCT FROM (`+strings.Join(built, ", ")+`) AND `+skip+`
		ORDER BY `+strings.Join(order, ", ")+` LIMIT $1`, args...)
	if err != nil {
		return TableDiff{}, fmt.Errorf("compare %s: %w", t.Name, err)
	}
	td := TableDiff{Table: Schema + "." + t.Name}
	var l, s []byte
	_, err = pgx.ForEachRow(rows, []any{&l, &s, &td.Count}, func() error {
		rd, err := rowDiff(l, s, cols, keys)
		td.Rows = append(td.Rows, rd)
		return err
	})
	if err != nil {
		return TableDiff{}, fmt.Errorf("compare %s: %w", t.Name, err)
	}
	return td, nil
}

// rowDiff describes one differing row from its live and rebuilt values (either may be
// absent).
func rowDiff(live, rebuilt []byte, cols, keys []string) (RowDiff, error) {
	var l, s map[string]json.RawMessage
	if live != nil {
		if err := json.Unmarshal(live, &l); err != nil {
			return RowDiff{}, err
		}
	}
	if rebuilt != nil {
		if err := json.Unmarshal(rebuilt, &s); err != nil {
			return RowDiff{}, err
		}
	}
	rd := RowDiff{Problem: Differs}
	switch {
	case l == nil:
		rd.Problem = Missing
	case s == nil:
		rd.Problem = Extra
	}
	var key []string
	for _, k := range keys {
		v := l[k]
		if v == nil {
			v = s[k]
		}
		var text string
		if json.Unmarshal(v, &text) != nil {
			text = string(v)
		}
		key = append(key, k+"="+text)
	}
	rd.Key = strings.Join(key, ",")
	for _, c := range cols {
		if l != nil && s != nil && bytes.Equal(l[c], s[c]) {
			continue
		}
		rd.Columns = append(rd.Columns, ColumnDiff{Column: c, Live: string(l[c]), Rebuilt: string(s[c])})
	}
	return rd, nil
}
