package pgtest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Another checkout, of other migrations, testing on the same server meanwhile builds a
// template of its own: a run here must leave it to it while it is young, and drop it once
// it is a day old, or one without the time it was built (an older release of pgtest).
func TestStaleTemplatesAreDroppedOnlyOnceADayOld(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres: skipped with -short (make unit)")
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, withDatabase(BaseURL(), "postgres"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close(context.Background()) }) // after the drops below

	now := time.Now()
	suffix := strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	made := map[string]string{ // name → its comment
		"ordermill_tmpl_young" + suffix:   builtAt(now.Add(-time.Hour)),
		"ordermill_tmpl_old" + suffix:     builtAt(now.Add(-25 * time.Hour)),
		"ordermill_tmpl_unknown" + suffix: "",
		"ordermill_tmpl_current" + suffix: builtAt(now.Add(-48 * time.Hour)),
	}
	for name, comment := range made {
		_, err := admin.Exec(ctx, "CREATE DATABASE "+name)
		require.NoError(t, err)
		t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name) })
		if comment != "" {
			_, err = admin.Exec(ctx, fmt.Sprintf("COMMENT ON DATABASE %s IS '%s'", name, comment))
			require.NoError(t, err)
		}
	}

	dropStaleTemplates(ctx, admin, "ordermill_tmpl_current"+suffix, now)

	exists := func(name string) bool {
		var ok bool
		require.NoError(t, admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&ok))
		return ok
	}
	assert.True(t, exists("ordermill_tmpl_young"+suffix), "a template built an hour ago may be another checkout's in use")
	assert.True(t, exists("ordermill_tmpl_current"+suffix), "the current template is never dropped")
	assert.False(t, exists("ordermill_tmpl_old"+suffix), "a template built a day ago is stale")
	assert.False(t, exists("ordermill_tmpl_unknown"+suffix), "a template without the time it was built is stale")
}

// The template dropped under a running test binary (by a run that predates the age rule, or
// one a day later) is built again, not the cause of every later test's failure.
func TestATemplateDroppedMeanwhileIsBuiltAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres: skipped with -short (make unit)")
	}
	ctx := context.Background()
	tmpl, err := template(ctx)
	require.NoError(t, err)
	admin, err := pgx.Connect(ctx, withDatabase(BaseURL(), "postgres"))
	require.NoError(t, err)
	defer admin.Close(ctx)

	// The test's own template name, so that the shared one other packages clone now is
	// left alone: this binary is told its template is one that no longer exists.
	gone := "ordermill_tmpl_gone" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	templateMu.Lock()
	templateName = gone
	templateMu.Unlock()

	pool := Pool(t)
	var one int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM events").Scan(&one), "a migrated database")
	templateMu.Lock()
	defer templateMu.Unlock()
	assert.Equal(t, tmpl, templateName, "the template is found again by its migrations")
}
