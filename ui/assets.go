package ui

import (
	"embed"
	"io/fs"
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
