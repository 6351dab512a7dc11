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
	"github.com/ordermill/ordermill/eventstore/logging"
)

// catalogClient asks the warehouse's public catalog (GET /api/catalog) for prices and
// product names: the warehouse owns the catalog, and no service reads another's tables. It
// remembers the last price the catalog gave for each SKU, so that while the warehouse is
// down orders are still priced from the catalog's own latest word, if it is at most
// lastPriceFor old, as their reservations wait on the log; and every name it gave, for the
// dashboard.
type catalogClient struct {
	base   string
	client *http.Client
	logger *slog.Logger
	now    func() time.Time
	outage *logging.Repeats // thins the warnings of an outage

	mu       sync.Mutex
	last     map[string]lastPrice
	named    map[string]string
	pending  []*priceLookup // placements waiting for a fetch
	fetching int            // fetches of prices in flight
	// askAt, set when the last fetch of prices failed (zero otherwise), is when the next
	// placement asks the catalog again, and asking that it is: the others meanwhile take
	// the last prices.
	askAt  time.Time
	asking bool
	// unasked counts the placements priced from the last answer without asking since the
	// last line that said why the catalog fails.
	unasked int
}

// priceLookup is a placement waiting for the catalog's current prices of its SKUs.
type priceLookup struct {
	skus   []string
	done   chan struct{}
	prices map[string]order.Price
	err    error
}

// priceFetches is how many fetches of prices are in flight at most. The placements that
// ask while one is in flight share the next: on two cores an HTTP exchange with the
// warehouse per placement was about a tenth of an order's cost, and one fetch at a time
// gathered the most (docs/BENCHMARKS.md, twenty-fifth session).
const priceFetches = 1

// lastPriceFor is how long a price the catalog gave may price an order while the
// warehouse cannot be asked. A price changed meanwhile (its table stays writable while the
// service is down) is missed for at most so long; past it, placing is a 503 again.
const lastPriceFor = 10 * time.Minute

// lastPrice is a price the catalog gave, and when.
type lastPrice struct {
	order.Price
	at time.Time
}

func newCatalogClient(base string, logger *slog.Logger) *catalogClient {
	// Every placement asks the catalog, up to as many at once as customers place orders:
	// keep that many connections open instead of Go's default two, which under load
	// opened and closed a TCP connection per order.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64
	return &catalogClient{base: strings.TrimRight(base, "/"), client: &http.Client{Timeout: 5 * time.Second, Transport: transport},
		logger: logger, now: time.Now, last: map[string]lastPrice{}, named: map[string]string{}, outage: logging.NewRepeats()}
}

// Names returns the catalog's name of each SKU of skus it knows. Names are remembered for
// the life of the process (a SKU the catalog does not sell, as ""), so a page asks the
// warehouse only about SKUs it has never seen; when the warehouse cannot be asked, the
// SKUs it has not named yet are shown without a name.
func (c *catalogClient) Names(ctx context.Context, skus []string) map[string]string {
	c.mu.Lock()
	var missing []string
	for _, sku := range skus {
		if _, ok := c.named[sku]; !ok && !slices.Contains(missing, sku) {
			missing = append(missing, sku)
		}
	}
	c.mu.Unlock()
	for batch := range slices.Chunk(missing, limits.MaxLines) {
		if _, err := c.fetch(ctx, batch); err != nil {
			c.warn(ctx, "catalog unreachable: products shown by SKU", err)
			break
		}
		c.mu.Lock()
		for _, sku := range batch {
			if _, ok := c.named[sku]; !ok {
				c.named[sku] = ""
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
// cover every SKU and none is older than lastPriceFor; otherwise the error is
// apperr.CodeUnavailable: the client may retry.
//
// While the catalog fails, one placement asks it again every askAgainAfter, and the others
// take the last prices at once: a hung warehouse held every placement for the client's
// 5 s timeout, 10 s behind a fetch in flight (a probe: placement p50 10 s, where a
// warehouse that refused connections cost 5 ms).
func (c *catalogClient) prices(ctx context.Context, items []order.Item) (map[string]order.Price, error) {
	c.mu.Lock()
	failing := !c.askAt.IsZero()
	if failing && (c.asking || c.now().Before(c.askAt)) {
		if known, covered := c.lastPrices(items); covered {
			// Counted, not logged: logged under the same key, a line of these took the
			// minute's place of the asking placement's, which says why the catalog fails.
			c.unasked++
			c.mu.Unlock()
			return known, nil
		}
	}
	ask := failing && !c.asking
	c.asking = c.asking || ask
	c.mu.Unlock()

	prices, err := c.current(ctx, items)
	c.mu.Lock()
	defer c.mu.Unlock()
	if ask {
		c.asking = false
	}
	now := c.now()
	switch {
	case err == nil:
		c.askAt = time.Time{}
		for sku, p := range prices {
			c.last[sku] = lastPrice{p, now}
		}
		return prices, nil
	case ctx.Err() != nil:
		return nil, err // the placement's client gave up: nothing is known of the catalog
	}
	c.askAt = now.Add(askAgainAfter)
	known, covered := c.lastPrices(items)
	if !covered {
		// Logged too: the client's 503 says only "retry later", and a catalog outage that
		// refused every order left no line in any log (a probe).
		c.warn(ctx, "catalog unreachable: order refused", err)
		return nil, err
	}
	if c.warn(ctx, "catalog unreachable: pricing from its last answer", err, "priced_without_asking", c.unasked) {
		c.unasked = 0
	}
	return known, nil
}

// askAgainAfter is how long after the catalog failed a placement asks it again.
const askAgainAfter = 2 * time.Second

// lastPrices is the last price the catalog gave for each SKU of items, and whether they
// cover them all, none older than lastPriceFor. c.mu is held.
func (c *catalogClient) lastPrices(items []order.Item) (map[string]order.Price, bool) {
	now := c.now()
	known := make(map[string]order.Price, len(items))
	for _, it := range items {
		p, ok := c.last[it.SKU]
		if !ok || now.Sub(p.at) > lastPriceFor {
			return nil, false
		}
		known[it.SKU] = p.Price
	}
	return known, true
}

// warn logs an outage of the catalog once a minute, not once a request: a probe's 20 s
// outage at 10 orders/s wrote 239 lines.
// It says whether it logged.
func (c *catalogClient) warn(ctx context.Context, msg string, err error, attrs ...any) bool {
	due, missed := c.outage.Due(msg)
	if due {
		c.logger.WarnContext(ctx, msg, append([]any{"err", err, "repeated_since_last_line", missed}, attrs...)...)
	}
	return due
}

// current returns the catalog's prices of items' SKUs from a fetch that starts after it
// was asked, so they are as current as a fetch of its own would give. While every fetch is
// in flight, the placements that ask wait, and the next fetch asks for all their SKUs at
// once (up to the catalog's limits.MaxLines a request); each gets the prices of its own.
func (c *catalogClient) current(ctx context.Context, items []order.Item) (map[string]order.Price, error) {
	l := &priceLookup{done: make(chan struct{})}
	for _, it := range items {
		if !slices.Contains(l.skus, it.SKU) {
			l.skus = append(l.skus, it.SKU)
		}
	}
	c.mu.Lock()
	c.pending = append(c.pending, l)
	start := c.fetching < priceFetches
	if start {
		c.fetching++
	}
	c.mu.Unlock()
	if start {
		go c.fetchPending()
	}
	select {
	case <-l.done:
		return l.prices, l.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fetchPending fetches the prices of the waiting placements, as many as one request
// carries at a time, until none waits. A fetch is shared, so no caller's context may
// cancel it: the client's timeout bounds it.
func (c *catalogClient) fetchPending() {
	for {
		c.mu.Lock()
		var batch []*priceLookup
		var skus []string
		n := 0
		for _, l := range c.pending {
			var more []string
			for _, sku := range l.skus {
				if !slices.Contains(skus, sku) && !slices.Contains(more, sku) {
					more = append(more, sku)
				}
			}
			if len(batch) > 0 && len(skus)+len(more) > limits.MaxLines {
				break
			}
			batch, skus, n = append(batch, l), append(skus, more...), n+1
		}
		c.pending = c.pending[n:]
		if len(batch) == 0 {
			c.fetching--
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		prices, err := c.fetch(context.Background(), skus)
		for _, l := range batch {
			if err != nil {
				l.err = err
			} else {
				l.prices = make(map[string]order.Price, len(l.skus))
				for _, sku := range l.skus {
					if p, ok := prices[sku]; ok {
						l.prices[sku] = p
					}
				}
			}
			close(l.done)
		}
	}
}

func (c *catalogClient) fetch(ctx context.Context, skus []string) (map[string]order.Price, error) {
	q := url.Values{}
	for _, sku := range skus {
		q.Add("sku", sku)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/catalog?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		// The client is told what it can act on; the log, why (the line said only "retry
		// later", as if the order had been refused, when its last prices served it).
		return nil, fmt.Errorf("%w: %v", apperr.Errorf(apperr.CodeUnavailable, "the catalog cannot be reached to price the order; retry later"), err)
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
		// A proxy's page, or a body cut off: the catalog is as good as unreachable.
		return nil, fmt.Errorf("%w: %v", apperr.Errorf(apperr.CodeUnavailable, "the catalog's answer could not be read when pricing the order; retry later"), err)
	}
	prices := make(map[string]order.Price, len(body.Items))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, it := range body.Items {
		// The name travels in the order and to the provider's checkout page: one no client
		// field could hold is left out, and the SKU is shown instead.
		name := it.Name
		if limits.Check(limits.Text("name", name)) != nil {
			name = ""
		}
		prices[it.SKU] = order.Price{Amount: order.Cents(it.UnitPrice), Currency: it.Currency, Name: name}
		c.named[it.SKU] = it.Name
	}
	return prices, nil
}
