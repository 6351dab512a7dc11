// Package domain_test guards the rule that the domain is pure: its packages import only
// the standard library and each other, so aggregates can be tested and reasoned about
// without a database, a log or a clock.
package domain_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const domainPath = "github.com/ordermill/ordermill/domain"

// moduleRoot finds the directory holding go.mod, so go list sees the whole module
// wherever the test binary runs.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(t, err)
	gomod := strings.TrimSpace(string(out))
	require.NotEmpty(t, gomod)
	require.NotEqual(t, "/dev/null", gomod, "not inside a module")
	return filepath.Dir(gomod)
}

// goList runs go list -deps with args from the module root and returns the package paths.
func goList(t *testing.T, root string, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-e", "-deps", "-f", "{{.ImportPath}}{{if .Error}} ERROR {{.Error}}{{end}}"}, args...)...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "go list: %s", stderr.String())
	var pkgs []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		path, problem, broken := strings.Cut(line, " ERROR ")
		// The domain directory itself holds only this test: no package to build is fine.
		if broken && !(path == domainPath && strings.Contains(problem, "no non-test Go files")) {
			t.Errorf("go list: %s: %s", path, problem)
		}
		pkgs = append(pkgs, path)
	}
	return pkgs
}

// standard reports whether path is in the standard library: its first element has no dot
// (this includes the toolchain's vendor/ and internal packages).
func standard(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func inDomain(path string) bool {
	return path == domainPath || strings.HasPrefix(path, domainPath+"/")
}

// testPath strips go list -test's decorations: "p [q.test]", "p_test [p.test]" and
// "p.test" are test variants of p.
func testPath(path string) string {
	path, _, _ = strings.Cut(path, " ")
	path = strings.TrimSuffix(path, ".test")
	return strings.TrimSuffix(path, "_test")
}

// The domain's code depends on nothing but the standard library and the domain itself.
func TestDomainImportsOnlyStandardLibrary(t *testing.T) {
	root := moduleRoot(t)
	deps := goList(t, root, "./domain/...")

	// The listing is not vacuous: it reaches the aggregates and the standard library.
	assert.Contains(t, deps, domainPath+"/order")
	assert.Contains(t, deps, domainPath+"/apperr")
	assert.Contains(t, deps, "time")

	for _, p := range deps {
		assert.True(t, standard(p) || inDomain(p), "domain depends on %s", p)
	}
}

// The domain's tests stay pure too: besides the standard library and the domain they may
// use testify (the project's test library) and what testify itself needs, and rapid (the
// property tests' generator, itself only the standard library), but never the event
// store, a driver or a service, so they run without any infrastructure.
func TestDomainTestsImportOnlyStandardLibraryAndTestify(t *testing.T) {
	root := moduleRoot(t)
	testify := map[string]bool{}
	for _, p := range goList(t, root, "github.com/stretchr/testify/assert", "github.com/stretchr/testify/require", "pgregory.net/rapid") {
		testify[p] = true
	}

	deps := goList(t, root, "-test", "./domain/...")
	assert.Contains(t, deps, domainPath+"/order.test", "the listing includes the domain's tests")
	for _, p := range deps {
		path := testPath(p)
		assert.True(t, standard(path) || inDomain(path) || testify[path], "a domain test depends on %s", p)
	}
}
