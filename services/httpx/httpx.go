// Package httpx holds the HTTP conventions every service shares: the refusal of input no
// database column can hold, JSON bodies, strict decoding, the one mapping from error codes
// to status codes, create-or-get requests in a transaction, bearer-token checks and the
// gate that bounds requests served at once.
package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/logging"
)

// MaxBody is the largest request body accepted; larger ones get 413.
const MaxBody = 1 << 20

// ErrorBody is the JSON shape of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong and, for bad input, which field.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Codes only the HTTP edge can see, so they have no apperr counterpart: a body over
// MaxBody, a body the client stopped sending before the server's read timeout, and a body
// of a media type no service reads (see ValidInput).
const (
	codeTooLarge             = "too_large"
	codeTimeout              = "timeout"
	codeUnsupportedMediaType = "unsupported_media_type"
)

// WriteJSON writes v as a JSON response with the given status. No cache may keep it (unless
// the handler said otherwise): most answers carry personal data, or a state that moves on.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Status maps an error code to its HTTP status: the only place that knows this mapping.
func Status(code apperr.Code) int {
	switch code {
	case apperr.CodeInvalid:
		return http.StatusBadRequest
	case apperr.CodeNotFound:
		return http.StatusNotFound
	case apperr.CodeConflict:
		return http.StatusConflict
	case apperr.CodeUnauthorized:
		return http.StatusUnauthorized
	case apperr.CodeUnprocessable:
		return http.StatusUnprocessableEntity
	case apperr.CodeUnavailable:
		return http.StatusServiceUnavailable
	case codeTooLarge:
		return http.StatusRequestEntityTooLarge
	case codeTimeout:
		return http.StatusRequestTimeout
	case codeUnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	default:
		return http.StatusInternalServerError
	}
}

// RetryAfter is the Retry-After (seconds) of a 503: about how long a database restart or
// fail-over takes.
const RetryAfter = "5"

// unavailable thins the lines of requests that meet a database outage.
var unavailable = logging.NewRepeats()

// BearerChallenge is the WWW-Authenticate of a 401 answered for want of a bearer token.
const BearerChallenge = `Bearer realm="ordermill"`

// WriteError answers with err's status and JSON body; internal errors are logged and shown
// only as "internal error". An error that means the database cannot be reached right now
// (eventstore.Unavailable) is a 503 with Retry-After, as is every unavailable error: the
// client should come back, not give up.
func WriteError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code := apperr.ErrorCode(err)
	if code == apperr.CodeInternal && eventstore.Unavailable(err) {
		// Every request meets the same outage: a line a minute, not one a request.
		if due, missed := unavailable.Due(""); due {
			logger.WarnContext(r.Context(), "database unavailable", "method", r.Method, "path", r.URL.Path, "err", err,
				"repeated_since_last_line", missed)
		}
		err = apperr.Errorf(apperr.CodeUnavailable, "the database is not answering; retry later")
		code = apperr.CodeUnavailable
	}
	if code == apperr.CodeUnavailable {
		w.Header().Set("Retry-After", RetryAfter)
	}
	if code == apperr.CodeUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		// A 401 must say how to authenticate (RFC 9110 §11.6.1): a bearer token, unless
		// the handler named another way (a webhook's signature).
		w.Header().Set("WWW-Authenticate", BearerChallenge)
	}
	switch {
	case code == apperr.CodeInternal && errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away (a frozen replica resumed to find its callers gone): no
		// fault of the process's, nothing for an operator to page on.
		logger.InfoContext(r.Context(), "request abandoned by its client", "method", r.Method, "path", r.URL.Path, "err", err)
	case code == apperr.CodeInternal:
		logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	WriteJSON(w, Status(code), ErrorBody{Error: ErrorDetail{
		Code:    string(code),
		Message: apperr.ErrorMessage(err),
		Field:   apperr.ErrorField(err),
	}})
}

// DecodeJSON reads r's body into v strictly (see ReadBody and Decode). Its Content-Type
// was checked by ValidInput, which every service's handler is behind.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := ReadBody(w, r)
	if err != nil {
		return err
	}
	return Decode(body, v)
}

// ReadBody reads at most MaxBody bytes of r's body; a larger body is a 413 error, a body
// the client stopped sending before the server's read timeout a 408. Webhooks need the raw
// bytes to check signatures, idempotent requests to hash them.
// A body declared larger than MaxBody is refused before a byte of it is read, so a client
// that asked to continue (Expect: 100-continue) is told at once, not after sending it.
func ReadBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return ReadBodyAtMost(w, r, MaxBody)
}

// ReadBodyAtMost is ReadBody with a smaller limit, for a route whose largest valid body is
// far below MaxBody: a body refused for its size then costs its read alone, not a decode
// of a megabyte (a probe's 1 MiB orders of 33,000 lines, each refused, slowed every other
// customer's order to seconds).
func ReadBodyAtMost(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var maxErr *http.MaxBytesError
	switch {
	case err == nil:
		return body, nil
	case errors.As(err, &maxErr):
		return nil, tooLarge(limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, &apperr.Error{Code: codeTimeout, Message: "the request body did not arrive in time"}
	default:
		// The connection failed; its error names addresses, which are not the client's business.
		return nil, apperr.Errorf(apperr.CodeInvalid, "the request body could not be read")
	}
}

func tooLarge(limit int64) error {
	return &apperr.Error{Code: codeTooLarge, Message: fmt.Sprintf("request body is larger than %d bytes", limit)}
}

// Decode unmarshals body into v strictly: exactly one JSON value, whose names are v's
// fields' exactly as tagged (none unknown, none in another case) and given once (nameFault).
func Decode(body []byte, v any) error {
	return decode(body, v, true)
}

// DecodeLenient unmarshals body into v, ignoring fields v does not have and matching
// names as encoding/json does, without regard to case: providers add fields to their
// webhooks over time. It is strict about JSON itself (a name given twice included), and its
// messages are Decode's.
func DecodeLenient(body []byte, v any) error {
	return decode(body, v, false)
}

// byteOrderMark is U+FEFF as UTF-8, which some editors put at the start of a file.
var byteOrderMark = []byte("\xef\xbb\xbf")

func decode(body []byte, v any, strict bool) error {
	// A body starting with a byte-order mark is refused, in words that say so: encoding/json
	// called it "invalid character 'ï'", which sent the client looking for a typo. RFC 8259
	// (§8.1) forbids the mark in JSON sent over a network and lets a parser ignore it; this
	// one is strict about the JSON it takes, as it is about names, rather than read a body
	// otherwise than other readers of it may, and the sender's fix is one setting.
	if bytes.HasPrefix(body, byteOrderMark) {
		return apperr.Errorf(apperr.CodeInvalid, "the request body starts with a byte-order mark (U+FEFF), which JSON must not: send it without one")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			// The walk names it with its path, or a fault of a name before it.
			if fault := nameFault(body, reflect.TypeOf(v), strict); fault != nil {
				return fault
			}
		}
		return DecodeError(err, body)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apperr.Errorf(apperr.CodeInvalid, "request body must hold a single JSON value")
	}
	return nameFault(body, reflect.TypeOf(v), strict)
}

// maxFieldWalk is the largest body whose type error fieldAt names with its arrays'
// indexes: a walk of tokens costs about a second a megabyte, and a webhook of a megabyte
// with a type error at its end cost that to refuse. Larger bodies are named as
// encoding/json names them.
const maxFieldWalk = 64 << 10

// level is an object or an array a walk of a body is in: its place in the path the walk
// names ("items[2].quantity"), and what the walk of names knows of it.
type level struct {
	object bool
	name   string // an object's current name
	index  int    // an array's current index

	names  *nameSet     // an object's names so far
	fields fields       // the fields of the struct an object decodes into; nil: not checked
	elem   reflect.Type // the type an array's elements decode into
}

// pathAt names the value the walk is at, from the levels it is in.
func pathAt(stack []*level) string {
	var b strings.Builder
	for _, l := range stack {
		switch {
		case !l.object:
			fmt.Fprintf(&b, "[%d]", l.index)
		case b.Len() > 0:
			b.WriteString("." + l.name)
		default:
			b.WriteString(l.name)
		}
	}
	return b.String()
}

// fieldAt names the field of body typeErr is about with the index of every array on the
// way ("items[2].quantity", where encoding/json says "items.quantity"), so a client told
// that a quantity must be a number knows which line's. It walks body's tokens to the
// value that ends at or after typeErr.Offset; typeErr.Field when the walk finds another
// field there (it should not).
func fieldAt(body []byte, typeErr *json.UnmarshalTypeError) string {
	var stack []*level
	wantName := false
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // as text: 1e309, out of a float64's range, ended the walk unnamed
	for {
		tok, err := dec.Token()
		if err != nil {
			return typeErr.Field
		}
		d, delim := tok.(json.Delim)
		if delim && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			wantName = len(stack) > 0 && stack[len(stack)-1].object
			continue
		}
		if name, ok := tok.(string); ok && wantName {
			stack[len(stack)-1].name, wantName = name, false
			continue
		}
		// A value starts: an array's next element, or an object's named value.
		if len(stack) > 0 && !stack[len(stack)-1].object {
			stack[len(stack)-1].index++
		}
		if dec.InputOffset() >= typeErr.Offset {
			if p := pathAt(stack); indexFree(p) == typeErr.Field {
				return p
			}
			return typeErr.Field
		}
		if delim {
			stack = append(stack, &level{object: d == '{', index: -1})
			wantName = d == '{'
			continue
		}
		wantName = len(stack) > 0 && stack[len(stack)-1].object
	}
}

// indexFree is path without its array indexes, as encoding/json names a field.
func indexFree(path string) string {
	var b strings.Builder
	depth := 0
	for _, r := range path {
		switch {
		case r == '[':
			depth++
		case r == ']':
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// nameFault refuses the first name of body that Decode would read otherwise than it was
// written, with the path of its value (items[2].quantity):
//   - a name given twice in one object, compared as encoding/json matches names to fields,
//     without regard to case: encoding/json keeps the last, so a proxy or log that read the
//     first would see another request than the one served ({"items":[A],"items":[B]}
//     priced as B);
//   - when exact, a name that is not the name of a field of the struct its object decodes
//     into, spelt as the field is ("ITEMS" or "Sku" were read as items and sku; a documented
//     schema names its fields exactly), or that no field has (encoding/json names the
//     field without its path, "extra" for items[0].extra).
//
// t is the type body decodes into; objects that decode into no struct (a map, any, a
// json.RawMessage) have their names checked for repetition only. The first JSON value of
// body is walked, which must be valid up to the fault (Decode has read it): its names are
// the strings that open an object or follow a comma in one. It costs a pass over the
// bytes and a small slice a level; a walk of json.Decoder's tokens, which allocated for
// every token, was most of the cost of refusing a megabyte of order lines.
func nameFault(body []byte, t reflect.Type, exact bool) error {
	var stack []*level
	next := t // the type the next value decodes into
	wantName := false
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '{':
			l := &level{object: true, names: &nameSet{}}
			if exact {
				l.fields = fieldsOf(next)
			}
			stack = append(stack, l)
			wantName = true
		case '[':
			next = elemOf(next)
			stack = append(stack, &level{elem: next})
			wantName = false
		case '}', ']':
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return nil
			}
			wantName = false
		case ',':
			top := stack[len(stack)-1]
			if top.object {
				wantName = true
			} else {
				top.index++
				next = top.elem
			}
		case '"':
			end, escaped := stringEnd(body, i)
			if wantName {
				top := stack[len(stack)-1]
				top.name = string(body[i+1 : end])
				if escaped || !utf8.ValidString(top.name) {
					// Read as the decoder reads it: escapes undone, and each byte that is
					// not UTF-8 a U+FFFD (kept raw, it named a path no decoder sees: make
					// fuzz).
					_ = json.Unmarshal(body[i:end+1], &top.name) // a valid JSON string
				}
				if err := refuse(stack); err != nil {
					return err
				}
				next = top.fields[top.name]
				wantName = false
			}
			i = end
		}
	}
	return nil
}

// refuse refuses the name the innermost object of stack has just been given, as nameFault
// says, naming it with its path.
func refuse(stack []*level) error {
	l := stack[len(stack)-1]
	name := func() string { return apperr.Excerpt(pathAt(stack)) }
	if _, ok := l.fields[l.name]; !ok && l.fields != nil {
		for field := range l.fields {
			if strings.EqualFold(field, l.name) {
				return apperr.FieldErrorf(name(), "unknown field %q: names are matched exactly; did you mean %q?", name(), field)
			}
		}
		return apperr.FieldErrorf(name(), "unknown field %q", name())
	}
	if l.names.seen(strings.ToLower(l.name)) {
		if l.fields != nil { // the names are exact: no case was folded
			return apperr.FieldErrorf(name(), "%s is given twice in one object: give it once", name())
		}
		return apperr.FieldErrorf(name(), "%s is given twice in one object (names are matched without regard to case): give it once", name())
	}
	return nil
}

// fields are the names encoding/json reads a struct's fields from, spelt as their tags
// (or the fields' own names) spell them, each with its field's type.
type fields map[string]reflect.Type

// structFields caches fieldsOf: a struct's fields are read once, not once an object.
var structFields sync.Map // reflect.Type → fields

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// fieldsOf returns the fields of the struct t is (or points to), as encoding/json reads
// them: the fields of an embedded struct without a name of its own as the struct's, none
// tagged "-" or unexported. It is nil for any other type, and for a struct that reads
// itself (json.Unmarshaler).
func fieldsOf(t reflect.Type) fields {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	if f, ok := structFields.Load(t); ok {
		return f.(fields)
	}
	f := fields{}
	for i := range t.NumField() {
		field := t.Field(i)
		name, _, _ := strings.Cut(field.Tag.Get("json"), ",")
		switch {
		case name == "-":
		case field.Anonymous && name == "" && fieldsOf(field.Type) != nil:
			maps.Copy(f, fieldsOf(field.Type))
		case !field.IsExported():
		case name == "":
			f[field.Name] = field.Type
		default:
			f[name] = field.Type
		}
	}
	structFields.Store(t, f)
	return f
}

// elemOf is the type the elements of an array decode into, when t is (or points to) a
// slice or an array; nil otherwise.
func elemOf(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || (t.Kind() != reflect.Slice && t.Kind() != reflect.Array) {
		return nil
	}
	return t.Elem()
}

// stringEnd returns the index of the quote that closes the JSON string opening at
// body[start], and whether the string holds an escape; len(body) when it is not closed.
func stringEnd(body []byte, start int) (end int, escaped bool) {
	for i := start + 1; i < len(body); i++ {
		switch body[i] {
		case '\\':
			escaped = true
			i++ // the escaped character, a quote perhaps
		case '"':
			return i, escaped
		}
	}
	return len(body), escaped
}

// CountArray counts the elements of the array body's top-level object gives as name,
// compared without regard to case as encoding/json matches names (the most of them, should
// it be given twice), with a walk of the bytes, before body is decoded: a handler refuses
// too many lines at the cost of a read instead of a decode of every one. On valid JSON the
// count is exact; on anything else it means nothing, and the decode that follows refuses
// the body in its own words. A name spelt with escapes is not recognised (0).
func CountArray(body []byte, name string) int {
	depth, most, count := 0, 0, 0
	var last []byte // the last string read at depth 1: the name before a value
	inArray, value, object := false, false, false
	for i := 0; i < len(body); i++ {
		c := body[i]
		if inArray && depth == 2 && c != ',' && c != ']' && c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			value = true
		}
		switch c {
		case '"':
			end, _ := stringEnd(body, i)
			if depth == 1 && end < len(body) {
				last = body[i+1 : end]
			}
			i = end
		case '{', '[':
			depth++
			if depth == 1 {
				object = c == '{'
			}
			if c == '[' && depth == 2 && object && bytes.EqualFold(last, []byte(name)) {
				inArray, count, value = true, 0, false
			}
		case '}', ']':
			if c == ']' && depth == 2 && inArray {
				if value {
					count++
				}
				most, inArray = max(most, count), false
			}
			depth--
		case ',':
			if inArray && depth == 2 {
				count++
			}
		}
	}
	return most
}

// manyNames is how many names an object holds before its nameSet looks them up in a map
// rather than a slice: an object of thousands of names must not cost their square.
const manyNames = 16

// nameSet is the names of one object so far, lower-cased.
type nameSet struct {
	names []string
	index map[string]bool
}

// seen reports whether the object already has name, and adds it.
func (s *nameSet) seen(name string) bool {
	if s.index != nil {
		if s.index[name] {
			return true
		}
		s.index[name] = true
		return false
	}
	if slices.Contains(s.names, name) {
		return true
	}
	s.names = append(s.names, name)
	if len(s.names) > manyNames {
		s.index = make(map[string]bool, 2*len(s.names))
		for _, n := range s.names {
			s.index[n] = true
		}
	}
	return false
}

// DecodeError explains encoding/json's failure to decode body in the client's terms:
// JSON types and field names, never Go types, and at most an excerpt of what was sent.
func DecodeError(err error, body []byte) error {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	var appErr *apperr.Error
	switch {
	case errors.As(err, &appErr): // a field's own json.Unmarshaler refused it in its words
		return err
	case errors.Is(err, io.EOF):
		return apperr.Errorf(apperr.CodeInvalid, "request body is empty; a JSON object is required")
	case errors.As(err, &syntaxErr):
		return apperr.Errorf(apperr.CodeInvalid, "malformed JSON at byte %d: %s", syntaxErr.Offset, apperr.Excerpt(syntaxErr.Error()))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.Errorf(apperr.CodeInvalid, "malformed JSON: the body ends too early")
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return apperr.Errorf(apperr.CodeInvalid, "the request body must be %s", jsonType(typeErr.Type))
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if len(body) <= maxFieldWalk {
			field = fieldAt(body, typeErr)
		}
		return apperr.FieldErrorf(field, "%s must be %s", field, jsonType(typeErr.Type))
	default:
		return apperr.Errorf(apperr.CodeInvalid, "invalid JSON body: %s", apperr.Excerpt(err.Error()))
	}
}

// jsonType names the JSON value a Go type decodes from.
func jsonType(t reflect.Type) string {
	if t == reflect.TypeFor[json.Number]() {
		return "a number"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return jsonType(t.Elem())
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer within range"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer within range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	default:
		return "of another JSON type"
	}
}
