package httpx

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// ValidInput refuses with 400, before next runs, a request carrying a NUL character or
// bytes that are not UTF-8 in its path, query, header values or body. Postgres stores
// neither in TEXT or JSONB (SQLSTATE 22021), so such input would otherwise reach a query
// and fail there as a 500, in whichever handler happened to pass it on; checking here
// covers every handler of every service at once. So does its refusal with 415 of a body
// of a media type no handler reads (bodyMediaType).
//
// The body is read (at most MaxBody bytes, as every handler would) and handed on
// unchanged. It is checked as bytes, which covers JSON labelled a form too (curl -d labels
// JSON so): a JSON string can still spell a NUL as the escape \u0000, so that escape is
// refused too. A form's values are checked once percent-decoded.
// refuse writes the refusal: JSONRefusals, or a Mux's Refusals, which answers a request
// for a dashboard page with a page.
func ValidInput(refuse func(http.ResponseWriter, *http.Request, error), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkInput(w, r); err != nil {
			refuse(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// onceHeaders are the headers a request may give once only: credentials, signatures and
// keys, of which a handler takes the first, where a proxy or a log keeping the last sees
// another (a probe's good token then a wrong one was let in; the reverse was a 401).
var onceHeaders = []string{"Authorization", "Idempotency-Key", webhooksig.StripeHeader, webhooksig.CourierHeader}

// JSONRefusals writes a refusal as WriteError does, with logger.
func JSONRefusals(logger *slog.Logger) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) { WriteError(w, r, logger, err) }
}

func checkInput(w http.ResponseWriter, r *http.Request) error {
	if !cleanText(r.URL.Path) {
		return notText("path", "the path")
	}
	// A malformed pair is refused here: url.Values, as handlers read it, drops it silently,
	// so a filter or a limit mistyped would be ignored instead of reported.
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return apperr.FieldErrorf("query", "malformed query string: %s", apperr.Excerpt(err.Error()))
	}
	if err := checkValues(query, "query parameter"); err != nil {
		return err
	}
	for name, values := range r.Header {
		for _, v := range values {
			if !cleanText(v) {
				return notText(name, "the "+name+" header")
			}
		}
	}
	for _, name := range onceHeaders {
		if len(r.Header.Values(name)) > 1 {
			return apperr.FieldErrorf(name, "the %s header is given more than once: send one", name)
		}
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	// No body is decompressed: a gzip-encoded order was refused as "not UTF-8 text", which
	// sent its sender looking in the wrong place (found by a probe).
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		// 415, as for a media type no handler reads (RFC 9110 §15.5.16): it was a 400.
		return &apperr.Error{Code: codeUnsupportedMediaType, Field: "Content-Encoding",
			Message: fmt.Sprintf("Content-Encoding %s is not supported: send the body uncompressed", apperr.Excerpt(ce))}
	}
	mediaType, err := bodyMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	body, err := ReadBody(w, r)
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !cleanText(string(body)) {
		return notText("body", "the request body")
	}
	if badEscape(body) {
		return apperr.FieldErrorf("body", "the request body must not escape a NUL (\\u0000) or half of a surrogate pair (\\ud800 to \\udfff alone)")
	}
	if mediaType == formMediaType {
		form, _ := url.ParseQuery(string(body))
		return checkValues(form, "form field")
	}
	return nil
}

// formMediaType labels the dashboard's and the checkout page's forms, and also whatever
// curl -d sends unless told otherwise.
const formMediaType = "application/x-www-form-urlencoded"

// bodyMediaType returns the media type of a body labelled contentType, or refuses the body
// with 415 (code unsupported_media_type): every label was read as JSON, so an order sent
// as text/plain, XML or multipart was placed, and JSON declared Latin-1 was refused as
// "not UTF-8" (found by a probe). Taken are:
//   - no label, as a client sends JSON it was not told to label (Go's http.Client);
//   - application/json and any application/*+json (RFC 6839's suffix for JSON formats);
//   - application/x-www-form-urlencoded: the pages' forms, and JSON sent with curl -d,
//     which labels its body so by default; the README's curl lines rely on it. A handler
//     that reads JSON reads such a body as JSON, as it is.
//
// A charset, when given, must be UTF-8 (in any case): JSON is UTF-8 (RFC 8259 §8.1), and
// the pages' forms are sent so.
func bodyMediaType(contentType string) (string, error) {
	if contentType == "" {
		return "", nil
	}
	mediaType, params, err := mime.ParseMediaType(contentType)
	isJSON := mediaType == "application/json" || strings.HasPrefix(mediaType, "application/") && strings.HasSuffix(mediaType, "+json")
	charset, hasCharset := params["charset"]
	isUTF8 := strings.EqualFold(charset, "utf-8") || strings.EqualFold(charset, "utf8") // the second, a common misspelling some clients send
	if err != nil || !isJSON && mediaType != formMediaType || hasCharset && !isUTF8 {
		return "", &apperr.Error{Code: codeUnsupportedMediaType, Field: "Content-Type",
			Message: fmt.Sprintf("Content-Type %s is not supported: send JSON as application/json, or a form as application/x-www-form-urlencoded, in UTF-8", apperr.Excerpt(contentType))}
	}
	return mediaType, nil
}

// checkValues refuses the first key or value that is not clean text; the key names the
// field when it is clean itself.
func checkValues(values url.Values, what string) error {
	for key, vs := range values {
		if !cleanText(key) {
			field := "query"
			if what != "query parameter" {
				field = "body"
			}
			return notText(field, "a "+what+" name")
		}
		for _, v := range vs {
			if !cleanText(v) {
				return notText(apperr.Excerpt(key), "the "+what+" "+apperr.Excerpt(key))
			}
		}
	}
	return nil
}

// cleanText reports whether s is UTF-8 without NUL characters.
func cleanText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// badEscape reports whether a JSON text escapes a character no text may hold: a NUL
// (\u0000), or half of a UTF-16 surrogate pair (a first half with no second right after
// it, or a second half alone). encoding/json turns a half into U+FFFD without a word, so
// what is stored would not be what was sent, while the same character sent raw is refused
// as invalid UTF-8. A backslash escaped itself (an even run of them) starts no escape.
func badEscape(body []byte) bool {
	for at := 0; ; {
		i := bytes.Index(body[at:], []byte(`\u`))
		if i < 0 {
			return false
		}
		at += i
		backslashes := 0
		for j := at; j >= 0 && body[j] == '\\'; j-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			at += 2
			continue
		}
		r, ok := escaped(body[at:])
		switch {
		case !ok: // malformed: the decoder refuses it
		case r == 0, r >= 0xDC00 && r <= 0xDFFF:
			return true
		case r >= 0xD800 && r <= 0xDBFF:
			second, ok := escaped(body[at+6:])
			if !ok || second < 0xDC00 || second > 0xDFFF {
				return true
			}
			at += 6 // the pair is whole: go on after its second half
		}
		at += 6
	}
}

// escaped reads the \uXXXX escape at the start of b.
func escaped(b []byte) (rune, bool) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[2:6]), 16, 16)
	return rune(n), err == nil
}

func notText(field, what string) error {
	return apperr.FieldErrorf(field, "%s must be UTF-8 text without NUL characters", what)
}

// PathID returns the path value name, refusing one longer than any id: an id from the path
// reaches the database and is repeated in "not found" answers, so it is bounded like an
// id in a body.
func PathID(r *http.Request, name string) (string, error) {
	id := r.PathValue(name)
	return id, limits.Check(limits.ID(name, id))
}

// Query returns r's query parameters, refusing one not among names, or one given more than
// once: a list that took the first of two statuses, or left out an unknown "search",
// answered 200 with another list than the one asked for (found by a probe), where a body
// with an unknown or repeated name is refused.
func Query(r *http.Request, names ...string) (url.Values, error) {
	q, err := KnownQuery(r, names...)
	if err != nil {
		return nil, err
	}
	return q, Once(q, slices.Sorted(maps.Keys(q))...)
}

// Once refuses a parameter among names given more than once in q.
func Once(q url.Values, names ...string) error {
	for _, name := range names {
		if len(q[name]) > 1 {
			return apperr.FieldErrorf(name, "query parameter %s is given more than once: give it once", name)
		}
	}
	return nil
}

// KnownQuery is Query for a request whose parameters may repeat (a list of SKUs): only
// one not among names is refused.
func KnownQuery(r *http.Request, names ...string) (url.Values, error) {
	q := r.URL.Query()
	for _, name := range slices.Sorted(maps.Keys(q)) {
		if slices.Contains(names, name) {
			continue
		}
		takes := "no query parameters"
		if len(names) > 0 {
			takes = strings.Join(names, ", ")
		}
		return nil, apperr.FieldErrorf(name, "unknown query parameter %q: this takes %s", apperr.Excerpt(name), takes)
	}
	return q, nil
}

// A list's page: ?limit= (1 to MaxPageSize, DefaultPageSize when absent) and ?cursor=.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// PageSize reads a list's ?limit=: DefaultPageSize when absent.
func PageSize(q url.Values) (int, error) {
	v := q.Get("limit")
	if v == "" {
		return DefaultPageSize, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxPageSize {
		return 0, apperr.FieldErrorf("limit", "limit must be an integer from 1 to %d", MaxPageSize)
	}
	return n, nil
}

// IDPage is a page of a list kept newest first by a row's id: ?limit= rows below ?cursor=,
// the id of the previous page's last row, as its nextCursor gave it.
type IDPage struct {
	Limit int
	// Before is the cursor; math.MaxInt64 on the first page, which is below every id. One
	// bound for every page lets a query walk its index from the cursor on, whatever page
	// it reads.
	Before int64
}

// ReadIDPage reads a list's ?limit= and ?cursor=.
func ReadIDPage(q url.Values) (IDPage, error) {
	limit, err := PageSize(q)
	if err != nil {
		return IDPage{}, err
	}
	p := IDPage{Limit: limit, Before: math.MaxInt64}
	if c := q.Get("cursor"); c != "" {
		if p.Before, err = strconv.ParseInt(c, 10, 64); err != nil || p.Before < 1 {
			return IDPage{}, apperr.FieldErrorf("cursor", "cursor is malformed: continue from the previous page's nextCursor")
		}
	}
	return p, nil
}

// Rows is how many rows to read for the page: one more than it holds, which tells whether
// another page follows.
func (p IDPage) Rows() int { return p.Limit + 1 }

// PageAnswer is the page's answer: rows (read as Rows asked) under key, cut to the page, with
// nextCursor, the id of its last row, when more follow.
func PageAnswer[T any](p IDPage, key string, rows []T, id func(T) int64) map[string]any {
	resp := map[string]any{}
	if len(rows) > p.Limit {
		rows = rows[:p.Limit]
		resp["nextCursor"] = strconv.FormatInt(id(rows[p.Limit-1]), 10)
	}
	resp[key] = rows
	return resp
}
