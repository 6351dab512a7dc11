package webhooksig_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/services/webhooksig"
)

const secret = "whsec_test_secret"

var body = []byte(`{"id":"evt_1","orderId":"ord_1","status":"completed"}`)

func TestStripe(t *testing.T) {
	now := time.Now().Truncate(time.Second) // the header carries whole seconds
	good := webhooksig.SignStripe(body, secret, now)

	t.Run("round trip", func(t *testing.T) {
		assert.NoError(t, webhooksig.VerifyStripe(body, good, secret, now))
		assert.NoError(t, webhooksig.VerifyStripe(body, good, secret, now.Add(webhooksig.Tolerance)))
		assert.NoError(t, webhooksig.VerifyStripe(body, good, secret, now.Add(-webhooksig.Tolerance)))
	})
	t.Run("stripe-go's own check accepts our signature", func(t *testing.T) {
		assert.NoError(t, webhook.ValidatePayload(body, good, secret))
	})
	t.Run("header format is Stripe's", func(t *testing.T) {
		assert.Regexp(t, `^t=\d+,v1=[0-9a-f]{64}$`, good)
	})

	cases := []struct {
		name, header, secret, wantMsg string
		body                          []byte
	}{
		{"tampered body", good, secret, "does not match", []byte(strings.Replace(string(body), "completed", "failed", 1))},
		{"wrong secret", good, "whsec_other", "does not match", body},
		{"stale timestamp", webhooksig.SignStripe(body, secret, now.Add(-10*time.Minute)), secret, "tolerance", body},
		// Finding 10 of issue 8: a signature ten years ahead used to verify, and so stay
		// valid for ten years.
		{"timestamp ten years ahead", webhooksig.SignStripe(body, secret, now.AddDate(10, 0, 0)), secret, "tolerance", body},
		{"timestamp just past the window ahead", webhooksig.SignStripe(body, secret, now.Add(webhooksig.Tolerance+time.Second)), secret, "tolerance", body},
		{"missing header", "", secret, "missing", body},
		{"malformed header", "garbage", secret, "malformed", body},
		{"malformed timestamp", "t=yesterday,v1=00", secret, "malformed", body},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := webhooksig.VerifyStripe(c.body, c.header, c.secret, now)
			require.Error(t, err)
			assert.Equal(t, apperr.CodeUnauthorized, apperr.ErrorCode(err))
			assert.Contains(t, err.Error(), c.wantMsg)
		})
	}
}

func TestCourier(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	good := webhooksig.SignCourier(body, secret, now)

	t.Run("round trip", func(t *testing.T) {
		assert.NoError(t, webhooksig.VerifyCourier(body, good, secret, now))
		assert.NoError(t, webhooksig.VerifyCourier(body, good, secret, now.Add(webhooksig.Tolerance)))
	})
	t.Run("header format is Stripe's construction", func(t *testing.T) {
		assert.Regexp(t, `^t=1700000000,v1=[0-9a-f]{64}$`, good)
		// Same HMAC input as Stripe's v1, so the two schemes differ only in header name.
		stripeStyle := webhooksig.SignStripe(body, secret, now)
		assert.Equal(t, stripeStyle, good)
	})
	t.Run("a rotated secret's extra signature is accepted", func(t *testing.T) {
		old := webhooksig.SignCourier(body, "whsec_old", now)
		_, oldSig, _ := strings.Cut(old, ",")
		assert.NoError(t, webhooksig.VerifyCourier(body, good+","+oldSig, secret, now))
		assert.NoError(t, webhooksig.VerifyCourier(body, old+",v0=ignored", "whsec_old", now))
	})

	cases := []struct {
		name, header, secret, wantMsg string
		body                          []byte
		at                            time.Time
	}{
		{"tampered body", good, secret, "does not match", []byte(strings.Replace(string(body), "ord_1", "ord_2", 1)), now},
		{"wrong secret", good, "whsec_other", "does not match", body, now},
		{"stale timestamp", good, secret, "tolerance", body, now.Add(webhooksig.Tolerance + time.Second)},
		{"future timestamp", good, secret, "tolerance", body, now.Add(-webhooksig.Tolerance - time.Second)},
		{"missing header", "", secret, "missing", body, now},
		{"no pairs", "garbage", secret, "malformed", body, now},
		{"no timestamp", "v1=" + strings.Repeat("ab", 32), secret, "malformed", body, now},
		{"no signature", "t=1700000000", secret, "malformed", body, now},
		{"non-hex signature", "t=1700000000,v1=zz", secret, "malformed", body, now},
		{"short signature", "t=1700000000,v1=abcd", secret, "malformed", body, now},
		{"two timestamps", good + ",t=1700000001", secret, "malformed", body, now},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := webhooksig.VerifyCourier(c.body, c.header, c.secret, c.at)
			require.Error(t, err)
			assert.Equal(t, apperr.CodeUnauthorized, apperr.ErrorCode(err))
			assert.Contains(t, err.Error(), c.wantMsg)
		})
	}
}

// A receiver without a secret must fail loudly as its own fault, never accept or blame the sender.
func TestVerifyWithoutSecretIsAnInternalError(t *testing.T) {
	now := time.Now()
	err := webhooksig.VerifyStripe(body, webhooksig.SignStripe(body, "", now), "", now)
	require.Error(t, err)
	assert.Equal(t, apperr.CodeInternal, apperr.ErrorCode(err))
	err = webhooksig.VerifyCourier(body, webhooksig.SignCourier(body, "", now), "", now)
	require.Error(t, err)
	assert.Equal(t, apperr.CodeInternal, apperr.ErrorCode(err))
}
