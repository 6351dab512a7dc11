package order

import (
	"fmt"

	"github.com/ordermill/ordermill/domain/apperr"
)

// Price is what the catalog asks for one unit of a SKU, and what it calls the SKU.
type Price struct {
	Amount   Cents
	Currency string
	Name     string
}

// PriceFrom prices cmd from the catalog: every line gets the catalog's unit price and
// name, the order the catalog's currency, and the total their sum. What the client stated must agree:
// a unit price, a currency or a total (when totalGiven) that differs from the catalog's is
// refused (apperr.CodeUnprocessable) naming the catalog's figure, as is a SKU the catalog
// does not sell. A total or currency that is malformed is refused as invalid input first.
// The lines must have passed CheckItems.
func (cmd *PlaceOrder) PriceFrom(prices map[string]Price, totalGiven bool) error {
	if totalGiven {
		if err := checkTotal(cmd.Total); err != nil {
			return err
		}
	}
	if cmd.Currency != "" {
		if err := checkCurrency(cmd.Currency); err != nil {
			return err
		}
	}
	currency := ""
	items := cloneItems(cmd.Items)
	for i, it := range items {
		p, ok := prices[it.SKU]
		if !ok || p.Amount <= 0 {
			f := fmt.Sprintf("items[%d].sku", i)
			return unprocessable(f, "%s %q is not for sale in the catalog", f, apperr.Excerpt(it.SKU))
		}
		if it.UnitPrice != nil && *it.UnitPrice != p.Amount {
			f := fmt.Sprintf("items[%d].unitPrice", i)
			return unprocessable(f, "%s %s is not the catalog's price of %s, %s %s", f, it.UnitPrice.UnitsIn(p.Currency), it.SKU, p.Amount.UnitsIn(p.Currency), p.Currency)
		}
		if currency != "" && p.Currency != currency {
			return unprocessable("items", "the items are priced in %s and %s: an order is paid in one currency", currency, p.Currency)
		}
		currency = p.Currency
		price := p.Amount
		items[i].UnitPrice, items[i].Name = &price, p.Name
	}
	if cmd.Currency != "" && cmd.Currency != currency {
		return unprocessable("currency", "currency %s is not the catalog's: the items are priced in %s", apperr.Excerpt(cmd.Currency), currency)
	}
	sum, _, err := CheckItems(items)
	if err != nil {
		return err
	}
	if totalGiven && cmd.Total != sum {
		return unprocessable("total", "total %s is not the catalog's price of the items: they cost %s %s", cmd.Total.UnitsIn(currency), sum.UnitsIn(currency), currency)
	}
	cmd.Items, cmd.Total, cmd.Currency = items, sum, currency
	return nil
}

func unprocessable(field, format string, args ...any) error {
	return &apperr.Error{Code: apperr.CodeUnprocessable, Field: field, Message: fmt.Sprintf(format, args...)}
}
