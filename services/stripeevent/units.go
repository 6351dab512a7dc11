package stripeevent

import "fmt"

// Stripe counts an amount in its currency's smallest unit as Stripe defines it: cents for
// most currencies, whole units for the zero-decimal ones (a yen), thousandths for the
// three-decimal ones (a fils of KWD). Ordermill counts every amount in hundredths of its
// currency (order.Cents, "2,400.00 JPY"). ToStripe and FromStripe convert at the edge; sent
// unconverted, a 2,400 JPY order was charged 240,000 JPY, and a 15 KWD one 1.5 KWD.
// Stripe's list: https://docs.stripe.com/currencies#zero-decimal and #three-decimal.
var (
	zeroDecimal  = set("BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF")
	threeDecimal = set("BHD", "JOD", "KWD", "OMR", "TND")
)

func set(codes ...string) map[string]bool {
	m := make(map[string]bool, len(codes))
	for _, c := range codes {
		m[c] = true
	}
	return m
}

// ToStripe is amount, in hundredths of currency (an uppercase ISO code), in Stripe's unit
// of it. An amount with a fraction Stripe cannot charge (a part of a yen) is an error.
func ToStripe(amount int64, currency string) (int64, error) {
	switch {
	case zeroDecimal[currency]:
		if amount%100 != 0 {
			return 0, fmt.Errorf("%d.%02d %s: %s has no minor unit at Stripe, so an amount must be whole", amount/100, amount%100, currency, currency)
		}
		return amount / 100, nil
	case threeDecimal[currency]:
		return amount * 10, nil
	}
	return amount, nil
}

// FromStripe is amount, in Stripe's unit of currency, in hundredths of it. A three-decimal
// amount with a last digit other than 0 (which Stripe does not charge) is rounded down: the
// order's own amount then no longer matches it, and the payment is refused as not the
// order's.
func FromStripe(amount int64, currency string) int64 {
	switch {
	case zeroDecimal[currency]:
		return amount * 100
	case threeDecimal[currency]:
		return amount / 10
	}
	return amount
}
