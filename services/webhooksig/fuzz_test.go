package webhooksig_test

import (
	"testing"
	"time"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// fuzzNow is the receiver's clock in the fuzz targets: fixed, so a seed means the same
// thing on every run.
var fuzzNow = time.Unix(1_800_000_000, 0)

// signatureSeeds are headers both schemes meet in the wild: well formed, rotated,
// truncated, with unknown schemes, repeated or missing parts, and numbers at the edges.
func signatureSeeds(f *testing.F, sign func([]byte, string, time.Time) string) {
	good := sign(body, secret, fuzzNow)
	for _, h := range []string{
		good,
		good + ",v1=" + "00000000000000000000000000000000000000000000000000000000000000ff",
		good + ",v0=abc,v2=zz",
		"t=1800000000",
		"v1=" + good[len(good)-64:],
		"t=1800000000,t=1800000000," + good[len(good)-67:],
		"t=-9223372036854775808,v1=" + good[len(good)-64:],
		"t=9223372036854775807,v1=" + good[len(good)-64:],
		"t=1800000000,v1=zz",
		"t=,v1=",
		",,,",
		"=",
		" t = 1 , v1 = 2 ",
		"t=1800000000,v1=" + good[len(good)-63:],
	} {
		f.Add(body, h)
	}
	f.Add([]byte{}, "")
	f.Add([]byte("\x00\xff"), good)
}

// checkVerdict holds a verifier to its contract for any body and header: it never
// panics, a failure is the sender's 401 (a configured secret is never an internal error),
// and it accepts only what the sender signed with the secret at a time within Tolerance.
func checkVerdict(t *testing.T, payload []byte, header string, verify func([]byte, string, string, time.Time) error, sign func([]byte, string, time.Time) string) {
	err := verify(payload, header, secret, fuzzNow)
	if err != nil {
		if code := apperr.ErrorCode(err); code != apperr.CodeUnauthorized {
			t.Fatalf("verify(%q, %q) = %v (code %s), want an unauthorized error", payload, header, err, code)
		}
	} else if header == "" {
		t.Fatalf("an empty header was accepted for %q", payload)
	}
	// Whatever the header, the body signed now must verify, and a different secret must not.
	good := sign(payload, secret, fuzzNow)
	if err := verify(payload, good, secret, fuzzNow); err != nil {
		t.Fatalf("a correct signature of %q was refused: %v", payload, err)
	}
	if err := verify(payload, good, secret+"x", fuzzNow); err == nil {
		t.Fatalf("a signature of %q verified under another secret", payload)
	}
	if err := verify(payload, good, secret, fuzzNow.Add(webhooksig.Tolerance+time.Second)); err == nil {
		t.Fatalf("a signature of %q verified after the tolerance window", payload)
	}
}

func FuzzVerifyCourier(f *testing.F) {
	signatureSeeds(f, webhooksig.SignCourier)
	f.Fuzz(func(t *testing.T, payload []byte, header string) {
		checkVerdict(t, payload, header, webhooksig.VerifyCourier, webhooksig.SignCourier)
	})
}

func FuzzVerifyStripe(f *testing.F) {
	signatureSeeds(f, webhooksig.SignStripe)
	f.Fuzz(func(t *testing.T, payload []byte, header string) {
		checkVerdict(t, payload, header, webhooksig.VerifyStripe, webhooksig.SignStripe)
	})
}
