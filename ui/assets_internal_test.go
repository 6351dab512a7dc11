package ui

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
)

// A static file's address carries the hash of its content, so a deploy that changes the
// file changes the address pages load it from, and a browser cannot keep running the old
// one with the new page. A file the binary lacks keeps its plain address.
func TestAssetAddressChangesWithTheContent(t *testing.T) {
	before := assetsOf(fstest.MapFS{"live.js": {Data: []byte("old")}, "vendor/sse.js": {Data: []byte("sse")}})
	after := assetsOf(fstest.MapFS{"live.js": {Data: []byte("new")}, "vendor/sse.js": {Data: []byte("sse")}})

	sum := sha256.Sum256([]byte("old"))
	assert.Equal(t, "/dashboard/static/live.js?v="+hex.EncodeToString(sum[:8]), before.url("live.js"))
	assert.NotEqual(t, before.url("live.js"), after.url("live.js"))
	assert.Equal(t, before.url("vendor/sse.js"), after.url("vendor/sse.js"), "an unchanged file keeps its address")
	assert.True(t, strings.HasPrefix(before.url("vendor/sse.js"), "/dashboard/static/vendor/sse.js?v="))
	assert.Equal(t, "/dashboard/static/missing.js", before.url("missing.js"))
	_, isFile := before["vendor"]
	assert.False(t, isFile, "a directory has no version")
}
