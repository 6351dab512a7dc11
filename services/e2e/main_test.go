package e2e

import (
	"os"
	"testing"

	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/orders"
)

// serviceEnv, set to "orders" in its environment, makes the test binary run the orders
// service's own main instead of the tests: how TestSIGTERMDuringABurstLosesNoOrder gets
// a real process to signal, built exactly as cmd/orders builds it.
const serviceEnv = "ORDERMILL_E2E_SERVICE"

func TestMain(m *testing.M) {
	if os.Getenv(serviceEnv) == "orders" {
		host.Main("orders", 3001, orders.About, orders.Vars, orders.Build)
		os.Exit(0)
	}
	os.Exit(m.Run())
}
