package pgtest

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Fingerprint is what a database holds, table by table, in a form that changes with any
// write: each table's row count and the newest transaction id among its rows (xmin), so
// an insert, an update (a new row version) or a delete shows. Tests take one before and
// after a request that must not write, such as a refused one, and compare them.
type Fingerprint map[string]string

// Snapshot takes the Fingerprint of every table outside Postgres's own schemas.
func Snapshot(t testing.TB, pool *pgxpool.Pool) Fingerprint {
	t.Helper()
	return query(t, pool, tables(t, pool), `count(*)::text || '/' || coalesce(max(xmin::text::bigint), 0)::text`)
}

// Contents is what every table holds, as a digest of its rows: unlike a Snapshot, a row
// rewritten with the same values is no change. Tests of idempotency take one after a
// handler's first run and one after its second. ignore names columns left out
// ("schema.table.column"): bookkeeping such as a lock's touch time, which no reader uses.
func Contents(t testing.TB, pool *pgxpool.Pool, ignore ...string) Fingerprint {
	t.Helper()
	fp := Fingerprint{}
	for _, table := range tables(t, pool) {
		row := `to_jsonb(r)`
		for _, col := range ignore {
			if tbl, name, ok := cutLast(col); ok && unquoted(table) == tbl {
				row += " - " + quoteLiteral(name)
			}
		}
		maps.Copy(fp, query(t, pool, []string{table}, `count(*)::text || '/' || coalesce(md5(string_agg((`+row+`)::text, '|' ORDER BY (`+row+`)::text)), '')`))
	}
	return fp
}

func cutLast(s string) (string, string, bool) {
	i := strings.LastIndex(s, ".")
	if i < 0 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

func unquoted(table string) string { return strings.ReplaceAll(table, `"`, "") }

func tables(t testing.TB, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables
		WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	return list
}

// query computes expr over every table's rows (aliased r).
func query(t testing.TB, pool *pgxpool.Pool, tables []string, expr string) Fingerprint {
	t.Helper()
	ctx := context.Background()
	parts := make([]string, len(tables))
	for i, table := range tables {
		parts[i] = fmt.Sprintf(`SELECT %s, %s FROM %s r`, quoteLiteral(table), expr, table)
	}
	fp := Fingerprint{}
	rows, err := pool.Query(ctx, strings.Join(parts, " UNION ALL "))
	if err != nil {
		t.Fatalf("fingerprint tables: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var table, state string
		if err := rows.Scan(&table, &state); err != nil {
			t.Fatalf("fingerprint tables: %v", err)
		}
		fp[table] = state
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("fingerprint tables: %v", err)
	}
	return fp
}

// Changed lists the tables whose rows differ between f and after, sorted.
func (f Fingerprint) Changed(after Fingerprint) []string {
	var changed []string
	for _, table := range slices.Sorted(maps.Keys(after)) {
		if f[table] != after[table] {
			changed = append(changed, table)
		}
	}
	for table := range f {
		if _, ok := after[table]; !ok {
			changed = append(changed, table)
		}
	}
	return changed
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Serve runs req through h and holds the answer to what every request of every service
// keeps, whatever its bytes: no 5xx, and a refusal (4xx) writes nothing, except to the
// tables in allowed (a documented record of the refusal itself). It returns the status
// and the tables the request wrote to.
func Serve(t testing.TB, pool *pgxpool.Pool, h http.Handler, req *http.Request, allowed ...string) (int, []string) {
	t.Helper()
	before := Snapshot(t, pool)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	changed := before.Changed(Snapshot(t, pool))
	if rec.Code >= 500 {
		t.Fatalf("%s %s answered %d: %s", req.Method, req.URL, rec.Code, rec.Body)
	}
	if rec.Code >= 400 {
		if extra := slices.DeleteFunc(slices.Clone(changed), func(s string) bool { return slices.Contains(allowed, s) }); len(extra) > 0 {
			t.Fatalf("%s %s was refused with %d but wrote to %v: %s", req.Method, req.URL, rec.Code, extra, rec.Body)
		}
	}
	return rec.Code, changed
}
