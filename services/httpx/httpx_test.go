package httpx_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/services/httpx"
)

func decodeError(t *testing.T, rec *httptest.ResponseRecorder) httpx.ErrorDetail {
	t.Helper()
	var body httpx.ErrorBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
	return body.Error
}

// Finding 9 of issue 8: Postgres refuses NUL and invalid UTF-8 in text (SQLSTATE 22021),
// so they are refused at the edge, wherever in the request they are.
func TestValidInputRefusesNULAndInvalidUTF8(t *testing.T) {
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	cases := []struct {
		name, target, body string
		header             http.Header
		field              string
	}{
		{"NUL in the path", "/api/orders/%00", "", nil, "path"},
		{"invalid UTF-8 in the path", "/api/orders/%ff", "", nil, "path"},
		{"NUL in a query value", "/api/orders?cursor=x%00", "", nil, "cursor"},
		{"invalid UTF-8 in a query value", "/api/orders?q=%C3", "", nil, "q"},
		{"NUL in a query key", "/api/orders?a%00=1", "", nil, "query"},
		{"invalid UTF-8 in a header", "/api/orders", "", http.Header{"Idempotency-Key": {"k\xff"}}, "Idempotency-Key"},
		{"NUL escape in a JSON body", "/api/orders", `{"sku":"A\u0000"}`, nil, "body"},
		{"NUL escape after an escaped backslash", "/api/orders", `{"sku":"A\\\u0000"}`, nil, "body"},
		// encoding/json turned these into U+FFFD without a word (a probe's customerId
		// "a\ud800b" was stored as "a\ufffdb"); sent raw, the same are invalid UTF-8.
		{"a first surrogate half alone", "/api/orders", `{"customerId":"a\ud800b"}`, nil, "body"},
		{"a first half at the end", "/api/orders", `{"customerId":"a\uD83D"}`, nil, "body"},
		{"a second half alone", "/api/orders", `{"customerEmail":"x\udfff@example.com"}`, nil, "body"},
		{"two first halves", "/api/orders", `{"customerId":"\ud83d\ud83d"}`, nil, "body"},
		{"raw NUL in a body", "/api/orders", "{\"sku\":\"A\x00\"}", nil, "body"},
		{"invalid UTF-8 in a body", "/api/orders", "{\"sku\":\"A\xff\"}", nil, "body"},
		{"NUL in a form value", "/dashboard/signin", "email=a%00b&password=x", form, "email"},
		{"invalid UTF-8 in a form value", "/dashboard/signin", "email=a%ffb", form, "email"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reached := false
			h := httpx.ValidInput(httpx.JSONRefusals(slog.New(slog.DiscardHandler)), http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }))
			method := http.MethodGet
			if c.body != "" {
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, c.target, strings.NewReader(c.body))
			for k, v := range c.header {
				req.Header[k] = v
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assert.False(t, reached, "the handler must not run")
			require.Equal(t, http.StatusBadRequest, rec.Code)
			e := decodeError(t, rec)
			assert.Equal(t, "invalid", e.Code)
			assert.Equal(t, c.field, e.Field)
			if strings.Contains(c.name, "half") {
				assert.Contains(t, e.Message, "surrogate pair", "the answer says what is wrong")
			}
			assert.True(t, json.Valid(rec.Body.Bytes()))
		})
	}
}

// Clean requests pass untouched: the handler reads the same body, however it is labelled.
func TestValidInputPassesCleanRequests(t *testing.T) {
	cases := []struct{ name, target, body, contentType string }{
		{"no body", "/api/orders/ord-%C3%A9?status=placed", "", ""},
		{"JSON", "/api/orders", `{"sku":"Café","note":"A\\u0000 is six characters"}`, ""},
		{"JSON with a whole surrogate pair", "/api/orders", `{"note":"a smile \ud83d\ude00, a \\ud800 spelt out, \u00e9"}`, ""},
		{"JSON sent by curl -d, labelled a form", "/api/orders", `{"items":[{"sku":"SKU-001","quantity":2}],"total":100}`, "application/x-www-form-urlencoded"},
		{"form", "/dashboard/signin", "email=ann%40example.com&next=%2Fdashboard", "application/x-www-form-urlencoded"},
		{"JSON labelled so", "/api/orders", `{"total":100}`, "application/json"},
		{"JSON labelled as Stripe labels its webhooks", "/webhooks/payment", `{"id":"evt_1"}`, "application/json; charset=utf-8"},
		{"JSON whose charset is in capitals", "/api/orders", `{"total":100}`, "Application/JSON; Charset=UTF-8"},
		{"JSON whose charset is spelt utf8", "/api/orders", `{"total":100}`, "application/json;charset=utf8"},
		{"a JSON format of its own", "/api/orders", `{"total":100}`, "application/merge-patch+json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []byte
			h := httpx.ValidInput(httpx.JSONRefusals(slog.New(slog.DiscardHandler)), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if c.name == "form" {
					require.NoError(t, r.ParseForm())
					assert.Equal(t, "ann@example.com", r.PostForm.Get("email"))
					got = []byte(c.body)
				} else {
					var err error
					got, err = httpx.ReadBody(w, r)
					require.NoError(t, err)
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			req := httptest.NewRequest(http.MethodPost, c.target, strings.NewReader(c.body))
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
			assert.Equal(t, c.body, string(got))
		})
	}
}

// A body is refused with 415 unless it is labelled JSON, a form (curl -d's label) or not
// at all: every label was read as JSON, so an order sent as text/plain was placed, and
// JSON in Latin-1 was refused as "not UTF-8" (a probe).
func TestValidInputRefusesABodyOfAnotherMediaType(t *testing.T) {
	for _, contentType := range []string{
		"text/plain",
		"application/xml",
		"multipart/form-data; boundary=x",
		"application/json; charset=latin1",
		"application/x-www-form-urlencoded; charset=iso-8859-1",
		"text/json",
		"application/json; charset", // malformed
	} {
		t.Run(contentType, func(t *testing.T) {
			h := httpx.ValidInput(httpx.JSONRefusals(slog.New(slog.DiscardHandler)), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
				t.Error("the handler must not run")
			}))
			req := httptest.NewRequest(http.MethodPost, "/api/orders", strings.NewReader("{\"note\":\"caf\xe9\"}"))
			req.Header.Set("Content-Type", contentType)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, http.StatusUnsupportedMediaType, rec.Code, rec.Body.String())
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			e := decodeError(t, rec)
			assert.Equal(t, "unsupported_media_type", e.Code)
			assert.Equal(t, "Content-Type", e.Field)
			assert.Equal(t, "Content-Type "+contentType+" is not supported: send JSON as application/json, or a form as application/x-www-form-urlencoded, in UTF-8", e.Message)
		})
	}
}

// A compressed body is not decompressed, and is refused with 415 as RFC 9110 has it, saying
// so rather than "not UTF-8 text": it was a 400.
func TestValidInputRefusesACompressedBody(t *testing.T) {
	h := httpx.ValidInput(httpx.JSONRefusals(slog.New(slog.DiscardHandler)), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("the handler must not run")
	}))
	req := httptest.NewRequest(http.MethodPost, "/api/orders", strings.NewReader("\x1f\x8b\x08\x00"))
	req.Header.Set("Content-Encoding", "gzip")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusUnsupportedMediaType, rec.Code, rec.Body.String())
	e := decodeError(t, rec)
	assert.Equal(t, "unsupported_media_type", e.Code)
	assert.Equal(t, "Content-Encoding", e.Field)
	assert.Equal(t, "Content-Encoding gzip is not supported: send the body uncompressed", e.Message)
}

func TestValidInputRefusesOversizedBodies(t *testing.T) {
	h := httpx.ValidInput(httpx.JSONRefusals(slog.New(slog.DiscardHandler)), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("the handler must not run")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/dashboard/signin", strings.NewReader(strings.Repeat("a", httpx.MaxBody+1))))
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
}

// Finding 12 of issue 8: a decoding error names the field and the JSON type it wants,
// never a Go type, and repeats at most a short excerpt of the input.
func TestDecodeErrorsSpeakJSON(t *testing.T) {
	type line struct {
		SKU      string `json:"sku"`
		Quantity int    `json:"quantity"`
	}
	type request struct {
		OrderID  string      `json:"orderId"`
		Approved *bool       `json:"approved"`
		Amount   json.Number `json:"amount"`
		Lines    []line      `json:"lines"`
		Price    float64     `json:"price"`
	}
	long := strings.Repeat("x", 100_000)
	cases := []struct{ name, body, field, message string }{
		{"string for an integer", `{"lines":[{"quantity":"2"}]}`, "lines[0].quantity", "lines[0].quantity must be an integer within range"},
		{"fraction for an integer", `{"lines":[{"quantity":2.5}]}`, "lines[0].quantity", "lines[0].quantity must be an integer within range"},
		{"huge integer", `{"lines":[{"quantity":1e30}]}`, "lines[0].quantity", "lines[0].quantity must be an integer within range"},
		// encoding/json names the field without the array's index: the client is told which line.
		{"the second line's", `{"lines":[{"quantity":1}, {"quantity":[2, {"a":"b"}]}, {"quantity":"3"}]}`, "lines[1].quantity", "lines[1].quantity must be an integer within range"},
		{"after nested values", ` {"orderId":"o", "lines":[{"quantity":1}, {}, {"quantity":{"x":[1,2]}}]}`, "lines[2].quantity", "lines[2].quantity must be an integer within range"},
		{"number for a string", `{"orderId":5}`, "orderId", "orderId must be a string"},
		{"string for a boolean", `{"approved":"yes"}`, "approved", "approved must be true or false"},
		{"object for an array", `{"lines":{}}`, "lines", "lines must be an array"},
		{"array for an object", `{"lines":[[]]}`, "lines[0]", "lines[0] must be an object"},
		{"string for a number", `{"price":"1"}`, "price", "price must be a number"},
		{"array for the body", `[]`, "", "the request body must be an object"},
		{"unknown field", `{"` + long + `":1}`, apperr.Excerpt(long), `unknown field "` + apperr.Excerpt(long) + `"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var v request
			err := httpx.Decode([]byte(c.body), &v)
			require.Error(t, err)
			assert.Equal(t, apperr.CodeInvalid, apperr.ErrorCode(err))
			assert.Equal(t, c.field, apperr.ErrorField(err))
			assert.Equal(t, c.message, apperr.ErrorMessage(err))
		})
	}
}

// Malformed JSON is reported without repeating the body.
func TestDecodeMalformedJSONEchoesLittle(t *testing.T) {
	var v map[string]any
	err := httpx.Decode([]byte(`{"a":`+strings.Repeat("x", 100_000)), &v)
	require.Error(t, err)
	assert.Less(t, len(apperr.ErrorMessage(err)), 200)
}

// Providers add fields over time, so their bodies are decoded leniently, with the same
// messages as every other body.
func TestDecodeLenient(t *testing.T) {
	var v struct {
		Amount int64 `json:"amount"`
	}
	require.NoError(t, httpx.DecodeLenient([]byte(`{"amount":5,"livemode":false}`), &v))
	assert.Equal(t, int64(5), v.Amount)
	err := httpx.DecodeLenient([]byte(`{"amount":"5"}`), &v)
	assert.Equal(t, "amount", apperr.ErrorField(err))
	assert.Equal(t, "amount must be an integer within range", apperr.ErrorMessage(err))
}

// A name given twice in one object is refused, as encoding/json alone kept the last one
// (and matches names without regard to case): a proxy or a log reading the first would
// see another request than the one served. The error names it with its path. The same
// name at other levels is fine.
func TestDecodeRefusesANameGivenTwice(t *testing.T) {
	for body, field := range map[string]string{
		`{"items":[{"sku":"A","quantity":1}],"items":[{"sku":"B","quantity":9}]}`: "items",
		`{"items":[{"sku":"A","SKU":"B","quantity":1}]}`:                          "items[0].SKU",
		`{"a":{"b":1,"c":[1,{"d":1,"D":2}]}}`:                                     "a.c[1].D",
		`{"amount":5,"Amount":7}`:                                                 "Amount",
	} {
		var v any
		err := httpx.Decode([]byte(body), &v)
		require.Error(t, err, body)
		assert.Equal(t, field, apperr.ErrorField(err), body)
		assert.Contains(t, apperr.ErrorMessage(err), "is given twice in one object", body)
		assert.Equal(t, apperr.CodeInvalid, apperr.ErrorCode(err))
		assert.Error(t, httpx.DecodeLenient([]byte(body), &v), "lenient about fields, not about JSON: %s", body)
	}
	for _, body := range []string{`{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}],"c":"a"}`, `[{"x":1},{"x":2}]`, `{"k":["k","k"]}`, `{}`} {
		var v any
		assert.NoError(t, httpx.Decode([]byte(body), &v), body)
	}
}

// A body that starts with a byte-order mark is refused in words that say so, where
// encoding/json said "invalid character 'ï'" (a probe).
func TestDecodeRefusesAByteOrderMark(t *testing.T) {
	body := []byte("\xef\xbb\xbf{\"total\":100}")
	for name, decode := range map[string]func([]byte, any) error{"Decode": httpx.Decode, "DecodeLenient": httpx.DecodeLenient} {
		var v struct {
			Total int `json:"total"`
		}
		err := decode(body, &v)
		assert.Equal(t, apperr.CodeInvalid, apperr.ErrorCode(err), name)
		assert.Equal(t, "the request body starts with a byte-order mark (U+FEFF), which JSON must not: send it without one", apperr.ErrorMessage(err), name)
	}
}

// Decode takes a struct's fields by their names exactly as their tags spell them, as the
// documented schemas do (encoding/json alone took "ITEMS" for items), and names a field
// refused with its path: encoding/json said "extra" for items[0].extra. DecodeLenient, for
// providers' bodies, matches names as encoding/json does.
func TestDecodeTakesNamesExactlyAndNamesTheirPaths(t *testing.T) {
	type address struct {
		City string `json:"city"`
	}
	type Common struct {
		ID string `json:"id"`
	}
	type request struct {
		Common
		Items []struct {
			SKU string `json:"sku"`
		} `json:"items"`
		Address *address          `json:"shippingAddress"`
		Extra   map[string]string `json:"extra"`
		Raw     json.RawMessage   `json:"raw"`
		Plain   int
		Skipped int `json:"-"`
	}
	for body, want := range map[string]struct{ field, message string }{
		`{"ITEMS":[{"sku":"A"}]}`:                 {"ITEMS", `unknown field "ITEMS": names are matched exactly; did you mean "items"?`},
		`{"items":[{"sku":"A"},{"Sku":"B"}]}`:     {"items[1].Sku", `unknown field "items[1].Sku": names are matched exactly; did you mean "sku"?`},
		`{"shippingAddress":{"City":"Paris"}}`:    {"shippingAddress.City", `unknown field "shippingAddress.City": names are matched exactly; did you mean "city"?`},
		`{"Id":"o-1"}`:                            {"Id", `unknown field "Id": names are matched exactly; did you mean "id"?`},
		`{"plain":1}`:                             {"plain", `unknown field "plain": names are matched exactly; did you mean "Plain"?`},
		`{"items":[{"sku":"A","extra":1}]}`:       {"items[0].extra", `unknown field "items[0].extra"`},
		`{"shippingAddress":{"zip":"1"}}`:         {"shippingAddress.zip", `unknown field "shippingAddress.zip"`},
		`{"Skipped":1}`:                           {"Skipped", `unknown field "Skipped"`},
		`{"items":[],"items":[]}`:                 {"items", "items is given twice in one object: give it once"},
		`{"items":[{"sku":"A","quantity":1}]} []`: {"items[0].quantity", `unknown field "items[0].quantity"`},
		`{"ITEMS":[{"sku":"A","extra":1}]}`:       {"ITEMS", `unknown field "ITEMS": names are matched exactly; did you mean "items"?`},
	} {
		var v request
		err := httpx.Decode([]byte(body), &v)
		require.Error(t, err, body)
		assert.Equal(t, apperr.CodeInvalid, apperr.ErrorCode(err), body)
		assert.Equal(t, want.field, apperr.ErrorField(err), body)
		assert.Equal(t, want.message, apperr.ErrorMessage(err), body)
	}
	exact := `{"\u0069d":"o-1","items":[{"sku":"A"}],"shippingAddress":{"city":"Paris"},"extra":{"ANY":"x"},"raw":{"Any":[{"X":1}]},"Plain":2}`
	var v request
	require.NoError(t, httpx.Decode([]byte(exact), &v))
	assert.Equal(t, "o-1", v.ID)
	assert.Equal(t, 2, v.Plain)

	var lenient request
	require.NoError(t, httpx.DecodeLenient([]byte(`{"ITEMS":[{"Sku":"A","extra":1}],"Zip":1}`), &lenient))
	assert.Equal(t, "A", lenient.Items[0].SKU)
}

// A body the client stops sending is a timeout, reported as such and without the
// connection's addresses.
func TestReadBodyTimeout(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "/", io.MultiReader(strings.NewReader("{"), errReader{os.ErrDeadlineExceeded}))
	_, err := httpx.ReadBody(httptest.NewRecorder(), req)
	require.Error(t, err)
	assert.Equal(t, http.StatusRequestTimeout, httpx.Status(apperr.ErrorCode(err)))
	assert.NotContains(t, apperr.ErrorMessage(err), "deadline")
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// Path ids are bounded like ids in bodies: they reach the database and "not found" answers.
func TestPathID(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := httpx.PathID(r, "id")
		if err != nil {
			httpx.WriteError(w, r, slog.New(slog.DiscardHandler), err)
			return
		}
		_, _ = io.WriteString(w, id)
	})
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/orders/"+strings.Repeat("o", 128), nil))
	assert.Equal(t, http.StatusOK, rec.Code)

	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/orders/"+strings.Repeat("o", 129), nil))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, "id", decodeError(t, rec).Field)
}

// A malformed query string is refused at the edge: handlers read url.Values, which drops
// a malformed pair silently, so a mistyped filter or limit would be ignored, not reported.
func TestValidInputRefusesAMalformedQuery(t *testing.T) {
	reached := false
	h := httpx.ValidInput(httpx.JSONRefusals(slog.New(slog.DiscardHandler)), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached = true
	}))
	for _, target := range []string{"/api/orders?status=awaiting_approval%zz&limit=2", "/api/orders?limit=%", "/api/orders?a=1;b=2"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		assert.Equal(t, http.StatusBadRequest, rec.Code, target)
		got := decodeError(t, rec)
		assert.Equal(t, "invalid", got.Code, target)
		assert.Equal(t, "query", got.Field, target)
		assert.Contains(t, got.Message, "malformed query string", target)
	}
	assert.False(t, reached, "no handler sees a malformed query")
}

// A body declared larger than MaxBody is refused at once: a client that asked to continue
// gets the 413 instead of "100 Continue", and sends nothing more.
func TestADeclaredOversizedBodyIsRefusedBeforeItIsSent(t *testing.T) {
	srv := httptest.NewServer(httpx.ValidInput(httpx.JSONRefusals(slog.New(slog.DiscardHandler)), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("the handler must not run")
	})))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /api/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\nExpect: 100-continue\r\n\r\n")
	require.NoError(t, err)
	status, err := bufio.NewReader(conn).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "HTTP/1.1 413 Request Entity Too Large\r\n", status)
}

// A request its client abandoned is no internal failure to page on: logged at info, where
// a real failure is an error. A frozen replica, resumed, wrote 627 error lines for callers
// that had long given up.
func TestWriteErrorLogsAnAbandonedRequestAtInfo(t *testing.T) {
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	abandoned := httptest.NewRequest(http.MethodPost, "/webhooks/payment", nil).WithContext(ctx)
	httpx.WriteError(httptest.NewRecorder(), abandoned, logger, fmt.Errorf("saga: %w", context.Canceled))
	assert.Contains(t, logs.String(), "level=INFO")
	assert.NotContains(t, logs.String(), "level=ERROR")

	logs.Reset()
	live := httptest.NewRequest(http.MethodPost, "/webhooks/payment", nil)
	httpx.WriteError(httptest.NewRecorder(), live, logger, fmt.Errorf("saga: %w", context.Canceled))
	assert.Contains(t, logs.String(), "level=ERROR", "cancelled while its client still waits: a fault")
}
