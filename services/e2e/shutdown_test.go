package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/services/webhooksig"
)

// ordersProcess is the orders service running as a process of its own (see TestMain).
type ordersProcess struct {
	cmd    *exec.Cmd
	output *lockedBuffer
	exited chan struct{}
}

// startOrdersProcess runs the orders service's main on addr against dbURL, configured as in
// production (no dev mode) with the secrets the rest of the system uses.
func startOrdersProcess(t *testing.T, dbURL, addr, warehouseURL string, shutdownTimeout time.Duration) *ordersProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(),
		serviceEnv+"=orders",
		"DATABASE_URL="+dbURL,
		"ADDR="+addr, "PORT=", "HOST=",
		"WAREHOUSE_URL="+warehouseURL,
		"DEV_MODE=",
		"SHUTDOWN_TIMEOUT="+shutdownTimeout.String(),
		"MANAGER_TOKENS="+apiManager+":"+managerToken,
		"PAYMENT_WEBHOOK_SECRET="+paymentSecret,
		"DELIVERY_WEBHOOK_SECRET="+deliverySecret,
		"ORDER_TOKEN_SECRET="+orderTokenSecret,
		"OPERATOR_TOKEN="+operatorToken,
		"SERVICE_TOKEN_ORDERS="+ordersServiceToken,
		"LOG_LEVEL=warn",
	)
	p := &ordersProcess{cmd: cmd, output: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.output, p.output
	require.NoError(t, cmd.Start())
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("orders process output:\n%s", p.output.String())
		}
	})
	// Ready means listening, consumers running and the schema migrated.
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("orders process exited at start-up:\n%s", p.output.String())
		case <-time.After(20 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "orders process never became ready:\n%s", p.output.String())
	}
}

// freeAddr returns a loopback address no one listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// Issue 10: SIGTERM to the orders service during a burst of 50 orders. The process exits 0
// within its shutdown timeout, and once it is started again every order it answered 201
// completes: nothing it acknowledged was lost, half-done or left stuck.
func TestSIGTERMDuringABurstLosesNoOrder(t *testing.T) {
	const burst, timeout = 50, 10 * time.Second
	c := startCluster(t, defaultOptions())
	c.stop(t, "orders") // replaced by a real process
	addr := freeAddr(t)
	proc := startOrdersProcess(t, c.dbURL, addr, c.warehouse, timeout)
	c.useOrders(t, "http://"+addr)

	// Five customers send ten orders each, one after another, so the burst goes on
	// across the signal: some orders are answered before it, some are in flight during
	// it, and the last find the process no longer listening.
	var mu sync.Mutex
	var accepted []string
	refused := 0
	var wg sync.WaitGroup
	placed := make(chan struct{}, burst)
	for customer := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range burst / 5 {
				// One customer id per order: ten orders in a minute from one new customer
				// would score over the approval threshold (velocity), and wait for a manager.
				body := fmt.Sprintf(`{"items":[{"sku":"SKU-001","quantity":1,"unitPrice":50}],"total":50,"customerId":"burst-%d-%d","customerEmail":"b%d-%d@example.com"}`, customer, i, customer, i)
				resp, err := http.Post(c.orders+"/api/orders", "application/json", strings.NewReader(body))
				if err != nil {
					mu.Lock()
					refused++
					mu.Unlock()
					continue
				}
				var created struct{ ID string }
				if resp.StatusCode == http.StatusCreated && json.NewDecoder(resp.Body).Decode(&created) == nil {
					mu.Lock()
					accepted = append(accepted, created.ID)
					mu.Unlock()
					placed <- struct{}{}
				}
				resp.Body.Close()
			}
		}()
	}
	// Signal in the middle of the burst: some orders answered, others in flight or not sent.
	for range burst / 5 {
		<-placed
	}
	require.NoError(t, proc.cmd.Process.Signal(syscall.SIGTERM))
	signalled := time.Now()
	select {
	case <-proc.exited:
	case <-time.After(timeout + 5*time.Second):
		t.Fatalf("the orders process did not exit within %s of SIGTERM", timeout)
	}
	took := time.Since(signalled)
	wg.Wait()
	assert.Equal(t, 0, proc.cmd.ProcessState.ExitCode(), "exit status after SIGTERM:\n%s", proc.output.String())
	assert.Less(t, took, timeout, "stopped within SHUTDOWN_TIMEOUT")
	t.Logf("%d of %d orders got 201, %d found the process gone; it stopped in %s", len(accepted), burst, refused, took)
	require.GreaterOrEqual(t, len(accepted), burst/5)

	proc = startOrdersProcess(t, c.dbURL, addr, c.warehouse, timeout)
	for _, id := range accepted {
		c.waitStatus(t, id, "awaiting_payment")
		body, header := c.signedProviderPayment(t, id, "evt_"+id, "completed", "pi_"+id)
		require.Equal(t, http.StatusAccepted, c.postPayment(t, body, header).StatusCode())
	}
	for _, id := range accepted {
		c.waitStatus(t, id, "awaiting_delivery")
		body := []byte(fmt.Sprintf(`{"orderId":%q,"status":"delivered"}`, id))
		header := http.Header{webhooksig.CourierHeader: {webhooksig.SignCourier(body, deliverySecret, time.Now())}}
		require.Equal(t, http.StatusAccepted, c.postDelivery(t, body, header).StatusCode())
	}
	for _, id := range accepted {
		c.waitStatus(t, id, "completed")
	}
	assert.Empty(t, c.deadLetters(t))

	// Idle, it stops at once. (How fast host.Serve returns is TestIdleShutdownIsQuick's
	// to measure: a process's exit under the race detector on a busy machine adds its own
	// hundreds of milliseconds.)
	require.NoError(t, proc.cmd.Process.Signal(syscall.SIGTERM))
	signalled = time.Now()
	select {
	case <-proc.exited:
	case <-time.After(timeout):
		t.Fatal("the idle orders process did not exit")
	}
	t.Logf("idle, it exited %s after SIGTERM", time.Since(signalled))
	assert.Equal(t, 0, proc.cmd.ProcessState.ExitCode())
}
