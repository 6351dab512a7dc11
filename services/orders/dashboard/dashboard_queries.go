package dashboard

import (
	"context"
	"time"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/risk"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/ui"
)

// The dashboard's read side: each function reads the read models (package projections)
// or, for one order, its events, and returns the small view models package ui renders.

// pendingPageSize bounds the pending list: a reviewer works from the oldest, and the page
// must render in milliseconds however many orders wait.
const pendingPageSize = 100

// ordersPageSize is the all-orders list's page size.
const ordersPageSize = 50

// pendingList reads the oldest orders waiting for a decision and how many wait in all,
// with the evidence a reviewer decides on: product names, addresses, customer history.
func (s *Service) pendingList(ctx context.Context, limit int) (ui.PendingList, error) {
	now := s.now()
	list, err := projections.OldestHeld(ctx, s.pool, limit)
	if err != nil {
		return ui.PendingList{}, err
	}
	orders := make([]*order.Order, len(list))
	for i, h := range list {
		orders[i] = h.Order
	}
	names := s.catalog.Names(ctx, skusOf(orders...))
	histories, err := s.histories(ctx, orders...)
	if err != nil {
		return ui.PendingList{}, err
	}
	out := ui.PendingList{Total: len(list)}
	for _, h := range list {
		v := s.pendingView(now, h.Order, h.Since, names)
		v.History = histories[h.Order.ID]
		out.Orders = append(out.Orders, v)
	}
	if len(list) == limit {
		if out.Total, err = s.pendingCount(ctx); err != nil {
			return ui.PendingList{}, err
		}
	}
	return out, nil
}

// viewedBy marks the claims manager me holds among the orders shown.
func viewedBy(me string, orders ...*ui.PendingOrder) {
	for _, o := range orders {
		if o != nil && o.Claim.By != "" {
			o.Claim.Mine = o.Claim.By == me
		}
	}
}

// listViewedBy marks the claims manager me holds in the list.
func listViewedBy(me string, l *ui.PendingList) {
	for i := range l.Orders {
		viewedBy(me, &l.Orders[i])
	}
}

// pendingCount counts the orders waiting for a decision (an index-only count).
func (s *Service) pendingCount(ctx context.Context) (int, error) {
	return projections.HeldCount(ctx, s.pool)
}

// pendingView is what a reviewer sees of an order held since held; names are the
// catalog's product names.
func (s *Service) pendingView(now time.Time, o *order.Order, held time.Time, names map[string]string) ui.PendingOrder {
	v := ui.PendingOrder{
		OrderID: o.ID, Customer: customerLabel(o.CustomerEmail, o.CustomerID), NewCustomer: o.NewCustomer,
		Total: o.Total.Text(o.Currency), Items: itemLines(o.Items, names), Threshold: o.RiskThreshold,
		HeldSince: held, Deadline: o.ApprovalDeadline,
		Waiting: ui.HumanDuration(now.Sub(held)), TimeLeft: ui.TimeLeft(now, o.ApprovalDeadline),
		Urgent:   o.ApprovalDeadline.Sub(now) < time.Hour,
		Shipping: addressView(o.ShippingAddress), Billing: addressView(o.BillingAddress),
		Claim: claimView(o.ID, o.ClaimedBy, o.ClaimedAt, o.ClaimedUntil, now, ""),
	}
	if o.RiskScore != nil {
		v.Score = *o.RiskScore
		v.ScoreExplained = scoreExplained(o)
	}
	if s.needsConfirmation(o) {
		v.ConfirmPhrase = ui.ShortID(o.ID)
	}
	for _, f := range o.RiskFactors {
		v.Factors = append(v.Factors, ui.RiskFactor{Description: f.Description, Points: f.Points})
	}
	return v
}

// confirmAbove is the amount in currency above which an approval needs the order's id
// typed: the smaller of CONFIRM_APPROVAL_ABOVE read in the order's own currency, as it
// always was, and its equivalent as risk's bands scale dollar amounts (risk.InCurrency).
// The scale alone let 9,000 KWD (about $29,000) through untyped under 10,000; it alone
// would also have turned a yen shop's own setting (1,500,000, read in yen until now)
// into 225,000,000 yen, past any order, so that nothing asked any more (a review). The
// smaller of the two asks for every order either asked for.
func confirmAbove(setting order.Cents, currency string) order.Cents {
	return min(setting, risk.InCurrency(setting, currency))
}

// needsConfirmation says whether approving o on the dashboard needs its short id typed.
func (s *Service) needsConfirmation(o *order.Order) bool {
	return s.cfg.ConfirmApprovalAbove > 0 && o.Total > confirmAbove(s.cfg.ConfirmApprovalAbove, o.Currency)
}
