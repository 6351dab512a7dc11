package host_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/httpx"
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
	require.EqualError(t, err, "X_SECRET is the published development value; outside DEV_MODE=1 set a secret of your own (signs x)")
	v, err = host.EnvOf(map[string]string{"X_SECRET": "mine"}).Secret("X_SECRET", "dev-x", "signs x")
	require.NoError(t, err)
	assert.Equal(t, "mine", v)
}

func TestServiceTokensOnePerCaller(t *testing.T) {
	assert.Equal(t, "SERVICE_TOKEN_ORDERS", host.ServiceTokenVar("orders"))

	tokens, err := host.ServiceTokens(host.EnvOf(map[string]string{"DEV_MODE": "1"}), "warehouse", "orders")
	require.NoError(t, err)
	assert.Equal(t, httpx.Tokens{"orders": host.DevServiceToken("orders")}, tokens)

	tokens, err = host.ServiceTokens(host.EnvOf(map[string]string{"SERVICE_TOKEN_ORDERS": "s3cret"}), "warehouse", "orders")
	require.NoError(t, err)
	assert.Equal(t, httpx.Tokens{"orders": "s3cret"}, tokens)

	_, err = host.ServiceTokens(host.EnvOf(nil), "warehouse", "orders")
	require.EqualError(t, err, "SERVICE_TOKEN_ORDERS is required outside DEV_MODE=1: the bearer token the orders service presents to the warehouse service")
	_, err = host.ServiceTokens(host.EnvOf(map[string]string{"SERVICE_TOKEN_ORDERS": host.DevServiceToken("orders")}), "warehouse", "orders")
	require.ErrorContains(t, err, "SERVICE_TOKEN_ORDERS is the published development value")
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
