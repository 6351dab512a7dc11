package host_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/webhooksig"
)

func TestSecretHasDevDefaultsOnlyInDevMode(t *testing.T) {
	dev := host.EnvOf(map[string]string{"DEV_MODE": "1"})
	v, err := dev.Secret("X_SECRET", "dev-x", "signs x")
	require.NoError(t, err)
	assert.Equal(t, "dev-x", v)
	v, err = host.EnvOf(map[string]string{"DEV_MODE": "1", "X_SECRET": "mine"}).Secret("X_SECRET", "dev-x", "signs x")
	require.NoError(t, err)
	assert.Equal(t, "mine", v)

	_, err = host.EnvOf(nil).Secret("X_SECRET", "dev-x", "signs x")
	require.EqualError(t, err, "X_SECRET is required outside DEV_MODE=1: signs x")
	_, err = host.EnvOf(map[string]string{"X_SECRET": "dev-x"}).Secret("X_SECRET", "dev-x", "signs x")
	require.EqualError(t, err, `X_SECRET holds the published development value "dev-x"; outside DEV_MODE=1 set a secret of your own (signs x)`)
	v, err = host.EnvOf(map[string]string{"X_SECRET": "mine-0123456789ab"}).Secret("X_SECRET", "dev-x", "signs x")
	require.NoError(t, err)
	assert.Equal(t, "mine-0123456789ab", v)
}

// Outside dev mode a secret a few guesses would find, or one of spaces, stops the start:
// a bearer token is tried at every request with no limit on guesses, and a webhook secret
// of one space signed a courier's report a probe forged.
func TestSecretOutsideDevModeIsLongEnoughAndUnpadded(t *testing.T) {
	for v, want := range map[string]string{
		"x":                  "X_SECRET has 1 characters; outside DEV_MODE=1 a secret needs at least 16 (e.g. openssl rand -hex 32)",
		"0123456789abcde":    "X_SECRET has 15 characters; outside DEV_MODE=1 a secret needs at least 16 (e.g. openssl rand -hex 32)",
		" ":                  "X_SECRET has spaces around it; outside DEV_MODE=1 a secret is its characters alone",
		"0123456789abcdef ":  "X_SECRET has spaces around it; outside DEV_MODE=1 a secret is its characters alone",
		"\t0123456789abcdef": "X_SECRET has spaces around it; outside DEV_MODE=1 a secret is its characters alone",
	} {
		_, err := host.EnvOf(map[string]string{"X_SECRET": v}).Secret("X_SECRET", "dev-x", "signs x")
		require.EqualError(t, err, want, "%q", v)
	}
	v, err := host.EnvOf(map[string]string{"X_SECRET": "0123456789abcdef"}).Secret("X_SECRET", "dev-x", "signs x")
	require.NoError(t, err)
	assert.Equal(t, "0123456789abcdef", v)
	v, err = host.EnvOf(map[string]string{"DEV_MODE": "1", "X_SECRET": "x"}).Secret("X_SECRET", "dev-x", "signs x")
	require.NoError(t, err, "dev mode takes what it is given")
	assert.Equal(t, "x", v)
}

func TestServiceTokensOnePerCaller(t *testing.T) {
	assert.Equal(t, "SERVICE_TOKEN_ORDERS", host.ServiceTokenVar("orders"))

	tokens, err := host.ServiceTokens(host.EnvOf(map[string]string{"DEV_MODE": "1"}), "warehouse", "orders")
	require.NoError(t, err)
	assert.Equal(t, httpx.Tokens{"orders": host.DevServiceToken("orders")}, tokens)

	tokens, err = host.ServiceTokens(host.EnvOf(map[string]string{"SERVICE_TOKEN_ORDERS": "s3cret-0123456789"}), "warehouse", "orders")
	require.NoError(t, err)
	assert.Equal(t, httpx.Tokens{"orders": "s3cret-0123456789"}, tokens)

	_, err = host.ServiceTokens(host.EnvOf(nil), "warehouse", "orders")
	require.EqualError(t, err, "SERVICE_TOKEN_ORDERS is required outside DEV_MODE=1: the bearer token the orders service presents to the warehouse service")
	_, err = host.ServiceTokens(host.EnvOf(map[string]string{"SERVICE_TOKEN_ORDERS": host.DevServiceToken("orders")}), "warehouse", "orders")
	require.ErrorContains(t, err, "SERVICE_TOKEN_ORDERS holds the published development value")
}

// Outside dev mode no variable may hold any secret's development value, nor one spelled
// into a longer value: a probe started the orders service with the courier's development
// secret as PAYMENT_WEBHOOK_SECRET, and with ORDER_TOKEN_SECRET the development value twice.
func TestNoSecretHoldsAnyPublishedValue(t *testing.T) {
	for _, v := range []string{
		webhooksig.DevCourierSecret, "x" + webhooksig.DevPaymentSecret + "0123456789",
		host.DevOrderTokenSecret + host.DevOrderTokenSecret, strings.ToUpper(host.DevManagerToken) + "-0123456789",
		host.DevOperatorToken + "-0123456789", host.DevServiceToken("warehouse"),
	} {
		_, err := host.EnvOf(map[string]string{"PAYMENT_WEBHOOK_SECRET": v}).Secret("PAYMENT_WEBHOOK_SECRET", webhooksig.DevPaymentSecret, "verifies payments")
		require.ErrorContains(t, err, "PAYMENT_WEBHOOK_SECRET holds the published development value", v)
		require.ErrorContains(t, host.CheckSecret("MANAGER_TOKENS' token of ana@example.com", v), "holds the published development value", v)
	}
	v, err := host.EnvOf(map[string]string{"DEV_MODE": "1", "PAYMENT_WEBHOOK_SECRET": webhooksig.DevCourierSecret}).Secret("PAYMENT_WEBHOOK_SECRET", webhooksig.DevPaymentSecret, "verifies payments")
	require.NoError(t, err, "dev mode takes what it is given")
	assert.Equal(t, webhooksig.DevCourierSecret, v)
}

// Outside dev mode two roles may not share a secret: with one secret for the payment
// provider and the courier (both an HMAC of the same text), a courier's signature paid an
// order a probe placed.
func TestDistinctSecretsOutsideDevMode(t *testing.T) {
	secrets := []host.Named{{What: "PAYMENT_WEBHOOK_SECRET", Value: "shared-0123456789"}, {What: "OPERATOR_TOKEN"},
		{What: "DELIVERY_WEBHOOK_SECRET", Value: "shared-0123456789"}}
	require.EqualError(t, host.EnvOf(nil).Distinct(secrets...),
		"PAYMENT_WEBHOOK_SECRET and DELIVERY_WEBHOOK_SECRET are the same secret; outside DEV_MODE=1 give each its own (e.g. openssl rand -hex 32)")
	require.NoError(t, host.EnvOf(map[string]string{"DEV_MODE": "1"}).Distinct(secrets...))
	secrets[2].Value = "other-0123456789"
	require.NoError(t, host.EnvOf(nil).Distinct(secrets...), "an unset one shares nothing")
}

func TestTokensParsesIdentityTokenPairs(t *testing.T) {
	tokens, err := host.EnvOf(map[string]string{"T": " ana@example.com:t1 , bob@example.com:t:2"}).Tokens("T")
	require.NoError(t, err)
	assert.Equal(t, httpx.Tokens{"ana@example.com": "t1", "bob@example.com": "t:2"}, tokens)

	tokens, err = host.EnvOf(nil).Tokens("T")
	require.NoError(t, err)
	assert.Empty(t, tokens)

	for spec, want := range map[string]string{
		"ana@example.com":                       "T: entry 1 is not <identity>:<token>",
		"ana@example.com:t1,:t2":                "T: entry 2 is not <identity>:<token>",
		"ana@example.com:t1,bob@example.com:":   "T: entry 2 is not <identity>:<token>",
		"ana@example.com:t1,ana@example.com:2":  "T: ana@example.com is listed twice; give each identity one token",
		"ana@example.com:t1,bob@example.com:t1": "T: ana@example.com and bob@example.com share a token; give each its own",
	} {
		_, err := host.EnvOf(map[string]string{"T": spec}).Tokens("T")
		assert.EqualError(t, err, want, spec)
	}
}

// A URL refused at start-up is repeated without its password: SMTP_URL may carry one, and
// a probe's start-up line printed it.
func TestARefusedURLIsNotRepeatedWithItsPassword(t *testing.T) {
	env := host.EnvOf(map[string]string{"SMTP_URL": "smtp://user:Hunter2pw@", "BAD": "smtp://user:Hunter2pw@%zz",
		"NO_SCHEME": "user:Hunter2pw@smtp.example.com:587"})
	_, err := env.URL("SMTP_URL", "", "smtp")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `SMTP_URL="smtp://user:xxxxx@" is not a smtp:// URL with a host`)
	for _, key := range []string{"BAD", "NO_SCHEME"} {
		_, err = env.URL(key, "", "smtp")
		require.Error(t, err, key)
		assert.NotContains(t, err.Error(), "Hunter2pw", key)
	}
}
