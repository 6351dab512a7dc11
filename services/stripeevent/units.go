package stripeevent

import "github.com/ordermill/ordermill/domain/payment"

// Stripe counts an amount in its unit of the currency, Ordermill in hundredths of every
// currency (order.Cents, 240000 for 2,400 JPY): ToStripe and FromStripe convert at the
// edge, by the provider's facts of each currency (package payment), which the order's cap
// goes by too. Sent unconverted, a 2,400 JPY order was charged 240,000 JPY, and a 15 KWD
// one 1.5 KWD.

// ToStripe is amount, in hundredths of currency (an uppercase ISO code), in Stripe's unit
// of it. An amount with a fraction Stripe cannot charge (a part of a yen, or of a króna) is
// an error.
func ToStripe(amount int64, currency string) (int64, error) {
	return payment.ToProviderUnit(amount, currency)
}

// FromStripe is amount, in Stripe's unit of currency, in hundredths of it. A three-decimal
// amount whose last digit is not 0 (which Stripe does not charge) is an error, not rounded:
// rounded down, 15.259 KWD paid a 15.25 KWD order.
func FromStripe(amount int64, currency string) (int64, error) {
	return payment.FromProviderUnit(amount, currency)
}
