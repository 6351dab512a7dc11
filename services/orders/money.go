package orders

import (
	"encoding/json"
	"math/big"
	"strings"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/domain/order"
)

// parseAmount reads a JSON number of currency units (100, 19.99) into cents exactly,
// refusing quoted numbers, and fractions of a cent instead of rounding money. The number's
// length is bounded and exponents refused before it is parsed: big.Rat's cost grows with
// both, and no amount needs either.
func parseAmount(field string, raw json.RawMessage) (order.Cents, error) {
	var n json.Number
	if len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &n) != nil {
		return 0, apperr.FieldErrorf(field, "%s must be a JSON number, got %s", field, apperr.Excerpt(string(raw)))
	}
	if len(n) > limits.MaxNumber {
		return 0, apperr.FieldErrorf(field, "%s must be a number of at most %d characters", field, limits.MaxNumber)
	}
	if strings.ContainsAny(string(n), "eE") {
		return 0, apperr.FieldErrorf(field, "%s must be written without an exponent, like 19.99", field)
	}
	r, ok := new(big.Rat).SetString(string(n))
	if !ok {
		return 0, apperr.FieldErrorf(field, "%s must be a number, got %q", field, n)
	}
	r.Mul(r, big.NewRat(100, 1))
	if !r.IsInt() {
		return 0, apperr.FieldErrorf(field, "%s has more than two decimal places", field)
	}
	if !r.Num().IsInt64() {
		return 0, apperr.FieldErrorf(field, "%s is too large", field)
	}
	return order.Cents(r.Num().Int64()), nil
}

// amount renders cents as a JSON number of units of currency, with its ISO 4217 decimals
// (2400 JPY, 19.99 USD, 30.500 KWD).
func amount(c order.Cents, currency string) json.Number {
	return json.Number(c.UnitsIn(currency))
}

// isNull reports whether a JSON field was absent or null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}
