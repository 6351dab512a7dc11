package orders

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
)

// A customer whose money came back reads how much and when (found by a probe: a refunded
// customer saw only "cancelled"), without the payment provider's ids the operator reads;
// the payment link is offered only while the order waits for its payment.
func TestCustomerReadsRefundsAndThePaymentLinkOnlyWhileItPays(t *testing.T) {
	at := time.Date(2026, 12, 6, 16, 0, 0, 0, time.UTC)
	o := &order.Order{ID: "ord-1", Status: order.StatusCancelled, Total: 2400, Currency: "EUR", PaymentURL: "https://pay.example/cs_1",
		Refunds: []order.Refund{{PaymentID: "pi_1", RefundID: "re_1", Amount: 2400, Currency: "EUR", At: at}, {PaymentID: "pi_2", RefundID: "re_2", At: at}}}

	operator := asJSON(t, viewOrder(o))
	assert.Equal(t, []any{
		map[string]any{"paymentId": "pi_1", "refundId": "re_1", "amount": 24.0, "currency": "EUR", "at": "2026-12-06T16:00:00Z"},
		map[string]any{"paymentId": "pi_2", "refundId": "re_2", "at": "2026-12-06T16:00:00Z"},
	}, operator["refunds"])
	assert.Equal(t, "https://pay.example/cs_1", operator["paymentUrl"], "the operator sees what the order recorded")

	customer := asJSON(t, customerView(viewOrder(o)))
	assert.Equal(t, []any{
		map[string]any{"amount": 24.0, "currency": "EUR", "at": "2026-12-06T16:00:00Z"},
		map[string]any{"at": "2026-12-06T16:00:00Z"},
	}, customer["refunds"])
	assert.NotContains(t, customer, "paymentUrl", "a cancelled order's link would take money for nothing")

	o.Status, o.Refunds = order.StatusAwaitingPayment, nil
	customer = asJSON(t, customerView(viewOrder(o)))
	assert.Equal(t, "https://pay.example/cs_1", customer["paymentUrl"])
	assert.NotContains(t, customer, "refunds")
}

// The operator reads, beside each refund, what is refunded of each payment in all, which
// is what the payment provider shows refunded of it: a payment given back in parts (30.00
// in Stripe's dashboard, the rest by Ordermill) is listed once, at 100.00. One refunded by a
// refund that did not say its amount (given back whole) has no amount. The customer reads
// the refunds only.
func TestTheOperatorReadsWhatIsRefundedOfEachPayment(t *testing.T) {
	at := time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC)
	o := &order.Order{ID: "ord-1", Status: order.StatusCancelled, Total: 100_00, Currency: "EUR", Refunds: []order.Refund{
		{PaymentID: "pi_1", RefundID: "ch_1", Amount: 30_00, Currency: "EUR", At: at},
		{PaymentID: "pi_2", RefundID: "re_2", At: at},
		{PaymentID: "pi_1", RefundID: "re_1", Amount: 70_00, Currency: "EUR", At: at},
	}}
	operator := asJSON(t, viewOrder(o))
	assert.Len(t, operator["refunds"], 3, "each refund, as before")
	assert.Equal(t, []any{
		map[string]any{"paymentId": "pi_1", "amount": 100.0, "currency": "EUR"},
		map[string]any{"paymentId": "pi_2"},
	}, operator["refundedPayments"])
	assert.NotContains(t, asJSON(t, customerView(viewOrder(o))), "refundedPayments")

	o.Refunds = nil
	assert.NotContains(t, asJSON(t, viewOrder(o)), "refundedPayments", "nothing refunded")
}

func asJSON(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}
