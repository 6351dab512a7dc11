package payments_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/payments"
)

func TestSessionHTTP(t *testing.T) {
	ctx := testContext(t)
	svc, pool := newService(t, payments.Config{PublicURL: "https://pay.example.com/"})
	h := svc.Handler()

	created, _, err := createInTx(ctx, pool, svc, payment.CreateSession{OrderID: "ord-9", Amount: 500, Currency: "USD", CustomerEmail: "bo@example.com"})
	require.NoError(t, err)
	assert.Equal(t, "https://pay.example.com/pay/"+created.SessionID, created.URL)

	// Issue 8, finding 3: a session for 0.01 was opened over HTTP for a 50,000 order. Only
	// the order workflow's command opens one now, for the order's own total.
	rec := postJSON(t, h, "/api/payments/sessions", `{"orderId":"ord-10","amount":1,"currency":"USD"}`)
	assert.Equal(t, http.StatusNotFound, rec.Code, "no session is opened over HTTP, even with the orders service's token")
	_, err = svc.SessionByOrder(ctx, pool, "ord-10")
	assert.Equal(t, apperr.CodeNotFound, apperr.ErrorCode(err))

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, asOrders(httptest.NewRequest(http.MethodGet, "/api/payments/sessions/ord-9", nil)))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, created, decode[payments.Session](t, rec))

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, asOrders(httptest.NewRequest(http.MethodGet, "/api/payments/sessions/nope", nil)))
	assert.Equal(t, http.StatusNotFound, rec.Code)

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/pay/"+created.SessionID, nil))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Body.String(), `data-testid="pay"`)
}

func TestBadInputIsA400NamingTheField(t *testing.T) {
	svc, _ := newService(t, payments.Config{})
	h := svc.Handler()
	cases := []struct{ name, path, body, field string }{
		{"unknown field", "/api/payments/process", `{"orderId":"o","outcome":"completed","tip":5}`, "tip"},
		{"process without order", "/api/payments/process", `{"outcome":"completed"}`, "orderId"},
		{"unknown outcome", "/api/payments/process", `{"orderId":"o","outcome":"maybe"}`, "outcome"},
		{"reason on success", "/api/payments/process", `{"orderId":"o","outcome":"completed","reason":"x"}`, "reason"},
		{"process long order id", "/api/payments/process", `{"orderId":"` + strings.Repeat("o", 129) + `","outcome":"completed"}`, "orderId"},
		{"long reason", "/api/payments/process", `{"orderId":"o","outcome":"failed","reason":"` + strings.Repeat("r", 1001) + `"}`, "reason"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := postJSON(t, h, c.path, c.body)
			require.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
			body := decode[httpx.ErrorBody](t, rec)
			assert.Equal(t, "invalid", body.Error.Code)
			assert.Equal(t, c.field, body.Error.Field)
		})
	}
	rec := postJSON(t, h, "/api/payments/process", `{"orderId":`)
	assert.Equal(t, http.StatusBadRequest, rec.Code)

	// A refused outcome is quoted only in part.
	rec = postJSON(t, h, "/api/payments/process", `{"orderId":"o","outcome":"`+strings.Repeat("x", 100_000)+`"}`)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Less(t, rec.Body.Len(), 300)

	// An id in the path is bounded like one in a body.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, asOrders(httptest.NewRequest(http.MethodGet, "/api/payments/sessions/"+strings.Repeat("o", 129), nil)))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, "orderId", decode[httpx.ErrorBody](t, rec).Error.Field)
}
