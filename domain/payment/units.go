package payment

import "fmt"

// Ordermill counts every amount in hundredths of its currency's major unit (order.Cents,
// and the amounts of this package's messages), whatever the currency: 2,400 JPY is 240000,
// 15.25 KWD is 1525. The payment provider counts in its own smallest unit of each currency,
// as Stripe defines it (https://docs.stripe.com/currencies, the zero-decimal and
// three-decimal lists and the special cases): cents for most currencies, whole units for
// the zero-decimal ones (a yen), thousandths for the three-decimal ones (a fils of KWD).
// What one payment can take is a number of that unit, so these are the facts the order's
// cap and the provider's edge both go by. They are the provider's, not ISO 4217's: ISO
// gives IQD and LYD three decimals and ISK none, Stripe counts the first two in cents
// and ISK in cents of whole krónur.
var (
	zeroDecimal  = set("BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF")
	threeDecimal = set("BHD", "JOD", "KWD", "OMR", "TND")
	// wholeOnly are counted in cents at the provider but charged in whole units only:
	// Stripe takes ISK amounts divisible by 100 since 2023, and refuses 40.10 ISK.
	wholeOnly = set("ISK")
)

// MaxProviderAmount is the most one payment can take, in the provider's unit of its
// currency: Stripe's amounts have at most eight digits (99,999,999 JPY, 999,999.99 USD,
// 99,999.999 KWD).
const MaxProviderAmount = 99_999_999

func set(codes ...string) map[string]bool {
	m := make(map[string]bool, len(codes))
	for _, c := range codes {
		m[c] = true
	}
	return m
}

// ToProviderUnit is amount, in hundredths of currency (an uppercase ISO code), in the
// provider's unit of it. An amount with a fraction the provider cannot charge (a part of a
// yen, or of a króna) is an error.
func ToProviderUnit(amount int64, currency string) (int64, error) {
	if (zeroDecimal[currency] || wholeOnly[currency]) && amount%100 != 0 {
		return 0, fmt.Errorf("%d.%02d %s: %s is charged in whole units only, so an amount must be whole", amount/100, amount%100, currency, currency)
	}
	switch {
	case zeroDecimal[currency]:
		return amount / 100, nil
	case threeDecimal[currency]:
		return amount * 10, nil
	}
	return amount, nil
}

// FromProviderUnit is amount, in the provider's unit of currency, in hundredths of it. A
// three-decimal amount whose last digit is not 0 (15.259 KWD, which Stripe does not
// charge) has no hundredths: it is an error, and 0, never rounded to an amount an order
// could total.
func FromProviderUnit(amount int64, currency string) (int64, error) {
	switch {
	case zeroDecimal[currency]:
		return amount * 100, nil
	case threeDecimal[currency] && amount%10 != 0:
		return 0, fmt.Errorf("%d.%03d %s is a fraction of a hundredth, which Ordermill does not count", amount/1000, amount%1000, currency)
	case threeDecimal[currency]:
		return amount / 10, nil
	}
	return amount, nil
}

// MaxAmount is the most one payment can take in currency, in hundredths of it:
// MaxProviderAmount of the provider's unit, down to an amount it can charge (99,999,999.00
// JPY, 999,999.99 USD, 99,999.99 KWD, 999,999.00 ISK).
func MaxAmount(currency string) int64 {
	switch {
	case zeroDecimal[currency]:
		return MaxProviderAmount * 100
	case threeDecimal[currency]:
		return MaxProviderAmount / 10
	case wholeOnly[currency]:
		return MaxProviderAmount / 100 * 100
	}
	return MaxProviderAmount
}
