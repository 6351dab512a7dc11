package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mailpit is a running Mailpit, the development mailbox make run starts: SMTP in, a web
// UI and HTTP API out.
type mailpit struct {
	smtpURL string
	api     string
}

// startMailpit runs Mailpit (the go tool pinned in tools/mailpit) on free ports until the
// test ends.
func startMailpit(t *testing.T) mailpit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin, err := exec.CommandContext(ctx, "go", "tool", "-C", "../../tools/mailpit", "-n", "mailpit").Output()
	require.NoError(t, err, "build Mailpit with `go tool -C tools/mailpit -n mailpit`")
	smtpAddr, uiAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(strings.TrimSpace(string(bin)), "--smtp", smtpAddr, "--listen", uiAddr, "--quiet", "--disable-version-check")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	m := mailpit{smtpURL: "smtp://" + smtpAddr, api: "http://" + uiAddr}
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for deadline := time.Now().Add(time.Minute); ; <-poll.C {
		resp, err := http.Get(m.api + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Mailpit did not become ready at %s: %v", m.api, err)
		}
	}
}

// textsTo waits until Mailpit holds n messages to the address and returns their texts by
// subject, read through its HTTP API.
func (m mailpit) textsTo(t *testing.T, address string, n int) map[string]string {
	t.Helper()
	var found struct {
		Messages []struct {
			ID      string
			Subject string
			To      []struct{ Address string }
		} `json:"messages"`
	}
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for deadline := time.Now().Add(30 * time.Second); ; <-poll.C {
		resp, err := http.Get(m.api + "/api/v1/search?query=" + url.QueryEscape(fmt.Sprintf("to:%q", address)))
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		err = json.NewDecoder(resp.Body).Decode(&found)
		_ = resp.Body.Close()
		require.NoError(t, err)
		if len(found.Messages) >= n || time.Now().After(deadline) {
			break
		}
	}
	texts := map[string]string{}
	for _, msg := range found.Messages {
		require.Len(t, msg.To, 1)
		assert.Equal(t, address, msg.To[0].Address)
		resp, err := http.Get(m.api + "/api/v1/message/" + url.PathEscape(msg.ID))
		require.NoError(t, err)
		var full struct{ Text string }
		err = json.NewDecoder(resp.Body).Decode(&full)
		_ = resp.Body.Close()
		require.NoError(t, err)
		texts[msg.Subject] = full.Text
	}
	return texts
}

// Issue 13: in development every email lands in Mailpit, where a developer reads it:
// scenario 1's confirmation and completion emails are found through Mailpit's HTTP API.
func TestScenario1EmailsArriveInMailpit(t *testing.T) {
	m := startMailpit(t)
	opt := defaultOptions()
	opt.smtpURL = m.smtpURL
	s := start(t, opt)
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	session, err := s.recordedSession(t.Context(), id)
	require.NoError(t, err)
	require.NotEmpty(t, session.PaymentURL)
	s.pay(t, id, "completed")
	s.waitStatus(t, id, "awaiting_delivery")
	s.courier(t, id, "delivered")
	s.waitStatus(t, id, "completed")

	texts := m.textsTo(t, "ann@example.com", 2)
	assert.ElementsMatch(t, []string{"Your order is confirmed", "Your order has been delivered"}, slices.Collect(maps.Keys(texts)))
	// The confirmation says where to pay: the order's own session.
	assert.Contains(t, texts["Your order is confirmed"], "Pay at "+session.PaymentURL+" by ")
}
