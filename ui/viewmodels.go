// Package ui renders the manager dashboard: templ components fed with small view models
// built by the orders service, never with domain types, so the pages can be tested (and
// changed) without a database or an order aggregate.
package ui

import "time"

// Page is what every page's frame needs: who is signed in and where they are.
type Page struct {
	// Title is the page's heading and window title.
	Title string
	// Nav is the navigation entry to highlight: overview, pending, orders, tickets, dead-letters.
	Nav string
	// Manager is the signed-in manager's email.
	Manager string
	// CSRFToken is the session's synchronizer token, sent by every form and htmx request.
	CSRFToken string
	// PendingCount is shown beside the pending-approvals link and kept live.
	PendingCount int
	// DevMode shows the development banner and the provider simulators.
	DevMode bool
	// KeepAlive is how often the live stream says it is there when idle (live.js).
	KeepAlive time.Duration
	// Now is the server's time as it rendered the page: live.js counts "time left" and a
	// claim's end from it, not from the browser's clock, which may be minutes off.
	Now time.Time
	// PendingDigest, on the pending page, names the rows it shows (ui.Digest): the live
	// stream replaces the list at first only if it differs, so nothing typed is wiped.
	PendingDigest string
	// LiveOrder, on an order's page, is that order and LiveSince the newest of its events
	// the page shows: the live stream sends the page again once there are newer ones.
	LiveOrder string
	LiveSince int64
	// Refused says what the manager asked for and was not done, when the page is the answer
	// to it and no part of the page can say it (a decision on an order no longer listed).
	Refused string
}

// SignIn is the sign-in page.
type SignIn struct {
	Email string
	Error string
	// Notice says an action was not done because the session had ended.
	Notice    string
	CSRFToken string
	Next      string
	DevHint   string
}

// RiskFactor is one reason a risk score went up.
type RiskFactor struct {
	Description string
	Points      int
}

// PendingOrder is one order waiting for a manager's decision.
type PendingOrder struct {
	// KeepTyped marks a row the live stream sends in place of one the page shows: its
	// inputs keep what the manager typed or ticked (hx-preserve). A reconnect after the
	// list changed replaces the whole list, and wiped every reason being typed.
	KeepTyped   bool
	OrderID     string
	Customer    string
	NewCustomer bool
	Total       string
	Items       []string
	Score       int
	Threshold   int
	Factors     []RiskFactor
	HeldSince   time.Time
	Deadline    time.Time
	// Waiting is how long the order has waited, e.g. "2h 5m".
	Waiting string
	// TimeLeft is how long until the order is cancelled automatically.
	TimeLeft string
	// Urgent marks orders with less than an hour left.
	Urgent bool
	// ScoreExplained says how the score came about: "base 10 + 50 + 25 = 85 (threshold 70)".
	ScoreExplained string
	// Shipping and Billing are the order's addresses (nil: none given).
	Shipping, Billing *Address
	// History is the customer's earlier orders (nil: not looked up).
	History *CustomerHistory
	// ConfirmPhrase, when set, must be typed to approve: the order is very large.
	ConfirmPhrase string
	// ReasonError is a refused decision's message, shown next to the reason box, and
	// ConfirmError one about the typed confirmation, shown next to that box (Refuse).
	ReasonError, ConfirmError string
	// TypedReason and TypedConfirm are what the manager had typed in the boxes when the
	// decision was refused: the card shown again keeps them (an approval sent again after a
	// mistyped id was recorded without the reason typed before it).
	TypedReason, TypedConfirm string
	// OnOrderPage marks the card of the order page, whose decision answers with the
	// whole order rather than the row.
	OnOrderPage bool
	// Claim is who is reviewing the order, as the viewing manager sees it.
	Claim Claim
}

// Claim is a manager's claim on a pending order, as one manager sees it: By is empty when
// nobody holds one (never claimed, released or lapsed).
type Claim struct {
	OrderID string
	By      string
	Since   time.Time
	Until   time.Time
	// Mine says the viewing manager holds it.
	Mine bool
	// Error explains a refused claim or release.
	Error string
}

// Address is a postal address as a reviewer reads it.
type Address struct {
	Name    string
	Lines   string
	Country string
}

// CustomerHistory is what the same customer ordered before, newest first.
type CustomerHistory struct {
	// Orders counts the earlier orders; Capped says only the newest Orders were counted.
	Orders    int
	Capped    bool
	Completed int
	Cancelled int
	Rejected  int
	// Totals is what they came to, one entry per currency: "1,200.00 USD".
	Totals []string
	// Recent are the newest few, to open.
	Recent []HistoryOrder
	// AllURL lists every order of the customer (empty when the list cannot search them).
	AllURL string
}

// HistoryOrder is one earlier order of the customer.
type HistoryOrder struct {
	OrderID   string
	Status    string
	Total     string
	CreatedAt time.Time
}

// PendingList is the pending approvals, oldest first.
type PendingList struct {
	Orders []PendingOrder
	// Total counts every waiting order; Orders may hold only the oldest of them.
	Total int
}

// Decision is what happened when a manager decided on an order in place.
type Decision struct {
	OrderID  string
	Approved bool
	By       string
	Reason   string
	// Error explains a refused decision (already decided by someone else, reason missing).
	Error string
	// AtConfirm says Error is about the typed confirmation of a very large order.
	AtConfirm bool
	// Confirm is what was typed in the confirmation box.
	Confirm string
	// Order is the order again, when it still waits: its card is shown with Error.
	Order *PendingOrder
}

// Bulk is a decision on several pending orders at once, with one reason.
type Bulk struct {
	OrderIDs []string
	Approved bool
	Reason   string
	By       string
	// Confirm asks the manager to confirm before anything is decided.
	Confirm bool
	// Changed says a confirmation was refused: the ticked orders or the reason were no
	// longer those it asked about. Confirm asks again about what is ticked now.
	Changed bool
	// Error explains a refused request (nothing selected, no reason to reject).
	Error string
	// Results is each order's decision once confirmed; a refused one carries its Error.
	Results []Decision
}

// LogEntry is one line of the pending page's live log: an order that left the list
// because another manager decided it or the deadline cancelled it.
type LogEntry struct {
	OrderID string
	Text    string
	At      time.Time
	// Mine marks a decision of the page's own manager (made in another tab, or logged
	// already by its answer in this one).
	Mine bool
}

// OrderRow is one line of the all-orders list.
type OrderRow struct {
	OrderID   string
	Status    string
	Customer  string
	Total     string
	Items     int
	RiskScore *int
	CreatedAt time.Time
	// Why says why a cancelled order was cancelled.
	Why string
}

// OrderList is a page of the all-orders list.
type OrderList struct {
	Rows   []OrderRow
	Status string
	Query  string
	// Email is the one customer whose orders are listed (a customer history's link), and
	// EveryCustomerURL the same list without it.
	Email            string
	EveryCustomerURL string
	Statuses         []string
	// NextURL is the next page's URL (keyset cursor); empty on the last page.
	NextURL string
	// FirstURL leads back to the first page when this is a later one.
	FirstURL string
	// Threshold is the risk score at or above which orders are held: risk is coloured by it.
	Threshold int
	// ExportURL downloads every order of the current filter as CSV.
	ExportURL string
	// Sort is the column the list is sorted by (placed, total, risk), Asc its direction,
	// and SortURLs each column's link.
	Sort     string
	Asc      bool
	SortURLs map[string]string
}

// Step states of the workflow diagram.
const (
	StepDone    = "done"
	StepCurrent = "current"
	StepWaiting = "waiting"
	StepFailed  = "failed"
	StepSkipped = "skipped"
	// StepRejected is the approval step of an order a manager rejected.
	StepRejected = "rejected"
	// StepNotReached is a step after the one an order ended at.
	StepNotReached = "not-reached"
)

// Step is one box of the workflow diagram.
type Step struct {
	Key   string
	Label string
	State string
	Note  string
}

// TimelineEntry is one event of an order's history.
type TimelineEntry struct {
	Position   int64
	Name       string
	Actor      string
	RecordedAt time.Time
	Summary    string
}

// Notification is one email recorded for an order.
type Notification struct {
	Kind      string
	Recipient string
	Subject   string
	CreatedAt time.Time
	Status    string     // queued, deferred, sent, not_sent, failed or in_doubt (mailer's statuses)
	Error     string     // why it failed, why the last try did not send it, or why it was not sent
	RetryAt   *time.Time // set while it is deferred
}

// Ticket is one support ticket.
type Ticket struct {
	ID        int64
	OrderID   string
	Kind      string
	Reason    string
	Status    string
	CreatedAt time.Time
}

// TicketCard is a support ticket as the tickets page works on it: who handles it, what
// was written on it, how it was closed.
type TicketCard struct {
	ID         int64
	OrderID    string
	Kind       string
	Reason     string
	Status     string
	CreatedAt  time.Time
	Assignee   string
	ClosedBy   string
	Resolution string
	ClosedAt   time.Time
	Comments   []TicketComment
	// Action is the action (assign, comment, close) the card answers: its refusal (Error)
	// is shown at its field, as the pending page does, or said done (Done).
	Action string
	Error  string
	Done   string
}

// ticketFieldID is the id of a ticket form's field.
func ticketFieldID(t TicketCard, field string) string {
	return "ticket-" + itoa(int(t.ID)) + "-" + field
}

// hasForm is whether the card offers action: a closed ticket can only be commented on.
func (t TicketCard) hasForm(action string) bool { return action == "comment" || t.Status != "closed" }

// fieldError is the refusal shown at action's field, or "".
func (t TicketCard) fieldError(action string) string {
	if t.Action == action {
		return t.Error
	}
	return ""
}

// cardError is the refusal of an action the card no longer offers (assigning a ticket
// closed meanwhile): it has no field to be shown at.
func (t TicketCard) cardError() string {
	if t.hasForm(t.Action) {
		return ""
	}
	return t.Error
}

// TicketComment is one comment on a support ticket.
type TicketComment struct {
	By   string
	Text string
	At   time.Time
}

// Field is a labelled value in a details list.
type Field struct {
	Label string
	Value string
}

// OrderDetail is the order page.
type OrderDetail struct {
	// KeepTyped marks the page content the live stream sends: the note and the decision's
	// inputs keep what the manager typed (hx-preserve), where any new event of the order
	// used to wipe them.
	KeepTyped bool
	OrderID   string
	Status    string
	Customer  string
	Total     string
	Items     []string
	RiskScore *int
	Threshold int
	Factors   []RiskFactor
	// ScoreExplained says how the score came about (empty before scoring).
	ScoreExplained string
	Shipping       *Address
	Billing        *Address
	History        *CustomerHistory
	CreatedAt      time.Time
	UpdatedAt      time.Time
	Steps          []Step
	Decision       []Field
	Payment        []Field
	Shipment       []Field
	Timeline       []TimelineEntry
	// Unknown names the order's events this release does not know (a newer release's,
	// during a rolling upgrade): the page shows the order without them, and says so.
	Unknown []string
	Notices []Notification
	// Mailbox is the development web mailbox the emails can be read in (dev mode only).
	Mailbox string
	Tickets []Ticket
	// Pending is set while the order waits for a decision, to decide from this page.
	Pending *PendingOrder
	// Simulators lists the provider simulators that make sense now (dev mode only).
	Simulators []Simulator
	// Flash reports the outcome of a simulator click, a decision or a note, in the page's
	// message region (OrderMessage), which the live stream does not redraw.
	Flash string
	// NoteError explains a refused note, next to the note field.
	NoteError string
	// Version is the log position of the newest event the page reflects.
	Version int64
}

// Simulator is a dev-mode button that asks a provider simulator to send its webhook.
type Simulator struct {
	Action string
	Label  string
}

// StatusCount is how many orders are in one status.
type StatusCount struct {
	Status string
	Count  int
}

// Bar is one bar of a chart.
type Bar struct {
	Label string
	Count int
}

// Overview is the landing page.
type Overview struct {
	Counts       []StatusCount
	Total        int
	Pending      int
	OpenTickets  int
	DeadLetters  int
	PerHour      []Bar
	RiskBuckets  []Bar
	GeneratedAt  time.Time
	ChartsWindow string
}

// Refuse shows the refused decision d on o's card: its message next to the box it is
// about (the typed confirmation when d.AtConfirm, else the reason), and what was typed
// kept in the boxes.
func (o *PendingOrder) Refuse(d Decision) {
	o.TypedReason, o.TypedConfirm = d.Reason, d.Confirm
	if d.AtConfirm {
		o.ConfirmError = d.Error
	} else {
		o.ReasonError = d.Error
	}
}
