package simulator_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/ordersclient"
	"github.com/ordermill/ordermill/services/simulator"
	"github.com/ordermill/ordermill/services/webhooksig"
)

type webhook struct {
	ID string `json:"id"`
}

const secret = "courier_test_secret"

// notifierConfig is a courier simulator's, sending to url.
func notifierConfig(url string) simulator.Config {
	return simulator.Config{
		Service: "delivery",
		Kind:    "courier",
		URL:     url,
		Post:    (*ordersclient.Client).DeliveryWebhookWithBody,
		Header:  webhooksig.CourierHeader,
		Sign:    webhooksig.SignCourier,
		Secret:  secret,
		Now:     time.Now,
	}
}

func newNotifier(url string) *simulator.Notifier[webhook] {
	return simulator.New[webhook](slog.New(slog.DiscardHandler), notifierConfig(url))
}

func TestDeliverSignsAndReportsTheAnswer(t *testing.T) {
	orders := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		assert.Equal(t, http.MethodPost, r.Method)
		assert.Equal(t, "/hooks/courier", r.URL.Path, "the configured endpoint, not the document's path")
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		if err := webhooksig.VerifyCourier(body, r.Header.Get(webhooksig.CourierHeader), secret, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusConflict)
		_, _ = io.WriteString(w, "  already recorded\n"+strings.Repeat("x", 8<<10))
	}))
	t.Cleanup(orders.Close)

	res, err := newNotifier(orders.URL+"/hooks/courier").Deliver(t.Context(), webhook{ID: "evt_1"})
	require.NoError(t, err)
	assert.Equal(t, "evt_1", res.Webhook.ID)
	assert.Equal(t, http.StatusConflict, res.OrdersStatus)
	assert.True(t, strings.HasPrefix(res.OrdersBody, "already recorded\n"), res.OrdersBody[:20])
	assert.Len(t, res.OrdersBody, 4<<10-2, "the answer is cut at 4 KiB, then trimmed")
}

func TestUnreachableOrdersServiceIsADeliveryErrorAnd502(t *testing.T) {
	orders := httptest.NewServer(http.NotFoundHandler())
	url := orders.URL + "/webhooks/delivery"
	orders.Close()
	n := newNotifier(url)

	res, err := n.Deliver(t.Context(), webhook{ID: "evt_1"})
	var deliveryErr *simulator.DeliveryError
	require.ErrorAs(t, err, &deliveryErr)
	assert.Equal(t, simulator.Result[webhook]{}, res)
	assert.True(t, strings.HasPrefix(err.Error(), "deliver courier webhook to "+url+": "), err.Error())

	rec := httptest.NewRecorder()
	n.WriteResult(rec, httptest.NewRequest(http.MethodPost, "/simulate", nil), res, err, "the status is recorded")
	assert.Equal(t, http.StatusBadGateway, rec.Code)
	var body httpx.ErrorBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	assert.Equal(t, "bad_gateway", body.Error.Code)
	assert.Equal(t, err.Error()+"; the status is recorded, repeat the request to notify again", body.Error.Message)
}

func TestWriteResult(t *testing.T) {
	n := newNotifier("http://orders.invalid")
	req := httptest.NewRequest(http.MethodPost, "/simulate", nil)

	rec := httptest.NewRecorder()
	n.WriteResult(rec, req, simulator.Result[webhook]{Webhook: webhook{ID: "evt_1"}, OrdersStatus: http.StatusUnauthorized}, nil, "recorded")
	assert.Equal(t, http.StatusOK, rec.Code, "whatever the orders service answered is a 200")
	assert.JSONEq(t, `{"webhook":{"id":"evt_1"},"ordersStatus":401}`, rec.Body.String())

	rec = httptest.NewRecorder()
	n.WriteResult(rec, req, simulator.Result[webhook]{}, apperr.Errorf(apperr.CodeConflict, "already delivered"), "recorded")
	assert.Equal(t, http.StatusConflict, rec.Code)

	rec = httptest.NewRecorder()
	n.WriteResult(rec, req, simulator.Result[webhook]{}, errors.New("boom"), "recorded")
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
}
