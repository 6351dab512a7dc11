// Package apperr defines the single small error type shared by every layer of
// Ordermill, so that HTTP handlers, workers and sagas can map failures to
// responses and retry decisions without knowing where the error came from.
package apperr

import (
	"errors"
	"fmt"
)

// Code classifies an error so callers can react (status code, retry) without parsing text.
type Code string

// Error codes are deliberately few so that every layer can map them exhaustively.
const (
	// CodeInvalid means the caller sent bad input and retrying unchanged will not help.
	CodeInvalid Code = "invalid"
	// CodeNotFound means the addressed resource does not exist.
	CodeNotFound Code = "not_found"
	// CodeConflict means the request clashes with current state, e.g. an illegal transition.
	CodeConflict Code = "conflict"
	// CodeUnauthorized means the caller could not be authenticated or is not allowed.
	CodeUnauthorized Code = "unauthorized"
	// CodeUnprocessable means well-formed input that contradicts what the system knows,
	// e.g. a total that is not the catalog's price of the items.
	CodeUnprocessable Code = "unprocessable"
	// CodeUnavailable means a service this request needs does not answer; retrying later helps.
	CodeUnavailable Code = "unavailable"
	// CodeInternal means something unexpected failed and details must not leak to clients.
	CodeInternal Code = "internal"
)

// Error carries a code and a client-safe message so it can be surfaced verbatim.
type Error struct {
	// Code lets callers branch on the kind of failure.
	Code Code
	// Field names the offending input field for validation errors, so UIs can highlight it.
	Field string
	// Message is safe to show to API clients.
	Message string
}

// Error returns the message because it already names the problem and any field.
func (e *Error) Error() string {
	if e == nil {
		return "<nil>"
	}
	if e.Message == "" {
		return string(e.Code)
	}
	return e.Message
}

// Errorf builds an *Error with a formatted message so call sites stay one-liners.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf builds a CodeInvalid error tied to an input field so clients can point at it.
func FieldErrorf(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// MaxEcho is the most characters of client input a message repeats: enough to recognise
// the value, never a whole request.
const MaxEcho = 64

// Excerpt returns s cut to MaxEcho characters, ending in "…" when cut, for messages that
// show a client what it sent.
func Excerpt(s string) string {
	n := 0
	for i := range s {
		if n == MaxEcho {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// ErrorCode reports the code of err, treating foreign errors as internal so they are never mistaken for client faults.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e != nil {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns a client-safe message, hiding the text of foreign errors which may leak internals.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e != nil {
		return e.Message
	}
	return "internal error"
}

// ErrorField returns the offending field of a validation error, or "" when there is none.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) && e != nil {
		return e.Field
	}
	return ""
}
