package limits_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/limits"
)

// The largest order the edge accepts must fit a Postgres INT (the type of every quantity
// and item-count column), summed over all its lines.
func TestTheLargestOrderFitsAnInt4(t *testing.T) {
	assert.LessOrEqual(t, limits.MaxLines*limits.MaxQuantity, 1<<31-1)
}

func TestCheckCountsCharactersAndNamesTheFirstLongField(t *testing.T) {
	assert.NoError(t, limits.Check(limits.SKU("sku", strings.Repeat("é", limits.MaxSKU)), limits.ID("id", "")))

	err := limits.Check(limits.ID("orderId", "o-1"), limits.SKU("sku", strings.Repeat("x", limits.MaxSKU+1)),
		limits.Text("reason", strings.Repeat("x", limits.MaxText+1)))
	require.Error(t, err)
	assert.Equal(t, apperr.CodeInvalid, apperr.ErrorCode(err))
	assert.Equal(t, "sku", apperr.ErrorField(err))
	assert.Equal(t, "sku must be at most 64 characters", apperr.ErrorMessage(err))
}

func TestAddressNamesThePart(t *testing.T) {
	assert.NoError(t, limits.Address("shippingAddress", "Ann", "1 Road", "", "Paris", "75001", strings.Repeat("F", limits.MaxAddressField)))
	err := limits.Address("billingAddress", "Ann", "1 Road", "", "Paris", strings.Repeat("7", limits.MaxAddressField+1), "FR")
	assert.Equal(t, "billingAddress.postalCode", apperr.ErrorField(err))
}

func TestLinesAndLine(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		field string
	}{
		{"one line", limits.Lines("items", 1), ""},
		{"most lines", limits.Lines("items", limits.MaxLines), ""},
		{"no line is for the caller to refuse", limits.Lines("items", 0), ""},
		{"too many lines", limits.Lines("lines", limits.MaxLines+1), "lines"},
		{"good line", limits.Line("items[0]", "SKU-1", limits.MaxQuantity), ""},
		{"blank sku", limits.Line("items[1]", " ", 1), "items[1].sku"},
		{"long sku", limits.Line("lines[0]", strings.Repeat("S", limits.MaxSKU+1), 1), "lines[0].sku"},
		{"zero units", limits.Line("items[2]", "SKU-1", 0), "items[2].quantity"},
		{"too many units", limits.Line("items[2]", "SKU-1", limits.MaxQuantity+1), "items[2].quantity"},
		{"2^31 units", limits.Line("items[0]", "SKU-1", 1<<31), "items[0].quantity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.field == "" {
				assert.NoError(t, tt.err)
				return
			}
			assert.Equal(t, apperr.CodeInvalid, apperr.ErrorCode(tt.err))
			assert.Equal(t, tt.field, apperr.ErrorField(tt.err))
			assert.Contains(t, apperr.ErrorMessage(tt.err), tt.field)
		})
	}
}

// A character that turns the text after it around is refused in any bounded input, named
// by its code point; right-to-left letters and the plain direction marks are not.
func TestCheckRefusesTextDirectionControls(t *testing.T) {
	for _, r := range []rune{'\u202A', '\u202B', '\u202C', '\u202D', '\u202E', '\u2066', '\u2067', '\u2068', '\u2069'} {
		err := limits.Check(limits.ID("customerId", "c-1"), limits.Text("shippingAddress.name", "Anna "+string(r)+"Smith"))
		require.Error(t, err, "U+%04X", r)
		assert.Equal(t, "shippingAddress.name", apperr.ErrorField(err))
		assert.Equal(t, fmt.Sprintf("shippingAddress.name must not hold the text-direction control character U+%04X", r), apperr.ErrorMessage(err))
	}
	assert.NoError(t, limits.Check(limits.Text("name", "שרה כהן"), limits.Text("note", "سارة\u200f, 1 Main St\u200e €20 – ok"), limits.Email("email", "anna@example.com")))
	assert.NoError(t, limits.Address("shippingAddress", "Zoë “Ann”", "1 Road", "", "Paris", "75001", "FR"))
	err := limits.Address("shippingAddress", "\u202eAnna", "1 Road", "", "Berlin", "10115", "DE")
	assert.Equal(t, "shippingAddress.name", apperr.ErrorField(err))

	// Text from before the rule loses the controls and nothing else.
	assert.Equal(t, "שרה\u200f Anna", limits.Text("name", "\u202bשרה\u200f\u202c \u2066Anna\u2069").Clean())
	assert.Equal(t, "anna@example.com", limits.Email("email", "anna@example.com").Clean())
	// And of the characters refused since: control ones, and invisible ones in identifiers.
	assert.Equal(t, "Anna Smith", limits.AddressPart("name", "Anna\n Smith\a").Clean())
	assert.Equal(t, "ana@example.com", limits.Email("email", "ana@exam\u200bple.com\u202e").Clean())
	assert.Equal(t, "two\nlines", limits.Text("note", "two\nlines\x1b").Clean())
}

// Control characters reach a manager's CSV export and terminal as they were sent, and an
// invisible one makes an identifier or an email read as another's ("c-1\u200b" showed as
// customer c-1 while it counted as a new customer; found by a probe). Identifiers hold
// neither; an address part no control character; free text tab and line breaks only.
func TestCheckRefusesControlAndInvisibleCharacters(t *testing.T) {
	for field, b := range map[string]limits.Bound{
		"customerId":    limits.ID("customerId", "c-1\a\x1b[31m"),
		"customerEmail": limits.Email("customerEmail", "ana@exam\u200bple.com"),
		"sku":           limits.SKU("sku", "SKU-1\u2060"),
		"key":           limits.Key("key", "\ufeffk-1"),
		"status":        limits.Token("status", "paid\x00"),
		"reason":        limits.Text("reason", "late\x1b[2J"),
		"c1":            limits.Text("c1", "late\u0085"),
	} {
		err := limits.Check(b)
		require.Error(t, err, field)
		assert.Contains(t, apperr.ErrorMessage(err), "must not hold the control or invisible character U+", field)
	}
	err := limits.Address("shippingAddress", "Anna\nSmith", "1 Road", "", "Paris", "75001", "FR")
	assert.Equal(t, "shippingAddress.name", apperr.ErrorField(err))
	assert.Equal(t, "shippingAddress.name must not hold the control or invisible character U+000A", apperr.ErrorMessage(err))

	assert.NoError(t, limits.Check(limits.Text("note", "two lines,\r\n\tindented"), limits.Text("mark", "سارة\u200f"),
		limits.ID("customerId", "cust-Zoë-1"), limits.Email("email", "zoë@exämple.com")))
	assert.NoError(t, limits.Address("shippingAddress", "سارة\u200f", "1 Road", "", "Paris", "75001", "FR"))
}

// "." and ".." are no identifiers: every id may be named in a URL path (an order's,
// a reservation's, a session's), where they are segments that point elsewhere. Sent
// escaped (%2E) they reached the handlers as ids, and in a body they were stored: a hand
// reservation of order "." answered 201 with a Location no client could follow.
func TestIDsAreNeverDotSegments(t *testing.T) {
	for _, id := range []string{".", ".."} {
		for _, err := range []error{limits.Check(limits.ID("paymentId", id)), limits.OrderID(id)} {
			require.Error(t, err, "%q", id)
			assert.Equal(t, apperr.CodeInvalid, apperr.ErrorCode(err))
			assert.Contains(t, apperr.ErrorMessage(err), `must not be "." or ".."`)
		}
	}
	assert.NoError(t, limits.Check(limits.ID("id", "..."), limits.ID("id", "a.b"), limits.ID("id", ".a")), "dots within an id are its own")
	assert.NoError(t, limits.Check(limits.SKU("sku", "."), limits.Text("reason", "..")), "only ids are named in paths")
}

// Clean drops the characters Check refuses, never content: a value past its bound keeps its
// length, and its caller decides (a session leaves such an email out).
func TestCleanDoesNotCut(t *testing.T) {
	long := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 250) + ".com\u200b"
	assert.Equal(t, strings.TrimSuffix(long, "\u200b"), limits.Email("email", long).Clean())
	assert.Equal(t, "email", apperr.ErrorField(limits.EmailAddress("email", limits.Email("email", long).Clean())))
}

// The order and the payment's session check an email by one rule: a bare address of a name
// under a top-level domain, or none.
func TestEmailAddress(t *testing.T) {
	for _, ok := range []string{"", "ann@example.com", "a@b.c"} {
		assert.NoError(t, limits.EmailAddress("customerEmail", ok), ok)
	}
	for _, bad := range []string{"ann.example.com", "Ann <ann@example.com>", "ann@localhost", "ann@127.0.0.1", "ann@[10.0.0.1]", "ann@example.com\u200b"} {
		assert.Equal(t, "customerEmail", apperr.ErrorField(limits.EmailAddress("customerEmail", bad)), bad)
	}
}

// AddPrice refuses a sum past what int64 holds, which wrapped around could pass for a total.
func TestAddPrice(t *testing.T) {
	sum, ok := limits.AddPrice(10, 3, 5)
	assert.True(t, ok)
	assert.Equal(t, int64(25), sum)
	_, ok = limits.AddPrice(1, 2, 1<<62)
	assert.False(t, ok)
	sum, ok = limits.AddPrice(1<<62, 10_000, 0)
	assert.True(t, ok, "a free line adds nothing")
	assert.Equal(t, int64(1<<62), sum)
}
