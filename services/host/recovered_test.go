package host_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/httpx"
)

// panicService's handlers panic: before answering, and after the answer began. The rest
// is muxService's.
type panicService struct{ muxService }

func (panicService) Handler() http.Handler {
	mux := httpx.NewMux()
	mux.HandleFunc("GET /api/bug", func(http.ResponseWriter, *http.Request) { panic("a bug") })
	mux.HandleFunc("GET /api/late-bug", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"partial":`))
		panic("a bug mid-answer")
	})
	return mux
}

// A handler that panics gets the 500 JSON error every other failure gets, counted as such,
// and the process serves on; net/http alone closed the connection without an answer (a
// probe saw it on placements, webhooks and approvals). One that panics after its answer
// began can only have its connection ended.
func TestAPanickingHandlerIsAnsweredWithA500(t *testing.T) {
	base := "http://" + serve(t, panicService{}, host.Options{})
	for range 2 {
		status, _, e := send(t, http.MethodGet, base+"/api/bug")
		assert.Equal(t, http.StatusInternalServerError, status)
		assert.Equal(t, "internal", e.Code)
		assert.Equal(t, "internal error", e.Message)
	}
	resp, err := http.Get(base + "/api/late-bug")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	require.Error(t, err, "the cut answer is not taken for a whole one")

	resp, err = http.Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(raw), `ordermill_http_requests_total{route="GET /api/bug",status="500"} 2`), "%s", raw)
}
