package inventory_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/inventory"
)

func TestValidateNamesTheOffendingField(t *testing.T) {
	many := make([]inventory.Line, 101)
	for i := range many {
		many[i] = inventory.Line{SKU: "A", Quantity: 1}
	}
	tests := []struct {
		name    string
		orderID string
		lines   []inventory.Line
		field   string
	}{
		{"valid", "o-1", []inventory.Line{{SKU: "A", Quantity: 1}}, ""},
		{"missing order", " ", []inventory.Line{{SKU: "A", Quantity: 1}}, "orderId"},
		{"no lines", "o-1", nil, "lines"},
		{"too many lines", "o-1", many, "lines"},
		{"empty sku", "o-1", []inventory.Line{{SKU: "A", Quantity: 1}, {SKU: "", Quantity: 1}}, "lines[1].sku"},
		{"zero quantity", "o-1", []inventory.Line{{SKU: "A", Quantity: 0}}, "lines[0].quantity"},
		{"negative quantity", "o-1", []inventory.Line{{SKU: "A", Quantity: -3}}, "lines[0].quantity"},
		{"most lines", "o-1", many[:100], ""},
		{"most units", "o-1", []inventory.Line{{SKU: "A", Quantity: 10_000}}, ""},
		{"absurd quantity", "o-1", []inventory.Line{{SKU: "A", Quantity: 10_001}}, "lines[0].quantity"},
		{"2^31 units", "o-1", []inventory.Line{{SKU: "A", Quantity: 1 << 31}}, "lines[0].quantity"},
		{"long sku", "o-1", []inventory.Line{{SKU: strings.Repeat("S", 65), Quantity: 1}}, "lines[0].sku"},
		{"long order id", strings.Repeat("o", 129), []inventory.Line{{SKU: "A", Quantity: 1}}, "orderId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := inventory.Validate(tt.orderID, tt.lines)
			if tt.field == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, apperr.CodeInvalid, apperr.ErrorCode(err))
			assert.Equal(t, tt.field, apperr.ErrorField(err))
		})
	}
}

func TestReleaseValidate(t *testing.T) {
	assert.NoError(t, inventory.Release{OrderID: "o-1", Reason: "payment_failed"}.Validate())
	assert.Equal(t, "orderId", apperr.ErrorField(inventory.Release{OrderID: " "}.Validate()))
	assert.Equal(t, "reason", apperr.ErrorField(inventory.Release{OrderID: "o-1", Reason: strings.Repeat("r", 1001)}.Validate()))
}

func TestMergeSumsRepeatedSKUsInSKUOrder(t *testing.T) {
	got := inventory.Merge([]inventory.Line{{SKU: "B", Quantity: 2}, {SKU: "A", Quantity: 1}, {SKU: "B", Quantity: 3}})
	assert.Equal(t, []inventory.Line{{SKU: "A", Quantity: 1}, {SKU: "B", Quantity: 5}}, got)
}

func TestFirstShortage(t *testing.T) {
	stock := map[string]int{"A": 5, "B": 2, "C": 0}
	tests := []struct {
		name  string
		lines []inventory.Line
		want  inventory.Shortage
		short bool
	}{
		{"all covered", []inventory.Line{{SKU: "A", Quantity: 5}, {SKU: "B", Quantity: 2}}, inventory.Shortage{}, false},
		{"one short", []inventory.Line{{SKU: "A", Quantity: 1}, {SKU: "B", Quantity: 3}}, inventory.Shortage{SKU: "B", Requested: 3, Available: 2}, true},
		{"repeated sku sums", []inventory.Line{{SKU: "B", Quantity: 2}, {SKU: "B", Quantity: 1}}, inventory.Shortage{SKU: "B", Requested: 3, Available: 2}, true},
		{"first in sku order, not line order", []inventory.Line{{SKU: "C", Quantity: 1}, {SKU: "B", Quantity: 9}}, inventory.Shortage{SKU: "B", Requested: 9, Available: 2}, true},
		{"unknown sku", []inventory.Line{{SKU: "Z", Quantity: 1}}, inventory.Shortage{SKU: "Z", Requested: 1, Unknown: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, short := inventory.FirstShortage(stock, tt.lines)
			assert.Equal(t, tt.short, short)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestShortageReasonSaysWhy(t *testing.T) {
	assert.Equal(t, "unknown SKU Z", inventory.Shortage{SKU: "Z", Requested: 1, Unknown: true}.Reason())
	assert.Equal(t, "insufficient stock for B: requested 3, available 2",
		inventory.Shortage{SKU: "B", Requested: 3, Available: 2}.Reason())
}

func TestCheckReportsEverySKU(t *testing.T) {
	got := inventory.Check(map[string]int{"A": 5, "B": 2}, []inventory.Line{
		{SKU: "B", Quantity: 1}, {SKU: "A", Quantity: 6}, {SKU: "Z", Quantity: 1}, {SKU: "B", Quantity: 1},
	})
	assert.Equal(t, []inventory.Availability{
		{SKU: "A", Requested: 6, Available: 5, OK: false},
		{SKU: "B", Requested: 2, Available: 2, OK: true},
		{SKU: "Z", Requested: 1, Available: 0, OK: false},
	}, got)
	assert.False(t, inventory.AllAvailable(got))
	assert.True(t, inventory.AllAvailable(got[1:2]))
}

// The JSON names are a contract with other services: a rename here would silently break them.
func TestContractJSONNames(t *testing.T) {
	for _, tt := range []struct {
		v    any
		want string
	}{
		{inventory.Reserve{OrderID: "o", Lines: []inventory.Line{{SKU: "A", Quantity: 1}}}, `{"orderId":"o","lines":[{"sku":"A","quantity":1}]}`},
		{inventory.Release{OrderID: "o", Reason: "r"}, `{"orderId":"o","reason":"r"}`},
		{inventory.Reserved{OrderID: "o", ReservationID: "r", Lines: []inventory.Line{}}, `{"orderId":"o","reservationId":"r","lines":[]}`},
		{inventory.ReservationFailed{OrderID: "o", Reason: "r", SKU: "A"}, `{"orderId":"o","reason":"r","sku":"A"}`},
		{inventory.Released{OrderID: "o", ReservationID: "r", Reason: "x"}, `{"orderId":"o","reservationId":"r","reason":"x"}`},
	} {
		b, err := json.Marshal(tt.v)
		require.NoError(t, err)
		assert.JSONEq(t, tt.want, string(b))
	}
	assert.Equal(t, "reservation-o-1", inventory.StreamID("o-1"))
}
