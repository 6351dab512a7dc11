package sql_test

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/sql"
)

// A migration that builds an index CONCURRENTLY runs outside a transaction: cut off (its
// lock timeout, a crash), it leaves an invalid index of that name, and its next try, which
// the services make at every start, found the name taken and never started (a probe).
// Each such build drops a leftover of its name first.
func TestEveryConcurrentIndexBuildCanBeTriedAgain(t *testing.T) {
	build := regexp.MustCompile(`(?i)CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)`)
	files, err := fs.Glob(sql.Migrations, "*.sql")
	require.NoError(t, err)
	builds := 0
	for _, name := range files {
		raw, err := fs.ReadFile(sql.Migrations, name)
		require.NoError(t, err)
		up, _, _ := strings.Cut(string(raw), "-- +goose Down") // going down is an operator's step
		for _, m := range build.FindAllStringSubmatchIndex(up, -1) {
			builds++
			index := up[m[2]:m[3]]
			drop := regexp.MustCompile(`(?i)DROP\s+INDEX\s+CONCURRENTLY\s+IF\s+EXISTS\s+(?:\w+\.)?` + index + `\s*;`) // in its schema
			assert.True(t, drop.MatchString(up[:m[0]]), "%s builds index %s CONCURRENTLY without first dropping one left invalid by a try cut off", name, index)
		}
	}
	assert.Positive(t, builds, "the migrations' concurrent builds were found")
}
