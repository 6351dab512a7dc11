// Package webhooksig signs and verifies the webhooks the payment provider and the courier
// send to the orders service. Both schemes put a timestamp and an HMAC-SHA256 of
// "<timestamp>.<body>" in one header, so a captured request can be neither altered nor
// replayed after the tolerance window. The simulators sign with it and the orders service
// verifies with it, so both sides always agree on the construction.
package webhooksig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/ordermill/ordermill/domain/apperr"
)

// StripeHeader carries the payment provider's signature, as Stripe names it.
const StripeHeader = "Stripe-Signature"

// Development secrets, used by every service only when DEV_MODE=1 and no secret is set, so
// the simulators and the orders service agree without any set-up.
const (
	DevPaymentSecret = "whsec_ordermill_dev"
	DevCourierSecret = "courier_ordermill_dev"
)

// CourierHeader carries the courier's signature.
const CourierHeader = "X-Courier-Signature"

// Tolerance is how far a signature's timestamp may be from the receiver's clock: long enough
// for clock skew and retries in flight, short enough to make a captured request useless.
const Tolerance = 5 * time.Minute

// errNoSecret is deliberately not an apperr: an unconfigured secret is the receiver's fault,
// so it must surface as a logged internal error, not as the sender's 401.
var errNoSecret = errors.New("webhooksig: no webhook secret configured")

// SignStripe returns the Stripe-Signature header value for payload, exactly as Stripe
// computes it, so the orders service can verify it with stripe-go.
func SignStripe(payload []byte, secret string, now time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
		Payload:   payload,
		Secret:    secret,
		Timestamp: now,
		Scheme:    "v1",
	}).Header
}

// VerifyStripe checks a Stripe-Signature header at now with stripe-go itself, so our
// verification is the provider's, not a look-alike. It validates only the signature: our
// webhook body is not a Stripe event object, which ConstructEvent would insist on. The
// timestamp must be within Tolerance of now either way: stripe-go refuses only old ones,
// and a signature from the future would stay valid until long after it was captured.
func VerifyStripe(payload []byte, header, secret string, now time.Time) error {
	if secret == "" {
		return errNoSecret
	}
	if header == "" {
		return unauthorized("missing %s header", StripeHeader)
	}
	t, _, err := parseHeader(StripeHeader, header)
	if err != nil {
		return err
	}
	if err := checkTimestamp(StripeHeader, t, now); err != nil {
		return err
	}
	err = webhook.ValidatePayloadIgnoringTolerance(payload, header, secret)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, webhook.ErrNoValidSignature):
		return unauthorized("%s does not match the body", StripeHeader)
	default:
		return unauthorized("malformed %s header: want t=<unix seconds>,v1=<hex signature>", StripeHeader)
	}
}

// SignCourier returns the X-Courier-Signature header value for payload signed at now.
func SignCourier(payload []byte, secret string, now time.Time) string {
	t := now.Unix()
	return "t=" + strconv.FormatInt(t, 10) + ",v1=" + hex.EncodeToString(courierMAC(t, payload, secret))
}

// VerifyCourier checks an X-Courier-Signature header against payload at now. As for Stripe's
// scheme, a timestamp too far in the future is refused as well, so a sender with a skewed
// clock cannot mint signatures that stay valid longer than Tolerance. Several v1 values are
// accepted, so a secret can be rotated without dropping webhooks.
func VerifyCourier(payload []byte, header, secret string, now time.Time) error {
	if secret == "" {
		return errNoSecret
	}
	if header == "" {
		return unauthorized("missing %s header", CourierHeader)
	}
	t, sigs, err := parseHeader(CourierHeader, header)
	if err != nil {
		return err
	}
	if err := checkTimestamp(CourierHeader, t, now); err != nil {
		return err
	}
	want := courierMAC(t, payload, secret)
	for _, sig := range sigs {
		if hmac.Equal(want, sig) {
			return nil
		}
	}
	return unauthorized("%s does not match the body", CourierHeader)
}

// checkTimestamp refuses a signature made more than Tolerance before or after now, in
// both schemes.
func checkTimestamp(name string, t int64, now time.Time) error {
	if d := now.Sub(time.Unix(t, 0)); d > Tolerance || d < -Tolerance {
		return unauthorized("%s timestamp is outside the %s tolerance", name, Tolerance)
	}
	return nil
}

// parseHeader reads the "t=<unix seconds>,v1=<hex>[,v1=<hex>…]" header both schemes use.
func parseHeader(name, header string) (int64, [][]byte, error) {
	malformed := unauthorized("malformed %s header: want t=<unix seconds>,v1=<hex signature>", name)
	var (
		t     int64
		haveT bool
		sigs  [][]byte
	)
	for pair := range strings.SplitSeq(header, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return 0, nil, malformed
		}
		switch key {
		case "t":
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || haveT {
				return 0, nil, malformed
			}
			t, haveT = n, true
		case "v1":
			sig, err := hex.DecodeString(value)
			if err != nil || len(sig) != sha256.Size {
				return 0, nil, malformed
			}
			sigs = append(sigs, sig)
		default:
			// Unknown schemes are skipped, as Stripe does, so a future v2 can be added
			// alongside v1 without breaking receivers that only know v1.
		}
	}
	if !haveT || len(sigs) == 0 {
		return 0, nil, malformed
	}
	return t, sigs, nil
}

func courierMAC(t int64, payload []byte, secret string) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(t, 10)))
	mac.Write([]byte("."))
	mac.Write(payload)
	return mac.Sum(nil)
}

func unauthorized(format string, args ...any) error {
	return apperr.Errorf(apperr.CodeUnauthorized, format, args...)
}
