package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/logging"
)

// Why a service did not start is a line of its log when the log is JSON (a probe's log
// pipeline got plain text for the one line it needed), and plain text otherwise.
func TestAFailedStartIsALineOfTheLog(t *testing.T) {
	why := errors.New("PAYMENT_WEBHOOK_SECRET is required")
	var jsonOut, textOut bytes.Buffer
	failed(&jsonOut, "payments", EnvOf(map[string]string{}), why, false)
	var line map[string]any
	require.NoError(t, json.Unmarshal(jsonOut.Bytes(), &line), jsonOut.String())
	assert.Equal(t, "ERROR", line["level"])
	assert.Equal(t, "payments", line["service"])
	assert.Equal(t, why.Error(), line["err"])

	// With LOG_LEVEL itself wrong, at the default level (it was text: a probe).
	var badLevel bytes.Buffer
	failed(&badLevel, "payments", EnvOf(map[string]string{"LOG_LEVEL": "loud"}), why, false)
	require.NoError(t, json.Unmarshal(badLevel.Bytes(), &line), badLevel.String())
	assert.Equal(t, why.Error(), line["err"])

	failed(&textOut, "payments", EnvOf(map[string]string{"DEV_MODE": "1"}), why, false)
	assert.Equal(t, "payments: PAYMENT_WEBHOOK_SECRET is required\n", textOut.String())

	// A start-up a signal cut short is no failure, and says so.
	cut := fmt.Errorf("apply migrations: %w", context.Canceled)
	var cutJSON, cutText bytes.Buffer
	failed(&cutJSON, "payments", EnvOf(map[string]string{}), cut, true)
	require.NoError(t, json.Unmarshal(cutJSON.Bytes(), &line), cutJSON.String())
	assert.Equal(t, "INFO", line["level"])
	assert.Equal(t, "the service stopped during its start-up, as a signal asked", line["msg"])
	failed(&cutText, "payments", EnvOf(map[string]string{"DEV_MODE": "1"}), cut, true)
	assert.Equal(t, "payments: stopped during its start-up, as a signal asked: apply migrations: context canceled\n", cutText.String())
}

// An error that wraps a cancellation is a start-up cut short only when a signal came:
// finish read the context after its own stop had ended it, and let any such error exit 0
// (the review).
func TestOnlyASignalCutsAStartShort(t *testing.T) {
	env := EnvOf(map[string]string{"DEV_MODE": "1"})
	cancelled := fmt.Errorf("apply migrations: %w", context.Canceled)
	var out bytes.Buffer
	ctx, stop := signalled(context.Background())
	assert.Equal(t, 1, finish(ctx, stop, cancelled, &out, "orders", env), "no signal came: a failure")
	assert.Equal(t, "orders: apply migrations: context canceled\n", out.String())

	ctx, stop = signalled(context.Background())
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	<-ctx.Done()
	out.Reset()
	assert.Equal(t, 0, finish(ctx, stop, cancelled, &out, "orders", env))
	assert.Contains(t, out.String(), "stopped during its start-up, as a signal asked")

	ctx, stop = signalled(context.Background())
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	<-ctx.Done()
	assert.Equal(t, 1, finish(ctx, stop, errors.New("PORT: address already in use"), io.Discard, "orders", env), "another failure stays one")
	ctx, stop = signalled(context.Background())
	assert.Equal(t, 0, finish(ctx, stop, nil, io.Discard, "orders", env))
}

// The first SIGINT, SIGTERM or SIGHUP ends the process's context; the second closes the
// channel that cuts its shutdown delay short (Options.Hurry). SIGHUP killed the process at
// once, nothing drained (a review).
func TestTheSecondSignalHurries(t *testing.T) {
	ctx, stop := signalled(context.Background())
	defer stop()
	hurry, _ := ctx.Value(hurryKey{}).(<-chan struct{})
	require.NotNil(t, hurry)
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the first signal did not end the context")
	}
	select {
	case <-hurry:
		t.Fatal("one signal hurried")
	default:
	}
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGINT))
	select {
	case <-hurry:
	case <-time.After(10 * time.Second):
		t.Fatal("the second signal did not hurry")
	}
}

// promhttp's error lines are a line of the log with the error under err, once a minute:
// they were promhttp's own text as the message of a new line at every scrape (a probe).
func TestMetricsErrorsAreALineOfTheLog(t *testing.T) {
	var out bytes.Buffer
	m := metricsErrors{logger: slog.New(slog.NewJSONHandler(&out, nil)), repeats: logging.NewRepeats()}
	m.Println("error gathering metrics:", errors.New("timeout: context deadline exceeded"))
	m.Println("error gathering metrics:", errors.New("timeout: context deadline exceeded"))
	var line map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &line), out.String())
	assert.Equal(t, "gathering metrics failed: the scrape leaves out what failed", line["msg"])
	assert.Contains(t, line["err"], "context deadline exceeded")
}
