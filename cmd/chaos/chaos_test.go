package main

import (
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
)

func TestPlanDealsTheMix(t *testing.T) {
	scripts := plan(1000, rand.New(rand.NewPCG(1, 2)))
	require.Len(t, scripts, 1000)
	count := map[script]int{}
	for _, s := range scripts {
		count[s]++
	}
	assert.Equal(t, map[script]int{completed: 660, approved: 50, rejected: 50, paymentFailed: 40, earlyDecline: 40, deliveryFailed: 60, earlyDelivery: 100}, count)
	high := count[approved] + count[rejected]
	assert.Equal(t, 100, high, "10% high risk")
	assert.Equal(t, order.StatusCompleted, earlyDecline.want(), "a declined card ends nothing")
	assert.Equal(t, order.StatusCompleted, earlyDelivery.want())
}

func TestBalancerGoesToTheReplicaThatAnswers(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "up "+r.URL.Path) }))
	defer up.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	downAddr := down.Listener.Addr().String()
	down.Close() // killed: its port refuses connections
	lb, err := startBalancer([]string{downAddr, strings.TrimPrefix(up.URL, "http://")})
	require.NoError(t, err)
	defer lb.close()
	for range 4 { // whichever replica each request tries first
		res, err := http.Get(lb.url + "/api/catalog")
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		assert.Equal(t, "up /api/catalog", string(body))
	}
}
