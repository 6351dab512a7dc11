package order

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestLifecycleTableMatchesTheCommands walks the lifecycle table against the aggregate:
// every command (with arguments that pass its other checks) is tried on an order in every
// status; the statuses where it succeeds must be exactly those whose phase accepts it, and
// the status changes its events make must be exactly the table's transitions, each of
// them reachable.
func TestLifecycleTableMatchesTheCommands(t *testing.T) {
	type move struct {
		from Status
		on   string
		to   Status
	}
	want := map[move]bool{}
	for _, p := range table {
		for _, tr := range p.Next {
			want[move{p.Status, tr.On, tr.To}] = true
		}
	}
	claim := commandCase{name: string(CmdClaim), run: func(o *Order) ([]Event, error) {
		return o.Claim("rev", "", tCmd, tCmd.Add(time.Minute))
	}}
	got := map[move]bool{}
	accepted := map[Command][]Status{}
	for _, c := range append(commandTable(), claim) {
		cmd, _, _ := strings.Cut(c.name, "/")
		for _, s := range append([]Status{unplaced}, Statuses()...) {
			o := orderIn(t, s)
			if c.setup != nil {
				c.setup(o)
			}
			evs, err := c.run(o)
			if err != nil {
				continue
			}
			if !slices.Contains(accepted[Command(cmd)], s) {
				accepted[Command(cmd)] = append(accepted[Command(cmd)], s)
			}
			for _, e := range evs {
				from := o.Status
				o.Apply(e)
				if o.Status != from {
					got[move{from, e.EventName(), o.Status}] = true
				}
			}
		}
	}
	for m := range want {
		if !got[m] {
			t.Errorf("the table allows %s --%s--> %s, but no command takes it", m.from, m.on, m.to)
		}
	}
	for m := range got {
		if !want[m] {
			t.Errorf("a command takes %s --%s--> %s, which the table does not list", m.from, m.on, m.to)
		}
	}
	for _, cmd := range slices.Sorted(maps.Keys(commandInfo)) {
		var table []Status
		for _, s := range Statuses() {
			if s.Accepts(cmd) {
				table = append(table, s)
			}
		}
		if !slices.Equal(table, accepted[cmd]) {
			t.Errorf("%s: the table accepts it in %v, the aggregate in %v", cmd, table, accepted[cmd])
		}
	}
}

// TestLifecycleTableIsComplete checks the table's shape: one phase per status, in
// lifecycle order, every status reachable from placement, stages in the workflow's order,
// the waits where the workflow rests, and only terminal statuses without a way out.
func TestLifecycleTableIsComplete(t *testing.T) {
	var statuses []Status
	for _, p := range Lifecycle() {
		statuses = append(statuses, p.Status)
		if !unplaced.CanReach(p.Status) {
			t.Errorf("%s cannot be reached", p.Status)
		}
		if p.Terminal != (len(p.Next) == 0) || p.Terminal != (len(p.Accepts) == 0) {
			t.Errorf("%s: terminal %v, %d transitions, %d commands", p.Status, p.Terminal, len(p.Next), len(p.Accepts))
		}
		if p.Failed && !p.Terminal {
			t.Errorf("%s failed but is not terminal", p.Status)
		}
		if p.Stage == "" && p.Status != StatusCancelled || p.Stage != "" && !slices.Contains(Stages(), p.Stage) {
			t.Errorf("%s: stage %q", p.Status, p.Stage)
		}
	}
	if !slices.Equal(statuses, Statuses()) {
		t.Errorf("table statuses %v, want %v", statuses, Statuses())
	}
	var waits []Status
	for _, s := range Statuses() {
		for _, w := range []Wait{WaitApproval, WaitPayment, WaitDelivery} {
			if s.Waiting(w) {
				waits = append(waits, s)
			}
		}
	}
	if want := []Status{StatusAwaitingApproval, StatusAwaitingPayment, StatusAwaitingDelivery}; !slices.Equal(waits, want) {
		t.Errorf("waiting statuses %v, want %v", waits, want)
	}
	// The statuses still ahead of the payment wait are those that may yet reach it.
	var ahead []Status
	for _, s := range Statuses() {
		if s.CanReach(StatusAwaitingPayment) {
			ahead = append(ahead, s)
		}
	}
	if want := []Status{StatusPlaced, StatusAwaitingApproval, StatusReserving, StatusAwaitingPayment}; !slices.Equal(ahead, want) {
		t.Errorf("statuses that can reach awaiting_payment %v, want %v", ahead, want)
	}
}

// TestStage names the stage an order is at, and the one a cancelled order ended at.
func TestStage(t *testing.T) {
	for s, want := range map[Status]Stage{
		StatusPlaced: StageRisk, StatusAwaitingApproval: StageApproval, StatusReserving: StageReservation,
		StatusAwaitingPayment: StagePayment, StatusAwaitingShipment: StageShipment, StatusAwaitingDelivery: StageDelivery,
		StatusDelivered: StageCompletion, StatusCompleted: StageCompletion, StatusRejected: StageApproval,
		StatusDeliveryFailed: StageDelivery,
	} {
		if got := orderIn(t, s).Stage(); got != want {
			t.Errorf("%s: stage %q, want %q", s, got, want)
		}
	}
	cancelledIn := func(s Status, cancel func(o *Order) ([]Event, error)) Stage {
		o := orderIn(t, s)
		mustApply(t, o)(cancel(o))
		if o.Status != StatusCancelled {
			t.Fatalf("not cancelled: %s", o.Status)
		}
		return o.Stage()
	}
	timeout := func(o *Order) ([]Event, error) { return o.Cancel(ReasonTimedOut, "", tCmd) }
	for s, want := range map[Status]Stage{
		StatusPlaced: StageRisk, StatusAwaitingApproval: StageApproval, StatusReserving: StageReservation, StatusAwaitingPayment: StagePayment,
	} {
		if got := cancelledIn(s, timeout); got != want {
			t.Errorf("cancelled in %s: stage %q, want %q", s, got, want)
		}
	}
	if got := cancelledIn(StatusReserving, func(o *Order) ([]Event, error) { return o.FailReservation("none left", "A", tCmd) }); got != StageReservation {
		t.Errorf("out of stock: stage %q", got)
	}
}

// TestPaid: an order is paid from the status its payment leads to on, and in no status
// before it or given up before it.
func TestPaid(t *testing.T) {
	paid := []Status{StatusAwaitingShipment, StatusAwaitingDelivery, StatusDelivered, StatusCompleted, StatusDeliveryFailed}
	for _, p := range table {
		if got, want := (&Order{Status: p.Status}).Paid(), slices.Contains(paid, p.Status); got != want {
			t.Errorf("%q: paid %v, want %v", p.Status, got, want)
		}
	}
}
