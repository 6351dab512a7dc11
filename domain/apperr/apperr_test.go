package apperr

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestErrorfAndAccessors(t *testing.T) {
	wrapped := fmt.Errorf("wrapping: %w", Errorf(CodeConflict, "cannot %s", "approve"))
	field := FieldErrorf("items[0].sku", "items[0].sku is required")
	tests := []struct {
		name      string
		err       error
		wantCode  Code
		wantMsg   string
		wantField string
	}{
		{"nil", nil, "", "", ""},
		{"direct", Errorf(CodeNotFound, "order %q not found", "o1"), CodeNotFound, `order "o1" not found`, ""},
		{"wrapped", wrapped, CodeConflict, "cannot approve", ""},
		{"field", field, CodeInvalid, "items[0].sku is required", "items[0].sku"},
		{"foreign", errors.New("db exploded: password=hunter2"), CodeInternal, "internal error", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ErrorCode(tt.err); got != tt.wantCode {
				t.Errorf("ErrorCode = %q, want %q", got, tt.wantCode)
			}
			if got := ErrorMessage(tt.err); got != tt.wantMsg {
				t.Errorf("ErrorMessage = %q, want %q", got, tt.wantMsg)
			}
			if got := ErrorField(tt.err); got != tt.wantField {
				t.Errorf("ErrorField = %q, want %q", got, tt.wantField)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	if got := Errorf(CodeInvalid, "bad %d", 1).Error(); got != "bad 1" {
		t.Errorf("Error() = %q", got)
	}
	if got := (&Error{Code: CodeInternal}).Error(); got != "internal" {
		t.Errorf("Error() without message = %q", got)
	}
	var nilErr *Error
	if got := nilErr.Error(); got != "<nil>" {
		t.Errorf("nil Error() = %q", got)
	}
}

func TestExcerpt(t *testing.T) {
	long := strings.Repeat("é", MaxEcho)
	tests := []struct{ in, want string }{
		{"", ""},
		{"USD", "USD"},
		{long, long},
		{long + "x", long + "…"},
		{strings.Repeat("x", 100_000), strings.Repeat("x", MaxEcho) + "…"},
	}
	for _, tt := range tests {
		if got := Excerpt(tt.in); got != tt.want {
			t.Errorf("Excerpt(%.20q…) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
