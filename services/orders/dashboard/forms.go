package dashboard

import (
	"net/http"
	"slices"

	"github.com/ordermill/ordermill/domain/apperr"
)

// The desk's small forms (claim, note, ticket work) answer the same way: a refusal is
// explained next to the form when htmx asked, on an error page otherwise, and success
// sends a plain form back where it came from.

// refused sorts a desk command's outcome: ok with no message when it succeeded, ok with
// the message to show when the command refused it with one of codes; for any other error
// it has written the failure page and ok is false.
func (s *Service) refused(w http.ResponseWriter, r *http.Request, err error, codes ...apperr.Code) (message string, ok bool) {
	code := apperr.ErrorCode(err)
	switch {
	case code == "":
		return "", true
	case slices.Contains(codes, code):
		return apperr.ErrorMessage(err), true
	}
	s.failPage(w, r, err)
	return "", false
}

// answeredPlainForm answers a form posted without htmx and reports whether it did: a
// refusal on an error page with status, success with a redirect to back.
func (s *Service) answeredPlainForm(w http.ResponseWriter, r *http.Request, refused string, status int, back string) bool {
	if r.Header.Get("HX-Request") != "" {
		return false
	}
	if refused != "" {
		s.dashboardError(w, r, status, refused, nil)
		return true
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
	return true
}
