package warehouse

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

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

// Catalog returns the catalog entries of skus (every SKU when skus is empty), in SKU order;
// a SKU the catalog does not know is simply absent.
func Catalog(ctx context.Context, db eventstore.Batcher, skus []string) ([]inventory.CatalogItem, error) {
	// Two statements, not one with "no SKUs or sku = ANY($1)": Postgres plans such an OR
	// anew at every call, and an order's placement asks for its SKUs every time. For the
	// same reason the lookup by SKUs goes with PlanByKey, in the same round trip: planned
	// as Postgres chose to, a read over an array is planned again at every call.
	b := &pgx.Batch{}
	var items []inventory.CatalogItem
	collect := func(rows pgx.Rows) (err error) {
		items, err = pgx.CollectRows(rows, pgx.RowToStructByPos[inventory.CatalogItem])
		return err
	}
	if len(skus) == 0 {
		b.Queue(`SELECT sku, name, price, currency FROM warehouse.stock ORDER BY sku`).Query(collect)
	} else {
		b.Queue(eventstore.PlanByKey)
		b.Queue(`SELECT sku, name, price, currency FROM warehouse.stock WHERE sku = ANY($1) ORDER BY sku`, skus).Query(collect)
	}
	if err := db.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	return items, nil
}

// Seed adds the demo catalogue's SKUs that are missing and prices the ones never priced
// (sql/00095: a row from before prices existed); it leaves stock and set prices alone, 0
// included, which withdraws a SKU from sale, so it is safe at every start-up, never resets
// stock that orders have already moved, and never puts a withdrawn SKU back on sale (it
// priced every 0, and did). Like every warehouse writer it takes the warehouse
// lock first (lockWarehouse): its upsert locks every catalogue row, in SKU order, and a
// replica starting while another reserves stock (a batch holding several orders' SKU
// locks) otherwise deadlocked with it and exited at start-up (found by make chaos
// -replicas 2).
func Seed(ctx context.Context, db eventstore.TxBeginner) error {
	skus := make([]string, len(catalog))
	names := make([]string, len(catalog))
	available := make([]int32, len(catalog))
	prices := make([]int64, len(catalog))
	for i, c := range catalog {
		skus[i], names[i], available[i], prices[i] = c.SKU, c.Name, c.Available, c.Price
	}
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if err := lockWarehouse(ctx, tx); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO warehouse.stock (sku, name, available, price, currency)
			SELECT sku, name, available, price, 'USD' FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[]) AS c(sku, name, available, price)
			ON CONFLICT (sku) DO UPDATE SET price = excluded.price, priced = true WHERE NOT warehouse.stock.priced`, skus, names, available, prices)
		if err != nil {
			return fmt.Errorf("seed stock: %w", err)
		}
		return nil
	})
}

// catalog is the demo catalogue, priced in USD cents. SKU-001 and SKU-031 are the ones the
// business case's curl examples order: two cups sets for 100.00, and one espresso machine
// for 50,000.00, the high-risk order. SKU-LIMITED is deliberately scarce so running out of
// stock is easy to show.
var catalog = []struct {
	SKU       string
	Name      string
	Available int32
	Price     int64
}{
	{"SKU-001", "Espresso Cups (set of 4)", 500, 50_00},
	{"SKU-002", "Pour-Over Coffee Dripper", 350, 24_00},
	{"SKU-003", "Burr Coffee Grinder", 200, 100_00},
	{"SKU-004", "Ceramic Teapot, 1 l", 420, 35_00},
	{"SKU-005", "Loose-Leaf Tea Infuser", 900, 9_50},
	{"SKU-006", "Cast-Iron Skillet, 26 cm", 150, 45_00},
	{"SKU-007", "Chef's Knife, 20 cm", 240, 89_00},
	{"SKU-008", "Bamboo Cutting Board", 610, 22_00},
	{"SKU-009", "Linen Tea Towels (set of 3)", 780, 18_00},
	{"SKU-010", "Glass Storage Jars (set of 6)", 330, 32_00},
	{"SKU-011", "Stainless Steel Water Bottle", 1000, 25_00},
	{"SKU-012", "Insulated Lunch Box", 460, 28_00},
	{"SKU-013", "Wooden Salad Servers", 520, 15_00},
	{"SKU-014", "Stoneware Dinner Plates (set of 4)", 280, 60_00},
	{"SKU-015", "Cotton Apron", 640, 20_00},
	{"SKU-016", "Silicone Baking Mat", 870, 12_00},
	{"SKU-017", "Digital Kitchen Scale", 190, 30_00},
	{"SKU-018", "Milk Frother", 310, 40_00},
	{"SKU-019", "French Press, 8 cups", 270, 38_00},
	{"SKU-020", "Reusable Coffee Filters (pack of 2)", 950, 10_00},
	{"SKU-021", "Scented Soy Candle", 730, 16_00},
	{"SKU-022", "Wool Throw Blanket", 120, 95_00},
	{"SKU-023", "Linen Cushion Cover", 580, 26_00},
	{"SKU-024", "Ceramic Plant Pot, medium", 400, 34_00},
	{"SKU-025", "Watering Can, 1.5 l", 260, 29_00},
	{"SKU-026", "Notebook, dotted A5", 1000, 14_00},
	{"SKU-027", "Fountain Pen", 180, 75_00},
	{"SKU-028", "Desk Lamp, brass", 110, 120_00},
	{"SKU-029", "Wall Clock, oak", 140, 65_00},
	{"SKU-030", "Picnic Blanket, waterproof", 300, 42_00},
	{"SKU-031", "Commercial Espresso Machine, dual boiler", 1000, 50_000_00},
	{"SKU-LIMITED", "Limited Edition Mug (signed)", 5, 20_00},
}
