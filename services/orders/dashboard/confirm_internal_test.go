package dashboard

import (
	"testing"

	"github.com/ordermill/ordermill/domain/order"
)

// The amount above which an approval needs the order's id typed is the smaller of the
// setting in the order's own currency and its equivalent as risk's bands scale it: 9,000
// KWD (about $29,000) was approved without it under 10,000, and a yen shop's own setting
// must not be multiplied by 150 past every order (a review).
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
		{10_000_00, "JPY", false},
		{10_001_00, "JPY", true}, // as before: the setting read in yen is the smaller
	} {
		if got := s.needsConfirmation(&order.Order{Total: c.total, Currency: c.currency}); got != c.want {
			t.Errorf("%s %s: confirmation needed %v, want %v", c.total.Units(), c.currency, got, c.want)
		}
	}
	if (&Service{}).needsConfirmation(&order.Order{Total: 1 << 60, Currency: "USD"}) {
		t.Error("0 is never")
	}
	yenShop := &Service{cfg: Config{ConfirmApprovalAbove: 1_500_000_00}}
	if !yenShop.needsConfirmation(&order.Order{Total: 2_000_000_00, Currency: "JPY"}) {
		t.Error("a yen shop's 1,500,000 no longer asked for 2,000,000 JPY")
	}
}
