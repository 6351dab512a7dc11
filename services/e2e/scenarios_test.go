package e2e

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/services/ordersclient"
)

const lowRisk = `{"items":[{"sku":"SKU-001","quantity":2,"unitPrice":50}],"total":100,"customerId":"c-1","customerEmail":"ann@example.com"}`
const highRisk = `{"items":[{"sku":"SKU-031","quantity":1}],"total":50000,"newCustomer":true,"customerEmail":"bob@example.com"}`

// Scenario 1: a low-risk order runs to completion without anyone stepping in.
func TestScenario1LowRiskOrderCompletes(t *testing.T) {
	s := start(t, defaultOptions())
	before := s.stock(t, "SKU-001")
	id := s.placeOrder(t, lowRisk)

	o := s.waitStatus(t, id, "awaiting_payment")
	require.NotNil(t, o.RiskScore)
	assert.Less(t, *o.RiskScore, 70)
	assert.NotEmpty(t, o.ReservationID)
	assert.Equal(t, before.Available-2, s.stock(t, "SKU-001").Available)

	s.pay(t, id, "completed")
	o = s.waitStatus(t, id, "awaiting_delivery")
	assert.NotEmpty(t, o.ShipmentID)

	s.courier(t, id, "in_transit")
	s.courier(t, id, "delivered")
	s.waitStatus(t, id, "completed")
	s.waitNotification(t, id, "order_completed")
	assert.ElementsMatch(t, []string{"order_confirmed", "order_completed"}, s.notifications(t, id))
	// Each wait's deadline went with the wait: none is left to fire for nothing, a day or a
	// week on.
	assert.Empty(t, s.deadlines(t, id, "payment"))
	assert.Empty(t, s.deadlines(t, id, "delivery"))
}

// Scenario 2: a high-risk order waits for a manager, who approves it.
func TestScenario2HighRiskOrderApprovedCompletes(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, highRisk)
	o := s.waitStatus(t, id, "awaiting_approval")
	require.NotNil(t, o.RiskScore)
	assert.GreaterOrEqual(t, *o.RiskScore, 70)

	assert.Equal(t, http.StatusUnauthorized, s.decide(t, "wrong", id, true, "").StatusCode(), "approval needs the manager token")

	require.Len(t, s.deadlines(t, id, "approval"), 1)
	require.Equal(t, http.StatusOK, s.decide(t, managerToken, id, true, "known reseller").StatusCode())
	o = s.waitStatus(t, id, "awaiting_payment")
	assert.Equal(t, "known reseller", o.DecisionReason)
	assert.NotEmpty(t, o.DecidedBy)
	assert.Empty(t, s.deadlines(t, id, "approval"), "the approval's deadline goes with the decision")

	s.pay(t, id, "completed")
	s.waitStatus(t, id, "awaiting_delivery")
	s.courier(t, id, "delivered")
	s.waitStatus(t, id, "completed")
}

// Scenario 2b: the manager rejects: nothing is reserved, the customer hears why.
func TestScenario2HighRiskOrderRejected(t *testing.T) {
	s := start(t, defaultOptions())
	before := s.stock(t, "SKU-031")
	id := s.placeOrder(t, highRisk)
	s.waitStatus(t, id, "awaiting_approval")
	require.Equal(t, http.StatusOK, s.decide(t, managerToken, id, false, "card mismatch").StatusCode())
	o := s.waitStatus(t, id, "rejected")
	assert.Empty(t, o.ReservationID)
	assert.Equal(t, before, s.stock(t, "SKU-031"))
	s.waitNotification(t, id, "order_rejected")
}

// Scenario 3: the payment fails: stock goes back, the customer is told, the order is cancelled.
func TestScenario3PaymentFailureCompensates(t *testing.T) {
	s := start(t, defaultOptions())
	before := s.stock(t, "SKU-001")
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	s.pay(t, id, "failed")
	o := s.waitStatus(t, id, "cancelled")
	assert.Equal(t, "payment_failed", o.CancelReason)
	assert.Empty(t, s.deadlines(t, id, "payment"), "the payment's deadline goes with the cancellation")
	s.waitStock(t, "SKU-001", before)
	s.waitNotification(t, id, "order_cancelled")
}

func TestOutOfStockCancelsAndNotifies(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, `{"items":[{"sku":"SKU-LIMITED","quantity":6}],"total":120,"customerEmail":"cat@example.com"}`)
	o := s.waitStatus(t, id, "cancelled")
	assert.Equal(t, "out_of_stock", o.CancelReason)
	s.waitNotification(t, id, "order_cancelled")
}

func TestDeliveryFailureOpensTicket(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	s.pay(t, id, "completed")
	s.waitStatus(t, id, "awaiting_delivery")
	s.courier(t, id, "failed")
	s.waitStatus(t, id, "delivery_failed")
	s.waitTicket(t, id, "delivery_failed")
}

func TestApprovalTimeoutCancels(t *testing.T) {
	opt := defaultOptions()
	opt.workflow.ApprovalTimeout = time.Second
	s := start(t, opt)
	id := s.placeOrder(t, highRisk)
	s.waitStatus(t, id, "awaiting_approval")
	o := s.waitStatus(t, id, "cancelled")
	assert.Equal(t, "timed_out", o.CancelReason)
	// A decision after the deadline is refused.
	assert.Equal(t, http.StatusConflict, s.decide(t, managerToken, id, true, "").StatusCode())
}

func TestPaymentTimeoutCancelsAndReleasesStock(t *testing.T) {
	opt := defaultOptions()
	opt.workflow.PaymentTimeout = time.Second
	s := start(t, opt)
	before := s.stock(t, "SKU-001")
	id := s.placeOrder(t, lowRisk)
	o := s.waitStatus(t, id, "cancelled")
	assert.Equal(t, "timed_out", o.CancelReason)
	s.waitStock(t, "SKU-001", before)
}

func TestDeliveryTimeoutOpensTicket(t *testing.T) {
	opt := defaultOptions()
	opt.workflow.DeliveryTimeout = time.Second
	s := start(t, opt)
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	s.pay(t, id, "completed")
	s.waitStatus(t, id, "awaiting_delivery")
	s.waitTicket(t, id, "delivery_overdue")
	assert.Equal(t, "awaiting_delivery", s.order(t, id).Status)
}

// Two managers decide the same order at the same moment: one wins, the other gets 409
// saying who decided what.
func TestConcurrentManagerDecisions(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, highRisk)
	s.waitStatus(t, id, "awaiting_approval")
	answers := make([]*ordersclient.ApproveOrderResponse, 2)
	var wg sync.WaitGroup
	startGate := make(chan struct{})
	for i, token := range []string{managerToken, otherManagerToken} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startGate
			reason := fmt.Sprintf("decision %d", i) // a rejection needs one
			res, err := s.api.ApproveOrderWithResponse(t.Context(), ordersclient.ApproveOrderJSONRequestBody{OrderId: id, Approved: i == 0, Reason: &reason},
				ordersclient.WithHeaders(bearer(token)))
			if err == nil {
				answers[i] = res
			}
		}()
	}
	close(startGate)
	wg.Wait()
	require.NotNil(t, answers[0])
	require.NotNil(t, answers[1])
	codes := []int{answers[0].StatusCode(), answers[1].StatusCode()}
	require.ElementsMatch(t, []int{http.StatusOK, http.StatusConflict}, codes)
	winner, loser := 0, 1
	if codes[1] == http.StatusOK {
		winner, loser = 1, 0
	}
	decided := map[int]string{0: "approved by " + apiManager, 1: "rejected by " + otherManager}[winner]
	assert.Contains(t, string(answers[loser].Body), "was already "+decided)
}

// An order cancelled while its payment session is open (here at its payment deadline) has
// the session closed, so the customer can no longer pay for it; open, it was paid and
// then refunded. The session may be recorded before the deadline or come after it.
func TestACancelledOrdersPaymentSessionIsClosed(t *testing.T) {
	opt := defaultOptions()
	opt.workflow.PaymentTimeout = time.Second
	s := start(t, opt)
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "cancelled")
	var sess struct{ Status string }
	if !poll(10*time.Millisecond, func() bool {
		return s.call(t, "GET", s.payments+"/api/payments/sessions/"+id, nil, bearer(ordersServiceToken), &sess) == http.StatusOK &&
			sess.Status == "expired"
	}) {
		t.Fatalf("the cancelled order's payment session is %q, not expired", sess.Status)
	}
	assert.Equal(t, http.StatusConflict, s.call(t, "POST", s.payments+"/api/payments/process",
		map[string]string{"orderId": id, "outcome": "completed"}, bearer(ordersServiceToken), nil), "a closed session is not paid")
}
