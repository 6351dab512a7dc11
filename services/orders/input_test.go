package orders_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/services/orders"
)

// errorMessage returns the message of an error response.
func errorMessage(t *testing.T, r response) string {
	t.Helper()
	var e apiError
	require.NoError(t, json.Unmarshal(r.body, &e), "body: %.300s", r.body)
	return e.Error.Message
}

// withField returns the business-case body with one more top-level field.
func withField(name, rawValue string) string {
	return `{"items":[{"sku":"SKU-001","quantity":2}],"total":100,"` + name + `":` + rawValue + `}`
}

// Finding 11 of issue 8: a total of a million digits used to cost seconds of CPU before
// its 400. Numbers and strings now have explicit bounds, checked before any costly work.
func TestPlaceOrderBoundsNumbersAndStrings(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	million := strings.Repeat("9", 60_000) // under MaxOrderBody: the number, not the body, is refused
	long := func(n int) string { return `"` + strings.Repeat("x", n) + `"` }
	tests := []struct{ name, body, field string }{
		{"a total of 60,000 digits", `{"items":[{"sku":"SKU-001","quantity":2}],"total":` + million + `}`, "total"},
		{"a unit price of 60,000 digits", `{"items":[{"sku":"SKU-001","quantity":2,"unitPrice":` + million + `}],"total":100}`, "items[0].unitPrice"},
		{"a total with a huge exponent", `{"items":[{"sku":"SKU-001","quantity":2}],"total":1e999999999}`, "total"},
		{"a total with a small exponent", `{"items":[{"sku":"SKU-001","quantity":2}],"total":1e2}`, "total"},
		{"a long SKU", `{"items":[{"sku":` + long(65) + `,"quantity":2}],"total":100}`, "items[0].sku"},
		{"a long customer id", withField("customerId", long(129)), "customerId"},
		{"a long email", withField("customerEmail", `"`+strings.Repeat("a", 250)+`@b.cd"`), "customerEmail"},
		{"a long address line", withField("shippingAddress", `{"name":"Ann","line1":`+long(201)+`,"city":"Paris","country":"FR"}`), "shippingAddress.line1"},
		{"an address with a name only", withField("shippingAddress", `{"name":"x"}`), "shippingAddress.line1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := a.post(t, tc.body, nil)
			assertError(t, r, http.StatusBadRequest, "invalid", tc.field)
			assert.Less(t, len(r.body), 300, "the answer does not repeat the input")
		})
	}

	key := strings.Repeat("k", 256)
	assertError(t, a.post(t, businessCaseBody, map[string]string{"Idempotency-Key": key}), http.StatusBadRequest, "invalid", "Idempotency-Key")
	require.Equal(t, storedCounts{}, a.counts(t), "nothing is stored for a refused request")

	// The bounds themselves are accepted: such a total is parsed, and then found not to be
	// the catalog's price.
	r := a.post(t, `{"items":[{"sku":"SKU-001","quantity":2}],"total":12345678901234567.89}`, map[string]string{"Idempotency-Key": key[1:]})
	assertError(t, r, http.StatusUnprocessableEntity, "unprocessable", "total")
	r = a.post(t, businessCaseBody, map[string]string{"Idempotency-Key": key[1:]})
	assert.Equal(t, http.StatusCreated, r.status, "%s", r.body)
}

// An order's body is at most MaxOrderBody: a larger one is a 413 before it is decoded (a
// probe's 1 MiB bodies of 33,000 lines, each refused after a decode of a quarter of a
// second, slowed every other customer's order to seconds). An order at every limit, written
// out with escapes and indentation, still fits.
func TestPlaceOrderRefusesALargeBodyBeforeDecodingIt(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	line := `{"sku":"SKU-001","quantity":1}`
	lines := strings.Repeat(line+",", orders.MaxOrderBody/len(line)) + line
	r := a.post(t, `{"items":[`+lines+`]}`, nil)
	assertError(t, r, http.StatusRequestEntityTooLarge, "too_large", "")
	assert.Contains(t, string(r.body), fmt.Sprintf("request body is larger than %d bytes", orders.MaxOrderBody))

	// More lines than an order may have are counted, not decoded: 20,000 empty lines fit
	// the cap and cost ten times a real order to refuse after a decode.
	r = a.post(t, `{"items":[`+strings.Repeat(`{},`, 19_999)+`{}],"customerEmail":5}`, nil)
	assertError(t, r, http.StatusBadRequest, "invalid", "items")
	assert.Contains(t, string(r.body), "items must hold at most 100 lines, got 20000")

	// The largest order there is: 100 lines of the longest SKUs, every address part at
	// its longest, every character escaped, indented.
	esc := func(n int) string { return strings.Repeat(`é`, n) }
	part := `"` + esc(limits.MaxAddressField) + `"`
	address := `{"name": ` + part + `, "line1": ` + part + `, "line2": ` + part + `, "city": ` + part + `, "postalCode": ` + part + `, "country": ` + part + `}`
	items := make([]string, limits.MaxLines)
	for i := range items {
		items[i] = "\n    {\"sku\": \"" + esc(limits.MaxSKU) + "\", \"quantity\": 10000, \"unitPrice\": 999999.99}"
	}
	largest := `{"items": [` + strings.Join(items, ",") + `], "customerId": "` + esc(limits.MaxID) + `", "customerEmail": "` + strings.Repeat("a", 240) + `@example.com", "shippingAddress": ` + address + `, "billingAddress": ` + address + `}`
	require.Less(t, len(largest), orders.MaxOrderBody)
	r = a.post(t, largest, nil)
	assert.NotEqual(t, http.StatusRequestEntityTooLarge, r.status, "the largest order is read, then refused for what it says: %s", r.body)
}

// Finding 12 of issue 8: an error message used to echo up to 100 KB of input, Go type
// names, and cents where the client wrote units. It now echoes a short excerpt, in JSON's
// and the client's terms.
func TestErrorMessagesSpeakTheClientsTerms(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	huge := strings.Repeat("x", 50_000) // under MaxOrderBody: the message, not the size, is refused
	tests := []struct{ name, body, field, message string }{
		{"a negative total, in units", `{"items":[{"sku":"SKU-001","quantity":2}],"total":-5}`, "total", "total must be positive, got -5.00"},
		{"a total past what one payment can take (20 espresso machines)", `{"items":[{"sku":"SKU-031","quantity":20}]}`, "total",
			"total must be at most 999999.99 USD, what one payment can take; got 1000000.00"},
		{"a quantity that is a string", `{"items":[{"sku":"SKU-001","quantity":"two"}],"total":100}`, "items[0].quantity",
			"items[0].quantity must be an integer within range"},
		{"items that are an object", `{"items":{},"total":100}`, "items", "items must be an array"},
		{"a total that is a huge string", `{"items":[{"sku":"SKU-001","quantity":2}],"total":"` + huge + `"}`, "total", ""},
		{"a huge currency", withField("currency", `"`+huge+`"`), "currency", ""},
		{"a huge unknown field", withField(huge, "1"), "", ""},
		// A quantity left out is not a quantity of 0, nor a blank currency a currency left out.
		{"a quantity left out", `{"items":[{"sku":"SKU-001"}]}`, "items[0].quantity", "items[0].quantity is required"},
		{"a quantity of 1.0", `{"items":[{"sku":"SKU-001","quantity":1.0}]}`, "items[0].quantity", "items[0].quantity must be an integer within range"},
		// Past a float64's range: named without its index before (the walk stopped there).
		{"a quantity of 1e309", `{"items":[{"sku":"SKU-001","quantity":1}, {"sku":"SKU-002","quantity":1e309}]}`, "items[1].quantity", "items[1].quantity must be an integer within range"},
		{"a blank currency", withField("currency", `""`), "currency", "currency must be three letters when given (leave it out for the catalog's)"},
		// A field is named with its path, and by its documented name only (encoding/json took
		// any case, and named a nested field without its path).
		{"an unknown field of a line", `{"items":[{"sku":"SKU-001","quantity":1},{"sku":"SKU-002","quantity":1,"extra":1}]}`, "items[1].extra", `unknown field "items[1].extra"`},
		{"an unknown part of an address", withField("shippingAddress", `{"name":"Ann","line1":"1 Main St","city":"Paris","country":"FR","zip":"75001"}`), "shippingAddress.zip",
			`unknown field "shippingAddress.zip"`},
		{"names in capitals", `{"ITEMS":[{"SKU":"SKU-001","QUANTITY":2}]}`, "ITEMS", `unknown field "ITEMS": names are matched exactly; did you mean "items"?`},
		{"a line's name in capitals", `{"items":[{"SKU":"SKU-001","quantity":2}]}`, "items[0].SKU", `unknown field "items[0].SKU": names are matched exactly; did you mean "sku"?`},
		{"an address part in another case", withField("billingAddress", `{"name":"Ann","line1":"1 Main St","city":"Paris","Country":"FR"}`), "billingAddress.Country",
			`unknown field "billingAddress.Country": names are matched exactly; did you mean "country"?`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := a.post(t, tc.body, nil)
			require.Equal(t, http.StatusBadRequest, r.status)
			assert.Less(t, len(r.body), 300, "the answer repeats at most an excerpt: %.300s", r.body)
			msg := errorMessage(t, r)
			if tc.message != "" {
				assert.Equal(t, tc.message, msg)
			}
			if tc.field != "" {
				assertError(t, r, http.StatusBadRequest, "invalid", tc.field)
			}
			for _, goType := range []string{"int", "string", "[]", "orders.", "json.", "struct"} {
				assert.NotContains(t, strings.ReplaceAll(msg, "integer", ""), goType)
			}
		})
	}

	r := a.get(t, "/api/orders?status="+strings.Repeat("s", 10_000))
	assertError(t, r, http.StatusBadRequest, "invalid", "status")
	assert.Less(t, len(r.body), 300)

	r = a.get(t, "/api/orders/"+strings.Repeat("o", 128))
	assertError(t, r, http.StatusNotFound, "not_found", "")
	assert.Equal(t, "order "+strings.Repeat("o", apperr.MaxEcho)+"… not found", errorMessage(t, r), "an id is repeated as an excerpt")

	r = a.get(t, "/api/orders/"+strings.Repeat("o", 129))
	assertError(t, r, http.StatusBadRequest, "invalid", "id")
	assert.Less(t, len(r.body), 300)
	r = a.get(t, "/api/orders/"+strings.Repeat("o", 129)+"/events")
	assertError(t, r, http.StatusBadRequest, "invalid", "id")
	r = a.get(t, "/api/orders/"+strings.Repeat("o", 129)+"/notifications")
	assertError(t, r, http.StatusBadRequest, "invalid", "id")
}

// The operator's lists refuse a filter they cannot honour instead of answering an empty or
// unfiltered list.
func TestOperatorListsRefuseFiltersOutOfBounds(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	r := a.get(t, "/api/support-tickets?orderId="+strings.Repeat("o", 129))
	assertError(t, r, http.StatusBadRequest, "invalid", "orderId")
	r = a.get(t, "/api/webhooks?outcome=bogus")
	assertError(t, r, http.StatusBadRequest, "invalid", "outcome")
	assert.Equal(t, `outcome must be accepted or unknown_order (a duplicate is not stored again), got "bogus"`, errorMessage(t, r))
	// The inbox never holds a duplicate: a filter for one would always be empty.
	assertError(t, a.get(t, "/api/webhooks?outcome=duplicate"), http.StatusBadRequest, "invalid", "outcome")
	assertError(t, a.get(t, "/api/webhooks?outcome=accepted&outcome=unknown_order"), http.StatusBadRequest, "invalid", "outcome")
	assertError(t, a.get(t, "/api/webhooks?order=o-1"), http.StatusBadRequest, "invalid", "order")
	assertError(t, a.get(t, "/api/support-tickets?order=o-1"), http.StatusBadRequest, "invalid", "order")
	for _, path := range []string{"/api/support-tickets?orderId=o-1", "/api/webhooks?outcome=unknown_order", "/api/webhooks"} {
		assert.Equal(t, http.StatusOK, a.get(t, path).status, path)
	}
}

func TestApprovalBoundsItsFields(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{ManagerTokens: map[string]string{"api@example.com": "token"}})
	auth := map[string]string{"Authorization": "Bearer token"}
	for field, body := range map[string]string{
		"orderId": `{"orderId":"` + strings.Repeat("o", 129) + `","approved":true}`,
		"reason":  `{"orderId":"o-1","approved":false,"reason":"` + strings.Repeat("r", 1001) + `"}`,
	} {
		r := a.do(t, http.MethodPost, "/api/orders/approve", strings.NewReader(body), auth)
		assertError(t, r, http.StatusBadRequest, "invalid", field)
	}
}

func TestWebhooksBoundTheirFieldsAndSpeakJSON(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{DevMode: true}) // unsigned webhooks, so the body alone is tested
	long := strings.Repeat("x", 129)
	tests := []struct{ path, body, field, message string }{
		{"/webhooks/payment", `{"orderId":"o-1","status":"completed","amount":"5"}`, "amount", "amount must be an integer within range"},
		{"/webhooks/payment", `{"orderId":"` + long + `","status":"completed"}`, "orderId", ""},
		{"/webhooks/payment", `{"orderId":"o-1","status":"completed","sessionId":"` + long + `"}`, "sessionId", ""},
		{"/webhooks/delivery", `{"orderId":"o-1","status":"` + strings.Repeat("s", 65) + `"}`, "status", ""},
		{"/webhooks/delivery", `{"orderId":"o-1","status":"failed","reason":"` + strings.Repeat("r", 1001) + `"}`, "reason", ""},
		{"/webhooks/delivery", `{"orderId":"o-1","status":"delivered","courierNote":"kept for later"}`, "", ""},
	}
	for _, tc := range tests {
		r := a.do(t, http.MethodPost, tc.path, bytes.NewReader([]byte(tc.body)), nil)
		if tc.field == "" {
			assert.Equal(t, http.StatusNotFound, r.status, "an unknown field is no error, the order is unknown: %s", r.body)
			continue
		}
		assertError(t, r, http.StatusBadRequest, "invalid", tc.field)
		if tc.message != "" {
			assert.Equal(t, tc.message, errorMessage(t, r))
		}
	}
}

// Dev mode takes Stripe events unsigned too, as it does the flat body, so a developer can
// post one by hand; outside dev mode an unsigned event is refused like any webhook.
func TestUnsignedStripeEventsOnlyInDevMode(t *testing.T) {
	t.Parallel()
	event := `{"id":"evt_1","object":"event","type":"customer.created","data":{"object":{"id":"cus_1","object":"customer"}}}`
	dev := newAPI(t, orders.Config{DevMode: true})
	r := dev.do(t, http.MethodPost, "/webhooks/payment", strings.NewReader(event), nil)
	assert.Equal(t, http.StatusOK, r.status, r.body)
	assert.JSONEq(t, `{"orderId":"","outcome":"ignored"}`, string(r.body))
	r = dev.do(t, http.MethodPost, "/webhooks/payment", strings.NewReader(`{"object":"event","id":7}`), nil)
	assertError(t, r, http.StatusBadRequest, "invalid", "")
	r = dev.do(t, http.MethodPost, "/webhooks/payment", strings.NewReader(`{"id":"evt_1","object":"event","type":"checkout.session.completed","data":{"object":5}}`), nil)
	assertError(t, r, http.StatusBadRequest, "invalid", "")
	assert.Equal(t, "malformed Stripe event: data must be an object", errorMessage(t, r), "JSON's terms, never Go types")

	prod := newAPI(t, orders.Config{PaymentWebhookSecret: "whsec_prod"})
	r = prod.do(t, http.MethodPost, "/webhooks/payment", strings.NewReader(event), nil)
	assert.Equal(t, http.StatusUnauthorized, r.status, r.body)
}
