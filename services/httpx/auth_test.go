package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ordermill/ordermill/services/httpx"
)

func TestBearerToken(t *testing.T) {
	tests := []struct {
		header string
		token  string
		ok     bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true}, // the scheme is case-insensitive (RFC 7235)
		{"Bearer   abc  ", "abc", true},
		{"", "", false},
		{"Bearer ", "", false},
		{"Basic abc", "", false},
		{"Bearerabc", "", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		token, ok := httpx.BearerToken(r)
		assert.Equal(t, tt.ok, ok, "%q", tt.header)
		assert.Equal(t, tt.token, token, "%q", tt.header)
	}
}

func TestTokenEqual(t *testing.T) {
	assert.True(t, httpx.TokenEqual("secret", "secret"))
	assert.False(t, httpx.TokenEqual("secret", "secreT"))
	assert.False(t, httpx.TokenEqual("secre", "secret"))
	assert.False(t, httpx.TokenEqual("", ""), "an unset credential matches nothing")
}
