// Package pgtest gives each integration test its own freshly migrated database on the real
// Postgres, cloned from a template so a test pays milliseconds, not a migration run.
package pgtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	templateOnce sync.Once
	templateName string
	templateErr  error
)

func withDatabase(base, name string) string {
	u, err := url.Parse(base)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + name
	return u.String()
}

// template migrates one template database per schema version, shared by every test binary:
// its name carries a hash of the migrations, and an advisory lock serialises its creation.
func template(ctx context.Context) (string, error) {
	templateOnce.Do(func() {
		templateName, templateErr = migrationsHash()
		if templateErr != nil {
			return
		}
		var admin *pgx.Conn
		admin, templateErr = pgx.Connect(ctx, withDatabase(BaseURL(), "postgres"))
		if templateErr != nil {
			return
		}
		defer admin.Close(ctx)
		if _, templateErr = admin.Exec(ctx, "SELECT pg_advisory_lock(7204318)"); templateErr != nil {
			return
		}
		defer func() { _, _ = admin.Exec(ctx, "SELECT pg_advisory_unlock(7204318)") }()
		var exists bool
		if templateErr = admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", templateName).Scan(&exists); templateErr != nil || exists {
			return
		}
		// Migrate under a temporary name and rename at the end, so a half-built template is
		// never mistaken for a finished one.
		building := templateName + "_building"
		if _, templateErr = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)"); templateErr != nil {
			return
		}
		if _, templateErr = admin.Exec(ctx, "CREATE DATABASE "+building); templateErr != nil {
			return
		}
		var pool *pgxpool.Pool
		pool, templateErr = pgxpool.New(ctx, withDatabase(BaseURL(), building))
		if templateErr != nil {
			return
		}
		templateErr = eventstore.Migrate(ctx, pool)
		pool.Close()
		if templateErr != nil {
			return
		}
		_, templateErr = admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", building, templateName))
		if templateErr == nil {
			dropStaleTemplates(ctx, admin, templateName)
		}
	})
	return templateName, templateErr
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
	cloneMu.Lock() // a template may have only one copier at a time
	_, err = admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, tmpl))
	cloneMu.Unlock()
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

// dropStaleTemplates removes templates of earlier schema versions, so changing a migration
// does not leave a database behind on every developer's server. A template still being
// cloned by an older test binary refuses the drop; it is left for the next run.
func dropStaleTemplates(ctx context.Context, admin *pgx.Conn, current string) {
	rows, err := admin.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'ordermill\_tmpl\_%' AND datname <> $1`, current)
	if err != nil {
		return
	}
	stale, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, name := range stale {
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize())
	}
}
