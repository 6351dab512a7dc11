package projections

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
)

// TimelineEntry is an order event in words: its position, name, actor and a short
// sentence a person can read, for the order page's history.
type TimelineEntry struct {
	Position   int64
	Name       string
	Actor      string
	RecordedAt time.Time
	Summary    string
}

// timelineEntry is an order event as the timeline tells it. One this release does not
// know is told as what it is: its name, where the log has it, and that it cannot be shown.
func timelineEntry(r eventstore.Recorded, e order.Event) TimelineEntry {
	summary := Summarize(e)
	if _, ok := e.(order.Unknown); ok {
		summary = fmt.Sprintf("%s (position %d): recorded by a newer release; this release cannot show it", r.Name, r.Position)
	}
	return entryOf(r, summary)
}

// TimelineOf is an order's timeline as its history tells it, with the entries beside it
// (Beside.Shipments) in their places in the log. The order page draws it from the history
// it draws the order from, so the two always agree. It is not a table of its own: the
// events are the table, and one stream's are a few index entries away.
func TimelineOf(h orderstream.History, beside ...TimelineEntry) []TimelineEntry {
	out := make([]TimelineEntry, len(h.Recorded), len(h.Recorded)+len(beside))
	for i, r := range h.Recorded {
		out[i] = timelineEntry(r, h.Events[i])
	}
	out = append(out, beside...)
	slices.SortStableFunc(out, func(a, b TimelineEntry) int { return cmp.Compare(a.Position, b.Position) })
	return out
}

// Beside is what an order's streams at the delivery and payment services tell that its
// own events do not. A shipment booked for the order by hand (the delivery service's
// procedure) and called off by its workflow (an order not paid yet, given up, or paid with
// other lines or address than the booking's) is no order event: the booking and its
// cancel are on the order's shipment stream only. A Checkout Session the payment service
// refused to open is on the order's payment stream; the order records only the cancel
// that followed.
type Beside struct {
	// Shipments tells the bookings the order does not record as its shipment, and every
	// booking called off, in log order.
	Shipments []TimelineEntry
	// CalledOff are the bookings called off, in log order.
	CalledOff []shipping.ShipmentCancelled
	// SessionRefused is why the payment service refused to open the order's session, ""
	// when it did not.
	SessionRefused string
}

// ReadWithBeside reads order id's history (orderstream.LoadHistory) and what its shipment
// and payment streams tell beside it, for its page: one statement of the three streams,
// each a few index entries of the events' (stream_id, stream_version) index
// (eventstore.LoadStreams), where the page read its own stream and then the other two.
// The streams are named by id, the order asked for: an order whose placement this
// release does not know (order.Unknown) has no ID of its own in its history.
func ReadWithBeside(ctx context.Context, q eventstore.Querier, id string) (orderstream.History, Beside, error) {
	recorded, err := eventstore.LoadStreams(ctx, q, id, shipping.StreamID(id), payment.StreamID(id))
	if err != nil {
		return orderstream.History{}, Beside{}, err
	}
	var own, others []eventstore.Recorded
	for _, r := range recorded {
		if r.StreamID == id {
			own = append(own, r)
		} else {
			others = append(others, r)
		}
	}
	h, err := orderstream.HistoryOf(id, own)
	if err != nil {
		return orderstream.History{}, Beside{}, err
	}
	b, err := besideOf(h, others)
	return h, b, err
}

// besideOf is what recorded, the events of order h's shipment and payment streams, tell
// beside its own. Their events are the delivery and payment services' contracts
// (domain/shipping, domain/payment), whose names and shapes never change in place; an
// event of a name this release does not know (a newer release's) is left out.
func besideOf(h orderstream.History, recorded []eventstore.Recorded) (Beside, error) {
	recordedOwn := map[string]bool{} // the shipments the order records as its own
	for _, e := range h.Events {
		if ev, ok := e.(*order.ShipmentCreated); ok {
			recordedOwn[ev.ShipmentID] = true
		}
	}
	var b Beside
	for _, r := range recorded {
		switch r.Name {
		case shipping.ShipmentCreatedName:
			var ev shipping.ShipmentCreated
			if err := decodeBeside(r, &ev); err != nil {
				return Beside{}, err
			}
			if !recordedOwn[ev.ShipmentID] {
				b.Shipments = append(b.Shipments, entryOf(r, fmt.Sprintf("Shipment %s booked with %s, tracking %s", ev.ShipmentID, ev.Carrier, ev.TrackingNumber)))
			}
		case shipping.ShipmentCancelledName:
			var ev shipping.ShipmentCancelled
			if err := decodeBeside(r, &ev); err != nil {
				return Beside{}, err
			}
			b.Shipments = append(b.Shipments, entryOf(r, withReason("Shipment "+ev.ShipmentID+" called off", ev.Reason)))
			b.CalledOff = append(b.CalledOff, ev)
		case payment.SessionRefusedName:
			var ev payment.SessionRefused
			if err := decodeBeside(r, &ev); err != nil {
				return Beside{}, err
			}
			b.SessionRefused = ev.Reason
		}
	}
	return b, nil
}

func decodeBeside(r eventstore.Recorded, v any) error {
	if err := json.Unmarshal(r.Payload, v); err != nil {
		return fmt.Errorf("decode %s at %d: %w", r.Name, r.Position, err)
	}
	return nil
}

// entryOf is stored event r as the order's timeline tells it, in summary: an event of the
// order's own stream or of another service's.
func entryOf(r eventstore.Recorded, summary string) TimelineEntry {
	return TimelineEntry{Position: r.Position, Name: r.Name, Actor: r.Metadata.Actor, RecordedAt: r.RecordedAt, Summary: summary}
}

// Summarize says in one short sentence what an order event means to a person.
func Summarize(e order.Event) string {
	switch ev := e.(type) {
	case *order.OrderPlaced:
		who := ev.CustomerEmail
		if who == "" {
			who = ev.CustomerID
		}
		s := fmt.Sprintf("Placed: %d item(s), %s", itemCount(ev.Items), ev.Total.Amount.Text(ev.Total.Currency))
		if who != "" {
			s += " by " + who
		}
		return s
	case *order.RiskAssessed:
		reasons := make([]string, len(ev.Factors))
		for i, f := range ev.Factors {
			reasons[i] = fmt.Sprintf("%s (+%d)", f.Description, f.Points)
		}
		s := fmt.Sprintf("Risk scored %d (threshold %d)", ev.Score, ev.Threshold)
		if len(reasons) > 0 {
			s += ": " + strings.Join(reasons, ", ")
		}
		return s
	case *order.HeldForApproval:
		return "Held for a manager's approval until " + ev.Deadline.UTC().Format("2006-01-02 15:04 MST")
	case *order.OrderApproved:
		return withReason("Approved by "+ev.By, ev.Reason)
	case *order.OrderRejected:
		return withReason("Rejected by "+ev.By, ev.Reason)
	case *order.InventoryReserved:
		return "Inventory reserved (" + ev.ReservationID + ")"
	case *order.ReservationFailed:
		return withReason("Inventory could not be reserved", ev.Reason)
	case *order.PaymentSessionCreated:
		return "Payment session " + ev.SessionID + " opened, due " + ev.Deadline.UTC().Format("2006-01-02 15:04 MST")
	case *order.PaymentCompleted:
		return "Payment " + ev.PaymentID + " completed"
	case *order.PaymentFailed:
		return withReason("Payment failed", ev.Reason)
	case *order.ShipmentCreated:
		return fmt.Sprintf("Shipped with %s, tracking %s", ev.Carrier, ev.TrackingNumber)
	case *order.DeliveryStatusUpdated:
		return "Courier reports " + strings.ReplaceAll(ev.Status, "_", " ")
	case *order.OrderDelivered:
		return "Delivered"
	case *order.DeliveryFailed:
		return withReason("Delivery failed", ev.Reason)
	case *order.OrderCompleted:
		return "Completed"
	case *order.OrderCancelled:
		return withReason("Cancelled ("+strings.ReplaceAll(string(ev.Reason), "_", " ")+")", ev.Detail)
	case *order.PaymentRefunded:
		if ev.Total > 0 { // a further part of the payment: what came back now, and in all
			return fmt.Sprintf("Payment %s refunded (%s, %s more, %s in all)", ev.PaymentID, ev.RefundID, ev.Amount.Text(ev.Currency), ev.Total.Text(ev.Currency))
		}
		return fmt.Sprintf("Payment %s refunded (%s, %s)", ev.PaymentID, ev.RefundID, ev.Amount.Text(ev.Currency))
	case *order.NoteAdded:
		return "Note by " + ev.By + ": " + ev.Text
	case *order.OrderClaimed:
		return "Claimed for review by " + ev.By + " until " + ev.Until.UTC().Format("15:04 MST")
	case *order.ClaimReleased:
		return "Claim released by " + ev.By
	case *order.TicketAssigned:
		return "Support ticket (" + strings.ReplaceAll(ev.Kind, "_", " ") + ") assigned to " + ev.To + " by " + ev.By
	case *order.TicketCommented:
		return "Comment on the support ticket (" + strings.ReplaceAll(ev.Kind, "_", " ") + ") by " + ev.By + ": " + ev.Text
	case *order.TicketClosed:
		return withReason("Support ticket ("+strings.ReplaceAll(ev.Kind, "_", " ")+") closed by "+ev.By, ev.Resolution)
	case *order.SupportTicketOpened:
		return withReason("Support ticket opened ("+strings.ReplaceAll(ev.Kind, "_", " ")+")", ev.Reason)
	}
	return e.EventName()
}

func withReason(s, reason string) string {
	if reason == "" {
		return s
	}
	return s + ": " + reason
}

func itemCount(items []order.Item) int {
	n := 0
	for _, it := range items {
		n += it.Quantity
	}
	return n
}
