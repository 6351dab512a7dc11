package delivery_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/services/delivery"
	"github.com/ordermill/ordermill/services/httpx"
)

func TestShipmentHTTP(t *testing.T) {
	svc, _ := newService(t, delivery.Config{})
	h := svc.Handler()
	body := `{"orderId":"ord-9","address":{"name":"Bo","line1":"2 Lane","city":"Oslo","postalCode":"0150","country":"NO"},"lines":[{"sku":"MUG","quantity":1}]}`

	rec := postJSON(t, h, "/api/shipments", body)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	created := decode[delivery.Shipment](t, rec)
	assert.Equal(t, "Oslo", created.Address.City)

	rec = postJSON(t, h, "/api/shipments", body)
	require.Equal(t, http.StatusOK, rec.Code, "a repeat finds the existing shipment")
	assert.Equal(t, created.ShipmentID, decode[delivery.Shipment](t, rec).ShipmentID)

	// A booking of other lines or another address is a conflict naming what differs: the
	// order is shipped once (it was answered 200 with the shipment it did not ask for).
	// Lines split otherwise and an address's parts with spaces around them are the same.
	rec = postJSON(t, h, "/api/shipments", `{"orderId":"ord-9","address":{"name":"Bo","line1":"2 Lane","city":"Bergen","postalCode":"0150","country":"NO"},`+
		`"lines":[{"sku":"MUG","quantity":2},{"sku":"TEA","quantity":1}]}`)
	require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
	conflict := decode[httpx.ErrorBody](t, rec)
	assert.Equal(t, "conflict", conflict.Error.Code)
	assert.Equal(t, "order ord-9 already has a shipment "+created.ShipmentID+" (created) of other lines or address, and an order is shipped once: "+
		"MUG: 1 in the shipment, 2 asked; TEA: 0 in the shipment, 1 asked; address.city", conflict.Error.Message)
	rec = postJSON(t, h, "/api/shipments", `{"orderId":"ord-9","address":{"name":"Bo ","line1":" 2 Lane","city":"Oslo","postalCode":"0150","country":"NO"},`+
		`"lines":[{"sku":"MUG","quantity":1}]}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, created.ShipmentID, decode[delivery.Shipment](t, rec).ShipmentID)

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, asOrders(httptest.NewRequest(http.MethodGet, "/api/shipments/ord-9", nil)))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, created, decode[delivery.Shipment](t, rec))

	// The business case's own orders carry no address; they must still ship.
	rec = postJSON(t, h, "/api/shipments", `{"orderId":"ord-10","lines":[{"sku":"MUG","quantity":1}]}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, asOrders(httptest.NewRequest(http.MethodGet, "/api/shipments/ord-10", nil)))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Nil(t, decode[delivery.Shipment](t, rec).Address)

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, asOrders(httptest.NewRequest(http.MethodGet, "/api/shipments/nope", nil)))
	assert.Equal(t, http.StatusNotFound, rec.Code)
}

func TestBadInputIsA400NamingTheField(t *testing.T) {
	svc, _ := newService(t, delivery.Config{})
	h := svc.Handler()
	addr := `"address":{"name":"Bo","line1":"2 Lane","city":"Oslo","postalCode":"0150","country":"NO"}`
	lines := `"lines":[{"sku":"MUG","quantity":1}]`
	cases := []struct{ name, path, body, field string }{
		{"missing order", "/api/shipments", `{` + addr + `,` + lines + `}`, "orderId"},
		{"address as text", "/api/shipments", `{"orderId":"o","address":"Oslo",` + lines + `}`, "address"},
		{"no lines", "/api/shipments", `{"orderId":"o",` + addr + `,"lines":[]}`, "lines"},
		{"zero quantity", "/api/shipments", `{"orderId":"o",` + addr + `,"lines":[{"sku":"MUG","quantity":0}]}`, "lines[0].quantity"},
		{"quantity as text", "/api/shipments", `{"orderId":"o",` + addr + `,"lines":[{"sku":"MUG","quantity":"one"}]}`, "lines[0].quantity"},
		{"unknown field", "/api/shipments", `{"orderId":"o",` + addr + `,` + lines + `,"gift":true}`, "gift"},
		{"unknown status", "/api/shipments/o/simulate", `{"status":"lost_in_space"}`, "status"},
		{"created is not a courier report", "/api/shipments/o/simulate", `{"status":"created"}`, "status"},
		{"reason on delivery", "/api/shipments/o/simulate", `{"status":"delivered","reason":"x"}`, "reason"},
		{"long order id", "/api/shipments", `{"orderId":"` + strings.Repeat("o", 129) + `",` + addr + `,` + lines + `}`, "orderId"},
		{"too many units", "/api/shipments", `{"orderId":"o",` + addr + `,"lines":[{"sku":"MUG","quantity":10001}]}`, "lines[0].quantity"},
		{"long sku", "/api/shipments", `{"orderId":"o",` + addr + `,"lines":[{"sku":"` + strings.Repeat("S", 65) + `","quantity":1}]}`, "lines[0].sku"},
		{"long address part", "/api/shipments", `{"orderId":"o","address":{"city":"` + strings.Repeat("c", 201) + `"},` + lines + `}`, "address.city"},
		{"long reason", "/api/shipments/o/simulate", `{"status":"failed","reason":"` + strings.Repeat("r", 1001) + `"}`, "reason"},
		{"long order id in the path", "/api/shipments/" + strings.Repeat("o", 129) + "/simulate", `{"status":"delivered"}`, "orderId"},
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
	rec := postJSON(t, h, "/api/shipments/nobody/simulate", `{"status":"delivered"}`)
	assert.Equal(t, http.StatusNotFound, rec.Code)

	// A refused status is quoted only in part.
	rec = postJSON(t, h, "/api/shipments/o/simulate", `{"status":"`+strings.Repeat("x", 100_000)+`"}`)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Less(t, rec.Body.Len(), 300)

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, asOrders(httptest.NewRequest(http.MethodGet, "/api/shipments/"+strings.Repeat("o", 129), nil)))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, "orderId", decode[httpx.ErrorBody](t, rec).Error.Field)
}

// A shipment's creation and its repeat say where to read it, as POST /api/orders does: the
// 201 had no Location (a probe). The order id is escaped in the path.
func TestACreatedShipmentSaysWhereToReadIt(t *testing.T) {
	svc, _ := newService(t, delivery.Config{})
	h := svc.Handler()
	body := `{"orderId":"ord 7/b","lines":[{"sku":"MUG","quantity":1}]}`
	for _, status := range []int{http.StatusCreated, http.StatusOK} {
		rec := postJSON(t, h, "/api/shipments", body)
		require.Equal(t, status, rec.Code, rec.Body.String())
		location := rec.Header().Get("Location")
		assert.Equal(t, "/api/shipments/ord%207%2Fb", location)
		read := httptest.NewRecorder()
		h.ServeHTTP(read, asOrders(httptest.NewRequest(http.MethodGet, location, nil)))
		require.Equal(t, http.StatusOK, read.Code, read.Body.String())
		assert.Equal(t, decode[delivery.Shipment](t, rec), decode[delivery.Shipment](t, read))
	}
}
