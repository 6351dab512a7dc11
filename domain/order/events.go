package order

import (
	"encoding/json"
	"sort"
	"time"

	"github.com/ordermill/ordermill/domain/apperr"
)

// Event is something that happened to an order; the name is stored with the payload, so it must never change.
type Event interface {
	// EventName returns the stable, versioned name used to store and decode the event.
	EventName() string
}

// Event names; the version suffix lets a schema change introduce a new name instead of breaking old streams.
const (
	// NameOrderPlaced is the stored name of OrderPlaced; streams placed before v2 start
	// with NameOrderPlacedV1 instead, which Decode upcasts (versions.go).
	NameOrderPlaced = "order.placed.v2"
	// NameRiskAssessed is the stored name of RiskAssessed.
	NameRiskAssessed = "order.risk_assessed.v1"
	// NameHeldForApproval is the stored name of HeldForApproval.
	NameHeldForApproval = "order.held_for_approval.v1"
	// NameOrderApproved is the stored name of OrderApproved.
	NameOrderApproved = "order.approved.v1"
	// NameOrderRejected is the stored name of OrderRejected.
	NameOrderRejected = "order.rejected.v1"
	// NameInventoryReserved is the stored name of InventoryReserved.
	NameInventoryReserved = "order.inventory_reserved.v1"
	// NameReservationFailed is the stored name of ReservationFailed.
	NameReservationFailed = "order.reservation_failed.v1"
	// NamePaymentSessionCreated is the stored name of PaymentSessionCreated.
	NamePaymentSessionCreated = "order.payment_session_created.v1"
	// NamePaymentCompleted is the stored name of PaymentCompleted.
	NamePaymentCompleted = "order.payment_completed.v1"
	// NamePaymentFailed is the stored name of PaymentFailed.
	NamePaymentFailed = "order.payment_failed.v1"
	// NameShipmentCreated is the stored name of ShipmentCreated.
	NameShipmentCreated = "order.shipment_created.v1"
	// NameDeliveryStatusUpdated is the stored name of DeliveryStatusUpdated.
	NameDeliveryStatusUpdated = "order.delivery_status_updated.v1"
	// NameOrderDelivered is the stored name of OrderDelivered.
	NameOrderDelivered = "order.delivered.v1"
	// NameDeliveryFailed is the stored name of DeliveryFailed.
	NameDeliveryFailed = "order.delivery_failed.v1"
	// NameOrderCompleted is the stored name of OrderCompleted.
	NameOrderCompleted = "order.completed.v1"
	// NameOrderCancelled is the stored name of OrderCancelled.
	NameOrderCancelled = "order.cancelled.v1"
	// NameSupportTicketOpened names SupportTicketOpened.
	NameSupportTicketOpened = "order.support_ticket_opened.v1"
	// NamePaymentRefunded names PaymentRefunded.
	NamePaymentRefunded = "order.payment_refunded.v1"
	// NameNoteAdded names NoteAdded.
	NameNoteAdded = "order.note_added.v1"
	// NameOrderClaimed names OrderClaimed.
	NameOrderClaimed = "order.claimed.v1"
	// NameClaimReleased names ClaimReleased.
	NameClaimReleased = "order.claim_released.v1"
	// NameTicketAssigned names TicketAssigned.
	NameTicketAssigned = "order.ticket_assigned.v1"
	// NameTicketCommented names TicketCommented.
	NameTicketCommented = "order.ticket_commented.v1"
	// NameTicketClosed names TicketClosed.
	NameTicketClosed = "order.ticket_closed.v1"
)

// OrderPlaced starts an order's stream and carries everything later steps need, so no lookup elsewhere is required.
// Version 2: the total is a Money, its amount and currency together (v1 spelled them as two
// unrelated fields, a bare "total" in cents and a "currency").
type OrderPlaced struct {
	OrderID         string    `json:"orderId"`
	CustomerID      string    `json:"customerId"`
	CustomerEmail   string    `json:"customerEmail,omitempty"`
	NewCustomer     bool      `json:"newCustomer"`
	Items           []Item    `json:"items"`
	Total           Money     `json:"total"`
	ShippingAddress *Address  `json:"shippingAddress,omitempty"`
	BillingAddress  *Address  `json:"billingAddress,omitempty"`
	PlacedAt        time.Time `json:"placedAt"`
}

// RiskAssessed records the score with its reasons and the threshold in force, so the decision is auditable later.
type RiskAssessed struct {
	Score      int          `json:"score"`
	Factors    []RiskFactor `json:"factors"`
	Threshold  int          `json:"threshold"`
	AssessedAt time.Time    `json:"assessedAt"`
}

// HeldForApproval parks a risky order until a human decides or the deadline passes.
type HeldForApproval struct {
	Score    int       `json:"score"`
	Deadline time.Time `json:"deadline"`
	HeldAt   time.Time `json:"heldAt"`
}

// OrderApproved lets a held order continue, recording who took responsibility.
type OrderApproved struct {
	By     string    `json:"by"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// OrderRejected records a reviewer's refusal of a held order.
type OrderRejected struct {
	By     string    `json:"by"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// InventoryReserved means stock is held so the customer can be asked to pay.
type InventoryReserved struct {
	ReservationID string    `json:"reservationId"`
	At            time.Time `json:"at"`
}

// ReservationFailed records why the warehouse could not hold the stock, and SKU the line it
// could not hold when it named one (the first short SKU), so the customer can be told which
// item. Events recorded before SKU was kept have none: it is optional, and the name stays.
type ReservationFailed struct {
	Reason string    `json:"reason"`
	SKU    string    `json:"sku,omitempty"`
	At     time.Time `json:"at"`
}

// ForStaff reports whether the event named name is the desk's own record about an order:
// a manager's note or claim, or a support ticket. None of them is the order's course, and
// the order's customer is not shown them: a note's or a claim's name and time told a
// customer that staff were reviewing the order (found by a probe).
func ForStaff(name string) bool {
	switch name {
	case NameNoteAdded, NameOrderClaimed, NameClaimReleased,
		NameSupportTicketOpened, NameTicketAssigned, NameTicketCommented, NameTicketClosed:
		return true
	}
	return false
}

// PaymentSessionCreated records the checkout the customer must complete before the deadline.
// Amount and Currency are absent (zero) in sessions recorded before they were checked.
type PaymentSessionCreated struct {
	SessionID string    `json:"sessionId"`
	URL       string    `json:"url"`
	Amount    Cents     `json:"amount,omitempty"`
	Currency  string    `json:"currency,omitempty"`
	Deadline  time.Time `json:"deadline"`
	At        time.Time `json:"at"`
}

// PaymentCompleted means money was taken, after which the order can no longer be cancelled.
type PaymentCompleted struct {
	PaymentID string    `json:"paymentId"`
	At        time.Time `json:"at"`
}

// PaymentFailed records a declined or errored payment so the reservation can be released.
type PaymentFailed struct {
	PaymentID string    `json:"paymentId,omitempty"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
}

// ShipmentCreated hands the order to a carrier and gives the customer something to track.
type ShipmentCreated struct {
	ShipmentID     string    `json:"shipmentId"`
	Carrier        string    `json:"carrier"`
	TrackingNumber string    `json:"trackingNumber"`
	At             time.Time `json:"at"`
}

// DeliveryStatusUpdated keeps the raw courier status for customer-facing tracking.
type DeliveryStatusUpdated struct {
	Status string    `json:"status"`
	At     time.Time `json:"at"`
}

// OrderDelivered means the carrier confirmed delivery.
type OrderDelivered struct {
	At time.Time `json:"at"`
}

// DeliveryFailed means the carrier gave up, which needs follow-up since the order was paid.
type DeliveryFailed struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// OrderCompleted closes a delivered order.
type OrderCompleted struct {
	At time.Time `json:"at"`
}

// OrderCancelled stops an order before payment and tells consumers to release anything they hold.
type OrderCancelled struct {
	Reason CancelReason `json:"reason"`
	Detail string       `json:"detail,omitempty"`
	At     time.Time    `json:"at"`
}

// SupportTicketOpened records that a person must look at the order: a failed or overdue
// delivery, or money received for an order already given up. It changes no status.
type SupportTicketOpened struct {
	Kind   string    `json:"kind"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// PaymentRefunded records that the provider gave back money of a payment taken for the
// order: one the order no longer wanted (cancelled or rejected meanwhile), or its own,
// refunded at the provider. It changes no status. A payment refunded in parts has one
// event a refund: Amount is what this refund gave back (0 when the provider did not say:
// the payment given back whole), so a payment's events add up to what the provider
// refunded of it, and Total is that running total as the provider reported it with this
// refund; absent on a payment's first refund, where it is Amount.
type PaymentRefunded struct {
	PaymentID string    `json:"paymentId"`
	RefundID  string    `json:"refundId"`
	Amount    Cents     `json:"amount,omitempty"`
	Total     Cents     `json:"total,omitempty"`
	Currency  string    `json:"currency,omitempty"`
	At        time.Time `json:"at"`
}

// NoteAdded records what a manager wrote about the order, for the other managers and the
// audit trail. It changes no status.
type NoteAdded struct {
	By   string    `json:"by"`
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

// OrderClaimed records that a manager is reviewing a held order, so the others know; the
// claim lapses at Until on its own. It changes no status and binds no one: another
// manager may still decide (the dashboard asks first) or claim the order in turn.
type OrderClaimed struct {
	By    string    `json:"by"`
	At    time.Time `json:"at"`
	Until time.Time `json:"until"`
}

// ClaimReleased records that the manager holding a claim gave it up before it lapsed.
type ClaimReleased struct {
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// TicketAssigned records who is to handle the order's support ticket of Kind.
type TicketAssigned struct {
	Kind string    `json:"kind"`
	To   string    `json:"to"`
	By   string    `json:"by"`
	At   time.Time `json:"at"`
}

// TicketCommented records what someone wrote on the order's support ticket of Kind.
type TicketCommented struct {
	Kind string    `json:"kind"`
	By   string    `json:"by"`
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

// TicketClosed records that the order's support ticket of Kind was dealt with, and how.
type TicketClosed struct {
	Kind       string    `json:"kind"`
	By         string    `json:"by"`
	Resolution string    `json:"resolution"`
	At         time.Time `json:"at"`
}

// EventName implements Event.
func (OrderPlaced) EventName() string { return NameOrderPlaced }

// EventName implements Event.
func (RiskAssessed) EventName() string { return NameRiskAssessed }

// EventName implements Event.
func (HeldForApproval) EventName() string { return NameHeldForApproval }

// EventName implements Event.
func (OrderApproved) EventName() string { return NameOrderApproved }

// EventName implements Event.
func (OrderRejected) EventName() string { return NameOrderRejected }

// EventName implements Event.
func (InventoryReserved) EventName() string { return NameInventoryReserved }

// EventName implements Event.
func (ReservationFailed) EventName() string { return NameReservationFailed }

// EventName implements Event.
func (PaymentSessionCreated) EventName() string { return NamePaymentSessionCreated }

// EventName implements Event.
func (PaymentCompleted) EventName() string { return NamePaymentCompleted }

// EventName implements Event.
func (PaymentFailed) EventName() string { return NamePaymentFailed }

// EventName implements Event.
func (ShipmentCreated) EventName() string { return NameShipmentCreated }

// EventName implements Event.
func (DeliveryStatusUpdated) EventName() string { return NameDeliveryStatusUpdated }

// EventName implements Event.
func (OrderDelivered) EventName() string { return NameOrderDelivered }

// EventName implements Event.
func (DeliveryFailed) EventName() string { return NameDeliveryFailed }

// EventName implements Event.
func (OrderCompleted) EventName() string { return NameOrderCompleted }

// EventName implements Event.
func (OrderCancelled) EventName() string { return NameOrderCancelled }

// EventName returns the versioned name of SupportTicketOpened.
func (SupportTicketOpened) EventName() string { return NameSupportTicketOpened }

// EventName implements Event.
func (PaymentRefunded) EventName() string { return NamePaymentRefunded }
func (NoteAdded) EventName() string       { return NameNoteAdded }

// EventName implements Event.
func (OrderClaimed) EventName() string { return NameOrderClaimed }

// EventName implements Event.
func (ClaimReleased) EventName() string { return NameClaimReleased }

// EventName implements Event.
func (TicketAssigned) EventName() string { return NameTicketAssigned }

// EventName implements Event.
func (TicketCommented) EventName() string { return NameTicketCommented }

// EventName implements Event.
func (TicketClosed) EventName() string { return NameTicketClosed }

// registry maps stored names to constructors so decoding needs no switch outside this package.
var registry = map[string]func() Event{
	NameOrderPlaced:           func() Event { return &OrderPlaced{} },
	NameRiskAssessed:          func() Event { return &RiskAssessed{} },
	NameHeldForApproval:       func() Event { return &HeldForApproval{} },
	NameOrderApproved:         func() Event { return &OrderApproved{} },
	NameOrderRejected:         func() Event { return &OrderRejected{} },
	NameInventoryReserved:     func() Event { return &InventoryReserved{} },
	NameReservationFailed:     func() Event { return &ReservationFailed{} },
	NamePaymentSessionCreated: func() Event { return &PaymentSessionCreated{} },
	NamePaymentCompleted:      func() Event { return &PaymentCompleted{} },
	NamePaymentFailed:         func() Event { return &PaymentFailed{} },
	NameShipmentCreated:       func() Event { return &ShipmentCreated{} },
	NameDeliveryStatusUpdated: func() Event { return &DeliveryStatusUpdated{} },
	NameOrderDelivered:        func() Event { return &OrderDelivered{} },
	NameDeliveryFailed:        func() Event { return &DeliveryFailed{} },
	NameOrderCompleted:        func() Event { return &OrderCompleted{} },
	NameOrderCancelled:        func() Event { return &OrderCancelled{} },
	NameSupportTicketOpened:   func() Event { return &SupportTicketOpened{} },
	NamePaymentRefunded:       func() Event { return &PaymentRefunded{} },
	NameNoteAdded:             func() Event { return &NoteAdded{} },
	NameOrderClaimed:          func() Event { return &OrderClaimed{} },
	NameClaimReleased:         func() Event { return &ClaimReleased{} },
	NameTicketAssigned:        func() Event { return &TicketAssigned{} },
	NameTicketCommented:       func() Event { return &TicketCommented{} },
	NameTicketClosed:          func() Event { return &TicketClosed{} },
}

// EventNames lists every event name the aggregate emits, sorted, for the tests that must
// cover every event.
func EventNames() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Known reports whether this release reads events stored under name (Decode): a newer
// release's event is not, and is left out wherever the log is read.
func Known(name string) bool {
	_, current := registry[name]
	_, older := upcasters[name]
	return current || older
}

// Unknown stands for an event stored under a name this release does not read (Known is
// false: a newer release's, during a rolling upgrade), where the order is shown as far as
// this release knows it. Apply counts it towards Version and changes nothing else.
type Unknown struct {
	Name string
}

// EventName is the name the event is stored under.
func (u Unknown) EventName() string { return u.Name }

// Decode reads an event stored under name with payload as the current version of that
// event: a current name is unmarshalled into a fresh event, an older version's name is
// upcast (versions.go). It returns a pointer event, as Apply accepts.
func Decode(name string, payload []byte) (Event, error) {
	if u, ok := upcasters[name]; ok {
		return u.upcast(payload)
	}
	ctor, ok := registry[name]
	if !ok {
		return nil, apperr.Errorf(apperr.CodeInternal, "unknown order event %q", name)
	}
	e := ctor()
	if err := json.Unmarshal(payload, e); err != nil {
		return nil, err
	}
	return e, nil
}
