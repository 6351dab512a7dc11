package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/orderstream/orderstreamtest"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/projections/ordergen"
	"github.com/ordermill/ordermill/projections/ordergen/v1log"
)

var update = flag.Bool("update", false, "rewrite the golden files of replay order")

// replay runs the command against url and returns what it printed and its error.
func replay(t *testing.T, url string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, env(url), &out, io.Discard)
	return out.String(), err
}

func TestHelpListsTheCommands(t *testing.T) {
	out, err := replay(t, "postgres://nowhere.invalid/none", "help")
	require.NoError(t, err)
	for _, want := range []string{"projections [NAME...]", "verify [NAME...]", "status", "order ID [-json]", "-until TIME|POSITION",
		"order_summaries, pending_approvals, support_tickets"} {
		assert.Contains(t, out, want)
	}
	_, err = replay(t, "postgres://nowhere.invalid/none", "-until", "5", "verify")
	assert.ErrorContains(t, err, "-until and -schema go together")
	// Odd values a probe found taken without a word, each refused before the database.
	for args, want := range map[string]string{
		"verify -max-rows 0":  "-max-rows 0: verify lists at least one",
		"verify -max-rows -1": "-max-rows -1: verify lists at least one",
		"status extra":        `status takes no argument "extra"`,
		"deadletters list x":  `deadletters takes no argument "x"`,
		"projections -until 5 -schema " + strings.Repeat("a", 64): "-schema: at most 63 bytes",
		"verify -json":            "-json goes with order, not verify",
		"status -id 3":            "-id goes with deadletters, not status",
		"order ord-1 -max-rows 3": "-max-rows goes with verify, not order",
		"-migrate-only verify":    "-migrate-only takes no command (verify)",
	} {
		_, err = replay(t, "postgres://nowhere.invalid/none", strings.Fields(args)...)
		assert.ErrorContains(t, err, want, args)
	}
	_, err = replay(t, "postgres://nowhere.invalid/none", "projections", "no_such_model")
	assert.ErrorContains(t, err, `no projection "no_such_model"`)
}

// The commands on a realistic log: rebuild, verify (equal, then a row changed by hand),
// build up to a position, status.
func TestCommands(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	defer pool.Close()
	_, err = ordergen.Generate(context.Background(), pool, ordergen.Options{Events: 2000, Seed: 7})
	require.NoError(t, err)

	out, err := replay(t, url, "projections")
	require.NoError(t, err)
	assert.Regexp(t, `^rebuilt every read model from \d+ events in .*, swapped in\n$`, out)

	out, err = replay(t, url, "verify")
	require.NoError(t, err)
	assert.Regexp(t, `^every read model equal the log \(\d+ events, .*\)\n$`, out)

	// A position past the log's head is refused: it was built "as of" a position that never was.
	_, err = replay(t, url, "projections", "-until", "999999999", "-schema", "as_of_far")
	assert.ErrorContains(t, err, "-until 999999999: the log's newest position is")

	var edited string
	require.NoError(t, pool.QueryRow(context.Background(), `UPDATE orders.order_summaries SET cancel_reason = 'edited'
		WHERE order_id = (SELECT min(order_id) FROM orders.order_summaries WHERE status = 'completed') RETURNING order_id`).Scan(&edited))
	out, err = replay(t, url, "verify", "order_summaries")
	require.ErrorIs(t, err, errDiffers)
	assert.Contains(t, out, "orders.order_summaries: 1 row(s) differ\n  order_id="+edited+"  differs\n      cancel_reason: live \"edited\", rebuilt \"\"")

	out, err = replay(t, url, "projections", "-until", "500", "-schema", "as_of_500")
	require.NoError(t, err)
	assert.Regexp(t, `^built every read model as of position 500 from 500 events into schema as_of_500 in `, out)
	var newest int64
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT max(last_position) FROM as_of_500.order_summaries`).Scan(&newest))
	assert.EqualValues(t, 500, newest)

	out, err = replay(t, url, "status")
	require.NoError(t, err)
	for _, want := range []string{`projections \(consumer group projections\) +newest event reflected +log head +messages behind`,
		`\n  order_summaries +(\d+) +(\d+) +0\n`, `\n  projections +order_events\.3 +0s +0\n`, `delayed queue order_deadlines +0 pending +0 due`,
		`\ndead letters +topic +last +count\n  none`} {
		assert.Regexp(t, want, out)
	}
	assert.NotContains(t, out, "dead-lettered")

	// Messages behind 0 is not caught up while the projections' group has dead letters.
	_, err = pool.Exec(context.Background(), `INSERT INTO dead_letters (topic, consumer_group, message_uuid, payload, metadata, error)
		VALUES ('order_events.1', 'projections', 'msg-1', '{}', '{}', 'boom'), ('order_events.2', 'saga', 'msg-2', '{}', '{}', 'boom')`)
	require.NoError(t, err)
	out, err = replay(t, url, "status")
	require.NoError(t, err)
	assert.Contains(t, out, "but 1 event(s) dead-lettered: the read models lack them until re-driven (deadletters list)")
}

// The three scenarios of the business case, told by replay order: the decisions must be
// those the workflow takes. The golden files pin the output (go test -update rewrites them).
func TestOrderExplainsTheBusinessCaseScenarios(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	defer pool.Close()
	writeScenarios(t, pool)

	for _, c := range []struct{ id, golden string }{
		{"ord-normal", "order_normal.golden"},
		{"ord-risky", "order_risky.golden"},
		{"ord-unpaid", "order_unpaid.golden"},
	} {
		out, err := replay(t, url, "order", c.id)
		require.NoError(t, err)
		golden(t, c.golden, out)
	}
	out, err := replay(t, url, "order", "ord-risky", "-json")
	require.NoError(t, err)
	golden(t, "order_risky.json.golden", out)

	_, err = replay(t, url, "order", "ord-none")
	assert.ErrorContains(t, err, "no order ord-none in the log")

	// An event this release does not know (a newer release's) is told and left out, as the
	// services leave it: it failed the whole history (a probe).
	normal, err := orderstream.Load(context.Background(), pool, "ord-normal")
	require.NoError(t, err)
	orderstreamtest.AppendNewerEvent(t, pool, normal, orderstreamtest.SameLayout)
	out, err = replay(t, url, "order", "ord-normal")
	require.NoError(t, err)
	assert.Contains(t, out, orderstreamtest.NewerEvent)
	assert.Contains(t, out, "not known to this release: left out")
	out, err = replay(t, url, "order", "ord-normal", "-json")
	require.NoError(t, err)
	var steps []struct {
		Name  string
		State struct{ Version int }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &steps))
	require.GreaterOrEqual(t, len(steps), 2)
	last, before := steps[len(steps)-1], steps[len(steps)-2]
	assert.Equal(t, orderstreamtest.NewerEvent, last.Name)
	assert.Equal(t, before.State.Version+1, last.State.Version, "the newer release's event counts towards the version, as the services count it")

	// With the service's own settings, the deadlines shown are the service's: the payment
	// wait of ord-unpaid ends 5s after its reservation, not the default 24 h.
	var out5 bytes.Buffer
	withTimeout := func(k string) string {
		if k == "PAYMENT_TIMEOUT" {
			return "5s"
		}
		return env(url)(k)
	}
	require.NoError(t, run(context.Background(), []string{"order", "ord-unpaid"}, withTimeout, &out5, io.Discard))
	assert.Contains(t, out5.String(), "end the payment wait at 2026-03-02 09:00:29.000Z")
	bad := func(k string) string {
		if k == "PAYMENT_TIMEOUT" {
			return "soon"
		}
		return env(url)(k)
	}
	assert.ErrorContains(t, run(context.Background(), []string{"order", "ord-unpaid"}, bad, io.Discard, io.Discard), "PAYMENT_TIMEOUT")
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), got, "%s (go test ./cmd/replay -run %s -update rewrites it)", path, t.Name())
}

// writeScenarios stores the business case's three orders as the services would have,
// at fixed times: a normal order delivered and completed, a risky one held and approved
// by a manager, and one whose payment fails.
func writeScenarios(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	price := func(c order.Cents) *order.Cents { return &c }
	address := &order.Address{Name: "Ann", Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US"}
	normal := order.PlaceOrder{OrderID: "ord-normal", CustomerID: "c-1", CustomerEmail: "ann@example.com", Currency: "USD",
		Items: []order.Item{{SKU: "SKU-001", Quantity: 2, UnitPrice: price(5000)}}, Total: 10000, ShippingAddress: address, BillingAddress: address}
	risky := order.PlaceOrder{OrderID: "ord-risky", CustomerEmail: "bob@example.com", NewCustomer: true, Currency: "USD",
		Items: []order.Item{{SKU: "SKU-002", Quantity: 1}}, Total: 5_000_000}
	unpaid := normal
	unpaid.OrderID, unpaid.CustomerID, unpaid.CustomerEmail = "ord-unpaid", "c-3", "cid@example.com"

	histories := map[string][]ordergen.Step{
		"ord-normal": {ordergen.Place(normal), ordergen.Assess(10), ordergen.Reserve("res-1"), ordergen.OpenSession("cs_1"),
			ordergen.Pay("pi_1"), ordergen.Ship("shp-1"), ordergen.Courier("delivered", ""), ordergen.Complete()},
		"ord-risky": {ordergen.Place(risky), ordergen.Assess(85, ordergen.HighRiskFactors()...),
			ordergen.Approve("manager@ordermill.local", "checked by phone"), ordergen.Reserve("res-2"), ordergen.OpenSession("cs_2")},
		"ord-unpaid": {ordergen.Place(unpaid), ordergen.Assess(10), ordergen.Reserve("res-3"), ordergen.OpenSession("cs_3"),
			ordergen.FailPayment("pi_3", "card declined")},
	}
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	var b ordergen.Batch
	for _, id := range []string{"ord-normal", "ord-risky", "ord-unpaid"} {
		o := &order.Order{}
		for _, s := range histories[id] {
			at = at.Add(1500 * time.Millisecond)
			require.NoError(t, b.Do(o, s, at))
		}
	}
	require.NoError(t, pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error { return b.Write(context.Background(), tx) }))
}

func TestParseTakesFlagsAnywhere(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	j := fs.Bool("json", false, "")
	args, err := parse(fs, strings.Fields("order ord-1 -json"))
	require.NoError(t, err)
	assert.Equal(t, []string{"order", "ord-1"}, args)
	assert.True(t, *j)
}

// replay on a log written with order.placed.v1 says what it says on the same histories
// written today: verify finds the rebuilt read models equal, and replay order tells each
// order's story, decisions included, in the current versions of its events.
func TestReplayOfAV1Log(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	v1URL, v2URL := pgtest.URL(t), pgtest.URL(t)
	v1, err := pgxpool.New(ctx, v1URL)
	require.NoError(t, err)
	defer v1.Close()
	v2, err := pgxpool.New(ctx, v2URL)
	require.NoError(t, err)
	defer v2.Close()
	_, err = v1log.Import(ctx, v1)
	require.NoError(t, err)
	_, err = ordergen.Generate(ctx, v2, v1log.Options)
	require.NoError(t, err)

	for _, url := range []string{v1URL, v2URL} {
		_, err := replay(t, url, "projections")
		require.NoError(t, err)
		_, err = replay(t, url, "verify")
		require.NoError(t, err)
	}
	// A failed delivery, an order held for a manager, one rejected, one cancelled.
	for _, id := range []string{"v1-ord-0000018", "v1-ord-0000000", "v1-ord-0000006", "v1-ord-0000007"} {
		want, err := replay(t, v2URL, "order", id, "-json")
		require.NoError(t, err)
		got, err := replay(t, v1URL, "order", id, "-json")
		require.NoError(t, err)
		assert.JSONEq(t, want, got, "replay order %s", id)
		assert.Contains(t, got, `"name": "`+order.NameOrderPlaced+`"`)
		assert.NotContains(t, got, order.NameOrderPlacedV1)
	}
}
