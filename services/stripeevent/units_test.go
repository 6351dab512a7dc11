package stripeevent_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/services/stripeevent"
)

func TestAmountsCrossInStripesUnitOfEachCurrency(t *testing.T) {
	for _, c := range []struct {
		currency      string
		ours, stripes int64
	}{
		{"USD", 4200, 4200},     // 42.00 USD: cents both sides
		{"JPY", 240000, 2400},   // 2,400 JPY: whole yen at Stripe
		{"KRW", 1500000, 15000}, // zero-decimal too
		{"KWD", 1500, 15000},    // 15.000 KWD: thousandths at Stripe
		{"ISK", 10000, 10000},   // Stripe keeps ISK two-decimal
	} {
		got, err := stripeevent.ToStripe(c.ours, c.currency)
		require.NoError(t, err, c.currency)
		assert.Equal(t, c.stripes, got, "to Stripe, %s", c.currency)
		assert.Equal(t, c.ours, stripeevent.FromStripe(c.stripes, c.currency), "from Stripe, %s", c.currency)
	}
	_, err := stripeevent.ToStripe(240050, "JPY")
	assert.ErrorContains(t, err, "2400.50 JPY: JPY has no minor unit at Stripe")
}
