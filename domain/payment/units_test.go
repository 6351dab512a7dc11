package payment_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/payment"
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
		{"IQD", 1525, 1525},     // three decimals for ISO, cents at Stripe
		{"ISK", 10000, 10000},   // Stripe keeps ISK in cents, of whole krónur
	} {
		got, err := payment.ToProviderUnit(c.ours, c.currency)
		require.NoError(t, err, c.currency)
		assert.Equal(t, c.stripes, got, "to Stripe, %s", c.currency)
		back, err := payment.FromProviderUnit(c.stripes, c.currency)
		require.NoError(t, err, c.currency)
		assert.Equal(t, c.ours, back, "from Stripe, %s", c.currency)
	}
	_, err := payment.ToProviderUnit(240050, "JPY")
	assert.ErrorContains(t, err, "2400.50 JPY: JPY is charged in whole units only")
}

// Stripe takes ISK amounts divisible by 100 only (since 2023): 40.10 ISK was sent as 4010,
// for Stripe to refuse the session's command every time.
func TestAFractionOfAKronaIsNotSentToStripe(t *testing.T) {
	_, err := payment.ToProviderUnit(4010, "ISK")
	assert.ErrorContains(t, err, "40.10 ISK: ISK is charged in whole units only")
}

// A three-decimal amount Stripe reports with a last digit other than 0 has no hundredths:
// rounded down, 15.259 KWD paid a 15.25 KWD order, against what the comment said.
func TestAFractionOfAHundredthFromStripeIsRefused(t *testing.T) {
	got, err := payment.FromProviderUnit(15259, "KWD")
	assert.ErrorContains(t, err, "15.259 KWD is a fraction of a hundredth")
	assert.Zero(t, got)
}
