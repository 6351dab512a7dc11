package order

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// legalMoves lists the statuses a command may take an order to from each status (staying
// put is always legal): the lifecycle of the package comment.
var legalMoves = map[Status][]Status{
	"":                     {StatusPlaced},
	StatusPlaced:           {StatusAwaitingApproval, StatusReserving, StatusCancelled},
	StatusAwaitingApproval: {StatusReserving, StatusRejected, StatusCancelled},
	StatusReserving:        {StatusAwaitingPayment, StatusCancelled},
	StatusAwaitingPayment:  {StatusAwaitingShipment, StatusCancelled},
	StatusAwaitingShipment: {StatusAwaitingDelivery},
	StatusAwaitingDelivery: {StatusDelivered, StatusDeliveryFailed},
	StatusDelivered:        {StatusCompleted},
}

// command is one command of the aggregate with arguments drawn for the order's state:
// often the ones that pass its guards, often not.
type command struct {
	name string
	run  func(o *Order) ([]Event, error)
}

var propT0 = time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)

// commandsFor lists every command of the aggregate; each draws its arguments when run.
func commandsFor(t *rapid.T, o *Order) []command {
	at := propT0.Add(time.Duration(rapid.IntRange(0, 10_000).Draw(t, "minute")) * time.Minute)
	// pick draws valid three times in four, else one of the values a guard must refuse.
	pick := func(label string, valid string, invalid ...string) string {
		if rapid.IntRange(0, 3).Draw(t, label+"Valid") > 0 {
			return valid
		}
		return rapid.SampledFrom(invalid).Draw(t, label)
	}
	id := func(label string) string {
		return pick(label, rapid.SampledFrom([]string{"x-1", "x-2"}).Draw(t, label+"Id"), "", " ")
	}
	text := func(label string) string { return rapid.SampledFrom([]string{"", "why", "  "}).Draw(t, label) }
	amount := func(label string) Cents {
		if rapid.IntRange(0, 3).Draw(t, label+"Valid") > 0 {
			return o.Total
		}
		return rapid.SampledFrom([]Cents{o.Total + 1, 0, -1}).Draw(t, label)
	}
	currency := func(label string) string { return pick(label, o.Currency, "EUR", "usd", "") }
	commands := []command{
		{"Place", func(o *Order) ([]Event, error) {
			if rapid.IntRange(0, 3).Draw(t, "wellFormed") > 0 {
				// Mostly an order that passes, so the sequences go on to the later commands.
				var items []Item
				var sum Cents
				for i := range rapid.IntRange(1, 3).Draw(t, "lines") {
					it := Item{SKU: string(rune('A' + i)), Quantity: rapid.IntRange(1, 3).Draw(t, "quantity")}
					if rapid.Bool().Draw(t, "priced") {
						p := Cents(rapid.SampledFrom([]int{250, 1_000}).Draw(t, "unitPrice"))
						it.UnitPrice, sum = &p, sum+p*Cents(it.Quantity)
					}
					items = append(items, it)
				}
				if sum == 0 {
					sum = 1_000
				}
				return o.Place(PlaceOrder{OrderID: "ord-1", CustomerEmail: rapid.SampledFrom([]string{"", "ann@example.com"}).Draw(t, "email"),
					Items: items, Total: sum, Currency: rapid.SampledFrom([]string{"", "USD", "EUR"}).Draw(t, "currency"), At: at})
			}
			items := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) Item {
				it := Item{SKU: rapid.SampledFrom([]string{"A", "B", "A", ""}).Draw(t, "sku"), Quantity: rapid.SampledFrom([]int{1, 2, 3, 1, 0, -1, 10_001}).Draw(t, "qty")}
				if rapid.Bool().Draw(t, "priced") {
					p := rapid.SampledFrom([]Cents{250, 1_000, 0, -5}).Draw(t, "price")
					it.UnitPrice = &p
				}
				return it
			}), 0, 3).Draw(t, "items")
			if len(items) == 0 && rapid.IntRange(0, 3).Draw(t, "noItems") > 0 {
				items = []Item{{SKU: "A", Quantity: 1}}
			}
			total := rapid.SampledFrom([]Cents{1_000, 500, 0, -1}).Draw(t, "total")
			if rapid.Bool().Draw(t, "totalIsSum") {
				var sum Cents
				for _, it := range items {
					if it.UnitPrice != nil {
						sum += *it.UnitPrice * Cents(it.Quantity)
					}
				}
				// Or just below it: too little for the priced lines, whether or not all are.
				total = sum - rapid.SampledFrom([]Cents{0, 1}).Draw(t, "belowSum")
			}
			return o.Place(PlaceOrder{
				OrderID: rapid.SampledFrom([]string{"ord-1", "ord-1", "ord-1", ""}).Draw(t, "orderId"), CustomerID: id("customerId"),
				CustomerEmail: rapid.SampledFrom([]string{"", "ann@example.com", "Ann <ann@example.com>", "nope"}).Draw(t, "email"),
				Items:         items, Total: total, Currency: rapid.SampledFrom([]string{"", "USD", "EUR", "EUR", "usd", "EURO"}).Draw(t, "currency"), At: at,
			})
		}},
		{"AssessRisk", func(o *Order) ([]Event, error) {
			return o.AssessRisk(rapid.IntRange(0, 100).Draw(t, "score"), nil, 70, at.Add(24*time.Hour), at)
		}},
		{"Approve", func(o *Order) ([]Event, error) { return o.Approve(id("by"), text("reason"), at) }},
		{"Reject", func(o *Order) ([]Event, error) { return o.Reject(id("by"), text("reason"), at) }},
		{"ReserveInventory", func(o *Order) ([]Event, error) { return o.ReserveInventory(id("reservationId"), at) }},
		{"FailReservation", func(o *Order) ([]Event, error) {
			return o.FailReservation(text("reason"), rapid.SampledFrom([]string{"A", "B", ""}).Draw(t, "sku"), at)
		}},
		{"RecordPaymentSession", func(o *Order) ([]Event, error) {
			return o.RecordPaymentSession(PaymentSession{ID: id("sessionId"), URL: "https://pay", Amount: amount("amount"), Currency: currency("currency"), Deadline: at.Add(time.Hour)}, at)
		}},
		{"CompletePayment", func(o *Order) ([]Event, error) {
			session := pick("chargeSession", o.PaymentSessionID, "other", "")
			return o.CompletePayment(id("paymentId"), Charge{SessionID: session, Amount: amount("chargeAmount"), Currency: currency("chargeCurrency")}, at)
		}},
		{"FailPayment", func(o *Order) ([]Event, error) { return o.FailPayment(id("paymentId"), text("reason"), at) }},
		{"CreateShipment", func(o *Order) ([]Event, error) { return o.CreateShipment(id("shipmentId"), "courier", "T-1", at) }},
		{"UpdateDelivery", func(o *Order) ([]Event, error) {
			return o.UpdateDelivery(rapid.SampledFrom([]string{"delivered", "failed", "in_transit", ""}).Draw(t, "status"), text("reason"), at)
		}},
		{"Complete", func(o *Order) ([]Event, error) { return o.Complete(at) }},
		{"Cancel", func(o *Order) ([]Event, error) {
			return o.Cancel(rapid.SampledFrom([]CancelReason{ReasonTimedOut, ReasonPaymentFailed, ""}).Draw(t, "cancelReason"), text("detail"), at)
		}},
		{"OpenSupportTicket", func(o *Order) ([]Event, error) {
			return o.OpenSupportTicket(rapid.SampledFrom([]string{"late", "failed", ""}).Draw(t, "kind"), text("reason"), at)
		}},
		{"RecordRefund", func(o *Order) ([]Event, error) {
			return o.RecordRefund(id("refundPaymentId"), id("refundId"), amount("refundAmount"), currency("refundCurrency"), at)
		}},
		{"AddNote", func(o *Order) ([]Event, error) { return o.AddNote(id("noteBy"), text("note"), at) }},
		{"Claim", func(o *Order) ([]Event, error) {
			return o.Claim(pick("claimBy", "ana", "bob", ""), pick("claimOver", "ana", "bob", ""), at, at.Add(time.Duration(rapid.IntRange(-1, 2).Draw(t, "claimFor"))*time.Hour))
		}},
		{"ReleaseClaim", func(o *Order) ([]Event, error) { return o.ReleaseClaim(pick("releaseBy", "ana", "bob", ""), at) }},
		{"AssignTicket", func(o *Order) ([]Event, error) {
			return o.AssignTicket(pick("assignKind", "late", "failed", "other"), id("assignTo"), id("assignBy"), at)
		}},
		{"CommentTicket", func(o *Order) ([]Event, error) {
			return o.CommentTicket(pick("commentKind", "late", "failed", "other"), id("commentBy"), text("comment"), at)
		}},
		{"CloseTicket", func(o *Order) ([]Event, error) {
			return o.CloseTicket(pick("closeKind", "late", "failed", "other"), id("closeBy"), text("resolution"), at)
		}},
	}
	return commands
}

// drawCommand picks the command a sequence goes on with.
func drawCommand(t *rapid.T, o *Order) command {
	commands := commandsFor(t, o)
	// Three times in four the command is one the order's status expects next, so sequences reach
	// the end of the lifecycle as well as wander off it.
	if next := nextCommands[o.Status]; len(next) > 0 && rapid.IntRange(0, 3).Draw(t, "onTrack") > 0 {
		name := rapid.SampledFrom(next).Draw(t, "next")
		return commands[slices.IndexFunc(commands, func(c command) bool { return c.name == name })]
	}
	return rapid.SampledFrom(commands).Draw(t, "command")
}

// nextCommands are the commands the lifecycle expects in each status, the ones that
// move the order on more often than the ones that end it.
var nextCommands = map[Status][]string{
	"":                     {"Place"},
	StatusPlaced:           {"AssessRisk"},
	StatusAwaitingApproval: {"Approve", "Approve", "Approve", "Reject"},
	StatusReserving:        {"ReserveInventory", "ReserveInventory", "ReserveInventory", "FailReservation"},
	StatusAwaitingPayment:  {"RecordPaymentSession", "CompletePayment", "CompletePayment", "CompletePayment", "FailPayment"},
	StatusAwaitingShipment: {"CreateShipment"},
	StatusAwaitingDelivery: {"UpdateDelivery"},
	StatusDelivered:        {"Complete"},
}

// Random command sequences never bring an order into a state its invariants forbid, and
// never emit an event Apply does not fold; the recorded history, stored as JSON and
// decoded, folds back into the very same order. At every state a sequence reaches, every
// command is tried as well (and its events dropped), so each guard meets every status.
func TestRandomCommandSequencesKeepTheInvariants(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var history []Event
		steps := rapid.IntRange(1, 60).Draw(t, "steps")
		for range steps {
			for _, probe := range commandsFor(t, Rehydrate(history)) {
				step(t, history, probe)
			}
			history = append(history, step(t, history, drawCommand(t, Rehydrate(history)))...)
		}
		checkReplay(t, Rehydrate(history), history)
	})
}

// step runs cmd on the order history folds into and checks what it decides: a command
// never changes the order itself, a refusal emits nothing, and what it emits folds event
// by event into an order that moved along the lifecycle and keeps every invariant.
func step(t *rapid.T, history []Event, cmd command) []Event {
	o, before := Rehydrate(history), Rehydrate(history)
	events, err := cmd.run(o)
	if !reflect.DeepEqual(o, before) {
		t.Fatalf("%s changed the order's state: commands only decide, Apply changes", cmd.name)
	}
	if err != nil {
		if len(events) > 0 {
			t.Fatalf("%s failed (%v) yet returned events %v", cmd.name, err, events)
		}
		return nil
	}
	from := o.Status
	for _, e := range events {
		v := o.Version
		o.Apply(e)
		if o.Version != v+1 {
			t.Fatalf("%s emitted %T, which Apply did not fold", cmd.name, e)
		}
	}
	if from.Terminal() && len(events) > 0 && !slices.Contains([]string{"AddNote", "OpenSupportTicket", "AssignTicket", "CommentTicket", "CloseTicket", "RecordRefund"}, cmd.name) {
		t.Fatalf("%s changed a %s order", cmd.name, from)
	}
	if o.Status != from && !slices.Contains(legalMoves[from], o.Status) {
		t.Fatalf("%s moved the order from %q to %q", cmd.name, from, o.Status)
	}
	checkInvariants(t, o, append(slices.Clip(history), events...))
	// The commands and CheckHistory (the crash test's judge of stored streams) state the
	// lifecycle twice: every history the commands write must be one CheckHistory accepts.
	if err := CheckHistory(append(slices.Clip(history), events...)); err != nil {
		t.Fatalf("%s wrote a history CheckHistory refuses: %v", cmd.name, err)
	}
	return events
}

// checkInvariants holds o and its history to the invariants listed on the package.
func checkInvariants(t *rapid.T, o *Order, history []Event) {
	if len(history) == 0 {
		return
	}
	if _, ok := history[0].(OrderPlaced); !ok {
		t.Fatalf("the first event is %T, not OrderPlaced", history[0])
	}
	if !slices.Contains(allStatuses, o.Status) {
		t.Fatalf("unknown status %q", o.Status)
	}
	if len(o.Items) == 0 || o.Total <= 0 || !validCurrency(o.Currency) {
		t.Fatalf("a placed order with items %v, total %d %q", o.Items, o.Total, o.Currency)
	}
	var sum Cents
	priced := true
	for _, it := range o.Items {
		if it.Quantity < 1 || it.SKU == "" || (it.UnitPrice != nil && *it.UnitPrice < 0) {
			t.Fatalf("a placed order holds item %+v", it)
		}
		if it.UnitPrice == nil {
			priced = false
		} else {
			sum += *it.UnitPrice * Cents(it.Quantity)
		}
	}
	if priced && sum != o.Total || sum > o.Total {
		t.Fatalf("items add up to %d (all priced: %v), the total is %d", sum, priced, o.Total)
	}
	count := map[string]int{}
	paid := false
	for i, e := range history {
		count[e.EventName()]++
		switch ev := e.(type) {
		case OrderPlaced:
			if i != 0 {
				t.Fatalf("placed again at event %d", i)
			}
		case InventoryReserved:
			if count[NameRiskAssessed] == 0 {
				t.Fatal("inventory reserved before risk was assessed")
			}
		case OrderApproved, OrderRejected:
			if count[NameHeldForApproval] == 0 {
				t.Fatal("a decision on an order never held for approval")
			}
		case PaymentSessionCreated:
			if ev.Amount != o.Total || ev.Currency != o.Currency {
				t.Fatalf("a payment session for %d %s, the order totals %d %s", ev.Amount, ev.Currency, o.Total, o.Currency)
			}
		case PaymentCompleted:
			if count[NamePaymentSessionCreated] == 0 {
				t.Fatal("paid without a payment session")
			}
			paid = true
		case OrderCancelled:
			if paid {
				t.Fatal("a paid order was cancelled")
			}
		}
	}
	if count[NameRiskAssessed] > 1 || count[NamePaymentSessionCreated] > 1 || count[NamePaymentCompleted] > 1 {
		t.Fatalf("risk assessed %d times, %d payment sessions, paid %d times", count[NameRiskAssessed], count[NamePaymentSessionCreated], count[NamePaymentCompleted])
	}
	if o.Status == StatusAwaitingApproval && (o.RiskScore == nil || *o.RiskScore < o.RiskThreshold) {
		t.Fatal("held for approval without a risk score at or above the threshold")
	}
	tickets := map[string]bool{}
	for _, k := range o.SupportTickets {
		if tickets[k] {
			t.Fatalf("two support tickets of kind %q", k)
		}
		tickets[k] = true
	}
}

// checkReplay stores the history as the event store does (name and JSON) and folds the
// decoded events: the order must come back as it is.
func checkReplay(t *rapid.T, o *Order, history []Event) {
	decoded := make([]Event, len(history))
	for i, e := range history {
		raw, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("encode %T: %v", e, err)
		}
		if decoded[i], err = Decode(e.EventName(), raw); err != nil {
			t.Fatalf("decode %s %s: %v", e.EventName(), raw, err)
		}
	}
	if replayed := Rehydrate(decoded); !reflect.DeepEqual(replayed, o) {
		t.Fatalf("the stored history folds to\n%+v\nnot\n%+v", replayed, o)
	}
}
