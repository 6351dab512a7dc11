package order

import "slices"

// The order lifecycle, written once: which status follows which event, which commands each
// status accepts, which stage of the workflow it stands for and which wait it rests in. The
// aggregate's Apply and command guards, CheckHistory and the saga's guards all read this
// table; TestLifecycleTableMatchesTheCommands proves the commands reach exactly its
// transitions.

// Stage is a step of the workflow as people see it (the dashboard's diagram), in order.
type Stage string

// The workflow's stages, in the order an order passes them.
const (
	StageRisk        Stage = "risk"
	StageApproval    Stage = "approval"
	StageReservation Stage = "reservation"
	StagePayment     Stage = "payment"
	StageShipment    Stage = "shipment"
	StageDelivery    Stage = "delivery"
	StageCompletion  Stage = "completion"
)

// stages are the workflow's stages in order, each with its name as people read it.
var stages = []struct {
	Stage Stage
	Title string
}{
	{StageRisk, "Risk check"}, {StageApproval, "Approval"}, {StageReservation, "Reservation"},
	{StagePayment, "Payment"}, {StageShipment, "Shipment"}, {StageDelivery, "Delivery"},
	{StageCompletion, "Completion"},
}

// Stages lists the workflow's stages in order, so a diagram can be drawn from them.
func Stages() []Stage {
	out := make([]Stage, len(stages))
	for i, st := range stages {
		out[i] = st.Stage
	}
	return out
}

// Title is the stage's name as people read it, on the dashboard's diagram.
func (s Stage) Title() string {
	for _, st := range stages {
		if st.Stage == s {
			return st.Title
		}
	}
	return string(s)
}

// Wait names a pause of the workflow with a deadline: the order rests in one status until
// an answer comes or the deadline passes. The names are part of stored deadline messages.
type Wait string

// The workflow's waits.
const (
	WaitApproval Wait = "approval"
	WaitPayment  Wait = "payment"
	WaitDelivery Wait = "delivery"
)

// Command names a command of the aggregate that only some statuses accept. Notes, support
// tickets, refunds and claim releases are not listed: they are allowed whatever the
// status of a placed order, since they record what people say and what money did, not
// where the order is.
type Command string

// The aggregate's lifecycle commands, named after its methods.
const (
	CmdAssessRisk           Command = "AssessRisk"
	CmdApprove              Command = "Approve"
	CmdReject               Command = "Reject"
	CmdClaim                Command = "Claim"
	CmdReserveInventory     Command = "ReserveInventory"
	CmdFailReservation      Command = "FailReservation"
	CmdRecordPaymentSession Command = "RecordPaymentSession"
	CmdCompletePayment      Command = "CompletePayment"
	CmdFailPayment          Command = "FailPayment"
	CmdCreateShipment       Command = "CreateShipment"
	CmdUpdateDelivery       Command = "UpdateDelivery"
	CmdComplete             Command = "Complete"
	CmdCancel               Command = "Cancel"
)

// commandInfo says how a refusal of each command reads and which events it records.
var commandInfo = map[Command]struct {
	action  string
	records []string
}{
	CmdAssessRisk:           {"assess risk of", []string{NameRiskAssessed, NameHeldForApproval}},
	CmdApprove:              {"approve", []string{NameOrderApproved}},
	CmdReject:               {"reject", []string{NameOrderRejected, NameOrderCancelled}},
	CmdClaim:                {"claim", []string{NameOrderClaimed}},
	CmdReserveInventory:     {"reserve inventory for", []string{NameInventoryReserved}},
	CmdFailReservation:      {"fail reservation of", []string{NameReservationFailed, NameOrderCancelled}},
	CmdRecordPaymentSession: {"record a payment session for", []string{NamePaymentSessionCreated}},
	CmdCompletePayment:      {"complete payment of", []string{NamePaymentCompleted}},
	CmdFailPayment:          {"fail payment of", []string{NamePaymentFailed, NameOrderCancelled}},
	CmdCreateShipment:       {"create a shipment for", []string{NameShipmentCreated}},
	CmdUpdateDelivery:       {"update delivery of", []string{NameDeliveryStatusUpdated, NameOrderDelivered, NameDeliveryFailed}},
	CmdComplete:             {"complete", []string{NameOrderCompleted}},
	CmdCancel:               {"cancel", []string{NameOrderCancelled}},
}

// Transition is one way out of a status: the event that moves the order, and where to.
type Transition struct {
	On string // the event's stored name
	To Status
	// If, when set, says whether this event moves the order (a risk assessment moves
	// it on only below the threshold; above it the hold that follows does).
	If func(Event) bool `json:"-"`
}

// Phase is one row of the lifecycle table: a status and everything that depends on it.
type Phase struct {
	Status Status
	// Stage is the workflow stage the status stands for; a terminal status names the stage
	// it ended at, and a cancelled order's stage depends on where it was (Order.Stage).
	Stage Stage
	// Terminal: no lifecycle command is accepted any more. Failed: the order ended without
	// being delivered; a terminal status that did not fail has passed every stage.
	Terminal, Failed bool
	// Wait is the pause with a deadline the order rests in, if any.
	Wait    Wait
	Accepts []Command
	Next    []Transition
}

// belowThreshold reports whether a risk assessment lets the order go on without review.
func belowThreshold(e Event) bool {
	ra, ok := e.(RiskAssessed)
	return ok && ra.Score < ra.Threshold
}

// unplaced is the status of an order before its placement.
const unplaced Status = ""

// table is the lifecycle table, in lifecycle order (the unplaced order first).
var table = []Phase{
	{Status: unplaced, Next: []Transition{{On: NameOrderPlaced, To: StatusPlaced}}},
	{
		Status: StatusPlaced, Stage: StageRisk,
		Accepts: []Command{CmdAssessRisk, CmdCancel},
		Next: []Transition{
			{On: NameRiskAssessed, To: StatusReserving, If: belowThreshold},
			{On: NameHeldForApproval, To: StatusAwaitingApproval},
			{On: NameOrderCancelled, To: StatusCancelled},
		},
	},
	{
		Status: StatusAwaitingApproval, Stage: StageApproval, Wait: WaitApproval,
		Accepts: []Command{CmdApprove, CmdReject, CmdClaim, CmdCancel},
		Next: []Transition{
			{On: NameOrderApproved, To: StatusReserving},
			{On: NameOrderRejected, To: StatusRejected},
			{On: NameOrderCancelled, To: StatusCancelled},
		},
	},
	{
		Status: StatusReserving, Stage: StageReservation,
		Accepts: []Command{CmdReserveInventory, CmdFailReservation, CmdCancel},
		Next: []Transition{
			{On: NameInventoryReserved, To: StatusAwaitingPayment},
			{On: NameOrderCancelled, To: StatusCancelled},
		},
	},
	{
		Status: StatusAwaitingPayment, Stage: StagePayment, Wait: WaitPayment,
		Accepts: []Command{CmdRecordPaymentSession, CmdCompletePayment, CmdFailPayment, CmdCancel},
		Next: []Transition{
			{On: NamePaymentCompleted, To: StatusAwaitingShipment},
			{On: NameOrderCancelled, To: StatusCancelled},
		},
	},
	{
		Status: StatusAwaitingShipment, Stage: StageShipment,
		Accepts: []Command{CmdCreateShipment},
		Next:    []Transition{{On: NameShipmentCreated, To: StatusAwaitingDelivery}},
	},
	{
		Status: StatusAwaitingDelivery, Stage: StageDelivery, Wait: WaitDelivery,
		Accepts: []Command{CmdUpdateDelivery},
		Next: []Transition{
			{On: NameOrderDelivered, To: StatusDelivered},
			{On: NameDeliveryFailed, To: StatusDeliveryFailed},
		},
	},
	{
		Status: StatusDelivered, Stage: StageCompletion,
		Accepts: []Command{CmdComplete},
		Next:    []Transition{{On: NameOrderCompleted, To: StatusCompleted}},
	},
	{Status: StatusCompleted, Stage: StageCompletion, Terminal: true},
	{Status: StatusCancelled, Terminal: true, Failed: true},
	{Status: StatusRejected, Stage: StageApproval, Terminal: true, Failed: true},
	{Status: StatusDeliveryFailed, Stage: StageDelivery, Terminal: true, Failed: true},
}

// Lifecycle returns the lifecycle table, one phase per status in lifecycle order, for
// readers that draw or check the workflow (the dashboard's diagram, tests).
func Lifecycle() []Phase {
	out := make([]Phase, 0, len(table)-1)
	for _, p := range table {
		if p.Status != unplaced {
			out = append(out, p)
		}
	}
	return out
}

// Phase is s's row of the lifecycle table; an unknown status has an empty one (accepts
// nothing).
func (s Status) Phase() Phase {
	for _, p := range table {
		if p.Status == s {
			return p
		}
	}
	return Phase{Status: s}
}

// Accepts reports whether an order in s accepts cmd.
func (s Status) Accepts(cmd Command) bool { return slices.Contains(s.Phase().Accepts, cmd) }

// Waiting reports whether an order in s rests in wait w.
func (s Status) Waiting(w Wait) bool { return w != "" && s.Phase().Wait == w }

// CanReach reports whether an order in s is in target or may still get there.
func (s Status) CanReach(target Status) bool {
	seen := map[Status]bool{}
	var walk func(Status) bool
	walk = func(at Status) bool {
		if at == target {
			return true
		}
		if seen[at] {
			return false
		}
		seen[at] = true
		for _, t := range at.Phase().Next {
			if walk(t.To) {
				return true
			}
		}
		return false
	}
	return walk(s)
}

// after is the status an order in s is in once e is applied.
func (s Status) after(e Event) Status {
	name := e.EventName()
	for _, t := range s.Phase().Next {
		if t.On == name && (t.If == nil || t.If(e)) {
			return t.To
		}
	}
	return s
}

// require returns a conflict unless the order's status accepts cmd.
func (o *Order) require(cmd Command) error {
	if o.Status.Accepts(cmd) {
		return nil
	}
	return notAllowed(commandInfo[cmd].action, o.Status)
}

// recordedBy lists the lifecycle commands that record the event named name.
func recordedBy(name string) []Command {
	var out []Command
	for cmd, info := range commandInfo {
		if slices.Contains(info.records, name) {
			out = append(out, cmd)
		}
	}
	slices.Sort(out)
	return out
}

// Paid reports whether the order's payment has completed: its status is the one a
// completed payment leads to, or one after it. Only an order waiting for its payment can
// be cancelled, so a paid order keeps its payment.
func (o *Order) Paid() bool { return StatusAwaitingShipment.CanReach(o.Status) }

// Stage is the workflow stage the order is at, or ended at: its status's stage, and for a
// cancelled order the stage of the status it was cancelled in, as its fields tell.
func (o *Order) Stage() Stage {
	if o.Status != StatusCancelled {
		return o.Status.Phase().Stage
	}
	return o.cancelledIn().Phase().Stage
}

// cancelledIn is the status a cancelled order was in when it was cancelled.
func (o *Order) cancelledIn() Status {
	switch {
	case o.PaymentFailReason != "" || o.ReservationID != "":
		return StatusAwaitingPayment
	case o.ReservationFailed != "" || o.CancelReason == ReasonOutOfStock || o.CancelReason == ReasonStockNotHeld:
		return StatusReserving
	case !o.ApprovalDeadline.IsZero() && o.DecidedBy == "":
		return StatusAwaitingApproval
	case o.RiskScore == nil:
		return StatusPlaced
	}
	return StatusReserving
}
