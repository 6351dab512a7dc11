// Command orders runs the orders service on :3001: the public API, webhooks, dashboard,
// the order saga and the projections.
package main

import (
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/orders"
)

func main() {
	host.Main("orders", 3001, orders.About, orders.Vars, orders.Build)
}
