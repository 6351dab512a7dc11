package ui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"sync"
)

// static holds app.css (committed) and vendor/ (htmx and its SSE extension, copied from
// node_modules by `make assets` and git-ignored). Embedding the directory rather than
// the vendor files keeps `go build` working on a fresh clone before the assets exist.
//
//go:embed static
var static embed.FS

// Static is the dashboard's static files, served under /dashboard/static/.
func Static() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the directory is embedded at build time; this cannot fail
	}
	return sub
}

// StaticPrefix is the address the static files are served under.
const StaticPrefix = "/dashboard/static/"

// assets maps the path of each static file (never a directory) to its version: the
// first 8 bytes of its content's SHA-256, in hex.
type assets map[string]string

// staticAssets are the versions of Static's files, hashed once: they are embedded, so
// they cannot change while the process runs.
var staticAssets = sync.OnceValue(func() assets { return assetsOf(Static()) })

// assetsOf hashes every file of fsys.
func assetsOf(fsys fs.FS) assets {
	versions := assets{}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		content, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(content)
		versions[name] = hex.EncodeToString(sum[:8])
		return nil
	})
	if err != nil {
		panic(err) // the files are embedded at build time; reading them cannot fail
	}
	return versions
}

// url is the address of file name, versioned by its content: a browser may keep what it
// got at that address for good, and takes the new file with the new page after a deploy
// (an hour's cache without versions ran old scripts with a new page and its stream). A
// file this binary lacks (a vendor file without `make assets`) keeps its plain address
// and gets its 404 there.
func (a assets) url(name string) string {
	if version, ok := a[name]; ok {
		return StaticPrefix + name + "?v=" + version
	}
	return StaticPrefix + name
}

// Asset is the address a page loads static file name from (a path under StaticPrefix),
// carrying the version of its content as ?v=.
func Asset(name string) string { return staticAssets().url(name) }

// AssetVersion is the version of static file name's content (the ?v= of its Asset
// address and its ETag), and whether there is such a file: a directory is not one.
func AssetVersion(name string) (string, bool) {
	version, ok := staticAssets()[name]
	return version, ok
}

// VendorFiles are the npm assets every page loads; a binary built without `make assets`
// lacks them and the dashboard cannot update in place.
var VendorFiles = []string{"vendor/htmx.min.js", "vendor/sse.js"}

// MissingVendorFiles lists the VendorFiles this binary was built without.
func MissingVendorFiles() []string {
	var missing []string
	for _, f := range VendorFiles {
		if _, err := fs.Stat(Static(), f); err != nil {
			missing = append(missing, f)
		}
	}
	return missing
}
