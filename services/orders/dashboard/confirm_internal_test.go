package dashboard

import (
	"testing"

	"github.com/ordermill/ordermill/domain/order"
)

// The amount above which an approval needs the order's id typed is scaled to the order's
// currency as risk's bands are: 9,000 KWD (about $29,000) was approved without it under a
// 10,000 stated in the order's own currency, and every yen order over $70 asked for it.
func TestConfirmationAmountFollowsTheCurrency(t *testing.T) {
	s := &Service{cfg: Config{ConfirmApprovalAbove: 10_000_00}}
	for _, c := range []struct {
		total    order.Cents
		currency string
		want     bool
	}{
		{10_000_00, "USD", false},
		{10_000_01, "USD", true},
		{9_000_00, "KWD", true},
		{2_000_00, "KWD", false},
		{100_000_00, "JPY", false},
		{2_000_000_00, "JPY", true},
	} {
		if got := s.needsConfirmation(&order.Order{Total: c.total, Currency: c.currency}); got != c.want {
			t.Errorf("%s %s: confirmation needed %v, want %v", c.total.Units(), c.currency, got, c.want)
		}
	}
	if (&Service{}).needsConfirmation(&order.Order{Total: 1 << 60, Currency: "USD"}) {
		t.Error("0 is never")
	}
}
