package dashboard

import (
	"net/http"
	"net/url"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/ui"
)

// addNote handles POST /dashboard/orders/{id}/notes: htmx gets the order page's content
// again, its timeline drawn from the order's events, the note among them; a plain form
// goes back to the order page. A note the order refuses (empty, too long) is explained
// next to the field.
func (s *Service) addNote(w http.ResponseWriter, r *http.Request, m manager, id string) {
	if err := r.ParseForm(); err != nil {
		s.dashboardError(w, r, http.StatusBadRequest, "malformed form", nil)
		return
	}
	err := s.cmds.AddNote(r.Context(), id, m.Email, r.PostForm.Get("text"))
	refused, ok := s.refused(w, r, err, apperr.CodeInvalid)
	if !ok || s.answeredPlainForm(w, r, refused, http.StatusBadRequest, "/dashboard/orders/"+url.PathEscape(id)) {
		return
	}
	d, err := s.orderDetail(r.Context(), id, s.cfg.DevMode)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	d.NoteError = refused
	viewedBy(m.Email, d.Pending)
	if refused == "" {
		d.Flash = "Note added."
	}
	s.renderPage(w, r, http.StatusOK, ui.OrderAnswer(d, m.CSRF))
}
