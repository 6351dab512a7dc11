// Package httpx holds the HTTP conventions every service shares: JSON bodies, strict
// decoding, the one mapping from error codes to status codes, create-or-get requests in a
// transaction and the database readiness check.
package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/ordermill/ordermill/domain/apperr"
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

// codeTooLarge is the code of a body over MaxBody; it has no apperr counterpart because
// only the HTTP edge can see it.
const codeTooLarge = "too_large"

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
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
	case codeTooLarge:
		return http.StatusRequestEntityTooLarge
	default:
		return http.StatusInternalServerError
	}
}

// WriteError answers with err's status and JSON body; internal errors are logged and shown
// only as "internal error".
func WriteError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code := apperr.ErrorCode(err)
	if code == apperr.CodeInternal {
		logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	WriteJSON(w, Status(code), ErrorBody{Error: ErrorDetail{
		Code:    string(code),
		Message: apperr.ErrorMessage(err),
		Field:   apperr.ErrorField(err),
	}})
}

// DecodeJSON reads r's body into v strictly (see ReadBody and Decode). The Content-Type
// header is not required: curl sends none by default.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := ReadBody(w, r)
	if err != nil {
		return err
	}
	return Decode(body, v)
}

// ReadBody reads at most MaxBody bytes of r's body; a larger body is a 413 error. Webhooks
// need the raw bytes to check signatures, idempotent requests to hash them.
func ReadBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		return nil, decodeError(err)
	}
	return body, nil
}

// Decode unmarshals body into v strictly: no unknown fields, exactly one JSON value.
func Decode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apperr.Errorf(apperr.CodeInvalid, "request body must hold a single JSON value")
	}
	return nil
}

func decodeError(err error) error {
	var maxErr *http.MaxBytesError
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &maxErr):
		return &apperr.Error{Code: codeTooLarge, Message: fmt.Sprintf("request body is larger than %d bytes", MaxBody)}
	case errors.Is(err, io.EOF):
		return apperr.Errorf(apperr.CodeInvalid, "request body is empty; a JSON object is required")
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.Errorf(apperr.CodeInvalid, "malformed JSON: %v", err)
	case errors.As(err, &typeErr):
		return apperr.FieldErrorf(typeErr.Field, "field %q must be %s", typeErr.Field, typeErr.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return apperr.FieldErrorf(field, "unknown field %q", field)
	default:
		return apperr.Errorf(apperr.CodeInvalid, "invalid JSON body: %v", err)
	}
}
