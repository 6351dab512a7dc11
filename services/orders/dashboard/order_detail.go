package dashboard

import (
	"context"
	"strings"
	"time"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/ui"
)

// orderDetail reads one order: the aggregate and its timeline from its events (never
// stale), the rest from the workflow's tables. Events this release does not know (a newer
// release's, during a rolling upgrade) are stepped over: the page shows the order as far
// as this release knows it, names them in the timeline and says it may be incomplete.
func (s *Service) orderDetail(ctx context.Context, id string, devMode bool) (ui.OrderDetail, error) {
	// The order and its timeline from one read of its events: they agree, and the page's
	// version is the newest of them. The live stream sends the page again once the order
	// has anything newer. The same statement reads what the order's shipment and payment
	// streams add: a booking by hand its workflow called off, a session the payment
	// service refused. The page's version stays its order's.
	h, beside, err := projections.ReadWithBeside(ctx, s.pool, id)
	if err != nil {
		return ui.OrderDetail{}, err
	}
	o, position := h.Order, h.Recorded[len(h.Recorded)-1].Position
	entries := projections.TimelineOf(h, beside.Shipments...)
	timeline := make([]ui.TimelineEntry, len(entries))
	for i, e := range entries {
		timeline[i] = ui.TimelineEntry(e)
	}
	now := s.now()
	names := s.catalog.Names(ctx, skusOf(o))
	// The page names the order asked for: one a newer release placed has no ID in the
	// history this release folds.
	d := ui.OrderDetail{Timeline: timeline,
		OrderID: id, Status: string(o.Status), Customer: customerLabel(o.CustomerEmail, o.CustomerID),
		Total: o.Total.Text(o.Currency), Items: itemLines(o.Items, names), RiskScore: o.RiskScore,
		Threshold: o.RiskThreshold, CreatedAt: o.PlacedAt, UpdatedAt: o.UpdatedAt, Steps: workflowSteps(o),
		Shipping: addressView(o.ShippingAddress), Billing: addressView(o.BillingAddress),
	}
	for _, r := range h.Unknown() {
		d.Unknown = append(d.Unknown, r.Name)
	}
	if o.RiskScore != nil {
		d.ScoreExplained = scoreExplained(o)
	}
	histories, err := s.histories(ctx, o)
	if err != nil {
		return d, err
	}
	d.History = histories[o.ID]
	for _, f := range o.RiskFactors {
		d.Factors = append(d.Factors, ui.RiskFactor{Description: f.Description, Points: f.Points})
	}
	d.Decision = nonEmpty(
		ui.Field{Label: "Decided by", Value: o.DecidedBy},
		ui.Field{Label: "Reason", Value: o.DecisionReason},
		ui.Field{Label: "Approval deadline", Value: stampIf(o.ApprovalDeadline)},
		ui.Field{Label: "Cancelled", Value: strings.TrimSpace(strings.ReplaceAll(string(o.CancelReason), "_", " ") + " " + o.CancelDetail)},
	)
	d.Payment = nonEmpty(
		ui.Field{Label: "Session", Value: o.PaymentSessionID},
		ui.Field{Label: "Checkout", Value: o.PaymentURL},
		ui.Field{Label: "Due", Value: stampIf(o.PaymentDeadline)},
		ui.Field{Label: "Payment", Value: o.PaymentID},
		ui.Field{Label: "Failure", Value: o.PaymentFailReason},
		ui.Field{Label: "Refused", Value: beside.SessionRefused},
	)
	// What is given back of each payment, its refunds together, as the operator's view
	// says it (refundedPayments); the timeline tells each refund.
	for _, r := range o.RefundedPayments() {
		given := "in full"
		if r.Amount > 0 {
			given = r.Amount.Text(r.Currency)
		}
		d.Payment = append(d.Payment, ui.Field{Label: "Refunded", Value: given + " of " + r.PaymentID})
	}
	d.Shipment = nonEmpty(
		ui.Field{Label: "Reservation", Value: o.ReservationID},
		ui.Field{Label: "Reservation failed", Value: o.ReservationFailed},
		ui.Field{Label: "Shipment", Value: o.ShipmentID},
		ui.Field{Label: "Carrier", Value: o.Carrier},
		ui.Field{Label: "Tracking", Value: o.TrackingNumber},
		ui.Field{Label: "Courier status", Value: o.DeliveryStatus},
		ui.Field{Label: "Delivery failure", Value: o.DeliveryFailureReason},
	)
	for _, c := range beside.CalledOff {
		d.Shipment = append(d.Shipment, ui.Field{Label: "Called off", Value: c.ShipmentID + ": " + c.Reason})
	}
	if o.Status == order.StatusAwaitingApproval {
		// Held since the order's course last moved: the desk's notes and claims leave it.
		p := s.pendingView(now, o, o.UpdatedAt, names)
		p.OnOrderPage = true
		p.History = d.History
		d.Pending = &p
	}
	if devMode {
		d.Simulators = simulatorsFor(o)
		d.Mailbox = s.cfg.DevMailboxURL
	}
	d.Version = position
	if d.Notices, err = s.notifications(ctx, id); err != nil {
		return d, err
	}
	d.Tickets, err = s.tickets(ctx, id, 50)
	return d, err
}

func stampIf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func nonEmpty(fs ...ui.Field) []ui.Field {
	var out []ui.Field
	for _, f := range fs {
		if f.Value != "" {
			out = append(out, f)
		}
	}
	return out
}

func (s *Service) notifications(ctx context.Context, orderID string) ([]ui.Notification, error) {
	emails, err := s.emails.ForOrder(ctx, orderID)
	out := make([]ui.Notification, len(emails))
	for i, e := range emails {
		out[i] = ui.Notification{Kind: e.Kind, Recipient: e.Recipient, Subject: e.Subject, CreatedAt: e.CreatedAt, Status: e.Status, RetryAt: e.RetryAt}
		if e.Error != nil {
			out[i].Error = *e.Error
		}
	}
	return out, err
}

// tickets reads support tickets, newest first: one order's, or everyone's when orderID is "".
func (s *Service) tickets(ctx context.Context, orderID string, limit int) ([]ui.Ticket, error) {
	tickets, err := projections.RecentTickets(ctx, s.pool, orderID, limit)
	out := make([]ui.Ticket, len(tickets))
	for i, t := range tickets {
		out[i] = ui.Ticket{ID: t.ID, OrderID: t.OrderID, Kind: t.Kind, Reason: t.Reason, Status: t.Status, CreatedAt: t.CreatedAt}
	}
	return out, err
}
