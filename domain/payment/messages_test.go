package payment_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/payment"
)

func TestCreateSessionValidate(t *testing.T) {
	valid := payment.CreateSession{OrderID: "o1", Amount: 100, Currency: "USD", CustomerEmail: "a@b.c"}
	cases := []struct {
		name  string
		edit  func(*payment.CreateSession)
		field string
	}{
		{"valid", func(*payment.CreateSession) {}, ""},
		{"no email is fine", func(c *payment.CreateSession) { c.CustomerEmail = "" }, ""},
		{"blank order", func(c *payment.CreateSession) { c.OrderID = " " }, "orderId"},
		{"zero amount", func(c *payment.CreateSession) { c.Amount = 0 }, "amount"},
		{"negative amount", func(c *payment.CreateSession) { c.Amount = -5 }, "amount"},
		{"missing currency", func(c *payment.CreateSession) { c.Currency = "" }, "currency"},
		{"lowercase currency", func(c *payment.CreateSession) { c.Currency = "usd" }, "currency"},
		{"bad email", func(c *payment.CreateSession) { c.CustomerEmail = "nobody" }, "customerEmail"},
		{"long order id", func(c *payment.CreateSession) { c.OrderID = strings.Repeat("o", 129) }, "orderId"},
		{"long email", func(c *payment.CreateSession) { c.CustomerEmail = strings.Repeat("a", 250) + "@b.cd" }, "customerEmail"},
		// What the order refuses (order.Place, by the same rules of package limits), the
		// payment's contract refuses: it took any string with an "@" and any lines.
		{"email with a display name", func(c *payment.CreateSession) { c.CustomerEmail = "Ann <ann@example.com>" }, "customerEmail"},
		{"email with two ats", func(c *payment.CreateSession) { c.CustomerEmail = "ann@@example.com" }, "customerEmail"},
		{"email to an IP address", func(c *payment.CreateSession) { c.CustomerEmail = "ann@127.0.0.1" }, "customerEmail"},
		{"email to a local name", func(c *payment.CreateSession) { c.CustomerEmail = "ann@localhost" }, "customerEmail"},
		{"lines adding up to the amount", func(c *payment.CreateSession) { c.Lines = lines(line("A", 2, 25), line("B", 1, 50)) }, ""},
		{"lines of a partly priced order, below the amount", func(c *payment.CreateSession) { c.Lines = lines(line("A", 1, 60)) }, ""},
		{"the most lines of the most units", func(c *payment.CreateSession) {
			c.Amount, c.Lines = 100*10_000, slices.Repeat(lines(line(strings.Repeat("S", 64), 10_000, 1)), 100)
		}, ""},
		{"too many lines", func(c *payment.CreateSession) { c.Lines = slices.Repeat(lines(line("A", 1, 0)), 101) }, "lines"},
		{"blank sku", func(c *payment.CreateSession) { c.Lines = lines(line("A", 1, 50), line(" ", 1, 50)) }, "lines[1].sku"},
		{"long sku", func(c *payment.CreateSession) { c.Lines = lines(line(strings.Repeat("S", 65), 1, 100)) }, "lines[0].sku"},
		{"sku with an invisible character", func(c *payment.CreateSession) { c.Lines = lines(line("A\u200b", 1, 100)) }, "lines[0].sku"},
		{"no units", func(c *payment.CreateSession) { c.Lines = lines(line("A", 0, 100)) }, "lines[0].quantity"},
		{"too many units", func(c *payment.CreateSession) { c.Amount, c.Lines = 10_001, lines(line("A", 10_001, 1)) }, "lines[0].quantity"},
		{"negative price", func(c *payment.CreateSession) { c.Lines = lines(line("A", 2, 100), line("B", 1, -100)) }, "lines[1].unitPrice"},
		{"overflowing price", func(c *payment.CreateSession) { c.Lines = lines(line("A", 2, 1<<62)) }, "lines[0].unitPrice"},
		{"priced lines above the amount", func(c *payment.CreateSession) { c.Lines = lines(line("A", 2, 25), line("B", 1, 51)) }, "lines"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := valid
			c.edit(&cmd)
			err := cmd.Validate()
			if c.field == "" {
				assert.NoError(t, err)
				return
			}
			assert.Equal(t, apperr.CodeInvalid, apperr.ErrorCode(err))
			assert.Equal(t, c.field, apperr.ErrorField(err))
		})
	}
}

func line(sku string, quantity, unitPrice int64) payment.Line {
	return payment.Line{SKU: sku, Quantity: quantity, UnitPrice: unitPrice}
}

func lines(l ...payment.Line) []payment.Line { return l }

func TestWebhookValidate(t *testing.T) {
	assert.NoError(t, payment.Webhook{OrderID: "o1", Status: payment.StatusCompleted}.Validate())
	assert.NoError(t, payment.Webhook{OrderID: "o1", Status: payment.StatusFailed}.Validate())
	assert.Equal(t, "orderId", apperr.ErrorField(payment.Webhook{Status: payment.StatusFailed}.Validate()))
	assert.Equal(t, "status", apperr.ErrorField(payment.Webhook{OrderID: "o1", Status: "pending"}.Validate()))

	long := strings.Repeat("x", 129)
	completed := payment.Webhook{ID: "evt_1", OrderID: "o1", Status: payment.StatusCompleted, PaymentID: "pi_1", SessionID: "ses_1"}
	for field, edit := range map[string]func(*payment.Webhook){
		"id":        func(w *payment.Webhook) { w.ID = long },
		"orderId":   func(w *payment.Webhook) { w.OrderID = long },
		"paymentId": func(w *payment.Webhook) { w.PaymentID = long },
		"sessionId": func(w *payment.Webhook) { w.SessionID = long },
		"reason":    func(w *payment.Webhook) { w.Reason = strings.Repeat("r", 1001) },
	} {
		wh := completed
		edit(&wh)
		assert.Equal(t, field, apperr.ErrorField(wh.Validate()), field)
	}
	// A refused status is quoted only in part.
	err := payment.Webhook{OrderID: "o1", Status: strings.Repeat("s", 100_000)}.Validate()
	assert.Less(t, len(apperr.ErrorMessage(err)), 200)
}

// The JSON shapes are a contract with other services, so their field names are pinned here.
func TestWireFormat(t *testing.T) {
	b, err := json.Marshal(payment.CreateSession{OrderID: "o1", Amount: 100, Currency: "USD", CustomerEmail: "a@b.c"})
	assert.NoError(t, err)
	assert.JSONEq(t, `{"orderId":"o1","amount":100,"currency":"USD","customerEmail":"a@b.c"}`, string(b))
	b, err = json.Marshal(payment.Webhook{OrderID: "o1", Status: "completed"})
	assert.NoError(t, err)
	assert.JSONEq(t, `{"orderId":"o1","status":"completed"}`, string(b))
	assert.Equal(t, "payment-o1", payment.StreamID("o1"))
}

// A refund command's amount and currency are checked as a reported refund's are: one for
// -5 "usd" passed, to fail at the provider (a review). No amount is the whole payment.
func TestRefundValidate(t *testing.T) {
	ok := payment.Refund{OrderID: "o-1", PaymentID: "pi_1"}
	require.NoError(t, ok.Validate())
	partial := ok
	partial.Amount, partial.Currency = 500, "EUR"
	require.NoError(t, partial.Validate())
	for field, r := range map[string]payment.Refund{
		"amount":   {OrderID: "o-1", PaymentID: "pi_1", Amount: -5},
		"currency": {OrderID: "o-1", PaymentID: "pi_1", Amount: 5, Currency: "usd"},
		"refunded": {OrderID: "o-1", PaymentID: "pi_1", Amount: 5, Refunded: -1},
	} {
		assert.Equal(t, field, apperr.ErrorField(r.Validate()), "%+v", r)
	}
}

// What is still taken of a payment a part of which was given back at the provider is
// what the order knows it took less what it knows given back; none when it knows neither
// (a report that did not say the amount), or all of it given back.
func TestRefundRest(t *testing.T) {
	for _, c := range []struct{ amount, refunded, rest int64 }{
		{100_00, 0, 100_00}, {100_00, 30_00, 70_00}, {100_00, 100_00, 0}, {100_00, 120_00, 0}, {0, 0, 0}, {0, 30_00, 0},
	} {
		assert.Equal(t, c.rest, payment.Refund{Amount: c.amount, Refunded: c.refunded}.Rest(), "%+v", c)
	}
}
