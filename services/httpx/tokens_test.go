package httpx_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/services/httpx"
)

func TestTokensIdentifyTheCaller(t *testing.T) {
	tokens := httpx.Tokens{"orders": "tok-orders", "ops": "tok-ops", "unset": ""}
	tests := []struct {
		header, who string
		ok          bool
	}{
		{"Bearer tok-orders", "orders", true},
		{"Bearer tok-ops", "ops", true},
		{"bearer tok-ops", "ops", true},
		{"Bearer tok-order", "", false},
		{"Bearer tok-orders2", "", false},
		{"tok-orders", "", false},
		{"Basic tok-orders", "", false},
		{"Bearer ", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		who, ok := tokens.Identify(r)
		assert.Equal(t, tt.ok, ok, "%q", tt.header)
		assert.Equal(t, tt.who, who, "%q", tt.header)
	}
	_, ok := httpx.Tokens(nil).Identify(httptest.NewRequest(http.MethodGet, "/", nil))
	assert.False(t, ok, "no tokens identify nobody")
}

func TestRequireTokenAnswers401AndNamesTheCaller(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	var seen string
	h := httpx.RequireToken(httpx.Tokens{"orders": "tok-orders"}, logger, func(w http.ResponseWriter, r *http.Request) {
		seen = httpx.Caller(r.Context())
		w.WriteHeader(http.StatusNoContent)
	})

	for _, header := range []string{"", "Bearer wrong", "tok-orders"} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/api/inventory/release", nil)
		r.Header.Set("Authorization", header)
		h(rec, r)
		require.Equal(t, http.StatusUnauthorized, rec.Code, "%q", header)
		assert.Equal(t, `Bearer realm="ordermill"`, rec.Header().Get("WWW-Authenticate"))
		body, _ := io.ReadAll(rec.Body)
		assert.JSONEq(t, `{"error":{"code":"unauthorized","message":"this procedure is internal: the calling service must send its token as Authorization: Bearer <token>"}}`, string(body))
	}
	assert.Empty(t, seen, "a refused request never reaches the handler")

	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/api/inventory/release", nil)
	r.Header.Set("Authorization", "Bearer tok-orders")
	h(rec, r)
	assert.Equal(t, http.StatusNoContent, rec.Code)
	assert.Equal(t, "orders", seen)

	closed := httpx.RequireToken(nil, logger, func(http.ResponseWriter, *http.Request) { t.Fatal("reached") })
	rec = httptest.NewRecorder()
	closed(rec, r)
	assert.Equal(t, http.StatusUnauthorized, rec.Code, "no tokens configured: closed")
	assert.Empty(t, httpx.Caller(r.Context()))
}
