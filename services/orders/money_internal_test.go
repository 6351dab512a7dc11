package orders

import (
	"encoding/json"
	"testing"

	"github.com/ordermill/ordermill/domain/order"
)

// An amount is a JSON number of the currency's units with its ISO 4217 decimals, the
// value unchanged: 2,400 JPY was written 2400.00, 30.50 KWD 30.50. Each reads back as the
// amount it was (parseAmount).
func TestAmountsAreWrittenWithTheirCurrencysDecimals(t *testing.T) {
	for _, c := range []struct {
		cents    order.Cents
		currency string
		want     string
	}{
		{240000, "JPY", "2400"},
		{1999, "USD", "19.99"},
		{3050, "KWD", "30.500"},
		{-1999, "EUR", "-19.99"},
	} {
		got := amount(c.cents, c.currency)
		if string(got) != c.want {
			t.Errorf("%d %s written %s, want %s", c.cents, c.currency, got, c.want)
		}
		back, err := parseAmount("total", json.RawMessage(got))
		if err != nil || back != c.cents {
			t.Errorf("%s %s read back as %d (%v), want %d", got, c.currency, back, err, c.cents)
		}
	}
}
