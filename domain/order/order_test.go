package order

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ordermill/ordermill/domain/apperr"
)

var (
	t0       = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tCmd     = t0.Add(time.Hour)
	deadline = t0.Add(24 * time.Hour)
)

func cents(c Cents) *Cents { return &c }

// sessionFor is a payment session for o's own total and currency.
func sessionFor(o *Order, id string) PaymentSession {
	return PaymentSession{ID: id, URL: "https://pay/" + id, Amount: o.Total, Currency: o.Currency, Deadline: deadline}
}

// withSession records a session for o's total when o can take one, as the workflow does
// before any payment.
func withSession(o *Order, id string) {
	if evs, err := o.RecordPaymentSession(sessionFor(o, id), tCmd); err == nil {
		for _, e := range evs {
			o.Apply(e)
		}
	}
}

// chargeFor is a charge that pays o: through its session, for its total.
func chargeFor(o *Order) Charge {
	return Charge{SessionID: o.PaymentSessionID, Amount: o.Total, Currency: o.Currency}
}

func validPlace() PlaceOrder {
	return PlaceOrder{
		OrderID:         "ord-1",
		CustomerID:      "cus-1",
		CustomerEmail:   "ann@example.com",
		NewCustomer:     true,
		Items:           []Item{{SKU: "A", Quantity: 2, UnitPrice: cents(500)}, {SKU: "B", Quantity: 1, UnitPrice: cents(1000)}},
		Total:           2000,
		Currency:        "EUR",
		ShippingAddress: &Address{Name: "Ann", Line1: "1 Road", City: "Paris", PostalCode: "75001", Country: "FR"},
		BillingAddress:  &Address{Name: "Ann", Line1: "1 Road", City: "Paris", PostalCode: "75001", Country: "FR"},
		At:              t0,
	}
}

// mustApply returns a sink for a command's results that applies its events,
// failing the test on error.
func mustApply(t *testing.T, o *Order) func([]Event, error) {
	t.Helper()
	return func(evs []Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("setup command failed: %v", err)
		}
		for _, e := range evs {
			o.Apply(e)
		}
	}
}

// orderIn builds an order in the given status by running real commands;
// status "" yields a brand-new, unplaced order.
func orderIn(t *testing.T, s Status) *Order {
	t.Helper()
	o := &Order{}
	if s == "" {
		return o
	}
	mustApply(t, o)(o.Place(validPlace()))
	step := mustApply(t, o)
	switch s {
	case StatusPlaced:
	case StatusCancelled:
		step(o.Cancel(ReasonTimedOut, "", t0))
	case StatusAwaitingApproval, StatusRejected:
		step(o.AssessRisk(90, nil, 70, deadline, t0))
		if s == StatusRejected {
			step(o.Reject("rev", "fraud", t0))
		}
	default:
		step(o.AssessRisk(10, nil, 70, deadline, t0))
		if s == StatusReserving {
			break
		}
		step(o.ReserveInventory("res-1", t0))
		if s == StatusAwaitingPayment {
			break
		}
		step(o.RecordPaymentSession(sessionFor(o, "ses-0"), t0))
		step(o.CompletePayment("pay-1", chargeFor(o), t0))
		if s == StatusAwaitingShipment {
			break
		}
		step(o.CreateShipment("shp-1", "ups", "1Z", t0))
		switch s {
		case StatusAwaitingDelivery:
		case StatusDeliveryFailed:
			step(o.UpdateDelivery("failed", "lost", t0))
		default:
			step(o.UpdateDelivery("delivered", "", t0))
			if s == StatusCompleted {
				step(o.Complete(t0))
			}
		}
	}
	if o.Status != s {
		t.Fatalf("orderIn(%q) produced status %q", s, o.Status)
	}
	return o
}

func TestOrderInReachesEveryStatus(t *testing.T) {
	for _, s := range Statuses() {
		orderIn(t, s)
	}
}

type commandCase struct {
	name    string
	allowed []Status
	// setup, when set, brings the order to what the command needs beyond its status.
	setup      func(o *Order)
	run        func(o *Order) ([]Event, error)
	want       []Event
	wantStatus Status
}

func commandTable() []commandCase {
	placeWant := validPlace()
	pre := []Status{StatusPlaced, StatusAwaitingApproval, StatusReserving, StatusAwaitingPayment}
	return []commandCase{
		{
			name: "Place", allowed: []Status{""},
			run: func(o *Order) ([]Event, error) { return o.Place(validPlace()) },
			want: []Event{OrderPlaced{
				OrderID: "ord-1", CustomerID: "cus-1", CustomerEmail: "ann@example.com", NewCustomer: true,
				Items: placeWant.Items, Total: Money{Amount: 2000, Currency: "EUR"},
				ShippingAddress: placeWant.ShippingAddress, BillingAddress: placeWant.BillingAddress, PlacedAt: t0,
			}},
			wantStatus: StatusPlaced,
		},
		{
			name: "AssessRisk/low", allowed: []Status{StatusPlaced},
			run: func(o *Order) ([]Event, error) {
				return o.AssessRisk(20, []RiskFactor{{Code: "x", Points: 10}}, 70, deadline, tCmd)
			},
			want:       []Event{RiskAssessed{Score: 20, Factors: []RiskFactor{{Code: "x", Points: 10}}, Threshold: 70, AssessedAt: tCmd}},
			wantStatus: StatusReserving,
		},
		{
			name: "AssessRisk/held", allowed: []Status{StatusPlaced},
			run: func(o *Order) ([]Event, error) { return o.AssessRisk(70, nil, 70, deadline, tCmd) },
			want: []Event{
				RiskAssessed{Score: 70, Threshold: 70, AssessedAt: tCmd},
				HeldForApproval{Score: 70, Deadline: deadline, HeldAt: tCmd},
			},
			wantStatus: StatusAwaitingApproval,
		},
		{
			name: "Approve", allowed: []Status{StatusAwaitingApproval},
			run:        func(o *Order) ([]Event, error) { return o.Approve("rev", "known buyer", tCmd) },
			want:       []Event{OrderApproved{By: "rev", Reason: "known buyer", At: tCmd}},
			wantStatus: StatusReserving,
		},
		{
			name: "Reject", allowed: []Status{StatusAwaitingApproval},
			run: func(o *Order) ([]Event, error) { return o.Reject("rev", "fraud", tCmd) },
			want: []Event{
				OrderRejected{By: "rev", Reason: "fraud", At: tCmd},
				OrderCancelled{Reason: ReasonRejected, Detail: "fraud", At: tCmd},
			},
			wantStatus: StatusRejected,
		},
		{
			name: "ReserveInventory", allowed: []Status{StatusReserving},
			run:        func(o *Order) ([]Event, error) { return o.ReserveInventory("res-9", tCmd) },
			want:       []Event{InventoryReserved{ReservationID: "res-9", At: tCmd}},
			wantStatus: StatusAwaitingPayment,
		},
		{
			name: "FailReservation", allowed: []Status{StatusReserving},
			run: func(o *Order) ([]Event, error) { return o.FailReservation("no stock", "A", tCmd) },
			want: []Event{
				ReservationFailed{Reason: "no stock", SKU: "A", At: tCmd},
				OrderCancelled{Reason: ReasonOutOfStock, Detail: "no stock", At: tCmd},
			},
			wantStatus: StatusCancelled,
		},
		{
			name: "RecordPaymentSession", allowed: []Status{StatusAwaitingPayment},
			run: func(o *Order) ([]Event, error) {
				return o.RecordPaymentSession(sessionFor(o, "ses-1"), tCmd)
			},
			want:       []Event{PaymentSessionCreated{SessionID: "ses-1", URL: "https://pay/ses-1", Amount: 2000, Currency: "EUR", Deadline: deadline, At: tCmd}},
			wantStatus: StatusAwaitingPayment,
		},
		{
			name: "CompletePayment", allowed: []Status{StatusAwaitingPayment},
			setup:      func(o *Order) { withSession(o, "ses-9") },
			run:        func(o *Order) ([]Event, error) { return o.CompletePayment("pay-9", chargeFor(o), tCmd) },
			want:       []Event{PaymentCompleted{PaymentID: "pay-9", At: tCmd}},
			wantStatus: StatusAwaitingShipment,
		},
		{
			name: "FailPayment", allowed: []Status{StatusAwaitingPayment},
			run: func(o *Order) ([]Event, error) { return o.FailPayment("pay-9", "declined", tCmd) },
			want: []Event{
				PaymentFailed{PaymentID: "pay-9", Reason: "declined", At: tCmd},
				OrderCancelled{Reason: ReasonPaymentFailed, Detail: "declined", At: tCmd},
			},
			wantStatus: StatusCancelled,
		},
		{
			name: "CreateShipment", allowed: []Status{StatusAwaitingShipment},
			run:        func(o *Order) ([]Event, error) { return o.CreateShipment("shp-9", "dhl", "JD1", tCmd) },
			want:       []Event{ShipmentCreated{ShipmentID: "shp-9", Carrier: "dhl", TrackingNumber: "JD1", At: tCmd}},
			wantStatus: StatusAwaitingDelivery,
		},
		{
			name: "UpdateDelivery/in_transit", allowed: []Status{StatusAwaitingDelivery},
			run:        func(o *Order) ([]Event, error) { return o.UpdateDelivery("in_transit", "", tCmd) },
			want:       []Event{DeliveryStatusUpdated{Status: "in_transit", At: tCmd}},
			wantStatus: StatusAwaitingDelivery,
		},
		{
			name: "UpdateDelivery/out_for_delivery", allowed: []Status{StatusAwaitingDelivery},
			run:        func(o *Order) ([]Event, error) { return o.UpdateDelivery("out_for_delivery", "", tCmd) },
			want:       []Event{DeliveryStatusUpdated{Status: "out_for_delivery", At: tCmd}},
			wantStatus: StatusAwaitingDelivery,
		},
		{
			name: "UpdateDelivery/delivered", allowed: []Status{StatusAwaitingDelivery},
			run: func(o *Order) ([]Event, error) { return o.UpdateDelivery("delivered", "", tCmd) },
			want: []Event{
				DeliveryStatusUpdated{Status: "delivered", At: tCmd},
				OrderDelivered{At: tCmd},
			},
			wantStatus: StatusDelivered,
		},
		{
			name: "UpdateDelivery/failed", allowed: []Status{StatusAwaitingDelivery},
			run: func(o *Order) ([]Event, error) { return o.UpdateDelivery("failed", "address unknown", tCmd) },
			want: []Event{
				DeliveryStatusUpdated{Status: "failed", At: tCmd},
				DeliveryFailed{Reason: "address unknown", At: tCmd},
			},
			wantStatus: StatusDeliveryFailed,
		},
		{
			name: "Complete", allowed: []Status{StatusDelivered},
			run:        func(o *Order) ([]Event, error) { return o.Complete(tCmd) },
			want:       []Event{OrderCompleted{At: tCmd}},
			wantStatus: StatusCompleted,
		},
		{
			name: "Cancel", allowed: pre,
			run:        func(o *Order) ([]Event, error) { return o.Cancel(ReasonTimedOut, "deadline passed", tCmd) },
			want:       []Event{OrderCancelled{Reason: ReasonTimedOut, Detail: "deadline passed", At: tCmd}},
			wantStatus: StatusCancelled,
		},
	}
}

// TestCommandTransitions runs every command against an order in every status
// (plus the unplaced order) and checks it is accepted exactly where allowed.
func TestCommandTransitions(t *testing.T) {
	all := append([]Status{""}, Statuses()...)
	for _, c := range commandTable() {
		for _, s := range all {
			name := string(s)
			if name == "" {
				name = "new"
			}
			t.Run(c.name+"/"+name, func(t *testing.T) {
				o := orderIn(t, s)
				if c.setup != nil {
					c.setup(o)
				}
				before := *o
				evs, err := c.run(o)
				if !reflect.DeepEqual(*o, before) {
					t.Fatalf("command mutated the order")
				}
				allowed := false
				for _, a := range c.allowed {
					allowed = allowed || a == s
				}
				if !allowed {
					if code := apperr.ErrorCode(err); code != apperr.CodeConflict {
						t.Fatalf("want conflict in status %q, got code %q (err %v, events %v)", s, code, err, evs)
					}
					if evs != nil {
						t.Fatalf("refused command returned events %v", evs)
					}
					return
				}
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if !reflect.DeepEqual(evs, c.want) {
					t.Fatalf("events\n got %#v\nwant %#v", evs, c.want)
				}
				v := o.Version
				for _, e := range evs {
					o.Apply(e)
				}
				if o.Status != c.wantStatus {
					t.Fatalf("status after apply = %q, want %q", o.Status, c.wantStatus)
				}
				if o.Version != v+len(evs) {
					t.Fatalf("version = %d, want %d", o.Version, v+len(evs))
				}
				if !o.UpdatedAt.Equal(evTime(c.want[len(c.want)-1])) {
					t.Fatalf("UpdatedAt = %v", o.UpdatedAt)
				}
			})
		}
	}
}

func evTime(e Event) time.Time {
	switch ev := e.(type) {
	case OrderPlaced:
		return ev.PlacedAt
	case RiskAssessed:
		return ev.AssessedAt
	case HeldForApproval:
		return ev.HeldAt
	}
	return reflect.ValueOf(e).FieldByName("At").Interface().(time.Time)
}

func TestCommandArgumentValidation(t *testing.T) {
	tests := []struct {
		name   string
		status Status
		run    func(o *Order) ([]Event, error)
		field  string
	}{
		{"Approve without by", StatusAwaitingApproval, func(o *Order) ([]Event, error) { return o.Approve("", "r", tCmd) }, "by"},
		{"Reject without by", StatusAwaitingApproval, func(o *Order) ([]Event, error) { return o.Reject("", "r", tCmd) }, "by"},
		{"Reject without reason", StatusAwaitingApproval, func(o *Order) ([]Event, error) { return o.Reject("rev", " ", tCmd) }, "reason"},
		{"ReserveInventory without id", StatusReserving, func(o *Order) ([]Event, error) { return o.ReserveInventory("", tCmd) }, "reservationId"},
		{"RecordPaymentSession without id", StatusAwaitingPayment, func(o *Order) ([]Event, error) {
			return o.RecordPaymentSession(sessionFor(o, ""), tCmd)
		}, "sessionId"},
		{"CompletePayment without id", StatusAwaitingPayment, func(o *Order) ([]Event, error) {
			withSession(o, "ses-1")
			return o.CompletePayment("", chargeFor(o), tCmd)
		}, "paymentId"},
		{"CreateShipment without id", StatusAwaitingShipment, func(o *Order) ([]Event, error) { return o.CreateShipment("", "c", "t", tCmd) }, "shipmentId"},
		{"UpdateDelivery empty status", StatusAwaitingDelivery, func(o *Order) ([]Event, error) { return o.UpdateDelivery("", "", tCmd) }, "status"},
		{"Cancel without reason", StatusPlaced, func(o *Order) ([]Event, error) { return o.Cancel("", "", tCmd) }, "reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := tt.run(orderIn(t, tt.status))
			if apperr.ErrorCode(err) != apperr.CodeInvalid || apperr.ErrorField(err) != tt.field || evs != nil {
				t.Fatalf("got events %v err %v (field %q), want invalid on %q", evs, err, apperr.ErrorField(err), tt.field)
			}
		})
	}
}

func TestFailPaymentWithoutPaymentID(t *testing.T) {
	o := orderIn(t, StatusAwaitingPayment)
	mustApply(t, o)(o.FailPayment("", "session expired", tCmd))
	if o.Status != StatusCancelled || o.CancelReason != ReasonPaymentFailed {
		t.Fatalf("got status %q reason %q", o.Status, o.CancelReason)
	}
}

// The desk's own events (notes, claims, tickets) leave UpdatedAt where the order's course
// left it: a claim before the decision shortened the approval wait measured from it, and
// a customer's updatedAt told of staff at work (found by a review).
func TestTheDesksEventsLeaveUpdatedAt(t *testing.T) {
	o := orderIn(t, StatusAwaitingApproval)
	held := o.UpdatedAt
	later := held.Add(time.Hour)
	mustApply(t, o)(o.Claim("bob@example.com", "", later, later.Add(10*time.Minute)))
	mustApply(t, o)(o.AddNote("bob@example.com", "checking the address", later))
	mustApply(t, o)(o.OpenSupportTicket("payment_mismatch", "checking", later))
	if !o.UpdatedAt.Equal(held) || o.ClaimedBy != "bob@example.com" || len(o.SupportTickets) != 1 {
		t.Fatalf("UpdatedAt %v (held %v), claimed by %q, tickets %v", o.UpdatedAt, held, o.ClaimedBy, o.SupportTickets)
	}
	for _, name := range []string{NameNoteAdded, NameOrderClaimed, NameClaimReleased, NameSupportTicketOpened, NameTicketAssigned, NameTicketCommented, NameTicketClosed} {
		if !ForStaff(name) {
			t.Errorf("%s is the desk's", name)
		}
	}
	if ForStaff(NameOrderApproved) {
		t.Error("an approval is the order's course")
	}
}

func TestPaymentSessionOnlyOnce(t *testing.T) {
	o := orderIn(t, StatusAwaitingPayment)
	mustApply(t, o)(o.RecordPaymentSession(sessionFor(o, "ses-1"), tCmd))
	_, err := o.RecordPaymentSession(sessionFor(o, "ses-2"), tCmd)
	if apperr.ErrorCode(err) != apperr.CodeConflict {
		t.Fatalf("second session: want conflict, got %v", err)
	}
	// The session does not block the other payment outcomes.
	if _, err := o.CompletePayment("pay", chargeFor(o), tCmd); err != nil {
		t.Fatalf("complete after session: %v", err)
	}
}

func TestPlaceTwiceConflicts(t *testing.T) {
	o := orderIn(t, StatusPlaced)
	_, err := o.Place(validPlace())
	if apperr.ErrorCode(err) != apperr.CodeConflict {
		t.Fatalf("want conflict, got %v", err)
	}
}

func TestConflictMessage(t *testing.T) {
	o := orderIn(t, StatusAwaitingPayment)
	_, err := o.Approve("rev", "", tCmd)
	if want := `cannot approve order in status "awaiting_payment"`; apperr.ErrorMessage(err) != want {
		t.Fatalf("message = %q, want %q", apperr.ErrorMessage(err), want)
	}
}

// A decision on an order a manager has decided says who decided what: a manager retrying
// a decision that went through can tell it from another's (it said only "cannot reject
// order in status ...", a probe). Repeats tells the retry apart.
func TestADecidedOrderSaysWhoDecidedWhat(t *testing.T) {
	approved := orderIn(t, StatusAwaitingApproval)
	mustApply(t, approved)(approved.Approve("ana@example.com", "checked", tCmd))
	rejected := orderIn(t, StatusRejected) // by "rev"
	for _, tt := range []struct {
		o    *Order
		run  func(o *Order) ([]Event, error)
		want string
	}{
		{approved, func(o *Order) ([]Event, error) { return o.Reject("bob@example.com", "fraud", tCmd) }, "was already approved by ana@example.com"},
		{approved, func(o *Order) ([]Event, error) { return o.Approve("ana@example.com", "", tCmd) }, "was already approved by ana@example.com"},
		{rejected, func(o *Order) ([]Event, error) { return o.Approve("bob@example.com", "", tCmd) }, "was already rejected by rev"},
	} {
		evs, err := tt.run(tt.o)
		if apperr.ErrorCode(err) != apperr.CodeConflict || !strings.HasSuffix(apperr.ErrorMessage(err), tt.want) || evs != nil {
			t.Errorf("got %v, %v; want a conflict ending %q", evs, err, tt.want)
		}
	}
	for _, tt := range []struct {
		o        *Order
		approved bool
		by       string
		want     bool
	}{
		{approved, true, "ana@example.com", true},
		{approved, false, "ana@example.com", false},
		{approved, true, "bob@example.com", false},
		{rejected, false, "rev", true},
		{rejected, true, "rev", false},
		{orderIn(t, StatusAwaitingApproval), true, "ana@example.com", false},
		{orderIn(t, StatusAwaitingPayment), true, "", false}, // low risk: nobody decided
	} {
		if got := tt.o.Repeats(tt.approved, tt.by); got != tt.want {
			t.Errorf("%s decided by %q: Repeats(%v, %q) = %v, want %v", tt.o.Status, tt.o.DecidedBy, tt.approved, tt.by, got, tt.want)
		}
	}
}

func TestPlaceValidation(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *PlaceOrder)
		field  string
	}{
		{"missing order id", func(p *PlaceOrder) { p.OrderID = "" }, "orderId"},
		{"no items", func(p *PlaceOrder) { p.Items = nil }, "items"},
		{"empty sku", func(p *PlaceOrder) { p.Items[1].SKU = "" }, "items[1].sku"},
		{"zero quantity", func(p *PlaceOrder) { p.Items[0].Quantity = 0 }, "items[0].quantity"},
		{"negative quantity", func(p *PlaceOrder) { p.Items[1].Quantity = -1 }, "items[1].quantity"},
		{"negative price", func(p *PlaceOrder) { p.Items[1].UnitPrice = cents(-1) }, "items[1].unitPrice"},
		{"overflowing price", func(p *PlaceOrder) { p.Items[0].UnitPrice = cents(1 << 62) }, "items[0].unitPrice"},
		{"zero total", func(p *PlaceOrder) { p.Total = 0 }, "total"},
		{"negative total", func(p *PlaceOrder) { p.Total = -5 }, "total"},
		{"total mismatch", func(p *PlaceOrder) { p.Total = 1999 }, "total"},
		{"total below the priced lines of a partly priced order", func(p *PlaceOrder) { p.Items[1].UnitPrice = nil; p.Total = 999 }, "total"},
		{"lowercase currency", func(p *PlaceOrder) { p.Currency = "usd" }, "currency"},
		{"long currency", func(p *PlaceOrder) { p.Currency = "EURO" }, "currency"},
		{"bad email", func(p *PlaceOrder) { p.CustomerEmail = "ann.example.com" }, "customerEmail"},
		{"email with a display name", func(p *PlaceOrder) { p.CustomerEmail = "Ann <ann@example.com>" }, "customerEmail"},
		{"email with a line break", func(p *PlaceOrder) { p.CustomerEmail = "ann@example.com\r\nBcc: x@example.com" }, "customerEmail"},
		{"email with two ats", func(p *PlaceOrder) { p.CustomerEmail = "ann@@example.com" }, "customerEmail"},
		{"email to an IP address", func(p *PlaceOrder) { p.CustomerEmail = "ann@[127.0.0.1]" }, "customerEmail"},
		{"email to a bare IP address", func(p *PlaceOrder) { p.CustomerEmail = "ann@127.0.0.1" }, "customerEmail"},
		{"email to a hex IP address", func(p *PlaceOrder) { p.CustomerEmail = "ann@0x7f.1" }, "customerEmail"},
		{"email to a local name", func(p *PlaceOrder) { p.CustomerEmail = "ann@localhost" }, "customerEmail"},
		{"too many units on a line", func(p *PlaceOrder) { p.Items[0].Quantity = 10_001; p.Items[0].UnitPrice = nil }, "items[0].quantity"},
		{"2^31 units on a line", func(p *PlaceOrder) { p.Items[1].Quantity = 1 << 31; p.Items[1].UnitPrice = nil }, "items[1].quantity"},
		{"too many lines", func(p *PlaceOrder) { p.Items = unpricedLines(101, 1) }, "items"},
		{"long sku", func(p *PlaceOrder) { p.Items[0].SKU = strings.Repeat("S", 65) }, "items[0].sku"},
		{"blank sku", func(p *PlaceOrder) { p.Items[0].SKU = "  " }, "items[0].sku"},
		{"long customer id", func(p *PlaceOrder) { p.CustomerID = strings.Repeat("c", 129) }, "customerId"},
		{"long email", func(p *PlaceOrder) {
			p.CustomerEmail = strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com"
		}, "customerEmail"},
		{"long shipping line", func(p *PlaceOrder) { p.ShippingAddress.Line1 = strings.Repeat("x", 201) }, "shippingAddress.line1"},
		{"long billing country", func(p *PlaceOrder) { p.BillingAddress.Country = strings.Repeat("x", 201) }, "billingAddress.country"},
		{"shipping address with a name only", func(p *PlaceOrder) { p.ShippingAddress = &Address{Name: "x"} }, "shippingAddress.line1"},
		{"shipping address without a city", func(p *PlaceOrder) { p.ShippingAddress.City = " " }, "shippingAddress.city"},
		{"shipping address without a country", func(p *PlaceOrder) { p.ShippingAddress.Country = "" }, "shippingAddress.country"},
		{"billing address without a name", func(p *PlaceOrder) { p.BillingAddress.Name = "" }, "billingAddress.name"},
		{"first problem wins", func(p *PlaceOrder) { p.Items[0].SKU = ""; p.Total = 0; p.Currency = "x" }, "items[0].sku"},
		{"sku checked before later item", func(p *PlaceOrder) { p.Items[0].Quantity = 0; p.Items[1].SKU = "" }, "items[0].quantity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPlace()
			tt.mutate(&p)
			evs, err := (&Order{}).Place(p)
			if apperr.ErrorCode(err) != apperr.CodeInvalid || evs != nil {
				t.Fatalf("want invalid, got events %v err %v", evs, err)
			}
			if f := apperr.ErrorField(err); f != tt.field {
				t.Fatalf("field = %q, want %q (err %v)", f, tt.field, err)
			}
			if !strings.Contains(apperr.ErrorMessage(err), tt.field) {
				t.Fatalf("message %q does not name field %q", apperr.ErrorMessage(err), tt.field)
			}
		})
	}
}

// unpricedLines returns n lines of quantity units each, without prices.
func unpricedLines(n, quantity int) []Item {
	items := make([]Item, n)
	for i := range items {
		items[i] = Item{SKU: "A", Quantity: quantity}
	}
	return items
}

// The bounds are what the read side and the warehouse can hold: the largest order the
// aggregate accepts is 100 lines of 10,000 units, and the largest strings are accepted too.
func TestPlaceAcceptsTheLargestOrder(t *testing.T) {
	p := validPlace()
	p.Items = unpricedLines(100, 10_000)
	p.Items[0].SKU = strings.Repeat("S", 64)
	p.CustomerID = strings.Repeat("c", 128)
	p.CustomerEmail = strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com"
	p.ShippingAddress.Line1 = strings.Repeat("é", 200)
	if _, err := (&Order{}).Place(p); err != nil {
		t.Fatal(err)
	}
}

// Amounts are cents inside, but the client wrote currency units: a message shows units.
func TestPlaceMessagesShowCurrencyUnits(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *PlaceOrder)
		want   string
	}{
		{"negative total", func(p *PlaceOrder) { p.Total = -500 }, "got -5.00"},
		{"negative price", func(p *PlaceOrder) { p.Items[1].UnitPrice = cents(-1999) }, "got -19.99"},
		{"total mismatch", func(p *PlaceOrder) { p.Total = 1999 }, "total 19.99 does not match the sum of item prices 20.00"},
		{"total below the priced lines", func(p *PlaceOrder) { p.Items[1].UnitPrice = nil; p.Total = 999 },
			"total 9.99 is less than the priced items' sum 10.00"},
		{"over what one payment takes, in yen", func(p *PlaceOrder) {
			p.Currency, p.Items, p.Total = "JPY", []Item{{SKU: "A", Quantity: 1, UnitPrice: cents(100_000_000_00)}}, 100_000_000_00
		}, "total must be at most 99999999 JPY, what one payment can take; got 100000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPlace()
			tt.mutate(&p)
			_, err := (&Order{}).Place(p)
			if msg := apperr.ErrorMessage(err); !strings.Contains(msg, tt.want) {
				t.Fatalf("message %q, want it to contain %q", msg, tt.want)
			}
		})
	}
}

// A message repeats at most a short excerpt of what the client sent.
func TestPlaceMessagesEchoOnlyAnExcerpt(t *testing.T) {
	for _, mutate := range []func(p *PlaceOrder){
		func(p *PlaceOrder) { p.Currency = strings.Repeat("X", 100_000) },
		func(p *PlaceOrder) { p.CustomerEmail = strings.Repeat("x", 200) },
	} {
		p := validPlace()
		mutate(&p)
		_, err := (&Order{}).Place(p)
		if msg := apperr.ErrorMessage(err); err == nil || len(msg) > 200 {
			t.Fatalf("message of %d bytes: %.300s", len(msg), msg)
		}
	}
}

func TestPlaceDefaultsAndPartialPrices(t *testing.T) {
	p := validPlace()
	p.Currency = ""
	p.CustomerEmail = ""
	p.Items[1].UnitPrice = nil // not all priced: a total above the priced lines is taken as given
	p.Total = 123456
	evs, err := (&Order{}).Place(p)
	if err != nil {
		t.Fatal(err)
	}
	placed := evs[0].(OrderPlaced)
	if placed.Total != (Money{Amount: 123456, Currency: "USD"}) {
		t.Fatalf("got %+v", placed)
	}
	// The event must not alias the caller's slices or pointers.
	*p.Items[0].UnitPrice = 1
	p.ShippingAddress.City = "changed"
	if *placed.Items[0].UnitPrice != 500 || placed.ShippingAddress.City != "Paris" {
		t.Fatal("event aliases command input")
	}
}

func TestRehydrateFullLifecycle(t *testing.T) {
	p := validPlace()
	history := []Event{
		OrderPlaced{OrderID: "o1", CustomerID: "c1", CustomerEmail: "a@b", Items: p.Items, Total: Money{Amount: 2000, Currency: "EUR"},
			ShippingAddress: p.ShippingAddress, PlacedAt: t0},
		RiskAssessed{Score: 80, Factors: []RiskFactor{{Code: "new_customer", Points: 25}}, Threshold: 70, AssessedAt: t0.Add(1)},
		HeldForApproval{Score: 80, Deadline: deadline, HeldAt: t0.Add(1)},
		&OrderApproved{By: "rev", Reason: "ok", At: t0.Add(2)}, // pointer, as decoded from storage
		InventoryReserved{ReservationID: "r1", At: t0.Add(3)},
		&PaymentSessionCreated{SessionID: "s1", URL: "u", Amount: 2000, Currency: "EUR", Deadline: deadline, At: t0.Add(4)},
		PaymentCompleted{PaymentID: "p1", At: t0.Add(5)},
		ShipmentCreated{ShipmentID: "sh1", Carrier: "ups", TrackingNumber: "1Z", At: t0.Add(6)},
		DeliveryStatusUpdated{Status: "in_transit", At: t0.Add(7)},
		DeliveryStatusUpdated{Status: "delivered", At: t0.Add(8)},
		OrderDelivered{At: t0.Add(8)},
		OrderCompleted{At: t0.Add(9)},
	}
	o := Rehydrate(history)
	if o.Status != StatusCompleted || o.Version != len(history) {
		t.Fatalf("status %q version %d", o.Status, o.Version)
	}
	if o.ID != "o1" || o.CustomerID != "c1" || o.Total != 2000 || o.Currency != "EUR" || len(o.Items) != 2 {
		t.Fatalf("placed fields wrong: %+v", o)
	}
	if o.RiskScore == nil || *o.RiskScore != 80 || len(o.RiskFactors) != 1 || !o.ApprovalDeadline.Equal(deadline) {
		t.Fatalf("risk fields wrong: %+v", o)
	}
	if o.DecidedBy != "rev" || o.ReservationID != "r1" || o.PaymentSessionID != "s1" || o.PaymentURL != "u" ||
		o.PaymentID != "p1" || o.ShipmentID != "sh1" || o.Carrier != "ups" || o.TrackingNumber != "1Z" ||
		o.DeliveryStatus != "delivered" {
		t.Fatalf("lifecycle fields wrong: %+v", o)
	}
	if !o.PlacedAt.Equal(t0) || !o.UpdatedAt.Equal(t0.Add(9)) {
		t.Fatalf("times wrong: placed %v updated %v", o.PlacedAt, o.UpdatedAt)
	}
	if Rehydrate(nil).Version != 0 {
		t.Fatal("empty history should give version 0")
	}
}

func TestRejectionKeepsRejectedStatus(t *testing.T) {
	o := orderIn(t, StatusRejected)
	if o.CancelReason != ReasonRejected || o.CancelDetail != "fraud" || o.DecidedBy != "rev" {
		t.Fatalf("got %+v", o)
	}
}

// A manager's decision at or after the approval deadline is refused (409), whether or not
// the deadline has been taken yet: the deadline cancels the order as timed out. A
// decision that reached the order first was recorded, however late (a probe approved an
// order 11 s after its deadline, across a restart).
func TestADecisionAfterTheApprovalDeadlineIsRefused(t *testing.T) {
	for name, decide := range map[string]func(o *Order, at time.Time) ([]Event, error){
		"approve": func(o *Order, at time.Time) ([]Event, error) { return o.Approve("rev", "ok", at) },
		"reject":  func(o *Order, at time.Time) ([]Event, error) { return o.Reject("rev", "no", at) },
	} {
		o := orderIn(t, StatusAwaitingApproval)
		for _, at := range []time.Time{deadline, deadline.Add(time.Millisecond), deadline.Add(time.Hour)} {
			events, err := decide(o, at)
			if apperr.ErrorCode(err) != apperr.CodeConflict || len(events) != 0 {
				t.Fatalf("%s at %s: events %v, err %v", name, at, events, err)
			}
			if !strings.Contains(err.Error(), "the approval deadline passed") {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if events, err := decide(o, deadline.Add(-time.Millisecond)); err != nil || len(events) == 0 {
			t.Fatalf("%s just before the deadline: events %v, err %v", name, events, err)
		}
	}
}

func TestCancellationPaths(t *testing.T) {
	o := orderIn(t, StatusReserving)
	mustApply(t, o)(o.FailReservation("sku A", "A", tCmd))
	if o.Status != StatusCancelled || o.CancelReason != ReasonOutOfStock || o.ReservationFailed != "sku A" || o.ReservationFailedSKU != "A" {
		t.Fatalf("got %+v", o)
	}
	o = orderIn(t, StatusAwaitingPayment)
	mustApply(t, o)(o.FailPayment("p", "declined", tCmd))
	if o.Status != StatusCancelled || o.CancelReason != ReasonPaymentFailed || o.PaymentFailReason != "declined" {
		t.Fatalf("got %+v", o)
	}
}

// An order is cancelled out of stock only when the warehouse named one of its lines as
// short. Every other reservation that did not hold its items (a reservation by hand of
// other units, one released already, or a command the warehouse refused by its
// contract) cancelled it out_of_stock too, and its customer read that an item was out of
// stock while its items were on the shelf.
func TestFailReservationIsOutOfStockOnlyForAShortLineOfTheOrder(t *testing.T) {
	for _, c := range []struct {
		name, sku string
		want      CancelReason
	}{
		{"a short line of the order", "B", ReasonOutOfStock},
		{"no line named", "", ReasonStockNotHeld},
		{"a line the order does not have", "Z", ReasonStockNotHeld},
	} {
		o := orderIn(t, StatusReserving)
		mustApply(t, o)(o.FailReservation("why", c.sku, tCmd))
		if o.Status != StatusCancelled || o.CancelReason != c.want || o.Stage() != StageReservation {
			t.Errorf("%s: got %s, %s at %s; want cancelled, %s at the reservation", c.name, o.Status, o.CancelReason, o.Stage(), c.want)
		}
	}
	if _, err := orderIn(t, StatusAwaitingPayment).Cancel(ReasonStockNotHeld, "released by hand", tCmd); err != nil {
		t.Errorf("Cancel(%q): %v", ReasonStockNotHeld, err)
	}
}

type unknownEvent struct{}

func (unknownEvent) EventName() string { return "order.future.v9" }

func TestApplyIgnoresNilButCountsUnknown(t *testing.T) {
	o := orderIn(t, StatusPlaced)
	var nilPtr *OrderCompleted
	o.Apply(nil)
	o.Apply(nilPtr)
	if o.Version != 1 {
		t.Fatalf("nil events changed version to %d", o.Version)
	}
	o.Apply(unknownEvent{})
	if o.Version != 2 || o.Status != StatusPlaced {
		t.Fatalf("unknown event: version %d status %q", o.Version, o.Status)
	}
}

func sampleEvents() []Event {
	price := Cents(250)
	addr := &Address{Name: "N", Line1: "L1", Line2: "L2", City: "C", PostalCode: "P", Country: "US"}
	return []Event{
		OrderPlaced{OrderID: "o", CustomerID: "c", CustomerEmail: "e@x", NewCustomer: true,
			Items: []Item{{SKU: "s", Quantity: 2, UnitPrice: &price}, {SKU: "t", Quantity: 1}}, Total: Money{Amount: 500, Currency: "USD"},
			ShippingAddress: addr, BillingAddress: addr, PlacedAt: t0},
		RiskAssessed{Score: 5, Factors: []RiskFactor{{Code: "a", Description: "d", Points: 5}}, Threshold: 70, AssessedAt: t0},
		HeldForApproval{Score: 90, Deadline: deadline, HeldAt: t0},
		OrderApproved{By: "b", Reason: "r", At: t0},
		OrderRejected{By: "b", Reason: "r", At: t0},
		InventoryReserved{ReservationID: "r", At: t0},
		ReservationFailed{Reason: "r", SKU: "A", At: t0},
		PaymentSessionCreated{SessionID: "s", URL: "u", Deadline: deadline, At: t0},
		PaymentCompleted{PaymentID: "p", At: t0},
		PaymentFailed{PaymentID: "p", Reason: "r", At: t0},
		ShipmentCreated{ShipmentID: "s", Carrier: "c", TrackingNumber: "t", At: t0},
		DeliveryStatusUpdated{Status: "in_transit", At: t0},
		OrderDelivered{At: t0},
		DeliveryFailed{Reason: "r", At: t0},
		OrderCompleted{At: t0},
		OrderCancelled{Reason: ReasonTimedOut, Detail: "d", At: t0},
		SupportTicketOpened{Kind: "delivery_failed", Reason: "r", At: t0},
		PaymentRefunded{PaymentID: "pi_1", RefundID: "re_1", Amount: 100, Currency: "USD", At: t0},
		NoteAdded{By: "b", Text: "n", At: t0},
		OrderClaimed{By: "b", At: t0, Until: t0.Add(time.Minute)},
		ClaimReleased{By: "b", At: t0},
		TicketAssigned{Kind: "k", To: "a", By: "b", At: t0},
		TicketCommented{Kind: "k", By: "b", Text: "t", At: t0},
		TicketClosed{Kind: "k", By: "b", Resolution: "r", At: t0},
	}
}

func TestDecodeJSONRoundTrip(t *testing.T) {
	samples := map[string]Event{}
	for _, e := range sampleEvents() {
		samples[e.EventName()] = e
	}
	names := EventNames()
	if len(names) != len(samples) {
		t.Fatalf("EventNames has %d names, samples cover %d", len(names), len(samples))
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			sample, found := samples[name]
			if !found {
				t.Fatalf("no sample for %s", name)
			}
			data, err := json.Marshal(sample)
			if err != nil {
				t.Fatal(err)
			}
			target, err := Decode(name, data)
			if err != nil {
				t.Fatal(err)
			}
			if reflect.ValueOf(target).Kind() != reflect.Pointer {
				t.Fatalf("Decode must return a pointer, got %T", target)
			}
			if target.EventName() != name {
				t.Fatalf("decoded name %q", target.EventName())
			}
			got := reflect.ValueOf(target).Elem().Interface()
			if !reflect.DeepEqual(got, sample) {
				t.Fatalf("round trip\n got %#v\nwant %#v", got, sample)
			}
		})
	}
	if _, err := Decode("order.nope.v1", []byte(`{}`)); err == nil {
		t.Fatal("unknown name should fail")
	}
}

func TestStatusHelpers(t *testing.T) {
	terminal := map[Status]bool{StatusCompleted: true, StatusCancelled: true, StatusRejected: true, StatusDeliveryFailed: true}
	for _, s := range Statuses() {
		if s.Terminal() != terminal[s] {
			t.Errorf("%q.Terminal() = %v", s, s.Terminal())
		}
		got, err := ParseStatus(string(s))
		if err != nil || got != s {
			t.Errorf("ParseStatus(%q) = %q, %v", s, got, err)
		}
	}
	if _, err := ParseStatus("shipped"); apperr.ErrorCode(err) != apperr.CodeInvalid {
		t.Errorf("ParseStatus(unknown) err = %v", err)
	}
	if _, err := ParseStatus(strings.Repeat("s", 100_000)); len(apperr.ErrorMessage(err)) > 200 {
		t.Errorf("ParseStatus echoes %d bytes", len(apperr.ErrorMessage(err)))
	}
}

func TestEventsAreStableJSON(t *testing.T) {
	data, err := json.Marshal(OrderCancelled{Reason: ReasonOutOfStock, Detail: "x", At: t0})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"reason":"out_of_stock","detail":"x","at":"2025-03-01T12:00:00Z"}`
	if string(data) != want {
		t.Fatalf("got %s want %s", data, want)
	}
}

func TestOpenSupportTicketOncePerKindInAnyStatus(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var unplaced Order
	_, err := unplaced.OpenSupportTicket("delivery_failed", "r", at)
	if apperr.ErrorCode(err) != apperr.CodeConflict {
		t.Fatalf("unplaced order: got %v, want a conflict", err)
	}
	o := Rehydrate([]Event{
		OrderPlaced{OrderID: "o-1", Items: []Item{{SKU: "A", Quantity: 1}}, Total: Money{Amount: 100, Currency: "USD"}, PlacedAt: at},
		OrderCancelled{Reason: ReasonTimedOut, At: at},
	})
	if _, err := o.OpenSupportTicket("", "r", at); apperr.ErrorCode(err) != apperr.CodeInvalid {
		t.Fatalf("empty kind: got %v, want invalid", err)
	}
	events, err := o.OpenSupportTicket("payment_after_cancel", "refund it", at)
	if err != nil || len(events) != 1 {
		t.Fatalf("first ticket on a cancelled order: %v %v", events, err)
	}
	want := SupportTicketOpened{Kind: "payment_after_cancel", Reason: "refund it", At: at}
	if events[0] != want {
		t.Fatalf("got %#v, want %#v", events[0], want)
	}
	status := o.Status
	o.Apply(events[0])
	if o.Status != status || len(o.SupportTickets) != 1 {
		t.Fatalf("a ticket must not change the status: %s → %s, tickets %v", status, o.Status, o.SupportTickets)
	}
	again, err := o.OpenSupportTicket("payment_after_cancel", "again", at)
	if err != nil || len(again) != 0 {
		t.Fatalf("second ticket of the same kind: %v %v, want none", again, err)
	}
	other, err := o.OpenSupportTicket("delivery_overdue", "late", at)
	if err != nil || len(other) != 1 {
		t.Fatalf("a ticket of another kind: %v %v", other, err)
	}
}

func TestCentsUnits(t *testing.T) {
	for c, want := range map[Cents]string{
		0: "0.00", 5: "0.05", 100: "1.00", 1999: "19.99", -500: "-5.00", -1: "-0.01",
		math.MaxInt64: "92233720368547758.07", math.MinInt64: "-92233720368547758.08",
	} {
		if got := c.Units(); got != want {
			t.Errorf("Cents(%d).Units() = %q, want %q", c, got, want)
		}
	}
}

// Only a charge through the order's own session, for its total and currency, pays it: the
// security review paid a 50,000 order with a 0.01 session.
func TestOnlyAMatchingChargePaysTheOrder(t *testing.T) {
	o := orderIn(t, StatusAwaitingPayment)
	if why := o.ChargeMismatch(Charge{SessionID: "", Amount: o.Total, Currency: o.Currency}); why != "the order has no payment session yet" {
		t.Fatalf("before a session: %q", why)
	}
	cheap := sessionFor(o, "ses-cheap")
	cheap.Amount = 1
	if _, err := o.RecordPaymentSession(cheap, tCmd); apperr.ErrorCode(err) != apperr.CodeConflict {
		t.Fatalf("a session for 0.01 of a 20.00 order: want conflict, got %v", err)
	}
	foreign := sessionFor(o, "ses-usd")
	foreign.Currency = "USD"
	if _, err := o.RecordPaymentSession(foreign, tCmd); apperr.ErrorCode(err) != apperr.CodeConflict {
		t.Fatalf("a session in another currency: want conflict, got %v", err)
	}
	mustApply(t, o)(o.RecordPaymentSession(sessionFor(o, "ses-1"), tCmd))
	for name, c := range map[string]Charge{
		"another session":  {SessionID: "ses-2", Amount: 2000, Currency: "EUR"},
		"a smaller amount": {SessionID: "ses-1", Amount: 1, Currency: "EUR"},
		"a larger amount":  {SessionID: "ses-1", Amount: 2001, Currency: "EUR"},
		"another currency": {SessionID: "ses-1", Amount: 2000, Currency: "USD"},
		"no session named": {Amount: 2000, Currency: "EUR"},
	} {
		if why := o.ChargeMismatch(c); why == "" {
			t.Errorf("%s: no mismatch reported", name)
		}
		if evs, err := o.CompletePayment("pay-x", c, tCmd); apperr.ErrorCode(err) != apperr.CodeConflict || evs != nil {
			t.Errorf("%s: want conflict, got %v %v", name, evs, err)
		}
	}
	mustApply(t, o)(o.CompletePayment("pay-1", chargeFor(o), tCmd))
	if o.Status != StatusAwaitingShipment || o.PaymentSessionID != "ses-1" {
		t.Fatalf("got %s with session %q", o.Status, o.PaymentSessionID)
	}
}

// A mismatch's reason, the payment_mismatch ticket's, writes amounts as people read them
// in the order's currency ("2,400 JPY" where it said "2400.00 JPY"), and one that names no
// amount (a provider's of no whole hundredths, 15.259 KWD) says so, not "0.00".
func TestAMismatchTellsAmountsInTheirCurrency(t *testing.T) {
	o := &Order{PaymentSessionID: "ses-1", Total: 240000, Currency: "JPY"}
	if why := o.ChargeMismatch(Charge{SessionID: "ses-1", Amount: 2400, Currency: "JPY"}); why != "the payment is for 24 JPY, the order totals 2,400 JPY" {
		t.Errorf("got %q", why)
	}
	o.Total, o.Currency = 1525, "KWD"
	if why := o.ChargeMismatch(Charge{SessionID: "ses-1", Currency: "KWD"}); why != "the payment names no amount Ordermill counts (none, or a fraction of a hundredth), the order totals 15.250 KWD" {
		t.Errorf("got %q", why)
	}
	if why := o.SessionMismatch(PaymentSession{ID: "ses-1", Amount: 152, Currency: "KWD"}); why != "the session is for 1.520 KWD, the order totals 15.250 KWD" {
		t.Errorf("got %q", why)
	}
}

// A refund is recorded once (reported again, it adds nothing), on a cancelled order too, and
// changes no status.
func TestRecordRefundOncePerPayment(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if _, err := (&Order{}).RecordRefund("pi_1", "re_1", 100, "USD", at); apperr.ErrorCode(err) != apperr.CodeConflict {
		t.Fatalf("unplaced order: got %v, want a conflict", err)
	}
	o := Rehydrate([]Event{
		OrderPlaced{OrderID: "o-1", Items: []Item{{SKU: "A", Quantity: 1}}, Total: Money{Amount: 100, Currency: "USD"}, PlacedAt: at},
		OrderCancelled{Reason: ReasonTimedOut, At: at},
	})
	if _, err := o.RecordRefund("pi_1", "", 100, "USD", at); apperr.ErrorCode(err) != apperr.CodeInvalid {
		t.Fatalf("no refund id: got %v, want invalid", err)
	}
	events, err := o.RecordRefund("pi_1", "re_1", 100, "USD", at)
	want := PaymentRefunded{PaymentID: "pi_1", RefundID: "re_1", Amount: 100, Currency: "USD", At: at}
	if err != nil || len(events) != 1 || events[0] != want {
		t.Fatalf("got %#v %v, want %#v", events, err, want)
	}
	o.Apply(events[0])
	if o.Status != StatusCancelled || len(o.Refunds) != 1 {
		t.Fatalf("status %s, refunded %v", o.Status, o.Refunds)
	}
	if again, err := o.RecordRefund("pi_1", "re_2", 100, "USD", at); err != nil || len(again) != 0 {
		t.Fatalf("the same payment again: %v %v, want none", again, err)
	}
}

// A payment refunded in parts (Stripe's charge.refunded each time, amount_refunded its
// running total) records each part once: what it adds to what the order records given
// back. A total recorded already (the report again, an older one late) records nothing,
// and neither does anything after a refund that did not say its amount (the whole).
func TestRecordRefundRecordsEachPartOnce(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	history := []Event{OrderPlaced{OrderID: "o-1", Items: []Item{{SKU: "A", Quantity: 1}}, Total: Money{Amount: 100_00, Currency: "USD"}, PlacedAt: at}}
	o := Rehydrate(history)
	for _, step := range []struct {
		total Cents
		want  []Event
	}{
		{30_00, []Event{PaymentRefunded{PaymentID: "pi_1", RefundID: "ch_1", Amount: 30_00, Currency: "USD", At: at}}},
		{30_00, nil},
		{50_00, []Event{PaymentRefunded{PaymentID: "pi_1", RefundID: "ch_1", Amount: 20_00, Total: 50_00, Currency: "USD", At: at}}},
		{30_00, nil}, // an older report, late
		{0, nil},     // says no amount: nothing to add to what is known
		{100_00, []Event{PaymentRefunded{PaymentID: "pi_1", RefundID: "ch_1", Amount: 50_00, Total: 100_00, Currency: "USD", At: at}}},
		{100_00, nil},
	} {
		events, err := o.RecordRefund("pi_1", "ch_1", step.total, "USD", at)
		if err != nil || !reflect.DeepEqual(events, step.want) {
			t.Fatalf("total %d: got %#v %v, want %#v", step.total, events, err, step.want)
		}
		for _, e := range events {
			o.Apply(e)
		}
		history = append(history, events...)
	}
	if err := CheckHistory(history); err != nil {
		t.Fatal(err)
	}

	whole := Rehydrate([]Event{OrderPlaced{OrderID: "o-2", Items: []Item{{SKU: "A", Quantity: 1}}, Total: Money{Amount: 100_00, Currency: "USD"}, PlacedAt: at},
		PaymentRefunded{PaymentID: "pi_2", RefundID: "re_2", At: at}})
	if events, err := whole.RecordRefund("pi_2", "ch_2", 100_00, "USD", at); err != nil || len(events) != 0 {
		t.Fatalf("after a refund of the whole: %v %v, want none", events, err)
	}
	if !whole.RefundAdds("pi_3", 0) || !whole.RefundAdds("pi_3", 5_00) {
		t.Fatal("another payment's first refund adds one")
	}
}

// Notes are allowed in any status of a placed order, terminal ones included, and change
// nothing but the order's version.
func TestAddNote(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var unplaced Order
	_, err := unplaced.AddNote("ana@example.com", "hello", at)
	assertCode(t, err, apperr.CodeConflict)

	o := Rehydrate([]Event{
		OrderPlaced{OrderID: "o-1", Items: []Item{{SKU: "S", Quantity: 1}}, Total: Money{Amount: 100, Currency: "USD"}, PlacedAt: at},
		OrderRejected{By: "bob@example.com", Reason: "stolen card", At: at},
	})
	o.Status = StatusRejected
	events, err := o.AddNote("ana@example.com", "  customer called back  ", at)
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{NoteAdded{By: "ana@example.com", Text: "customer called back", At: at}}
	if !reflect.DeepEqual(events, want) {
		t.Fatalf("events = %#v, want %#v", events, want)
	}
	before := *o
	o.Apply(events[0])
	if o.Status != before.Status || o.Version != before.Version+1 {
		t.Errorf("a note changed the status or skipped a version: %v → %v, %d → %d", before.Status, o.Status, before.Version, o.Version)
	}
	_, err = o.AddNote("ana@example.com", "   ", at)
	assertCode(t, err, apperr.CodeInvalid)
	_, err = o.AddNote("", "text", at)
	assertCode(t, err, apperr.CodeInvalid)
	_, err = o.AddNote("ana@example.com", strings.Repeat("x", 1001), at)
	assertCode(t, err, apperr.CodeInvalid)
}

func assertCode(t *testing.T, err error, want apperr.Code) {
	t.Helper()
	if got := apperr.ErrorCode(err); err == nil || got != want {
		t.Errorf("error %v (code %v), want code %v", err, got, want)
	}
}

// Claims: only a held order can be claimed; the claim lapses on its own, anyone may claim
// in turn, only the holder releases, and a decision ends it.
func TestClaim(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	until := at.Add(15 * time.Minute)
	placed := OrderPlaced{OrderID: "o-1", Items: []Item{{SKU: "S", Quantity: 1}}, Total: Money{Amount: 100, Currency: "USD"}, PlacedAt: at}
	_, err := Rehydrate([]Event{placed}).Claim("ana@example.com", "", at, until)
	assertCode(t, err, apperr.CodeConflict)

	o := Rehydrate([]Event{placed, RiskAssessed{Score: 85, Threshold: 70, AssessedAt: at}, HeldForApproval{HeldAt: at, Deadline: at.Add(24 * time.Hour)}})
	if o.Status != StatusAwaitingApproval {
		t.Fatalf("status %s, want held", o.Status)
	}
	for _, tc := range []struct {
		name      string
		by        string
		at, until time.Time
		code      apperr.Code
	}{
		{"no manager", "", at, until, apperr.CodeInvalid},
		{"ends before it starts", "ana@example.com", at, at, apperr.CodeInvalid},
	} {
		_, err := o.Claim(tc.by, "", tc.at, tc.until)
		assertCode(t, err, tc.code)
	}
	events, err := o.Claim("ana@example.com", "", at, until)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Event{OrderClaimed{By: "ana@example.com", At: at, Until: until}}; !reflect.DeepEqual(events, want) {
		t.Fatalf("events = %#v, want %#v", events, want)
	}
	o.Apply(events[0])
	if by, since, _ := o.Claimant(at.Add(time.Minute)); by != "ana@example.com" || !since.Equal(at) {
		t.Errorf("claimant %q since %v, want ana since %v", by, since, at)
	}
	if by, _, _ := o.Claimant(until); by != "" {
		t.Errorf("a lapsed claim is still held by %q", by)
	}
	_, err = o.ReleaseClaim("bob@example.com", at.Add(time.Minute))
	assertCode(t, err, apperr.CodeConflict)
	_, err = o.ReleaseClaim("ana@example.com", until.Add(time.Minute))
	assertCode(t, err, apperr.CodeConflict)

	// Bob, who saw the order free, is refused while Ana holds it: he is told whose it is.
	_, err = o.Claim("bob@example.com", "", at.Add(time.Minute), until.Add(time.Minute))
	assertCode(t, err, apperr.CodeConflict)
	if err == nil || !strings.Contains(err.Error(), "ana@example.com claimed this order first, at 12:00 UTC") {
		t.Errorf("refusal %v does not say whose the order is", err)
	}
	_, err = o.Claim("bob@example.com", "cy@example.com", at.Add(time.Minute), until.Add(time.Minute))
	assertCode(t, err, apperr.CodeConflict)
	// Ana renews her own.
	if _, err := o.Claim("ana@example.com", "", at.Add(time.Minute), until.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Bob takes it over, naming Ana's claim; then he releases it.
	events, err = o.Claim("bob@example.com", "ana@example.com", at.Add(2*time.Minute), until.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	o.Apply(events[0])
	if by, _, _ := o.Claimant(at.Add(3 * time.Minute)); by != "bob@example.com" {
		t.Errorf("claimant %q, want bob", by)
	}
	events, err = o.ReleaseClaim("bob@example.com", at.Add(3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	o.Apply(events[0])
	if by, _, _ := o.Claimant(at.Add(4 * time.Minute)); by != "" {
		t.Errorf("a released claim is still held by %q", by)
	}

	// A decision ends the claim.
	events, _ = o.Claim("ana@example.com", "", at.Add(5*time.Minute), until.Add(5*time.Minute))
	o.Apply(events[0])
	events, err = o.Approve("bob@example.com", "", at.Add(6*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	o.Apply(events[0])
	if by, _, _ := o.Claimant(at.Add(7 * time.Minute)); by != "" {
		t.Errorf("a decided order is still claimed by %q", by)
	}
	_, err = o.Claim("ana@example.com", "", at.Add(7*time.Minute), until.Add(7*time.Minute))
	assertCode(t, err, apperr.CodeConflict)
}

// Tickets are assigned, commented and closed by kind: only an existing ticket, only an
// open one for assigning and closing; comments are allowed after closing.
func TestTicketLifecycle(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	o := Rehydrate([]Event{
		OrderPlaced{OrderID: "o-1", Items: []Item{{SKU: "S", Quantity: 1}}, Total: Money{Amount: 100, Currency: "USD"}, PlacedAt: at},
		SupportTicketOpened{Kind: "delivery_failed", Reason: "lost", At: at},
	})
	_, err := o.AssignTicket("other", "ana@example.com", "bob@example.com", at)
	assertCode(t, err, apperr.CodeNotFound)
	for _, tc := range []struct {
		name string
		do   func() ([]Event, error)
		code apperr.Code
	}{
		{"assign to nobody", func() ([]Event, error) { return o.AssignTicket("delivery_failed", " ", "bob@example.com", at) }, apperr.CodeInvalid},
		{"empty comment", func() ([]Event, error) { return o.CommentTicket("delivery_failed", "bob@example.com", "  ", at) }, apperr.CodeInvalid},
		{"close without a resolution", func() ([]Event, error) { return o.CloseTicket("delivery_failed", "bob@example.com", "", at) }, apperr.CodeInvalid},
	} {
		_, err := tc.do()
		assertCode(t, err, tc.code)
	}
	var all []Event
	for _, step := range []func() ([]Event, error){
		func() ([]Event, error) {
			return o.AssignTicket("delivery_failed", "ana@example.com", "bob@example.com", at)
		},
		func() ([]Event, error) {
			return o.CommentTicket("delivery_failed", "ana@example.com", " called the courier ", at)
		},
		func() ([]Event, error) { return o.CloseTicket("delivery_failed", "ana@example.com", "reshipped", at) },
	} {
		events, err := step()
		if err != nil {
			t.Fatal(err)
		}
		o.Apply(events[0])
		all = append(all, events...)
	}
	want := []Event{
		TicketAssigned{Kind: "delivery_failed", To: "ana@example.com", By: "bob@example.com", At: at},
		TicketCommented{Kind: "delivery_failed", By: "ana@example.com", Text: "called the courier", At: at},
		TicketClosed{Kind: "delivery_failed", By: "ana@example.com", Resolution: "reshipped", At: at},
	}
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("events = %#v, want %#v", all, want)
	}
	_, err = o.CloseTicket("delivery_failed", "ana@example.com", "again", at)
	assertCode(t, err, apperr.CodeConflict)
	_, err = o.AssignTicket("delivery_failed", "bob@example.com", "ana@example.com", at)
	assertCode(t, err, apperr.CodeConflict)
	if _, err := o.CommentTicket("delivery_failed", "bob@example.com", "customer happy", at); err != nil {
		t.Errorf("a closed ticket takes comments: %v", err)
	}
}

// A ticket says the reason it was opened with and every comment on it since, of its own
// kind only, closed or not: what the saga must not say again.
func TestTicketSaysItsReasonAndComments(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	o := Rehydrate([]Event{
		OrderPlaced{OrderID: "o-1", Items: []Item{{SKU: "S", Quantity: 1}}, Total: Money{Amount: 100, Currency: "USD"}, PlacedAt: at},
		SupportTicketOpened{Kind: "delivery_failed", Reason: "lost", At: at},
		TicketCommented{Kind: "delivery_failed", By: "ana@example.com", Text: "called the courier", At: at},
		TicketClosed{Kind: "delivery_failed", By: "ana@example.com", Resolution: "reshipped", At: at},
		SupportTicketOpened{Kind: "payment_mismatch", Reason: "refused", At: at},
	})
	for _, said := range [][2]string{{"delivery_failed", "lost"}, {"delivery_failed", "called the courier"}, {"delivery_failed", " lost "}, {"payment_mismatch", "refused"}} {
		if !o.TicketSays(said[0], said[1]) {
			t.Errorf("the %s ticket does not say %q", said[0], said[1])
		}
	}
	for _, unsaid := range [][2]string{{"delivery_failed", "refused"}, {"payment_mismatch", "lost"}, {"delivery_failed", "reshipped"}, {"second_payment", "lost"}} {
		if o.TicketSays(unsaid[0], unsaid[1]) {
			t.Errorf("the %s ticket says %q", unsaid[0], unsaid[1])
		}
	}
}

// Not every country has postal codes: an address without one is a whole address.
func TestPlaceTakesAnAddressWithoutAPostalCode(t *testing.T) {
	p := validPlace()
	p.ShippingAddress.PostalCode, p.BillingAddress.PostalCode = "", ""
	if _, err := (&Order{}).Place(p); err != nil {
		t.Fatalf("want the order placed, got %v", err)
	}
}

func TestCentsText(t *testing.T) {
	for c, want := range map[Cents]string{5_000_000: "50,000.00 USD", 99_905: "999.05 USD", 123_456_789: "1,234,567.89 USD", 7: "0.07 USD", -150_000: "-1,500.00 USD"} {
		if got := c.Text("USD"); got != want {
			t.Errorf("Cents(%d).Text = %q, want %q", int64(c), got, want)
		}
	}
}

// Amounts are written with their currency's decimals (ISO 4217), the value unchanged: the
// API said "total": 2400.00 for 2,400 JPY and emails "(30.50 KWD)".
func TestAmountsAreWrittenWithTheirCurrencysDecimals(t *testing.T) {
	for _, c := range []struct {
		amount           Cents
		currency         string
		units, forPeople string
	}{
		{240000, "JPY", "2400", "2,400 JPY"},
		{240050, "JPY", "2400.50", "2,400.50 JPY"}, // a fraction of a yen keeps its value
		{105000000, "KRW", "1050000", "1,050,000 KRW"},
		{-5000, "ISK", "-50", "-50 ISK"},
		{3050, "KWD", "30.500", "30.500 KWD"},
		{210000, "BHD", "2100.000", "2,100.000 BHD"},
		{1999, "USD", "19.99", "19.99 USD"},
		{1999, "XYZ", "19.99", "19.99 XYZ"},
		{100, "CLF", "1.0000", "1.0000 CLF"},
	} {
		if got := c.amount.UnitsIn(c.currency); got != c.units {
			t.Errorf("Cents(%d).UnitsIn(%s) = %q, want %q", c.amount, c.currency, got, c.units)
		}
		if got := c.amount.Text(c.currency); got != c.forPeople {
			t.Errorf("Cents(%d).Text(%s) = %q, want %q", c.amount, c.currency, got, c.forPeople)
		}
	}
}

// A refund may be reported before its payment: the payment, refunded, pays for nothing.
// Only the saga refused it, so another caller could ship an order on refunded money (a
// review).
func TestARefundedPaymentDoesNotPay(t *testing.T) {
	o := orderIn(t, StatusAwaitingPayment)
	withSession(o, "ses-1")
	mustApply(t, o)(o.RecordRefund("pay-1", "re-1", o.Total, o.Currency, tCmd))
	evs, err := o.CompletePayment("pay-1", chargeFor(o), tCmd)
	if apperr.ErrorCode(err) != apperr.CodeConflict || evs != nil {
		t.Fatalf("got %v, %v; want a conflict", evs, err)
	}
	if _, err := o.CompletePayment("pay-2", chargeFor(o), tCmd); err != nil {
		t.Fatalf("another payment pays: %v", err)
	}
}

// Cancel takes the reasons reports tell apart, and not "rejected", which only Reject
// records, with its decider: a cancellation "rejected" made an approved order read as
// rejected by its approver, and any text was recorded as a reason (a review). A blank
// decider is none.
func TestCancelTakesTheKnownReasonsOnly(t *testing.T) {
	for _, reason := range []CancelReason{ReasonRejected, "no_such_reason"} {
		evs, err := orderIn(t, StatusPlaced).Cancel(reason, "", tCmd)
		if apperr.ErrorCode(err) != apperr.CodeInvalid || apperr.ErrorField(err) != "reason" || evs != nil {
			t.Errorf("Cancel(%q): got %v, %v; want invalid on reason", reason, evs, err)
		}
	}
	for _, reason := range []CancelReason{ReasonOutOfStock, ReasonPaymentFailed, ReasonTimedOut} {
		if _, err := orderIn(t, StatusPlaced).Cancel(reason, "", tCmd); err != nil {
			t.Errorf("Cancel(%q): %v", reason, err)
		}
	}
	if _, err := orderIn(t, StatusAwaitingApproval).Approve("   ", "", tCmd); apperr.ErrorField(err) != "by" {
		t.Errorf("a blank approver: got %v, want invalid on by", err)
	}
}

// What one payment can take is eight digits in the provider's unit of the currency
// (payment.MaxAmount): 100,000.00 KWD is 100,000,000 fils, past it, and such an order was
// accepted and never got its payment session (a review); 1,050,000 KRW and 1,600,000 JPY
// are well within it, and were refused as over 999,999.99 (a probe). IQD and LYD, three
// decimals for ISO, are cents at Stripe.
func TestTheLargestTotalIsWhatOnePaymentTakesInItsCurrency(t *testing.T) {
	place := func(total Cents, currency string) error {
		p := validPlace()
		p.Items, p.Total, p.Currency = []Item{{SKU: "A", Quantity: 1, UnitPrice: cents(total)}}, total, currency
		_, err := (&Order{}).Place(p)
		return err
	}
	for _, c := range []struct {
		currency string
		most     Cents
	}{
		{"USD", 999_999_99},
		{"KWD", 99_999_99},
		{"IQD", 999_999_99},
		{"LYD", 999_999_99},
		{"JPY", 99_999_999_00},
		{"KRW", 99_999_999_00},
		{"ISK", 999_999_00},
	} {
		if err := place(c.most, c.currency); err != nil {
			t.Errorf("%d hundredths of %s: %v", c.most, c.currency, err)
		}
		if err := place(c.most+1, c.currency); apperr.ErrorField(err) != "total" {
			t.Errorf("%d hundredths of %s: got %v, want invalid on total", c.most+1, c.currency, err)
		}
	}
	if err := place(1_050_000_00, "KRW"); err != nil {
		t.Errorf("1,050,000 KRW: %v", err)
	}
}
