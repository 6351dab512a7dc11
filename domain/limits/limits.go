// Package limits holds the one set of bounds on client input that the HTTP edges, the order
// aggregate and the other services' contracts all apply. An input one part accepts is then
// never one another part, or a database column, cannot hold: the largest order the edge
// takes (MaxLines lines of MaxQuantity units) fits every INT column and sum with room to
// spare, and no string a client sends is larger than it needs to be.
package limits

import (
	"math"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ordermill/ordermill/domain/apperr"
)

// Quantities of an order, and so of the reservation and the shipment made from it.
const (
	// MaxQuantity is the most units one line may ask for.
	MaxQuantity = 10_000
	// MaxLines is the most lines one order may have.
	MaxLines = 100
)

// Lengths in characters of the strings clients send.
const (
	// MaxID bounds identifiers: order, customer, session, payment, shipment and event ids.
	MaxID = 128
	// MaxSKU bounds a stock-keeping unit.
	MaxSKU = 64
	// MaxKey bounds an Idempotency-Key.
	MaxKey = 255
	// MaxEmail is the longest email address SMTP can carry (RFC 5321's path limit).
	MaxEmail = 254
	// MaxAddressField bounds each part of a postal address.
	MaxAddressField = 200
	// MaxToken bounds a status word reported by a provider.
	MaxToken = 64
	// MaxText bounds free text such as a decision's or a failure's reason.
	MaxText = 1000
	// MaxNumber bounds an amount written as a JSON number, checked before it is parsed:
	// eighteen digits and a decimal point are more than any amount in cents can hold.
	MaxNumber = 20
)

// Bound is one string input with the most characters it may have, and of which kind.
type Bound struct {
	field, value string
	max          int
	kind         kind
}

// kind says which characters beyond the printable a value may hold (unwanted).
type kind int

const (
	word  kind = iota // keys, SKUs, addresses of email, status words: none
	ident             // identifiers: as word, and never "." or ".." (Check)
	line              // a part of a postal address: no control character
	text              // free text: no control character but tab and line breaks
)

// ID bounds an identifier.
func ID(field, value string) Bound { return Bound{field, value, MaxID, ident} }

// SKU bounds a stock-keeping unit.
func SKU(field, value string) Bound { return Bound{field, value, MaxSKU, word} }

// Key bounds an idempotency key.
func Key(field, value string) Bound { return Bound{field, value, MaxKey, word} }

// Email bounds an email address.
func Email(field, value string) Bound { return Bound{field, value, MaxEmail, word} }

// Token bounds a status word.
func Token(field, value string) Bound { return Bound{field, value, MaxToken, word} }

// Text bounds free text.
func Text(field, value string) Bound { return Bound{field, value, MaxText, text} }

// Check returns a field error for the first value longer than its bound, without repeating
// the value: it is too long to be worth showing; or holding a character its kind refuses
// (kind.refuses): one that overrides the direction of the text after it, a control
// character, or an invisible one in an identifier; or an identifier that is "." or "..".
// Every id may be named in a URL path (an order's, its reservation's, its shipment's,
// a session's), where those two are segments that point elsewhere: sent in a body they
// were taken (the warehouse held stock for order "." and answered 201 with a Location no
// client could follow), and escaped in a path (%2E) they reached the procedures as ids.
func Check(bounds ...Bound) error {
	for _, b := range bounds {
		// A string has at least as many bytes as characters, so most need no counting.
		if len(b.value) > b.max && utf8.RuneCountInString(b.value) > b.max {
			return apperr.FieldErrorf(b.field, "%s must be at most %d characters", b.field, b.max)
		}
		if b.kind == ident && (b.value == "." || b.value == "..") {
			return apperr.FieldErrorf(b.field, `%s must not be "." or "..": an id is named in URL paths, where those are no id`, b.field)
		}
		if i := strings.IndexFunc(b.value, b.kind.refuses); i >= 0 {
			r, _ := utf8.DecodeRuneInString(b.value[i:])
			if isDirectionControl(r) {
				return apperr.FieldErrorf(b.field, "%s must not hold the text-direction control character U+%04X", b.field, r)
			}
			return apperr.FieldErrorf(b.field, "%s must not hold the control or invisible character U+%04X", b.field, r)
		}
	}
	return nil
}

// refuses reports whether a value of kind k may not hold r:
//   - a Unicode embedding, override or isolate (U+202A to U+202E, U+2066 to U+2069), in
//     any value. Shown on a page, one turns the text after it around, past the end of its
//     own field: a name could make the country printed after it read backwards ("DE" as
//     "ED") on a manager's desk. No address, name or note needs one: right-to-left scripts
//     carry their direction in their letters, and the marks U+200E and U+200F, which turn
//     nothing around, stay allowed outside identifiers;
//   - a control character (BEL, ESC, a line break in a name), which reached a manager's CSV
//     export and terminal as it was sent; free text keeps tab and line breaks;
//   - in an identifier, an email or a status word, an invisible (format) character: a
//     zero-width space made "c-1\u200b" read as customer c-1 while it counted as a new
//     customer (found by a probe).
func (k kind) refuses(r rune) bool {
	switch {
	case r >= ' ' && r < 0x7F:
		return false
	case isDirectionControl(r):
		return true
	case k == text && (r == '\t' || r == '\n' || r == '\r'):
		return false
	case unicode.IsControl(r):
		return true
	}
	return (k == word || k == ident) && unicode.Is(unicode.Cf, r)
}

func isDirectionControl(r rune) bool {
	return r >= '\u202A' && r <= '\u202E' || r >= '\u2066' && r <= '\u2069'
}

// Clean returns b's value without the characters Check refuses in it (kind.refuses). They
// carry no content of their own: what a person reads stays the same. It is for values
// accepted before Check refused them, which must still pass a contract that now does.
// It does not cut a value longer than its bound, which is content: cut, an email or an
// address names another. Its caller leaves such a value out where the contract lets it
// (a session's email), or lets the contract refuse it for a person to settle (a
// shipment's address: a shipment_refused ticket).
func (b Bound) Clean() string {
	if !strings.ContainsFunc(b.value, b.kind.refuses) {
		return b.value
	}
	return strings.Map(func(r rune) rune {
		if b.kind.refuses(r) {
			return -1
		}
		return r
	}, b.value)
}

// AddressPart bounds one part of a postal address.
func AddressPart(field, value string) Bound { return Bound{field, value, MaxAddressField, line} }

// Address bounds every part of the postal address at field (e.g. "shippingAddress"); the
// order and the shipment carry the same six parts in their own types.
func Address(field, name, line1, line2, city, postalCode, country string) error {
	part := func(name, value string) Bound { return AddressPart(field+"."+name, value) }
	return Check(part("name", name), part("line1", line1), part("line2", line2),
		part("city", city), part("postalCode", postalCode), part("country", country))
}

// Lines refuses a list at field (e.g. "items") of more than MaxLines lines. An empty list
// is refused by each caller in its own words, as it always was.
func Lines(field string, n int) error {
	if n > MaxLines {
		return apperr.FieldErrorf(field, "%s must hold at most %d lines, got %d", field, MaxLines, n)
	}
	return nil
}

// OrderID refuses a blank order id, without which a command names no stream to be
// answered on, and one longer than any order id.
func OrderID(id string) error {
	if strings.TrimSpace(id) == "" {
		return apperr.FieldErrorf("orderId", "orderId is required")
	}
	return Check(ID("orderId", id))
}

// Line refuses one line at field (e.g. "items[2]") whose SKU is blank or too long or whose
// quantity is not from 1 to MaxQuantity.
func Line[Q int | int64](field, sku string, quantity Q) error {
	if strings.TrimSpace(sku) == "" {
		return apperr.FieldErrorf(field+".sku", "%s.sku is required", field)
	}
	if err := Check(SKU(field+".sku", sku)); err != nil {
		return err
	}
	if quantity < 1 || quantity > MaxQuantity {
		return apperr.FieldErrorf(field+".quantity", "%s.quantity must be from 1 to %d, got %d", field, MaxQuantity, quantity)
	}
	return nil
}

// AddPrice is sum, the total of a list's priced lines so far, with quantity units more at
// unitPrice (not negative), and whether it is within what int64 holds: wrapped around, a
// sum could equal a total the lines do not add up to.
func AddPrice(sum, quantity, unitPrice int64) (int64, bool) {
	if unitPrice > 0 && quantity > (math.MaxInt64-sum)/unitPrice {
		return sum, false
	}
	return sum + quantity*unitPrice, true
}

// EmailAddress refuses at field an email address longer than MaxEmail, holding a character
// Check refuses, or not one ValidEmail accepts; none ("") passes.
func EmailAddress(field, value string) error {
	if err := Check(Email(field, value)); err != nil {
		return err
	}
	if value != "" && !ValidEmail(value) {
		return apperr.FieldErrorf(field, "%s %q is not an email address", field, apperr.Excerpt(value))
	}
	return nil
}

// ValidEmail accepts a bare address (no display name, no line breaks) as RFC 5322 parses
// it: the address becomes an email's To header, so anything else is refused at the door.
// Its domain must be a name under a top-level domain, whose last label starts with a
// letter: an IP address ("a@[127.0.0.1]", "a@127.0.0.1", "a@0x7f.1") or a name of the
// local network ("a@localhost") would have the mail relay deliver to whatever host it
// names, inside the network as well (a probe, and the review of its fix). The sender's
// (MAIL_FROM) and a dashboard manager's address are held to the same rule.
func ValidEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return false
	}
	domain := s[strings.LastIndexByte(s, '@')+1:]
	dot := strings.LastIndexByte(domain, '.')
	if dot < 1 || dot == len(domain)-1 {
		return false
	}
	first, _ := utf8.DecodeRuneInString(domain[dot+1:])
	return unicode.IsLetter(first)
}
