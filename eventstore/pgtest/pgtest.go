// Package pgtest gives each integration test its own freshly migrated database on the real
// Postgres, cloned from a template so a test pays milliseconds, not a migration run.
package pgtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/eventstore"
	migrations "github.com/ordermill/ordermill/sql"
)

// BaseURL is the server tests run against: TEST_DATABASE_URL, else DATABASE_URL, else the
// machine's local Postgres. Its database name is ignored.
func BaseURL() string {
	for _, k := range []string{"TEST_DATABASE_URL", "DATABASE_URL"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return eventstore.DefaultDatabaseURL
}

var (
	templateMu   sync.Mutex
	templateName string // the template this binary clones, "" until it is found or built
)

func withDatabase(base, name string) string {
	u, err := url.Parse(base)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + name
	return u.String()
}

// template returns the template database of the migrations, shared by every test binary
// of them, built by the first: its name carries a hash of the migrations, and an
// advisory lock serialises its creation.
func template(ctx context.Context) (string, error) {
	templateMu.Lock()
	defer templateMu.Unlock()
	if templateName != "" {
		return templateName, nil
	}
	name, err := buildTemplate(ctx)
	if err != nil {
		return "", err
	}
	templateName = name
	return name, nil
}

// forgetTemplate makes the next template call look for name again, built anew if it is
// gone: another checkout's run, of other migrations, dropped it as stale.
func forgetTemplate(name string) {
	templateMu.Lock()
	defer templateMu.Unlock()
	if templateName == name {
		templateName = ""
	}
}

func buildTemplate(ctx context.Context) (string, error) {
	name, err := migrationsHash()
	if err != nil {
		return "", err
	}
	admin, err := pgx.Connect(ctx, withDatabase(BaseURL(), "postgres"))
	if err != nil {
		return "", err
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(7204318)"); err != nil {
		return "", err
	}
	defer func() { _, _ = admin.Exec(ctx, "SELECT pg_advisory_unlock(7204318)") }()
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil || exists {
		return name, err
	}
	// Migrate under a temporary name and rename at the end, so a half-built template is
	// never mistaken for a finished one.
	building := name + "_building"
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+building); err != nil {
		return "", err
	}
	pool, err := pgxpool.New(ctx, withDatabase(BaseURL(), building))
	if err != nil {
		return "", err
	}
	err = eventstore.Migrate(ctx, pool)
	pool.Close()
	if err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf("COMMENT ON DATABASE %s IS '%s'", building, builtAt(time.Now()))); err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", building, name)); err != nil {
		return "", err
	}
	dropStaleTemplates(ctx, admin, name, time.Now())
	return name, nil
}

func migrationsHash() (string, error) {
	h := sha256.New()
	entries, err := fs.ReadDir(migrations.Migrations, ".")
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		b, err := fs.ReadFile(migrations.Migrations, e.Name())
		if err != nil {
			return "", err
		}
		h.Write([]byte(e.Name()))
		h.Write(b)
	}
	return "ordermill_tmpl_" + hex.EncodeToString(h.Sum(nil))[:16], nil
}

var cloneMu sync.Mutex

// URL creates a new migrated database for t, dropped when t ends, and returns its URL.
func URL(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Postgres: skipped with -short (make unit)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tmpl, err := template(ctx)
	if err != nil {
		t.Fatalf("template database: %v", err)
	}
	admin, err := pgx.Connect(ctx, withDatabase(BaseURL(), "postgres"))
	if err != nil {
		t.Fatalf("connect to postgres: %v", err)
	}
	defer admin.Close(ctx)
	name := "ordermill_test_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	err = clone(ctx, admin, name, tmpl)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "3D000" { // invalid_catalog_name: no such database
		// Another checkout's run of other migrations dropped the template as stale, which
		// it does only to one built a day before: build it again.
		forgetTemplate(tmpl)
		if tmpl, err = template(ctx); err == nil {
			err = clone(ctx, admin, name, tmpl)
		}
	}
	if err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, withDatabase(BaseURL(), "postgres"))
		if err != nil {
			t.Errorf("connect to drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	return withDatabase(BaseURL(), name)
}

// Pool returns a pool on a new migrated database for t, closed when t ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), URL(t))
	if err != nil {
		t.Fatalf("connect test database: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// clone creates database name as a copy of template tmpl.
func clone(ctx context.Context, admin *pgx.Conn, name, tmpl string) error {
	cloneMu.Lock() // a template may have only one copier at a time
	defer cloneMu.Unlock()
	_, err := admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, tmpl))
	return err
}

// templateMaxAge is how long after it was built another schema version's template is kept:
// another checkout (a branch with a migration of its own) may be running its tests on it.
const templateMaxAge = 24 * time.Hour

// builtPrefix starts the comment a template carries, followed by when it was built, which
// dropStaleTemplates reads its age from.
const builtPrefix = "ordermill test template built "

func builtAt(t time.Time) string { return builtPrefix + t.UTC().Format(time.RFC3339) }

// dropStaleTemplates removes templates of other schema versions built more than
// templateMaxAge before now (or with no time of building: an older release of this
// package built them), so changing a migration does not leave a database behind on every
// developer's server. A template still being cloned refuses the drop; it is left for the
// next run. Until 2026-12-07 it dropped every other template at once, and two checkouts
// of different migrations testing on one server dropped each other's mid-run, failing
// every test after with "template database does not exist".
func dropStaleTemplates(ctx context.Context, admin *pgx.Conn, current string, now time.Time) {
	rows, err := admin.Query(ctx, `
		SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '')
		FROM pg_database WHERE datname LIKE 'ordermill\_tmpl\_%' AND datname <> $1`, current)
	if err != nil {
		return
	}
	type tmpl struct{ name, comment string }
	found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (tmpl, error) {
		var t tmpl
		return t, row.Scan(&t.name, &t.comment)
	})
	if err != nil {
		return
	}
	for _, t := range found {
		built, err := time.Parse(time.RFC3339, strings.TrimPrefix(t.comment, builtPrefix))
		if err == nil && now.Sub(built) < templateMaxAge {
			continue
		}
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{t.name}.Sanitize())
	}
}
