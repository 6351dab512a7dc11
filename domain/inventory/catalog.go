package inventory

import (
	"fmt"

	"github.com/ordermill/ordermill/domain/limits"
)

// CatalogItem is a SKU as the catalog sells it, served by the warehouse's public
// GET /api/catalog: the orders service prices every order from it.
type CatalogItem struct {
	SKU  string `json:"sku"`
	Name string `json:"name"`
	// UnitPrice is in minor units (cents) of Currency; 0 means the SKU is not for sale.
	UnitPrice int64  `json:"unitPrice"`
	Currency  string `json:"currency"`
}

// ValidateSKUs bounds a catalog query: at most limits.MaxLines SKUs, each within
// limits.MaxSKU, so a lookup costs what an order of that size would.
func ValidateSKUs(skus []string) error {
	if err := limits.Lines("sku", len(skus)); err != nil {
		return err
	}
	for i, s := range skus {
		if err := limits.Check(limits.SKU(fmt.Sprintf("sku[%d]", i), s)); err != nil {
			return err
		}
	}
	return nil
}
