package ui

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HumanDuration renders d the way a reviewer scans it: "3d 4h", "2h 5m", "12m", "<1m".
func HumanDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Minute:
		return "<1m"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		return fmt.Sprintf("%dd %dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	}
}

// TimeLeft renders the time until deadline, or "overdue" once it has passed.
func TimeLeft(now, deadline time.Time) string {
	if !deadline.After(now) {
		return "overdue"
	}
	return HumanDuration(deadline.Sub(now))
}

// ShortID keeps the last eight characters of a UUID-like id: enough to tell orders apart
// on screen. They are random in every UUID version, where the first ones of a
// time-ordered id (UUIDv7, eventstore.NewID) are a timestamp that a week's orders share.
func ShortID(id string) string {
	if i := strings.LastIndexByte(id, '-'); i >= 0 && len(id)-i > 8 {
		return id[len(id)-8:]
	}
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// StatusLabel turns a status value into words: "awaiting_payment" → "awaiting payment".
func StatusLabel(s string) string {
	return strings.ReplaceAll(s, "_", " ")
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// isoTime is t for the page's scripts and datetime attributes, to the millisecond: a claim
// written to the second looked lapsed to live.js up to a second before the server agreed.
func isoTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// csrfHeaders is the hx-headers value that makes every htmx request carry the token.
func csrfHeaders(token string) string {
	b, _ := json.Marshal(map[string]string{CSRFHeader: token})
	return string(b)
}

// CSRFHeader is the header htmx requests carry the session's CSRF token in.
const CSRFHeader = "X-CSRF-Token"

// CSRFField is the form field forms carry the session's CSRF token in.
const CSRFField = "csrf_token"

func itoa(n int) string { return fmt.Sprint(n) }

func orderURL(id string) string { return "/dashboard/orders/" + id }

func scoreClass(score, threshold int) string {
	switch {
	case threshold > 0 && score >= threshold+20:
		return "score score-high"
	case threshold > 0 && score >= threshold:
		return "score score-raised"
	default:
		return "score"
	}
}

func joinItems(items []string) string { return strings.Join(items, ", ") }

// DecisionText says what a manager decided: "Approved 338d57da as ana@example.com: reason".
func DecisionText(d Decision) string {
	verb := "Rejected"
	if d.Approved {
		verb = "Approved"
	}
	s := verb + " " + ShortID(d.OrderID) + " as " + d.By
	if d.Reason != "" {
		s += ": " + d.Reason
	}
	return s
}

// liveURL is the page's event stream: the pending page also streams the list itself, an
// order's page the order.
func liveURL(p Page) string {
	switch {
	case p.Nav == "pending":
		return "/dashboard/events?" + url.Values{"list": {"pending"}, "shown": {p.PendingDigest}}.Encode()
	case p.LiveOrder != "":
		return "/dashboard/events?" + url.Values{"order": {p.LiveOrder}, "since": {fmt.Sprint(p.LiveSince)}}.Encode()
	}
	return "/dashboard/events"
}

func reasonID(o PendingOrder) string { return "reason-" + o.OrderID }

func refusedCard(o PendingOrder, d Decision) PendingOrder {
	o.Refuse(d)
	return o
}

func sameCountry(a, b *Address) bool {
	return strings.EqualFold(strings.TrimSpace(a.Country), strings.TrimSpace(b.Country))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// scoreMeaning is what a screen reader announces for a score: the number and what it did.
func scoreMeaning(score, threshold int) string {
	if score >= threshold {
		return fmt.Sprintf("risk score %d of 100, at or above the threshold %d: held for review", score, threshold)
	}
	return fmt.Sprintf("risk score %d of 100, below the threshold %d", score, threshold)
}

// stepStateLabel is a diagram step's state in words: "not reached", not "not-reached".
func stepStateLabel(state string) string { return strings.ReplaceAll(state, "-", " ") }

// hhmm is a time of day for a claim: "14:02 UTC".
func hhmm(t time.Time) string { return t.UTC().Format("15:04 MST") }

// clock is a time of day for the live log: "at 14:02:05 UTC".
func clock(t time.Time) string { return "at " + t.UTC().Format("15:04:05 UTC") }

// Digest names a pending list's rows and total in a few characters: the same rows give
// the same digest.
func (l PendingList) Digest() string {
	h := fnv.New64a()
	fmt.Fprint(h, l.Total)
	for _, o := range l.Orders {
		fmt.Fprint(h, ",", o.OrderID)
		if o.Claim.By != "" {
			fmt.Fprint(h, ":", o.Claim.By, "@", o.Claim.Until.Unix())
		}
	}
	return strconv.FormatUint(h.Sum64(), 36)
}

// bulkVerb is a bulk decision's verb: "approve" / "reject", or capitalised for a button.
func bulkVerb(approved, title bool) string {
	switch {
	case approved && title:
		return "Approve"
	case approved:
		return "approve"
	case title:
		return "Reject"
	default:
		return "reject"
	}
}

// bulkQuestion asks for a bulk decision's confirmation.
func bulkQuestion(b Bulk) string {
	q := fmt.Sprintf("%s %d %s", bulkVerb(b.Approved, true), len(b.OrderIDs), plural(len(b.OrderIDs), "order", "orders"))
	if b.Reason != "" {
		q += " with the reason \u201c" + b.Reason + "\u201d"
	}
	return q + "? Each order is decided on its own:"
}

// bulkSummary says how a confirmed bulk decision went.
func bulkSummary(b Bulk) string {
	done := 0
	for _, d := range b.Results {
		if d.Error == "" {
			done++
		}
	}
	verb := "Rejected"
	if b.Approved {
		verb = "Approved"
	}
	s := fmt.Sprintf("%s %d of %d orders as %s.", verb, done, len(b.Results), b.By)
	if done < len(b.Results) {
		s += " Not decided:"
	}
	return s
}

// shortIDs lists order ids in their short form.
func shortIDs(ids []string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = ShortID(id)
	}
	return strings.Join(out, ", ")
}

// windowTitle is the browser tab's title; it leads with the pending count, so a manager
// sees the queue grow from another tab (ui/static/live.js keeps it live).
func windowTitle(p Page) string {
	t := p.Title + " · Ordermill"
	if p.PendingCount > 0 {
		t = "(" + strconv.Itoa(p.PendingCount) + ") " + t
	}
	return t
}

// riskBand names a risk score's band against the threshold: "risk-high" at or above it,
// "risk-raised" within 30 points below it, "risk-low" under that.
func riskBand(score, threshold int) string {
	switch {
	case score >= threshold:
		return "risk-high"
	case score >= threshold-30:
		return "risk-raised"
	default:
		return "risk-low"
	}
}

// ariaSort is aria-sort's value for a direction.
func ariaSort(asc bool) string {
	if asc {
		return "ascending"
	}
	return "descending"
}

// sortArrow shows a sorted column's direction.
func sortArrow(asc bool) string {
	if asc {
		return "▲"
	}
	return "▼"
}

// keepTyped is o as the live stream sends it in place of the row the page shows.
func keepTyped(o PendingOrder) PendingOrder {
	o.KeepTyped = true
	return o
}

// overrideID names the "Decide anyway" box of claim c: the order and the claim's start,
// so that a tick given against one claim is never carried over to another.
func overrideID(c Claim) string {
	return fmt.Sprintf("override-%s-%d", c.OrderID, c.Since.UnixMicro())
}
