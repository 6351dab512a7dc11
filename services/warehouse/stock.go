package warehouse

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/eventstore"
)

// StockItem is one SKU's stock as the inventory listing shows it.
type StockItem struct {
	SKU       string `json:"sku"`
	Name      string `json:"name"`
	Available int    `json:"available"`
	Reserved  int    `json:"reserved"`
}

// ListStock returns every SKU's stock in SKU order.
func ListStock(ctx context.Context, q eventstore.Querier) ([]StockItem, error) {
	rows, err := q.Query(ctx, `SELECT sku, name, available, reserved FROM warehouse.stock ORDER BY sku`)
	if err != nil {
		return nil, fmt.Errorf("list stock: %w", err)
	}
	items, err := pgx.CollectRows(rows, pgx.RowToStructByPos[StockItem])
	if err != nil {
		return nil, fmt.Errorf("list stock: %w", err)
	}
	return items, nil
}

// CheckAvailability tells, per SKU (repeated SKUs summed, in SKU order), whether the stock
// covers lines right now. It holds no lock, so the answer is advice: only Reserve commits to it.
func CheckAvailability(ctx context.Context, q eventstore.Querier, lines []inventory.Line) ([]inventory.Availability, error) {
	if err := inventory.ValidateLines(lines); err != nil {
		return nil, err
	}
	merged := inventory.Merge(lines)
	stock, err := readStock(ctx, q, merged, `SELECT sku, available FROM warehouse.stock WHERE sku = ANY($1)`)
	if err != nil {
		return nil, err
	}
	return inventory.Check(stock, merged), nil
}

// Execer is what seeding needs: a pool, a connection or a transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Seed adds the demo catalogue's SKUs that are missing and leaves existing ones alone, so it
// is safe at every start-up and never resets stock that orders have already moved.
func Seed(ctx context.Context, db Execer) error {
	skus := make([]string, len(catalog))
	names := make([]string, len(catalog))
	available := make([]int32, len(catalog))
	for i, c := range catalog {
		skus[i], names[i], available[i] = c.SKU, c.Name, c.Available
	}
	_, err := db.Exec(ctx, `
		INSERT INTO warehouse.stock (sku, name, available)
		SELECT * FROM unnest($1::text[], $2::text[], $3::int[])
		ON CONFLICT (sku) DO NOTHING`, skus, names, available)
	if err != nil {
		return fmt.Errorf("seed stock: %w", err)
	}
	return nil
}

// catalog is the demo catalogue. SKU-001 to SKU-003 are the ones the business case's curl
// examples order; SKU-LIMITED is deliberately scarce so running out of stock is easy to show.
var catalog = []struct {
	SKU       string
	Name      string
	Available int32
}{
	{"SKU-001", "Espresso Cups (set of 4)", 500},
	{"SKU-002", "Pour-Over Coffee Dripper", 350},
	{"SKU-003", "Burr Coffee Grinder", 200},
	{"SKU-004", "Ceramic Teapot, 1 l", 420},
	{"SKU-005", "Loose-Leaf Tea Infuser", 900},
	{"SKU-006", "Cast-Iron Skillet, 26 cm", 150},
	{"SKU-007", "Chef's Knife, 20 cm", 240},
	{"SKU-008", "Bamboo Cutting Board", 610},
	{"SKU-009", "Linen Tea Towels (set of 3)", 780},
	{"SKU-010", "Glass Storage Jars (set of 6)", 330},
	{"SKU-011", "Stainless Steel Water Bottle", 1000},
	{"SKU-012", "Insulated Lunch Box", 460},
	{"SKU-013", "Wooden Salad Servers", 520},
	{"SKU-014", "Stoneware Dinner Plates (set of 4)", 280},
	{"SKU-015", "Cotton Apron", 640},
	{"SKU-016", "Silicone Baking Mat", 870},
	{"SKU-017", "Digital Kitchen Scale", 190},
	{"SKU-018", "Milk Frother", 310},
	{"SKU-019", "French Press, 8 cups", 270},
	{"SKU-020", "Reusable Coffee Filters (pack of 2)", 950},
	{"SKU-021", "Scented Soy Candle", 730},
	{"SKU-022", "Wool Throw Blanket", 120},
	{"SKU-023", "Linen Cushion Cover", 580},
	{"SKU-024", "Ceramic Plant Pot, medium", 400},
	{"SKU-025", "Watering Can, 1.5 l", 260},
	{"SKU-026", "Notebook, dotted A5", 1000},
	{"SKU-027", "Fountain Pen", 180},
	{"SKU-028", "Desk Lamp, brass", 110},
	{"SKU-029", "Wall Clock, oak", 140},
	{"SKU-030", "Picnic Blanket, waterproof", 300},
	{"SKU-LIMITED", "Limited Edition Mug (signed)", 5},
}
