package order

import (
	"testing"

	"github.com/ordermill/ordermill/domain/apperr"
)

var testCatalog = map[string]Price{
	"CUPS":    {Amount: 50_00, Currency: "USD", Name: "Six espresso cups"},
	"MUG":     {Amount: 20_00, Currency: "USD", Name: "Mug"},
	"TEAPOT":  {Amount: 35_00, Currency: "EUR"},
	"UNPRICE": {Amount: 0, Currency: "USD"},
}

func TestPriceFromTakesEveryPriceFromTheCatalog(t *testing.T) {
	cmd := PlaceOrder{Items: []Item{{SKU: "CUPS", Quantity: 2}, {SKU: "MUG", Quantity: 5, UnitPrice: cents(20_00)}}}
	if err := cmd.PriceFrom(testCatalog, false); err != nil {
		t.Fatal(err)
	}
	if cmd.Total != 200_00 || cmd.Currency != "USD" || *cmd.Items[0].UnitPrice != 50_00 || *cmd.Items[1].UnitPrice != 20_00 {
		t.Fatalf("got total %s %s, prices %v %v", cmd.Total.Units(), cmd.Currency, *cmd.Items[0].UnitPrice, *cmd.Items[1].UnitPrice)
	}
	if cmd.Items[0].Name != "Six espresso cups" || cmd.Items[1].Name != "Mug" {
		t.Fatalf("the lines are named as the catalog names them: %q, %q", cmd.Items[0].Name, cmd.Items[1].Name)
	}
	stated := PlaceOrder{Items: []Item{{SKU: "CUPS", Quantity: 2}}, Total: 100_00, Currency: "USD"}
	if err := stated.PriceFrom(testCatalog, true); err != nil || stated.Total != 100_00 {
		t.Fatalf("a total that agrees: %v, %s", err, stated.Total.Units())
	}
}

// Issue 8, finding 5: five limited units for 0.01 reserved all the stock. A client's price
// that disagrees with the catalog is refused with 422, naming the catalog's figure.
func TestPriceFromRefusesWhatDisagreesWithTheCatalog(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cmd        PlaceOrder
		totalGiven bool
		field, msg string
	}{
		{"a total of 0.01 for five mugs", PlaceOrder{Items: []Item{{SKU: "MUG", Quantity: 5}}, Total: 1}, true,
			"total", "total 0.01 is not the catalog's price of the items: they cost 100.00 USD"},
		{"a unit price of its own", PlaceOrder{Items: []Item{{SKU: "MUG", Quantity: 5, UnitPrice: cents(1)}}, Total: 5}, true,
			"items[0].unitPrice", "items[0].unitPrice 0.01 is not the catalog's price of MUG, 20.00 USD"},
		{"an unknown SKU", PlaceOrder{Items: []Item{{SKU: "MUG", Quantity: 1}, {SKU: "NOPE", Quantity: 1}}}, false,
			"items[1].sku", `items[1].sku "NOPE" is not for sale in the catalog`},
		{"a SKU without a price", PlaceOrder{Items: []Item{{SKU: "UNPRICE", Quantity: 1}}}, false,
			"items[0].sku", `items[0].sku "UNPRICE" is not for sale in the catalog`},
		{"another currency", PlaceOrder{Items: []Item{{SKU: "MUG", Quantity: 1}}, Currency: "EUR"}, false,
			"currency", "currency EUR is not the catalog's: the items are priced in USD"},
		{"two currencies", PlaceOrder{Items: []Item{{SKU: "MUG", Quantity: 1}, {SKU: "TEAPOT", Quantity: 1}}}, false,
			"items", "the items are priced in USD and EUR: an order is paid in one currency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.cmd
			err := tc.cmd.PriceFrom(testCatalog, tc.totalGiven)
			if apperr.ErrorCode(err) != apperr.CodeUnprocessable || apperr.ErrorField(err) != tc.field || apperr.ErrorMessage(err) != tc.msg {
				t.Fatalf("got %v (code %s, field %q)", err, apperr.ErrorCode(err), apperr.ErrorField(err))
			}
			if tc.cmd.Total != before.Total || tc.cmd.Currency != before.Currency {
				t.Fatalf("a refused command was changed")
			}
		})
	}
}
