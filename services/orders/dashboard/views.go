package dashboard

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/risk"
	"github.com/ordermill/ordermill/ui"
)

// Formatting shared by the dashboard's views.

// scoreExplained is the score's arithmetic with the threshold it was held against.
func scoreExplained(o *order.Order) string {
	return fmt.Sprintf("%s (threshold %d)", risk.Explain(*o.RiskScore, o.RiskFactors), o.RiskThreshold)
}

func addressView(a *order.Address) *ui.Address {
	if a == nil {
		return nil
	}
	var lines []string
	for _, l := range []string{a.Line1, a.Line2, strings.TrimSpace(a.PostalCode + " " + a.City)} {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return &ui.Address{Name: a.Name, Lines: strings.Join(lines, ", "), Country: a.Country}
}

// skusOf lists the SKUs of orders, each once.
func skusOf(orders ...*order.Order) []string {
	var out []string
	for _, o := range orders {
		for _, it := range o.Items {
			if !slices.Contains(out, it.SKU) {
				out = append(out, it.SKU)
			}
		}
	}
	return out
}

func customerLabel(email, id string) string {
	switch {
	case email != "":
		return email
	case id != "":
		return "customer " + id
	default:
		return "guest"
	}
}

// itemLines writes each line as "2 × Wireless mouse (SKU-031)", or with the SKU alone
// when the catalog gave no name.
func itemLines(items []order.Item, names map[string]string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		if name := names[it.SKU]; name != "" {
			out[i] = fmt.Sprintf("%d × %s (%s)", it.Quantity, name, it.SKU)
		} else {
			out[i] = fmt.Sprintf("%d × %s", it.Quantity, it.SKU)
		}
	}
	return out
}
