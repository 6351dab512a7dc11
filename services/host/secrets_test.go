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
	v, err = host.EnvOf(map[string]string{"X_SECRET": "mine-7f3a9c1e52ab"}).Secret("X_SECRET", "dev-x", "signs x")
	require.NoError(t, err)
	assert.Equal(t, "mine-7f3a9c1e52ab", v)
}

// Outside dev mode a secret a few guesses would find, or one of spaces, stops the start:
// a bearer token is tried at every request with no limit on guesses, and a webhook secret
// of one space signed a courier's report a probe forged.
func TestSecretOutsideDevModeIsLongEnoughAndUnpadded(t *testing.T) {
	for v, want := range map[string]string{
		"x":                  "X_SECRET has 1 characters; outside DEV_MODE=1 a secret needs at least 16 (e.g. openssl rand -hex 32)",
		"7f3a9c1e52abcde":    "X_SECRET has 15 characters; outside DEV_MODE=1 a secret needs at least 16 (e.g. openssl rand -hex 32)",
		" ":                  "X_SECRET has spaces around it; outside DEV_MODE=1 a secret is its characters alone",
		"7f3a9c1e52abcdef ":  "X_SECRET has spaces around it; outside DEV_MODE=1 a secret is its characters alone",
		"\t7f3a9c1e52abcdef": "X_SECRET has spaces around it; outside DEV_MODE=1 a secret is its characters alone",
	} {
		_, err := host.EnvOf(map[string]string{"X_SECRET": v}).Secret("X_SECRET", "dev-x", "signs x")
		require.EqualError(t, err, want, "%q", v)
	}
	v, err := host.EnvOf(map[string]string{"X_SECRET": "7f3a9c1e52abcdef"}).Secret("X_SECRET", "dev-x", "signs x")
	require.NoError(t, err)
	assert.Equal(t, "7f3a9c1e52abcdef", v)
	v, err = host.EnvOf(map[string]string{"DEV_MODE": "1", "X_SECRET": "x"}).Secret("X_SECRET", "dev-x", "signs x")
	require.NoError(t, err, "dev mode takes what it is given")
	assert.Equal(t, "x", v)
}

// Outside dev mode a value typed to fill the variable stops the start: a probe started
// every service with secrets such as 1111111111111111 and abcdefghijklmnop, which pass a
// length check and are guessed first. Random characters of any alphabet pass.
func TestSecretOutsideDevModeIsNoPlaceholder(t *testing.T) {
	for v, want := range map[string]string{
		"1111111111111111":              `X_SECRET is a shorter text repeated, which is guessed, not random`,
		"passwordpassword":              `X_SECRET is a shorter text repeated, which is guessed, not random`,
		"changemechangemechangeme":      `X_SECRET is a shorter text repeated, which is guessed, not random`,
		"abcdefghijklmnop":              `X_SECRET holds a run of 16 characters, each one step from the last`,
		"1234567890123456":              `X_SECRET holds a run of 9 characters, each one step from the last`,
		"secret-zyxwvutsrq":             `X_SECRET holds a run of 10 characters, each one step from the last`,
		"token-aaaaaaaa-9c1e":           `X_SECRET holds a run of 8 characters, each one step from the last`,
		"aaaaaaaa\naaaaaaaa":            "X_SECRET has a space or a control character (a line break?) in it",
		"9c1e52b7 f3a04d8e":             "X_SECRET has a space or a control character (a line break?) in it",
		"\x00" + "9c1e52b7f3a04d8e6a21": "X_SECRET has a space or a control character (a line break?) in it",
	} {
		_, err := host.EnvOf(map[string]string{"X_SECRET": v}).Secret("X_SECRET", "dev-x", "signs x")
		require.ErrorContains(t, err, want, "%q", v)
		assert.NotContains(t, err.Error(), v, "the message, for the log, does not show the value")
	}
	for _, v := range []string{
		"9c1e52b7f3a04d8e", "f79a24c5c0a85fa00f401786ea92a2711044dbdd2cf3f8f0ce45e687a23a9a73",
		"k7JqZ2vX9pLmN4wR8tYb", "abcdefg-1234567-gfedcba", "aabbccdd11223344", "mY-Shop-Webhook-Key-2026",
	} {
		_, err := host.EnvOf(map[string]string{"X_SECRET": v}).Secret("X_SECRET", "dev-x", "signs x")
		require.NoError(t, err, "%q", v)
	}
}

func TestServiceTokensOnePerCaller(t *testing.T) {
	assert.Equal(t, "SERVICE_TOKEN_ORDERS", host.ServiceTokenVar("orders"))

	tokens, err := host.ServiceTokens(host.EnvOf(map[string]string{"DEV_MODE": "1"}), "warehouse", "orders")
	require.NoError(t, err)
	assert.Equal(t, httpx.Tokens{"orders": host.DevServiceToken("orders")}, tokens)

	tokens, err = host.ServiceTokens(host.EnvOf(map[string]string{"SERVICE_TOKEN_ORDERS": "s3cret-7f3a9c1e52"}), "warehouse", "orders")
	require.NoError(t, err)
	assert.Equal(t, httpx.Tokens{"orders": "s3cret-7f3a9c1e52"}, tokens)

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
		webhooksig.DevCourierSecret, "x" + webhooksig.DevPaymentSecret + "7f3a9c1e52",
		host.DevOrderTokenSecret + host.DevOrderTokenSecret, strings.ToUpper(host.DevManagerToken) + "-7f3a9c1e52",
		host.DevOperatorToken + "-7f3a9c1e52", host.DevServiceToken("warehouse"),
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
	secrets := []host.Named{{What: "PAYMENT_WEBHOOK_SECRET", Value: "shared-7f3a9c1e52"}, {What: "OPERATOR_TOKEN"},
		{What: "DELIVERY_WEBHOOK_SECRET", Value: "shared-7f3a9c1e52"}}
	require.EqualError(t, host.EnvOf(nil).Distinct(secrets...),
		"PAYMENT_WEBHOOK_SECRET and DELIVERY_WEBHOOK_SECRET are the same secret; outside DEV_MODE=1 give each its own (e.g. openssl rand -hex 32)")
	require.NoError(t, host.EnvOf(map[string]string{"DEV_MODE": "1"}).Distinct(secrets...))
	secrets[2].Value = "other-7f3a9c1e52"
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
		"ana@example.com:t1,ana@example.com:2":  "T: entries 1 and 2 name the same identity (the part before ':'; not repeated here, as it may be a token written first); give each identity one token",
		"ana@example.com:t1,bob@example.com:t1": "T: entries 1 and 2 share a token; give each identity its own",
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
