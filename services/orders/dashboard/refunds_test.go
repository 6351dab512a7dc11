package dashboard_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
)

// The order page's Payment panel says what is given back of each payment, its refunds
// together, as the operator's API does (refundedPayments): a payment refunded in parts
// shows their total, one given back whole without an amount "in full". Only the timeline
// told it, one refund at a time, where a manager had to add the parts up.
func TestTheOrderPageSaysWhatIsRefundedOfEachPayment(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	ctx := context.Background()
	const id = "ord-refunded"
	d.holdOrder(t, id, "erin@example.com")
	now := time.Now()
	for _, r := range []struct {
		payment, refund string
		total           order.Cents
	}{{"pi_parts", "re_1", 3000}, {"pi_parts", "re_2", 10000}, {"pi_whole", "re_3", 0}} {
		require.NoError(t, pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
			_, err := orderstream.Update(ctx, tx, id, eventstore.Metadata{CorrelationID: id, Actor: "saga"}, func(o *order.Order) ([]order.Event, error) {
				return o.RecordRefund(r.payment, r.refund, r.total, "USD", now)
			})
			return err
		}))
	}

	c := orderstest.Client(t)
	d.signIn(t, c, managerEmail, managerPassword)
	p := d.request(t, c, "GET", "/dashboard/orders/"+id, nil, nil)
	require.Equal(t, http.StatusOK, p.status, p.body)
	var refunded []string
	p.doc.Find(`[data-testid=fields-payment] dt`).Each(func(_ int, dt *goquery.Selection) {
		if dt.Text() == "Refunded" {
			refunded = append(refunded, dt.Next().Text())
		}
	})
	assert.Equal(t, []string{"100.00 USD of pi_parts", "in full of pi_whole"}, refunded)
}
