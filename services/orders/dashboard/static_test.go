package dashboard_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Found by a probe: the dashboard's scripts and styles were cached for an hour at fixed
// addresses, with nothing to revalidate them by, so after a deploy a browser ran the old
// scripts with the new pages and stream. Pages now load each file at an address carrying
// the hash of its content, kept for good; any other address of a file is revalidated
// each time against an ETag of the same hash.
func TestDashboardPagesLoadStaticFilesAtTheirContentsAddress(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	d.signIn(t, d.client, managerEmail, managerPassword)
	page := d.request(t, d.client, "GET", "/dashboard/approvals", nil, nil)
	require.Equal(t, http.StatusOK, page.status)
	var addresses []string
	page.doc.Find(`link[rel=stylesheet], script[src]`).Each(func(_ int, s *goquery.Selection) {
		addresses = append(addresses, s.AttrOr("href", s.AttrOr("src", "")))
	})
	require.Len(t, addresses, 5, "app.css, htmx, its SSE extension, live.js, keys.js")
	for _, address := range addresses {
		u, err := url.Parse(address)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(u.Path, "/dashboard/static/"), address)
		version := u.Query().Get("v")
		require.NotEmpty(t, version, address)

		file := d.request(t, http.DefaultClient, "GET", address, nil, nil)
		require.Equal(t, http.StatusOK, file.status, address)
		sum := sha256.Sum256([]byte(file.body))
		assert.Equal(t, hex.EncodeToString(sum[:8]), version, "%s: the version is the hash of what is served", address)
		assert.Equal(t, "public, max-age=31536000, immutable", file.header.Get("Cache-Control"), address)
		assert.Equal(t, `"`+version+`"`, file.header.Get("ETag"), address)

		for _, other := range []string{u.Path, u.Path + "?v=0123456789abcdef"} {
			plain := d.request(t, http.DefaultClient, "GET", other, nil, nil)
			require.Equal(t, http.StatusOK, plain.status, other)
			assert.Equal(t, file.body, plain.body, other)
			assert.Equal(t, "no-cache", plain.header.Get("Cache-Control"), other)
			assert.Equal(t, `"`+version+`"`, plain.header.Get("ETag"), other)
		}
		unchanged := d.request(t, http.DefaultClient, "GET", u.Path, nil, map[string]string{"If-None-Match": `"` + version + `"`})
		assert.Equal(t, http.StatusNotModified, unchanged.status, address)
		assert.Empty(t, unchanged.body, address)
		changed := d.request(t, http.DefaultClient, "GET", u.Path, nil, map[string]string{"If-None-Match": `"0123456789abcdef"`})
		assert.Equal(t, http.StatusOK, changed.status, address)
	}
}

// Found by a probe: a missing file under /dashboard/static/ got Go's plain-text 404,
// where every other dashboard address that does not exist gets the dashboard's error page
// in a browser and the JSON error otherwise.
func TestDashboardMissingStaticFileIsTheDashboards404(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	for _, path := range []string{"/dashboard/static/missing.css", "/dashboard/static/vendor/missing.js", "/dashboard/static/vendor/"} {
		browser := d.request(t, http.DefaultClient, "GET", path, nil, map[string]string{"Accept": "text/html,application/xhtml+xml"})
		assert.Equal(t, http.StatusNotFound, browser.status, path)
		if assert.NotNil(t, browser.doc, "%s: an HTML page, got %s", path, browser.body) {
			assert.Contains(t, browser.doc.Find(`[data-testid=error-message]`).Text(), "nothing is served at "+path)
		}
		assert.NotEmpty(t, browser.header.Get("Content-Security-Policy"), path)

		api := d.request(t, http.DefaultClient, "GET", path, nil, nil)
		assert.Equal(t, http.StatusNotFound, api.status, path)
		assert.True(t, strings.HasPrefix(api.header.Get("Content-Type"), "application/json"), "%s: %s", path, api.header.Get("Content-Type"))
		assert.Contains(t, api.body, `"code":"not_found"`, path)
	}
}
