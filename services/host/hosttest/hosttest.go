// Package hosttest checks, for a binary's tests, that its documentation of its
// environment matches what it reads.
package hosttest

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/services/host"
)

// DocumentedVars runs build once per env in envs, recording every variable it reads, and
// fails t for each one that vars (the binary's --help) does not list, and for each listed
// one missing from the configuration table of the README at readme.
func DocumentedVars(t *testing.T, readme string, vars []host.Var, build func(host.Env), envs ...map[string]string) {
	t.Helper()
	var mu sync.Mutex
	read := map[string]bool{}
	for _, values := range envs {
		build(func(key string) string {
			mu.Lock()
			read[key] = true
			mu.Unlock()
			return values[key]
		})
	}
	listed := map[string]bool{}
	for _, v := range vars {
		listed[v.Name] = true
	}
	for key := range read {
		if !listed[key] {
			t.Errorf("%s is read but --help does not list it", key)
		}
	}
	doc, err := os.ReadFile(readme)
	if err != nil {
		t.Fatalf("read the README: %v", err)
	}
	table := string(doc)
	if i := strings.Index(table, "## Configuration"); i >= 0 {
		table = table[i:]
	}
	for _, v := range vars {
		if !strings.Contains(table, "`"+v.Name+"`") {
			t.Errorf("%s is not in the README's configuration table", v.Name)
		}
	}
}

// Started builds and starts a service as host.Run does, on pool, as if served at
// 127.0.0.1:3000: a configuration build refuses is its error, before pool is touched.
func Started(ctx context.Context, build host.Build, pool *pgxpool.Pool, logger *slog.Logger, env host.Env) (host.Service, error) {
	start, err := build(logger, env)
	if err != nil {
		return nil, err
	}
	return start(ctx, pool, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3000})
}
