package order

import "github.com/ordermill/ordermill/domain/apperr"

// notAllowed reports an illegal transition as a conflict, because the request
// may well be valid for an order in another state (e.g. a duplicate webhook).
func notAllowed(action string, s Status) *apperr.Error {
	if s == "" {
		return apperr.Errorf(apperr.CodeConflict, "cannot %s an order that has not been placed", action)
	}
	return apperr.Errorf(apperr.CodeConflict, "cannot %s order in status %q", action, s)
}

// required returns a field error when a mandatory argument is empty.
func required(field, value string) error {
	if value == "" {
		return apperr.FieldErrorf(field, "%s is required", field)
	}
	return nil
}
