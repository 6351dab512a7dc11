// Package risk scores orders for fraud risk with simple, explainable rules,
// so a reviewer can always see exactly why an order was held.
package risk

import (
	"strconv"
	"strings"

	"github.com/ordermill/ordermill/domain/order"
)

// DefaultThreshold is the score at or above which an order is held for manual approval.
const DefaultThreshold = 70

// MaxScore is the highest risk score; scores run from 0 to it.
const MaxScore = 100

// Scoring constants are named so the rules read like the policy they implement.
const (
	baseScore = 10

	band1000  order.Cents = 1_000_00
	band5000  order.Cents = 5_000_00
	band20000 order.Cents = 20_000_00

	bulkQuantity      = 10
	velocityThreshold = 3
	velocityPoints    = 20
	velocityStep      = 5
	velocityCap       = 35
)

// Input is everything the scorer looks at; the caller gathers it so scoring stays pure and deterministic.
type Input struct {
	Total           order.Cents
	NewCustomer     bool
	Items           []order.Item
	ShippingAddress *order.Address
	BillingAddress  *order.Address
	// RecentOrdersByCustomer counts the same customer's orders in the last hour, excluding this one.
	RecentOrdersByCustomer int
}

// Assessment is a score with the factors that produced it, so the decision can be explained.
type Assessment struct {
	Score   int
	Factors []order.RiskFactor
}

// Assess scores an order starting from a base of 10, clamped to 0..100; factors appear in evaluation order.
func Assess(in Input) Assessment {
	var factors []order.RiskFactor
	add := func(code, desc string, points int) {
		factors = append(factors, order.RiskFactor{Code: code, Description: desc, Points: points})
	}

	// Amount bands replace each other so a large order is not counted three times.
	switch {
	case in.Total > band20000:
		add("amount_over_20000", "order total exceeds $20,000", 50)
	case in.Total > band5000:
		add("amount_over_5000", "order total exceeds $5,000", 35)
	case in.Total > band1000:
		add("amount_over_1000", "order total exceeds $1,000", 15)
	}

	if in.NewCustomer {
		add("new_customer", "first order from this customer", 25)
	}

	if sku, qty, ok := bulkLine(in.Items); ok {
		add("bulk_quantity", "quantity "+strconv.Itoa(qty)+" of SKU "+sku+" is unusually large", 15)
	}

	if addressMismatch(in.ShippingAddress, in.BillingAddress) {
		add("address_mismatch", "shipping and billing addresses are in different countries or postal codes", 20)
	}

	if n := in.RecentOrdersByCustomer; n >= velocityThreshold {
		points := min(velocityPoints+velocityStep*(n-velocityThreshold), velocityCap)
		add("order_velocity", strconv.Itoa(n)+" other orders from this customer in the last hour", points)
	}

	score := baseScore
	for _, f := range factors {
		score += f.Points
	}
	return Assessment{Score: max(0, min(score, MaxScore)), Factors: factors}
}

// bulkLine sums quantities per SKU, since splitting one SKU over several lines should not dodge the rule.
func bulkLine(items []order.Item) (string, int, bool) {
	totals := make(map[string]int, len(items))
	for _, it := range items {
		totals[it.SKU] += it.Quantity
	}
	// Walk items (not the map) so the reported SKU is deterministic.
	for _, it := range items {
		if q := totals[it.SKU]; q >= bulkQuantity {
			return it.SKU, q, true
		}
	}
	return "", 0, false
}

// addressMismatch ignores case and surrounding spaces, which differ between forms without meaning anything.
func addressMismatch(ship, bill *order.Address) bool {
	if ship == nil || bill == nil {
		return false
	}
	differs := func(a, b string) bool {
		return !strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
	}
	return differs(ship.Country, bill.Country) || differs(ship.PostalCode, bill.PostalCode)
}
