package e2e

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 8, finding 5, against the real services: five limited mugs for 0.01 reserved all
// the stock for a day, and newCustomer:false took a 50,000 order past the manager. The
// warehouse's catalog prices the order now, and only history makes a customer known.
func TestTheCatalogPricesEveryOrder(t *testing.T) {
	s := start(t, defaultOptions())
	before := s.stock(t, "SKU-LIMITED")
	var refused errorBody
	require.Equal(t, http.StatusUnprocessableEntity, s.call(t, "POST", s.orders+"/api/orders",
		`{"items":[{"sku":"SKU-LIMITED","quantity":5}],"total":0.01}`, nil, &refused))
	assert.Equal(t, "total", refused.Error.Field)
	assert.Equal(t, "total 0.01 is not the catalog's price of the items: they cost 100.00 USD", refused.Error.Message)
	assert.Equal(t, before, s.stock(t, "SKU-LIMITED"), "nothing is reserved for a refused order")

	// Left out, the total is the catalog's; the payment session asks for it.
	id := s.placeOrder(t, `{"items":[{"sku":"SKU-LIMITED","quantity":5}],"customerId":"c-mugs"}`)
	wh, err := s.providerPayment(t.Context(), id, "evt_mugs", "completed", "pi_mugs")
	require.NoError(t, err)
	assert.Equal(t, int64(100_00), wh.Amount)

	// A stranger saying it is no new customer is held for a manager all the same.
	held := s.placeOrder(t, `{"items":[{"sku":"SKU-031","quantity":1}],"total":50000,"customerId":"c-stranger","newCustomer":false}`)
	o := s.waitStatus(t, held, "awaiting_approval")
	require.NotNil(t, o.RiskScore)
	assert.GreaterOrEqual(t, *o.RiskScore, 70)
}
