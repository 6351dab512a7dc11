package inventory

import (
	"fmt"
	"strings"

	"github.com/ordermill/ordermill/domain/apperr"
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
		field := fmt.Sprintf("sku[%d]", i)
		if strings.TrimSpace(s) == "" {
			return apperr.FieldErrorf(field, "%s is empty: name a SKU, or leave sku out for the whole catalog", field)
		}
		if err := limits.Check(limits.SKU(field, s)); err != nil {
			return err
		}
	}
	return nil
}
