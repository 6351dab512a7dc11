package dashboard_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/orderstream/orderstreamtest"
	"github.com/ordermill/ordermill/projections/ordergen"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
)

// then takes steps of order id's workflow after those d.history wrote, each in a
// transaction of its own, as the saga takes them.
func (d *dash) then(t *testing.T, id string, steps ...ordergen.Step) {
	t.Helper()
	ctx := context.Background()
	for _, s := range steps {
		require.NoError(t, pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
			_, err := orderstream.Update(ctx, tx, id, eventstore.Metadata{CorrelationID: id, Actor: s.Actor}, func(o *order.Order) ([]order.Event, error) {
				return s.Decide(o, time.Now().UTC())
			})
			return err
		}))
	}
}

// record appends events to another service's stream of order id, as that service does.
func (d *dash) record(t *testing.T, stream eventstore.Stream, version int, actor string, events ...eventstore.Event) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		_, err := eventstore.Append(ctx, tx, stream, version, eventstore.Metadata{CorrelationID: stream.ID, Actor: actor}, events...)
		return err
	}))
}

// orderPage is order id's page as a signed-in manager sees it.
func (d *dash) orderPage(t *testing.T, id string) dpage {
	t.Helper()
	c := orderstest.Client(t)
	d.signIn(t, c, managerEmail, managerPassword)
	p := d.request(t, c, "GET", "/dashboard/orders/"+id, nil, nil)
	require.Equal(t, http.StatusOK, p.status, p.body)
	return p
}

// field is the value of each field labelled label in the page's panel key.
func (p dpage) field(key, label string) []string {
	var values []string
	p.doc.Find(`[data-testid=fields-` + key + `] dt`).Each(func(_ int, dt *goquery.Selection) {
		if dt.Text() == label {
			values = append(values, dt.Next().Text())
		}
	})
	return values
}

// A shipment booked by hand for an order not paid yet, which the workflow called off, did
// not show on the order's page: its booking and cancel are on the order's shipment stream,
// and the page read only the order's. A manager saw the order ship with its own booking
// and nothing of the one called off. The page now tells that booking (its id, carrier
// and tracking) and its cancel with the workflow's reason in the timeline, in their
// places, and the Shipment panel names it; the order's own booking is told once, by the
// order's event.
func TestTheOrderPageShowsAShipmentBookedByHandAndCalledOff(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	const id = "ord-hand-booked"
	d.history(t, []ordergen.Step{place(id, "ann@example.com", 120_00, "FR", "FR"), ordergen.Assess(10), ordergen.Reserve("r1"), ordergen.OpenSession("s1")})
	stream := eventstore.Stream{Type: shipping.StreamType, ID: shipping.StreamID(id)}
	const reason = "order awaiting_payment: its shipment is booked by its workflow once it is paid"
	d.record(t, stream, 0, "service:orders", eventstore.Event{Name: shipping.ShipmentCreatedName, Data: shipping.ShipmentCreated{
		OrderID: id, ShipmentID: "sh-hand", Carrier: "ACME Post", TrackingNumber: "TRK000000000001", Lines: []shipping.Line{{SKU: "SKU-001", Quantity: 2}}}})
	d.record(t, stream, 1, "saga", eventstore.Event{Name: shipping.ShipmentCancelledName, Data: shipping.ShipmentCancelled{OrderID: id, ShipmentID: "sh-hand", Reason: reason}})
	d.then(t, id, ordergen.Pay("p1"), ordergen.Ship("sh-own"))
	d.record(t, stream, 2, "saga", eventstore.Event{Name: shipping.ShipmentCreatedName, Data: shipping.ShipmentCreated{
		OrderID: id, ShipmentID: "sh-own", Carrier: "ACME Post", TrackingNumber: "TRK-sh-own", Lines: []shipping.Line{{SKU: "SKU-001", Quantity: 2}}}})

	p := d.orderPage(t, id)
	type entry struct{ Name, Actor, Summary string }
	var timeline []entry
	p.doc.Find(`[data-testid=timeline-entry]`).Each(func(_ int, s *goquery.Selection) {
		timeline = append(timeline, entry{s.AttrOr("data-event", ""), s.Find(`[data-testid=timeline-actor]`).Text(), s.Find("span").Last().Text()})
	})
	var names []string
	for _, e := range timeline {
		names = append(names, e.Name)
	}
	assert.Equal(t, []string{order.NameOrderPlaced, order.NameRiskAssessed, order.NameInventoryReserved, order.NamePaymentSessionCreated,
		shipping.ShipmentCreatedName, shipping.ShipmentCancelledName, order.NamePaymentCompleted, order.NameShipmentCreated}, names,
		"the booking by hand and its cancel in their places; the order's own booking once")
	assert.Contains(t, timeline, entry{shipping.ShipmentCreatedName, "service:orders", "Shipment sh-hand booked with ACME Post, tracking TRK000000000001"})
	assert.Contains(t, timeline, entry{shipping.ShipmentCancelledName, "saga", "Shipment sh-hand called off: " + reason})
	assert.Equal(t, []string{"sh-own"}, p.field("shipment", "Shipment"))
	assert.Equal(t, []string{"sh-hand: " + reason}, p.field("shipment", "Called off"))
}

// An order cancelled because the payment service refused to open its Checkout Session
// said nothing of it on its page's Payment step or panel: the refusal is on the order's
// payment stream, the order records only its cancel (payment_failed, with no payment that
// failed), and the step read "failed" with no note while the panel read "None yet". The
// panel now says "Refused" with the service's reason, and the step the cancel's detail.
func TestTheOrderPageSaysThePaymentSessionWasRefused(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	const id = "ord-session-refused"
	d.history(t, []ordergen.Step{place(id, "ann@example.com", 120_00, "FR", "FR"), ordergen.Assess(10), ordergen.Reserve("r1")})
	const refused = `customerEmail "alice" is not an email address`
	d.record(t, eventstore.Stream{Type: payment.StreamType, ID: payment.StreamID(id)}, 0, "",
		eventstore.Event{Name: payment.SessionRefusedName, Data: payment.SessionRefused{OrderID: id, Reason: refused}})
	const detail = "the payment service refused to open its session: " + refused // the saga's (onSessionRefused)
	d.then(t, id, ordergen.Cancel(order.ReasonPaymentFailed, detail))

	p := d.orderPage(t, id)
	assert.Equal(t, []string{refused}, p.field("payment", "Refused"))
	step := p.doc.Find(`[data-testid=step-payment]`)
	assert.Equal(t, "failed", step.AttrOr("data-state", ""))
	assert.Equal(t, detail, strings.TrimSpace(step.Find(".step-note").Text()))
}

// An order a newer release placed (a rolling upgrade: its placement is an event this
// release does not know) has no ID in the history this release folds, and its page read
// the shipment and payment streams of the order "": a booking called off and a session
// refused did not show. The page reads the streams of the order asked for.
func TestThePageOfAnOrderANewerReleasePlacedReadsItsShipmentAndPaymentStreams(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	const id = "ord-placed-by-newer"
	d.record(t, eventstore.Stream{Type: orderstream.StreamType, ID: id}, 0, orderstreamtest.NewerActor,
		eventstore.Event{Name: orderstreamtest.NewerEvent, Data: map[string]string{"what": "a newer release's placement"}})
	const reason = "order awaiting_payment: its shipment is booked by its workflow once it is paid"
	stream := eventstore.Stream{Type: shipping.StreamType, ID: shipping.StreamID(id)}
	d.record(t, stream, 0, "service:orders", eventstore.Event{Name: shipping.ShipmentCreatedName, Data: shipping.ShipmentCreated{
		OrderID: id, ShipmentID: "sh-hand", Carrier: "ACME Post", TrackingNumber: "TRK000000000002", Lines: []shipping.Line{{SKU: "SKU-001", Quantity: 1}}}})
	d.record(t, stream, 1, "saga", eventstore.Event{Name: shipping.ShipmentCancelledName, Data: shipping.ShipmentCancelled{OrderID: id, ShipmentID: "sh-hand", Reason: reason}})
	const refused = `customerEmail "bob" is not an email address`
	d.record(t, eventstore.Stream{Type: payment.StreamType, ID: payment.StreamID(id)}, 0, "",
		eventstore.Event{Name: payment.SessionRefusedName, Data: payment.SessionRefused{OrderID: id, Reason: refused}})

	p := d.orderPage(t, id)
	var names []string
	p.doc.Find(`[data-testid=timeline-entry]`).Each(func(_ int, s *goquery.Selection) {
		names = append(names, s.AttrOr("data-event", ""))
	})
	assert.Equal(t, []string{orderstreamtest.NewerEvent, shipping.ShipmentCreatedName, shipping.ShipmentCancelledName}, names, p.body)
	assert.Equal(t, []string{"sh-hand: " + reason}, p.field("shipment", "Called off"))
	assert.Equal(t, []string{refused}, p.field("payment", "Refused"))
	assert.Equal(t, id, p.doc.Find(`[data-testid=order-id]`).Text(), "the page names the order asked for")
}
