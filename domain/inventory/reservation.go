// Package inventory is the warehouse's domain: the contract other services speak to it in and
// the pure rules that decide whether an order's lines can be held.
//
// Invariants of a reservation:
//   - an order has at most one reservation; asking again yields the first outcome, so a
//     redelivered or retried command can never hold stock twice (another command, on the
//     log, that meets an outcome holding nothing is told it failed: the saga waits for it);
//   - a reservation holds every line or nothing, so an order never ships half-reserved;
//   - stock never goes negative: a reservation moves quantity from available to reserved,
//     and a release moves exactly that quantity back, once;
//   - only a held (reserved) reservation can be released; a failed one held nothing.
package inventory

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/limits"
)

// Status is where a reservation stands; the warehouse stores it, so the values never change.
type Status string

// The statuses a reservation moves through: failed is final, reserved may become released.
const (
	// StatusReserved means the stock is held for the order.
	StatusReserved Status = "reserved"
	// StatusReleased means the held stock was given back.
	StatusReleased Status = "released"
	// StatusFailed means nothing was held because a line could not be met.
	StatusFailed Status = "failed"
)

// Validate refuses a request the warehouse could never honour, naming the offending field
// so an API client can point at it. Its bounds are the order's (package limits), so a
// reservation the workflow asks for on behalf of an accepted order always passes.
func Validate(orderID string, lines []Line) error {
	if err := limits.OrderID(orderID); err != nil {
		return err
	}
	return ValidateLines(lines)
}

// ValidateLines refuses empty, oversized or malformed lines; availability checks share it
// with reservations. The bounds keep every quantity sum within a Postgres INT.
func ValidateLines(lines []Line) error {
	if len(lines) == 0 {
		return apperr.FieldErrorf("lines", "at least one line is required")
	}
	if err := limits.Lines("lines", len(lines)); err != nil {
		return err
	}
	for i, l := range lines {
		if err := limits.Line(fmt.Sprintf("lines[%d]", i), l.SKU, l.Quantity); err != nil {
			return err
		}
	}
	return nil
}

// Validate refuses a release without an order or with an oversized reason.
func (r Release) Validate() error {
	if err := limits.OrderID(r.OrderID); err != nil {
		return err
	}
	return limits.Check(limits.Text("reason", r.Reason))
}

// Merge sums the quantities of lines naming the same SKU and sorts them by SKU: a repeated
// SKU must be checked against its total, and locking stock rows in one global order is what
// keeps concurrent reservations from deadlocking.
func Merge(lines []Line) []Line {
	totals := make(map[string]int, len(lines))
	for _, l := range lines {
		totals[l.SKU] += l.Quantity
	}
	merged := make([]Line, 0, len(totals))
	for sku, q := range totals {
		merged = append(merged, Line{SKU: sku, Quantity: q})
	}
	sort.Slice(merged, func(i, j int) bool { return merged[i].SKU < merged[j].SKU })
	return merged
}

// Difference is a SKU whose total quantity two sets of lines disagree on: A in the one, B
// in the other (0: absent).
type Difference struct {
	SKU  string
	A, B int
}

// Differences lists, in SKU order, the SKUs whose total quantity differs between a and b:
// none when they hold the same units, however their lines are split.
func Differences(a, b []Line) []Difference {
	quantities := map[string]Difference{}
	for _, l := range a {
		d := quantities[l.SKU]
		d.SKU, d.A = l.SKU, d.A+l.Quantity
		quantities[l.SKU] = d
	}
	for _, l := range b {
		d := quantities[l.SKU]
		d.SKU, d.B = l.SKU, d.B+l.Quantity
		quantities[l.SKU] = d
	}
	var diff []Difference
	for _, sku := range slices.Sorted(maps.Keys(quantities)) {
		if d := quantities[sku]; d.A != d.B {
			diff = append(diff, d)
		}
	}
	return diff
}

// Availability tells, for one SKU, whether the stock on hand covers what was asked for.
type Availability struct {
	SKU       string `json:"sku"`
	Requested int    `json:"requested"`
	Available int    `json:"available"`
	OK        bool   `json:"ok"`
}

// Check compares lines (merged per SKU, in SKU order) with the available stock; a SKU
// missing from stock is simply not available, since a catalogue lookup is not an error.
func Check(stock map[string]int, lines []Line) []Availability {
	merged := Merge(lines)
	out := make([]Availability, 0, len(merged))
	for _, l := range merged {
		avail := stock[l.SKU]
		out = append(out, Availability{SKU: l.SKU, Requested: l.Quantity, Available: avail, OK: avail >= l.Quantity})
	}
	return out
}

// AllAvailable reports whether every entry is covered, i.e. whether a reservation would succeed now.
func AllAvailable(as []Availability) bool {
	for _, a := range as {
		if !a.OK {
			return false
		}
	}
	return true
}

// Shortage describes the line that makes a reservation fail.
type Shortage struct {
	SKU       string
	Requested int
	Available int
	// Unknown is set when the SKU is not in the catalogue at all, which calls for a
	// different fix (a wrong order) than a SKU that merely ran out.
	Unknown bool
}

// Reason is the human-readable cause stored with the failed reservation.
func (s Shortage) Reason() string {
	if s.Unknown {
		return fmt.Sprintf("unknown SKU %s", s.SKU)
	}
	return fmt.Sprintf("insufficient stock for %s: requested %d, available %d", s.SKU, s.Requested, s.Available)
}

// FirstShortage decides a reservation: it returns the first line, in SKU order, that the
// stock cannot cover, or false when every line can be held. Reporting the first in SKU
// order keeps the answer the same however the order listed its lines.
func FirstShortage(stock map[string]int, lines []Line) (Shortage, bool) {
	for _, l := range Merge(lines) {
		avail, known := stock[l.SKU]
		if !known {
			return Shortage{SKU: l.SKU, Requested: l.Quantity, Unknown: true}, true
		}
		if avail < l.Quantity {
			return Shortage{SKU: l.SKU, Requested: l.Quantity, Available: avail}, true
		}
	}
	return Shortage{}, false
}
