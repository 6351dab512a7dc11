package host

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// The development values of the orders service's tokens, stand-ins in dev mode when
// MANAGER_TOKENS, OPERATOR_TOKEN and ORDER_TOKEN_SECRET are unset.
const (
	DevManagerToken     = "dev-manager-token"
	DevOperatorToken    = "dev-operator-token"
	DevOrderTokenSecret = "dev-order-token-secret"
)

// devServiceTokenPrefix begins every service's development token (DevServiceToken).
const devServiceTokenPrefix = "dev-service-token-"

// published are the development values of every secret and token: they are published in
// this repository, so outside dev mode none may be used, under whichever variable, nor
// spelled into a longer value (a probe reached ORDER_TOKEN_SECRET's 32 characters by
// writing the development value twice).
var published = []string{
	webhooksig.DevPaymentSecret, webhooksig.DevCourierSecret,
	DevManagerToken, DevOperatorToken, DevOrderTokenSecret, devServiceTokenPrefix,
}

// Secret reads a secret or token from variable key. In dev mode an unset one is dev, the
// development value. Outside dev mode it must be set, not hold dev, and pass CheckSecret:
// no development value, which would open the door to anyone. purpose says what the secret is for, so the
// refusal tells an operator what to provide.
func (e Env) Secret(key, dev, purpose string) (string, error) {
	v := e(key)
	if DevMode(e) {
		return e.String(key, dev), nil
	}
	switch {
	case v == "":
		return "", fmt.Errorf("%s is required outside DEV_MODE=1: %s", key, purpose)
	case dev != "" && strings.Contains(strings.ToLower(v), strings.ToLower(dev)):
		return "", fmt.Errorf("%s holds the published development value %q; outside DEV_MODE=1 set a secret of your own (%s)", key, dev, purpose)
	}
	if err := CheckSecret(key, v); err != nil {
		return "", err
	}
	return v, nil
}

// MinSecretLength is the fewest characters a secret or token may have outside dev mode.
// A bearer token is checked at every request with no limit on guesses, and a webhook
// secret keys the HMAC a forged report would need: one of a few characters ("x") is
// guessed in as many requests. Sixteen random characters are out of reach; the README
// suggests `openssl rand -hex 32`.
const MinSecretLength = 16

// CheckSecret refuses, outside dev mode, a secret (named by what for the message) that
// holds a published development value, is shorter than MinSecretLength, has spaces
// around it (a value of spaces, or a token pasted with a space that no client would
// send) or a space or control character within it (a newline: no header can carry it),
// or is a placeholder, not random characters (placeholder).
func CheckSecret(what, v string) error {
	for _, p := range published {
		if strings.Contains(strings.ToLower(v), p) {
			return fmt.Errorf("%s holds the published development value %q; outside DEV_MODE=1 set a secret of your own (e.g. openssl rand -hex 32)", what, p)
		}
	}
	switch {
	case strings.TrimSpace(v) != v:
		return fmt.Errorf("%s has spaces around it; outside DEV_MODE=1 a secret is its characters alone", what)
	case strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fmt.Errorf("%s has a space or a control character (a line break?) in it; outside DEV_MODE=1 a secret is printable characters, as a header carries them (e.g. openssl rand -hex 32)", what)
	case len(v) < MinSecretLength:
		return fmt.Errorf("%s has %d characters; outside DEV_MODE=1 a secret needs at least %d (e.g. openssl rand -hex 32)", what, len(v), MinSecretLength)
	}
	if why := placeholder(v); why != "" {
		return fmt.Errorf("%s %s, which is guessed, not random; outside DEV_MODE=1 set random characters (e.g. openssl rand -hex 32)", what, why)
	}
	return nil
}

// runLength is the longest run placeholder lets a secret hold: one longer comes in random
// hex characters about once in a hundred million places.
const runLength = 7

// placeholder says how v is a value typed to fill the variable rather than random
// characters (a probe started every service with 1111111111111111, passwordpassword and
// abcdefghijklmnop), or "", never echoing the value (it goes to the log). It finds the
// two shapes such values take: a shorter text
// repeated (aaaa…, changemechangeme), and a run of more than runLength
// characters each one step from the last, the same step throughout (12345678…, zyxw…).
// Random characters take either shape less than once in a million secrets. It is no
// measure of strength: a word or a name passes; the README says to generate secrets.
func placeholder(v string) string {
	r := []rune(v)
	for p := 1; p <= len(r)/2; p++ {
		if string(r[p:]) == string(r[:len(r)-p]) {
			return "is a shorter text repeated"
		}
	}
	run := 1
	for i := 1; i < len(r); i++ {
		d := r[i] - r[i-1]
		switch {
		case d < -1 || d > 1:
			run = 1
		case run == 1 || d == r[i-1]-r[i-2]:
			run++
		default:
			run = 2
		}
		if run > runLength {
			end := i + 1
			for end < len(r) && r[end]-r[end-1] == d {
				end++
			}
			return fmt.Sprintf("holds a run of %d characters, each one step from the last (as in 12345678 or aaaaaaaa)", end-(i+1-run))
		}
	}
	return ""
}

// ServiceTokenVar names the variable that holds the bearer token caller presents to the
// other services' procedures: SERVICE_TOKEN_ORDERS for "orders". The caller and every
// service it calls read the same variable.
func ServiceTokenVar(caller string) string {
	return "SERVICE_TOKEN_" + strings.ToUpper(caller)
}

// DevServiceToken is the token caller presents in dev mode when its variable is unset.
func DevServiceToken(caller string) string {
	return devServiceTokenPrefix + caller
}

// Named is a secret with what it is (its variable, or its entry of one), for messages.
type Named struct{ What, Value string }

// Distinct refuses, outside dev mode, one value for two secrets: each is a role's, and one
// value shared would let each role act as the other. Both webhook schemes are an HMAC of
// the same text, so with one secret for the payment provider and the courier, a courier's
// signature paid orders. Unset values (an optional token) are passed over.
func (e Env) Distinct(secrets ...Named) error {
	if DevMode(e) {
		return nil
	}
	seen := map[string]string{}
	for _, s := range secrets {
		if s.Value == "" {
			continue
		}
		if other, ok := seen[s.Value]; ok {
			return fmt.Errorf("%s and %s are the same secret; outside DEV_MODE=1 give each its own (e.g. openssl rand -hex 32)", other, s.What)
		}
		seen[s.Value] = s.What
	}
	return nil
}

// ServiceTokens reads the tokens of the services allowed to call callee's procedures, one
// variable per caller (ServiceTokenVar), with Secret's rules: development tokens only in
// dev mode, and outside it a missing token stops the service from starting.
func ServiceTokens(env Env, callee string, callers ...string) (httpx.Tokens, error) {
	tokens := httpx.Tokens{}
	for _, caller := range callers {
		token, err := env.Secret(ServiceTokenVar(caller), DevServiceToken(caller),
			fmt.Sprintf("the bearer token the %s service presents to the %s service", caller, callee))
		if err != nil {
			return nil, err
		}
		tokens[caller] = token
	}
	return tokens, nil
}

// Tokens reads "identity:token,identity:token" (e.g. MANAGER_TOKENS=ana@example.com:t1,
// bob@example.com:t2): each identity once, each token once, so a token names exactly one
// identity. Unset is no tokens.
func (e Env) Tokens(key string) (httpx.Tokens, error) {
	tokens := httpx.Tokens{}
	if strings.TrimSpace(e(key)) == "" {
		return tokens, nil
	}
	owner := map[string]string{}
	entryOf := map[string]int{} // an identity's entry, by number
	for i, entry := range strings.Split(e(key), ",") {
		identity, token, ok := strings.Cut(strings.TrimSpace(entry), ":")
		identity, token = strings.TrimSpace(identity), strings.TrimSpace(token)
		switch {
		case !ok || identity == "" || token == "":
			return nil, fmt.Errorf("%s: entry %d is not <identity>:<token>", key, i+1)
		case tokens[identity] != "":
			// Entries are named by number, not by value, here and below: one written token
			// first (<token>:<identity>, an easy slip) has its token where the identity goes,
			// and the error line, in the service's log, printed it (a probe).
			return nil, fmt.Errorf("%s: entries %d and %d name the same identity (the part before ':'; not repeated here, as it may be a token written first); give each identity one token", key, entryOf[identity], i+1)
		case owner[token] != "":
			return nil, fmt.Errorf("%s: entries %d and %d share a token; give each identity its own", key, entryOf[owner[token]], i+1)
		}
		tokens[identity], owner[token], entryOf[identity] = token, identity, i+1
	}
	return tokens, nil
}
