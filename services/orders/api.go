package orders

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/text/language"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/sagas"
	"github.com/ordermill/ordermill/services/httpx"
)

// placeOrderRequest is the body of POST /api/orders; amounts are currency units.
type placeOrderRequest struct {
	Items           []itemRequest   `json:"items"`
	Total           json.RawMessage `json:"total"`
	CustomerID      string          `json:"customerId"`
	CustomerEmail   string          `json:"customerEmail"`
	NewCustomer     bool            `json:"newCustomer"`
	ShippingAddress *order.Address  `json:"shippingAddress"`
	BillingAddress  *order.Address  `json:"billingAddress"`
	Currency        currencyCode    `json:"currency"`
}

type itemRequest struct {
	SKU       string          `json:"sku"`
	Quantity  *int            `json:"quantity"` // nil: left out, which is not 0
	UnitPrice json.RawMessage `json:"unitPrice"`
}

// currencyCode is the request's currency: it may be left out (or null) for the catalog's,
// but a blank one is refused, as the schema's minLength says (it was taken for the
// default). It marshals as the string it holds, so a request hashes for its
// Idempotency-Key as it did before (requestHash).
type currencyCode string

// UnmarshalJSON refuses a blank currency.
func (c *currencyCode) UnmarshalJSON(b []byte) error {
	var s *string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s != nil && *s == "" {
		return apperr.FieldErrorf("currency", "currency must be three letters when given (leave it out for the catalog's)")
	}
	if s != nil {
		*c = currencyCode(*s)
	}
	return nil
}

// countryCode refuses an address whose country is not an ISO 3166-1 alpha-2 code of a
// country ("EU" and "ZZ" are none) that is current ("UK" and "FX" are GB and FR), saying
// which code was meant where there is one answer, and returns the address with the code in
// capitals, as the currency is taken. Payment providers and couriers take only such codes,
// and risk scoring compares the two addresses' countries, which "Germany" and "DE" would
// make differ. A blank country is left to the domain, which says it is required; an order
// placed before this check may hold free text, which the saga passes on as it is. The
// domain cannot hold the check: the codes are CLDR's (golang.org/x/text), and the domain
// imports only the standard library.
func countryCode(field string, a *order.Address) (*order.Address, error) {
	if a == nil || strings.TrimSpace(a.Country) == "" {
		return a, nil
	}
	v := strings.ToUpper(a.Country)
	bad := func(hint string) error {
		return apperr.FieldErrorf(field, "%s must be an ISO 3166-1 alpha-2 country code such as \"DE\" or \"US\"%s", field, hint)
	}
	r, err := language.ParseRegion(v)
	if len(v) != 2 || err != nil || !r.IsCountry() {
		return nil, bad("")
	}
	if c := r.Canonicalize().String(); c != v {
		return nil, bad(fmt.Sprintf(": %q is now %q", v, c))
	}
	c := *a
	c.Country = v
	return &c, nil
}

// command is the request as a PlaceOrder, as the client stated it; the catalog prices it
// afterwards. totalGiven reports whether the client stated a total, which must then agree.
func (req placeOrderRequest) command(id string, now time.Time) (cmd order.PlaceOrder, totalGiven bool, err error) {
	cmd = order.PlaceOrder{
		OrderID: id, CustomerID: req.CustomerID, CustomerEmail: req.CustomerEmail, NewCustomer: req.NewCustomer,
		Currency: strings.ToUpper(string(req.Currency)), ShippingAddress: req.ShippingAddress, BillingAddress: req.BillingAddress, At: now,
	}
	if !isNull(req.Total) {
		if cmd.Total, err = parseAmount("total", req.Total); err != nil {
			return cmd, false, err
		}
		totalGiven = true
	}
	if cmd.ShippingAddress, err = countryCode("shippingAddress.country", req.ShippingAddress); err != nil {
		return cmd, false, err
	}
	if cmd.BillingAddress, err = countryCode("billingAddress.country", req.BillingAddress); err != nil {
		return cmd, false, err
	}
	for i, it := range req.Items {
		if it.Quantity == nil {
			return cmd, false, apperr.FieldErrorf(fmt.Sprintf("items[%d].quantity", i), "items[%d].quantity is required", i)
		}
		item := order.Item{SKU: it.SKU, Quantity: *it.Quantity}
		if !isNull(it.UnitPrice) {
			p, err := parseAmount(fmt.Sprintf("items[%d].unitPrice", i), it.UnitPrice)
			if err != nil {
				return cmd, false, err
			}
			item.UnitPrice = &p
		}
		cmd.Items = append(cmd.Items, item)
	}
	return cmd, totalGiven, nil
}

// orderView is the API's JSON shape of an order: amounts in currency units.
type orderView struct {
	ID               string             `json:"id"`
	Status           order.Status       `json:"status"`
	RiskScore        *int               `json:"riskScore,omitempty"`
	RiskFactors      []order.RiskFactor `json:"riskFactors,omitempty"`
	Items            []itemView         `json:"items"`
	Total            json.Number        `json:"total"`
	Currency         string             `json:"currency"`
	CustomerID       string             `json:"customerId,omitempty"`
	CustomerEmail    string             `json:"customerEmail,omitempty"`
	NewCustomer      bool               `json:"newCustomer"`
	ShippingAddress  *order.Address     `json:"shippingAddress,omitempty"`
	ApprovalDeadline *time.Time         `json:"approvalDeadline,omitempty"`
	DecidedBy        string             `json:"decidedBy,omitempty"`
	DecisionReason   string             `json:"decisionReason,omitempty"`
	ReservationID    string             `json:"reservationId,omitempty"`
	PaymentSessionID string             `json:"paymentSessionId,omitempty"`
	PaymentURL       string             `json:"paymentUrl,omitempty"`
	PaymentID        string             `json:"paymentId,omitempty"`
	ShipmentID       string             `json:"shipmentId,omitempty"`
	TrackingNumber   string             `json:"trackingNumber,omitempty"`
	DeliveryStatus   string             `json:"deliveryStatus,omitempty"`
	CancelReason     order.CancelReason `json:"cancelReason,omitempty"`
	CancelDetail     string             `json:"cancelDetail,omitempty"`
	Refunds          []refundView       `json:"refunds,omitempty"`
	RefundedPayments []refundedPayment  `json:"refundedPayments,omitempty"`
	Version          int                `json:"version"`
	CreatedAt        time.Time          `json:"createdAt"`
	UpdatedAt        time.Time          `json:"updatedAt"`
}

// refundView is a payment of the order given back; the customer's view leaves out the
// payment provider's ids.
type refundView struct {
	PaymentID string       `json:"paymentId,omitempty"`
	RefundID  string       `json:"refundId,omitempty"`
	Amount    *json.Number `json:"amount,omitempty"`
	Currency  string       `json:"currency,omitempty"`
	At        time.Time    `json:"at"`
}

// refundedPayment is what is given back of one payment of the order so far, all its
// refunds together: what the payment provider shows refunded of it (Stripe's
// amount_refunded), where the refunds list each part. No amount when a refund of it did
// not say its amount (the payment given back whole).
type refundedPayment struct {
	PaymentID string       `json:"paymentId"`
	Amount    *json.Number `json:"amount,omitempty"`
	Currency  string       `json:"currency,omitempty"`
}

type itemView struct {
	SKU       string       `json:"sku"`
	Name      string       `json:"name,omitempty"`
	Quantity  int          `json:"quantity"`
	UnitPrice *json.Number `json:"unitPrice,omitempty"`
}

func viewOrder(o *order.Order) orderView {
	v := orderView{
		ID: o.ID, Status: o.Status, RiskScore: o.RiskScore, RiskFactors: o.RiskFactors, Total: amount(o.Total, o.Currency),
		Currency: o.Currency, CustomerID: o.CustomerID, CustomerEmail: o.CustomerEmail, NewCustomer: o.NewCustomer,
		ShippingAddress: o.ShippingAddress, DecidedBy: o.DecidedBy, DecisionReason: o.DecisionReason,
		ReservationID: o.ReservationID, PaymentSessionID: o.PaymentSessionID, PaymentURL: o.PaymentURL,
		PaymentID: o.PaymentID, ShipmentID: o.ShipmentID, TrackingNumber: o.TrackingNumber,
		DeliveryStatus: o.DeliveryStatus, CancelReason: o.CancelReason, CancelDetail: o.CancelDetail,
		Version: o.Version, CreatedAt: o.PlacedAt, UpdatedAt: o.UpdatedAt,
	}
	if !o.ApprovalDeadline.IsZero() {
		d := o.ApprovalDeadline
		v.ApprovalDeadline = &d
	}
	for _, r := range o.Refunds {
		rv := refundView{PaymentID: r.PaymentID, RefundID: r.RefundID, Currency: r.Currency, At: r.At}
		if r.Amount > 0 {
			a := amount(r.Amount, r.Currency)
			rv.Amount = &a
		}
		v.Refunds = append(v.Refunds, rv)
	}
	for _, r := range o.RefundedPayments() {
		p := refundedPayment{PaymentID: r.PaymentID, Currency: r.Currency}
		if r.Amount > 0 {
			a := amount(r.Amount, r.Currency)
			p.Amount = &a
		}
		v.RefundedPayments = append(v.RefundedPayments, p)
	}
	for _, it := range o.Items {
		iv := itemView{SKU: it.SKU, Name: it.Name, Quantity: it.Quantity}
		if it.UnitPrice != nil {
			p := amount(*it.UnitPrice, o.Currency)
			iv.UnitPrice = &p
		}
		v.Items = append(v.Items, iv)
	}
	return v
}

// MaxOrderBody is the largest body POST /api/orders takes: an order at every limit
// (limits.MaxLines lines, the longest SKUs, both addresses' parts at their longest) is
// about 30 kB, twice that written out with escapes and indentation. A larger one is a 413
// before it is decoded: a megabyte of lines cost a quarter of a second to refuse.
const MaxOrderBody = 64 << 10

// placeOrder handles POST /api/orders.
func (s *Service) placeOrder(w http.ResponseWriter, r *http.Request) {
	body, err := httpx.ReadBodyAtMost(w, r, MaxOrderBody)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	// More lines than an order may have are refused before anything is decoded: a body
	// of 20,000 empty lines was decoded and copied whole before the count refused it, ten
	// times what a real order costs.
	if err := limits.Lines("items", httpx.CountArray(body, "items")); err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	var req placeOrderRequest
	if err := httpx.Decode(body, &req); err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	key := r.Header.Get("Idempotency-Key") // given once: httpx.ValidInput refuses two
	if err := limits.Check(limits.Key("Idempotency-Key", key)); err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	// The first is stored; the others name the keys earlier versions stored, within their
	// time to live (IDEMPOTENCY_KEY_TTL): the request as decoded, and before that the body
	// as sent.
	o, created, err := s.placeOrReplay(r.Context(), req, key, []string{requestHash(req.canonical()), requestHash(req), bodyHash(body)})
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	w.Header().Set("Location", "/api/orders/"+o.ID)
	status := http.StatusCreated
	if !created {
		w.Header().Set("Idempotent-Replayed", "true")
		status = http.StatusOK
	}
	// The token is derived from the id, so a replay returns the one the first answer did.
	httpx.WriteJSON(w, status, map[string]any{"id": o.ID, "status": o.Status, "accessToken": s.orderToken(o.ID)})
}

// placeOrReplay prices the request and places it, or returns the order its key placed
// before (see place). A replay is answered even when the catalog no longer prices the
// request (a price changed since: a 422; or it cannot be asked: a 503): its order was
// placed. The key is looked up only then, so that a placement the catalog prices costs no
// round trip more, nor does input refused for what it says.
func (s *Service) placeOrReplay(ctx context.Context, req placeOrderRequest, key string, hashes []string) (*order.Order, bool, error) {
	cmd, err := s.priced(ctx, req)
	if code := apperr.ErrorCode(err); code == apperr.CodeUnprocessable || code == apperr.CodeUnavailable {
		if o, keyErr := s.replayed(ctx, key, hashes); o != nil || keyErr != nil {
			return o, false, keyErr
		}
	}
	if err != nil {
		return nil, false, err
	}
	return s.place(ctx, cmd, key, hashes)
}

// priced turns the request into the order to place: priced from the warehouse's catalog
// (what the client stated must agree with it), and flagged as a new customer's unless the
// customer has a completed order; the client's newCustomer may only raise the risk.
func (s *Service) priced(ctx context.Context, req placeOrderRequest) (order.PlaceOrder, error) {
	// A time-ordered id, as the log's own: every table keyed by the order then takes a new
	// order's rows at the right edge of its indexes, however many orders came before.
	cmd, totalGiven, err := req.command(eventstore.NewID(), s.now())
	if err != nil {
		return cmd, err
	}
	if _, _, err := order.CheckItems(cmd.Items); err != nil {
		return cmd, err
	}
	prices, err := s.catalog.prices(ctx, cmd.Items)
	if err != nil {
		return cmd, err
	}
	if err := cmd.PriceFrom(prices, totalGiven); err != nil {
		return cmd, err
	}
	// A catalog price in a fraction of its currency's smallest unit (2,400.50 JPY) could
	// never be charged: the payment session's command would be dead-lettered and the
	// order hold its stock until the payment deadline (a probe). Refused here instead.
	for i, it := range cmd.Items {
		if _, err := payment.ToProviderUnit(int64(*it.UnitPrice), cmd.Currency); err != nil {
			f := fmt.Sprintf("items[%d].sku", i)
			return cmd, &apperr.Error{Code: apperr.CodeUnprocessable, Field: f,
				Message: fmt.Sprintf("%s %q cannot be sold now: its catalog price cannot be charged (%v)", f, apperr.Excerpt(it.SKU), err)}
		}
	}
	return cmd, nil
}

// errKeyUsed says that a placement's Idempotency-Key was used before: the transaction
// that found it is rolled back and the earlier answer is looked up (replayed).
var errKeyUsed = errors.New("idempotency key used before")

// place stores a new order, or, when key was used before, returns the order it created.
// Whether the customer is known (only history makes one known, never what the client
// says: the client's newCustomer may only raise the risk), the idempotency key and the
// customer's recent orders (for the risk score) are asked in the first round trip of the
// transaction, with the saga's lock and reads. hashes name the request for its key: the
// first is stored, any of them matches a stored one (replayed).
func (s *Service) place(ctx context.Context, cmd order.PlaceOrder, key string, hashes []string) (*order.Order, bool, error) {
	var o *order.Order
	var keyNew, known bool
	var recent int
	first := func(b *pgx.Batch) {
		keyNew, known = true, false
		if key != "" {
			// A concurrent request with the same key waits here until the first commits,
			// then finds its row instead of inserting. A key older than its time to live
			// is taken over: it places this order, whether or not it was swept yet.
			b.Queue(`INSERT INTO orders.idempotency_keys AS k (key, request_hash, order_id)
				VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE
				SET request_hash = excluded.request_hash, order_id = excluded.order_id, created_at = now()
				WHERE k.created_at < now() - make_interval(secs => $4)`,
				key, hashes[0], cmd.OrderID, s.idempotencyKeyTTL().Seconds()).Exec(func(tag pgconn.CommandTag) error {
				keyNew = tag.RowsAffected() == 1
				return nil
			})
		}
		if !cmd.NewCustomer && cmd.CustomerID != "" {
			projections.QueueKnownCustomer(b, cmd.CustomerID, &known)
		}
		sagas.QueueRecentOrders(b, cmd.CustomerID, cmd.OrderID, cmd.At, &recent)
	}
	// The saga runs on the new order in its transaction (sagas.Runner.Place, which makes one
	// customer's placements take turns, so that each counts those before it), as it does
	// on a webhook or a manager's decision: when this returns, the order's risk is scored,
	// and it waits for a manager or is on its way to the warehouse. The answer says which,
	// and the order's first step costs no trip through the log.
	err := s.saga.Place(ctx, s.pool, cmd.OrderID, cmd.CustomerID, key, first, func(ctx context.Context, tx pgx.Tx, placed *order.Order, handledBy string) ([]sagas.Message, error) {
		if !keyNew {
			return nil, errKeyUsed
		}
		placing := cmd
		placing.NewCustomer = cmd.NewCustomer || !known
		o = placed
		o.ID = cmd.OrderID
		recorded, err := orderstream.DecideAndAppend(ctx, tx, o, eventstore.Metadata{CorrelationID: cmd.OrderID, Actor: actorCustomer(cmd.CustomerID), HandledBy: handledBy},
			func(o *order.Order) ([]order.Event, error) { return o.Place(placing) })
		msgs := sagas.Recorded(recorded)
		for i := range msgs {
			if msgs[i].Name == order.NameOrderPlaced {
				msgs[i].RecentOrders = &recent
			}
		}
		return msgs, err
	})
	if errors.Is(err, errKeyUsed) {
		o, err = s.replayed(ctx, key, hashes)
		if o == nil && err == nil { // its time ran out since the insert found it
			err = apperr.Errorf(apperr.CodeUnavailable, "Idempotency-Key %q expired as the request was placed: send it again", apperr.Excerpt(key))
		}
		return o, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return o, true, nil
}

// replayed returns the order a placement with key created within the key's time to live,
// when it came with the same request: its stored hash is one of hashes. It is nil, without
// an error, when no placement did (no key, or none of that name within its time).
func (s *Service) replayed(ctx context.Context, key string, hashes []string) (*order.Order, error) {
	if key == "" {
		return nil, nil
	}
	var prevHash, prevID string
	err := s.pool.QueryRow(ctx, `SELECT request_hash, order_id FROM orders.idempotency_keys
		WHERE key = $1 AND created_at >= now() - make_interval(secs => $2)`, key, s.idempotencyKeyTTL().Seconds()).Scan(&prevHash, &prevID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("idempotency key: %w", err)
	}
	if !slices.Contains(hashes, prevHash) {
		return nil, apperr.Errorf(apperr.CodeConflict, "Idempotency-Key %q was already used with a different request", apperr.Excerpt(key))
	}
	return orderstream.Load(ctx, s.pool, prevID)
}

func actorCustomer(id string) string {
	if id == "" {
		return "customer"
	}
	return "customer:" + id
}

// requestHash is what makes two placements the same request for an idempotency key: req
// as decoded (or its canonical form), so a client that re-serialises it on a retry (its
// keys in another order, other spacing) is still replayed, not refused as a different
// request.
func requestHash(req any) string {
	canonical, _ := json.Marshal(req) // a decoded request always marshals
	return bodyHash(canonical)
}

// canonical is req as the order takes it (command, without its id and time): amounts in
// cents ("24" and "24.00" are one total) and codes in capitals ("usd" is USD, a country
// "de" is DE), so a retry that writes the same request otherwise is replayed, not refused
// as another. A request command refuses is left as it is: it is refused anyway.
func (req placeOrderRequest) canonical() any {
	cmd, totalGiven, err := req.command("", time.Time{})
	if err != nil {
		return req
	}
	return struct {
		Order      order.PlaceOrder
		TotalGiven bool
	}{cmd, totalGiven}
}

// bodyHash is a body's SHA-256, which is how keys stored before 2026-12-06 name their
// request: a retry sent before an upgrade is still recognised after it.
func bodyHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}
