package host

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDocumentAddsTheHostsRoutesAndComponents(t *testing.T) {
	merged, err := document([]byte(`{"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
		"paths": {"/api/things": {}}, "components": {"schemas": {"Thing": {}}}}`))
	require.NoError(t, err)
	var doc struct {
		Paths      map[string]any
		Components map[string]map[string]any
	}
	require.NoError(t, json.Unmarshal(merged, &doc))
	for _, r := range ownRoutes(nil, nil, nil) {
		assert.Contains(t, doc.Paths, r.pattern[len("GET "):], "the host documents %s", r.pattern)
	}
	assert.Contains(t, doc.Paths, "/api/things")
	assert.Contains(t, doc.Components["schemas"], "Thing")
	assert.Contains(t, doc.Components["schemas"], "Error")
	assert.Contains(t, doc.Components["securitySchemes"], "serviceToken")
}

func TestDocumentRefusesWhatTheHostDefines(t *testing.T) {
	_, err := document([]byte(`{"paths": {"/healthz": {}}}`))
	assert.ErrorContains(t, err, "paths./healthz")
	_, err = document([]byte(`{"paths": {}, "components": {"schemas": {"Error": {}}}}`))
	assert.ErrorContains(t, err, "components.schemas.Error")
}
