package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Why a service did not start is a line of its log when the log is JSON (a probe's log
// pipeline got plain text for the one line it needed), and plain text otherwise.
func TestAFailedStartIsALineOfTheLog(t *testing.T) {
	why := errors.New("PAYMENT_WEBHOOK_SECRET is required")
	var jsonOut, textOut bytes.Buffer
	failed(&jsonOut, "payments", EnvOf(map[string]string{}), why)
	var line map[string]any
	require.NoError(t, json.Unmarshal(jsonOut.Bytes(), &line), jsonOut.String())
	assert.Equal(t, "ERROR", line["level"])
	assert.Equal(t, "payments", line["service"])
	assert.Equal(t, why.Error(), line["err"])

	failed(&textOut, "payments", EnvOf(map[string]string{"DEV_MODE": "1"}), why)
	assert.Equal(t, "payments: PAYMENT_WEBHOOK_SECRET is required\n", textOut.String())
}

// The first SIGINT or SIGTERM ends the process's context; the second closes the channel
// that cuts its shutdown delay short (Options.Hurry).
func TestTheSecondSignalHurries(t *testing.T) {
	ctx, stop := signalled(context.Background())
	defer stop()
	hurry, _ := ctx.Value(hurryKey{}).(<-chan struct{})
	require.NotNil(t, hurry)
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
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
