package orders

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/domain/order"
)

// catalogClient asks the warehouse's public catalog (GET /api/catalog) for prices and
// product names: the warehouse owns the catalog, and no service reads another's tables. It
// remembers the last price the catalog gave for each SKU, so that while the warehouse is
// down orders are still priced from the catalog's own latest word, as their reservations
// wait on the log; and every name it gave, for the dashboard.
type catalogClient struct {
	base   string
	client *http.Client
	logger *slog.Logger

	mu    sync.Mutex
	last  map[string]order.Price
	named map[string]string
}

func newCatalogClient(base string, logger *slog.Logger) *catalogClient {
	// Every placement asks the catalog, up to as many at once as customers place orders:
	// keep that many connections open instead of Go's default two, which under load
	// opened and closed a TCP connection per order.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64
	return &catalogClient{base: strings.TrimRight(base, "/"), client: &http.Client{Timeout: 5 * time.Second, Transport: transport},
		logger: logger, last: map[string]order.Price{}, named: map[string]string{}}
}

// Names returns the catalog's name of each SKU of skus it knows. Names are remembered for
// the life of the process (a SKU the catalog does not sell, as ""), so a page asks the
// warehouse only about SKUs it has never seen; when the warehouse cannot be asked, the
// SKUs it has not named yet are shown without a name.
func (c *catalogClient) Names(ctx context.Context, skus []string) map[string]string {
	c.mu.Lock()
	var missing []order.Item
	for _, sku := range skus {
		if _, ok := c.named[sku]; !ok && !slices.ContainsFunc(missing, func(it order.Item) bool { return it.SKU == sku }) {
			missing = append(missing, order.Item{SKU: sku})
		}
	}
	c.mu.Unlock()
	for batch := range slices.Chunk(missing, limits.MaxLines) {
		if _, err := c.fetch(ctx, batch); err != nil {
			c.logger.WarnContext(ctx, "catalog unreachable: products shown by SKU", "err", err)
			break
		}
		c.mu.Lock()
		for _, it := range batch {
			if _, ok := c.named[it.SKU]; !ok {
				c.named[it.SKU] = ""
			}
		}
		c.mu.Unlock()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]string, len(skus))
	for _, sku := range skus {
		if n := c.named[sku]; n != "" {
			out[sku] = n
		}
	}
	return out
}

// prices returns the catalog's price of each SKU it sells among items; a SKU it does not
// know is absent. When the warehouse cannot be asked, the last prices it gave serve if they
// cover every SKU; otherwise the error is apperr.CodeUnavailable: the client may retry.
func (c *catalogClient) prices(ctx context.Context, items []order.Item) (map[string]order.Price, error) {
	prices, err := c.fetch(ctx, items)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		for sku, p := range prices {
			c.last[sku] = p
		}
		return prices, nil
	}
	known := make(map[string]order.Price, len(items))
	for _, it := range items {
		p, ok := c.last[it.SKU]
		if !ok {
			return nil, err
		}
		known[it.SKU] = p
	}
	c.logger.WarnContext(ctx, "catalog unreachable: pricing from its last answer", "err", err)
	return known, nil
}

func (c *catalogClient) fetch(ctx context.Context, items []order.Item) (map[string]order.Price, error) {
	q := url.Values{}
	for _, it := range items {
		q.Add("sku", it.SKU)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/catalog?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, apperr.Errorf(apperr.CodeUnavailable, "the catalog cannot be reached to price the order; retry later")
	}
	defer func() {
		// Read to the end, so the connection goes back to the pool.
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		return nil, apperr.Errorf(apperr.CodeUnavailable, "the catalog answered %d when pricing the order; retry later", resp.StatusCode)
	}
	var body struct {
		Items []inventory.CatalogItem `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("decode catalog: %w", err)
	}
	prices := make(map[string]order.Price, len(body.Items))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, it := range body.Items {
		prices[it.SKU] = order.Price{Amount: order.Cents(it.UnitPrice), Currency: it.Currency}
		c.named[it.SKU] = it.Name
	}
	return prices, nil
}
