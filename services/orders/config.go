package orders

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/orders/dashboard"
	"github.com/ordermill/ordermill/services/orders/inbox"
	"github.com/ordermill/ordermill/services/orders/mailer"
	"github.com/ordermill/ordermill/services/orders/workflow"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// MaxMailSenders bounds MAIL_SENDERS: each sender is a goroutine and a buffered slot, and
// a probe's MAIL_SENDERS=100000000 took 23 GB before the service could hear SIGTERM. More
// senders than a mail server takes connections from one client gain nothing.
const MaxMailSenders = 256

// MaxConfirmApprovalAbove bounds CONFIRM_APPROVAL_ABOVE (whole currency units): the amount
// in cents must fit an order total (a larger value wrapped round to a negative one).
const MaxConfirmApprovalAbove = 1_000_000_000_000

// MinOrderTokenSecret is the shortest ORDER_TOKEN_SECRET accepted outside dev mode: it
// keys the HMAC that every customer's access token is, so it must not be guessable.
const MinOrderTokenSecret = 32

// DevManagerEmail and DevDashboardPassword are the dashboard account DEV_MODE creates
// (the password can be changed with DASHBOARD_DEV_PASSWORD).
const (
	DevManagerEmail      = dashboard.DevManagerEmail
	DevDashboardPassword = dashboard.DevDashboardPassword
)

// Defaults of MAIL_FROM, DASHBOARD_SESSION_TTL, WAREHOUSE_URL, PAYMENTS_URL and DELIVERY_URL.
const (
	DefaultMailFrom     = mailer.DefaultFrom
	DefaultSessionTTL   = dashboard.DefaultSessionTTL
	DefaultWarehouseURL = "http://localhost:3003"
	DefaultPaymentsURL  = "http://localhost:3002"
	DefaultDeliveryURL  = "http://localhost:3004"
)

// DefaultConfirmApprovalAbove is the amount (major units of the order's currency, or its
// equivalent as risk.InCurrency scales it where that is smaller) above which approving on
// the dashboard needs a typed confirmation.
const DefaultConfirmApprovalAbove = 10_000

// DefaultClaimTTL is how long a manager's claim on a pending order lasts (CLAIM_TTL).
const DefaultClaimTTL = 15 * time.Minute

// About says what the orders binary is, for its --help.
const About = "Runs the orders service: the public API, the provider webhooks, the manager dashboard, the order saga and the projections."

// Vars are the variables the orders service reads besides every process's (host.ProcessVars).
var Vars = append(slices.Clone(workflow.Vars), []host.Var{
	{Name: "MANAGER_TOKENS", Default: DevManagerEmail + ":" + host.DevManagerToken + " in dev mode", Meaning: "<email>:<token>,...: the managers who may approve over the API, each with their own bearer token; required outside dev mode"},
	{Name: "MANAGER_TOKEN", Default: "", Meaning: "refused: replaced by MANAGER_TOKENS, so that an approval names its manager"},
	{Name: host.ServiceTokenVar("orders"), Default: host.DevServiceToken("orders") + " in dev mode", Meaning: "dev mode only: the bearer token the dashboard's simulator buttons present to the payments and delivery simulators; ignored outside dev mode, so the production orders service holds no service token"},
	{Name: "PAYMENT_WEBHOOK_SECRET", Default: webhooksig.DevPaymentSecret + " in dev mode", Meaning: "verifies the payment provider's webhooks (Stripe-Signature); required outside dev mode"},
	{Name: "DELIVERY_WEBHOOK_SECRET", Default: webhooksig.DevCourierSecret + " in dev mode", Meaning: "verifies the courier's webhooks (X-Courier-Signature); required outside dev mode"},
	{Name: "ORDER_TOKEN_SECRET", Default: host.DevOrderTokenSecret + " in dev mode", Meaning: "key of the customers' order access tokens, the same on every replica; required (32+ characters) outside dev mode"},
	{Name: "OPERATOR_TOKEN", Default: host.DevOperatorToken + " in dev mode", Meaning: "bearer token that reads every order, list and inbox (unset outside dev mode: closed to the API)"},
	{Name: "SMTP_URL", Default: "", Meaning: "send emails: smtp://user:pass@host:587 (STARTTLS, required unless the host is loopback or ?tls=optional is added) or smtps://user:pass@host:465 (TLS from the start); unset, they are recorded and logged"},
	{Name: "MAIL_FROM", Default: DefaultMailFrom, Meaning: "sender address of every email"},
	{Name: "MAIL_SENDERS", Default: strconv.Itoa(mailer.DefaultSenders), Meaning: "how many emails go to SMTP at once; a crash mid-send leaves at most this many in doubt, never retried (at most once); one the server certainly did not take is tried again for 24 h"},
	{Name: "DEV_MAILBOX_URL", Default: "", Meaning: "dev mode only: the web mailbox that catches the emails (make run: Mailpit, http://localhost:8025); the dashboard's notifications link to it"},
	{Name: "CONFIRM_APPROVAL_ABOVE", Default: strconv.Itoa(DefaultConfirmApprovalAbove), Meaning: "orders whose total is above this amount (major units of the order's currency, or its equivalent as the risk bands scale it where that is smaller) need the order's short id typed to be approved on the dashboard; 0: never"},
	{Name: "IDEMPOTENCY_KEY_TTL", Default: DefaultIdempotencyKeyTTL.String(), Meaning: "how long an Idempotency-Key names the order it placed: a retry within it is replayed, the same key later places a new order; older keys are deleted every minute"},
	{Name: "WEBHOOK_INBOX_RETENTION", Default: inbox.DefaultRetention.String(), Meaning: "how long the webhook inbox (GET /api/webhooks) keeps a webhook, whatever its outcome; older ones are deleted every minute; at least " + inbox.MinRetention.String() + ", past the providers' retries"},
	{Name: "CLAIM_TTL", Default: DefaultClaimTTL.String(), Meaning: "how long a manager's claim on a pending order (\"Ana is reviewing\") lasts before it lapses on its own"},
	{Name: "DASHBOARD_SESSION_TTL", Default: DefaultSessionTTL.String(), Meaning: "how long a dashboard sign-in lasts"},
	{Name: "DASHBOARD_DEV_PASSWORD", Default: DevDashboardPassword + " in dev mode", Meaning: "password of the dev dashboard account " + DevManagerEmail},
	{Name: "COOKIE_SECURE", Default: "", Meaning: "1: mark the session cookie Secure when TLS ends at a proxy"},
	{Name: "CLIENT_IP_HEADER", Default: "", Meaning: "header a reverse proxy sets to the client's address (X-Real-IP), for the sign-in limits"},
	{Name: "WAREHOUSE_URL", Default: DefaultWarehouseURL, Meaning: "the warehouse whose public catalog prices new orders"},
	{Name: "PAYMENTS_URL", Default: DefaultPaymentsURL, Meaning: "where the dashboard's dev simulator buttons reach the payment simulator"},
	{Name: "DELIVERY_URL", Default: DefaultDeliveryURL, Meaning: "where the dashboard's dev simulator buttons reach the courier simulator"},
}...)

// ConfigFromEnv reads the orders service's configuration from the environment.
func ConfigFromEnv(env host.Env) (Config, error) {
	dev := host.DevMode(env)
	cfg := Config{
		DevMode:        dev,
		MailFrom:       env("MAIL_FROM"),
		ClientIPHeader: env("CLIENT_IP_HEADER"),
	}
	var err error
	if h := cfg.ClientIPHeader; h != "" && !headerName(h) {
		return cfg, fmt.Errorf("CLIENT_IP_HEADER=%q is not a header name like X-Real-IP", apperr.Excerpt(h))
	}
	if cfg.MailFrom != "" {
		// The sender of every email, in the header and SMTP's envelope: a server refuses
		// each email sent from a malformed one, for good (emails are sent at most once).
		if !limits.ValidEmail(cfg.MailFrom) {
			return cfg, fmt.Errorf("MAIL_FROM=%q is not an email address like orders@shop.example", apperr.Excerpt(cfg.MailFrom))
		}
		// An internationalised domain goes out as xn--…, which every server takes; a local
		// part beyond ASCII only a server with SMTPUTF8 takes, so every email would fail.
		given := cfg.MailFrom
		local, _, _ := strings.Cut(given, "@")
		if !mailer.IsASCII(local) {
			return cfg, fmt.Errorf("MAIL_FROM=%q: the part before @ must be ASCII, which every mail server takes", apperr.Excerpt(given))
		}
		if cfg.MailFrom = mailer.ASCIIDomain(given); !mailer.IsASCII(cfg.MailFrom) {
			return cfg, fmt.Errorf("MAIL_FROM=%q: its domain is not a name IDNA can write in ASCII (xn--…), as mail servers take it", apperr.Excerpt(given))
		}
	}
	if cfg.SMTPURL, err = env.URL("SMTP_URL", "", "smtp", "smtps"); err != nil {
		return cfg, err
	} else if cfg.SMTPURL != "" {
		if err := mailer.CheckSMTPURL(cfg.SMTPURL); err != nil {
			return cfg, err
		}
	}
	for _, u := range []struct {
		to       *string
		key, def string
	}{
		{&cfg.WarehouseURL, "WAREHOUSE_URL", DefaultWarehouseURL},
		{&cfg.PaymentsURL, "PAYMENTS_URL", DefaultPaymentsURL},
		{&cfg.DeliveryURL, "DELIVERY_URL", DefaultDeliveryURL},
	} {
		if *u.to, err = env.URL(u.key, u.def, "http", "https"); err != nil {
			return cfg, err
		}
	}
	if cfg.CookieSecure, err = env.Bool("COOKIE_SECURE"); err != nil {
		return cfg, err
	}
	if dev {
		cfg.ServiceToken = env.String(host.ServiceTokenVar("orders"), host.DevServiceToken("orders"))
		cfg.DashboardDevPassword = env.String("DASHBOARD_DEV_PASSWORD", DevDashboardPassword)
		if cfg.DevMailboxURL, err = env.URL("DEV_MAILBOX_URL", "", "http", "https"); err != nil {
			return cfg, err
		}
	}
	if cfg.ManagerTokens, err = managerTokens(env); err != nil {
		return cfg, err
	}
	if cfg.PaymentWebhookSecret, err = env.Secret("PAYMENT_WEBHOOK_SECRET", webhooksig.DevPaymentSecret,
		"the secret that verifies the payment provider's webhooks"); err != nil {
		return cfg, err
	}
	if cfg.DeliveryWebhookSecret, err = env.Secret("DELIVERY_WEBHOOK_SECRET", webhooksig.DevCourierSecret,
		"the secret that verifies the courier's webhooks"); err != nil {
		return cfg, err
	}
	if cfg.OrderTokenSecret, err = env.Secret("ORDER_TOKEN_SECRET", host.DevOrderTokenSecret,
		"the key of the access tokens customers read their orders with"); err != nil {
		return cfg, err
	}
	if !dev && len(cfg.OrderTokenSecret) < MinOrderTokenSecret {
		return cfg, fmt.Errorf("ORDER_TOKEN_SECRET needs at least %d characters outside DEV_MODE=1 (e.g. openssl rand -hex 32)", MinOrderTokenSecret)
	}
	if cfg.OperatorToken, err = operatorToken(env); err != nil {
		return cfg, err
	}
	secrets := []host.Named{{What: "PAYMENT_WEBHOOK_SECRET", Value: cfg.PaymentWebhookSecret}, {What: "DELIVERY_WEBHOOK_SECRET", Value: cfg.DeliveryWebhookSecret},
		{What: "ORDER_TOKEN_SECRET", Value: cfg.OrderTokenSecret}, {What: "OPERATOR_TOKEN", Value: cfg.OperatorToken}}
	for _, email := range slices.Sorted(maps.Keys(cfg.ManagerTokens)) {
		secrets = append(secrets, host.Named{What: "MANAGER_TOKENS' token of " + email, Value: cfg.ManagerTokens[email]})
	}
	if err := env.Distinct(secrets...); err != nil {
		return cfg, err
	}
	if cfg.MailStopGrace, err = host.ShutdownTimeout(env); err != nil {
		return cfg, err
	}
	if cfg.MailSenders, err = env.Int("MAIL_SENDERS", mailer.DefaultSenders); err != nil {
		return cfg, err
	}
	if cfg.MailSenders < 1 || cfg.MailSenders > MaxMailSenders {
		return cfg, fmt.Errorf("MAIL_SENDERS=%d: from 1 to %d senders", cfg.MailSenders, MaxMailSenders)
	}
	if cfg.Workflow, err = workflow.FromEnv(env); err != nil {
		return cfg, err
	}
	if cfg.SessionTTL, err = env.Duration("DASHBOARD_SESSION_TTL", DefaultSessionTTL); err != nil {
		return cfg, err
	}
	if cfg.IdempotencyKeyTTL, err = env.Duration("IDEMPOTENCY_KEY_TTL", DefaultIdempotencyKeyTTL); err != nil {
		return cfg, err
	}
	if cfg.WebhookInboxRetention, err = env.Duration("WEBHOOK_INBOX_RETENTION", inbox.DefaultRetention); err != nil {
		return cfg, err
	}
	if cfg.WebhookInboxRetention < inbox.MinRetention {
		return cfg, fmt.Errorf("WEBHOOK_INBOX_RETENTION=%s: at least %s, so that a provider's retries of a webhook are recognised as retries (Stripe's last up to 3 days)",
			cfg.WebhookInboxRetention, inbox.MinRetention)
	}
	if cfg.ClaimTTL, err = env.Duration("CLAIM_TTL", DefaultClaimTTL); err != nil {
		return cfg, err
	}
	if cfg.ClaimTTL <= 0 {
		return cfg, fmt.Errorf("CLAIM_TTL=%s: a claim must last a while", cfg.ClaimTTL)
	}
	above, err := env.Int("CONFIRM_APPROVAL_ABOVE", DefaultConfirmApprovalAbove)
	if err != nil {
		return cfg, err
	}
	if above < 0 || above > MaxConfirmApprovalAbove {
		return cfg, fmt.Errorf("CONFIRM_APPROVAL_ABOVE=%d: an amount from 0 to %d", above, MaxConfirmApprovalAbove)
	}
	cfg.ConfirmApprovalAbove = order.Cents(above) * 100
	return cfg, nil
}

// operatorToken reads OPERATOR_TOKEN. Unlike the other secrets it may stay unset outside
// dev mode: the order lists and inboxes are then closed to the API (signed-in managers
// still see them on the dashboard). The published dev value is refused there all the same.
func operatorToken(env host.Env) (string, error) {
	if env("OPERATOR_TOKEN") == "" && !host.DevMode(env) {
		return "", nil
	}
	return env.Secret("OPERATOR_TOKEN", host.DevOperatorToken, "the bearer token operators read orders, lists and inboxes with")
}

// headerName reports whether h is an HTTP header name (RFC 9110's token): one with a space
// or a colon would never be found on a request, and the sign-in limits would fall back to
// the proxy's address for everyone.
func headerName(h string) bool {
	for _, c := range h {
		if c > 127 || !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.ContainsRune("!#$%&'*+-.^_`|~", c)) {
			return false
		}
	}
	return h != ""
}
