package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/ui"
)

// Cookie names of the dashboard.
const (
	sessionCookie = "ordermill_session"
	// signinCookie carries the sign-in form's CSRF token (double-submit) before a session exists.
	signinCookie = "ordermill_signin"
)

// manager is the signed-in manager of a dashboard request.
type manager struct {
	ID    int64
	Email string
	CSRF  string
}

// AccountChange is what SetManager did to an account.
type AccountChange int

// The changes SetManager makes.
const (
	AccountCreated AccountChange = iota
	PasswordReset
	PasswordUnchanged
)

// SetManager creates a dashboard account, or resets the password of an existing one with
// the same email, and says which it did. A new password must pass checkNewPassword (at
// least MinPasswordLength characters, not a common one). A reset ends the account's
// sessions, so whoever held the old password is signed out, and lifts its sign-in lockout;
// setting the password the account already has changes nothing, so the dev account's
// sessions survive a restart.
func SetManager(ctx context.Context, db eventstore.TxBeginner, email, password string) (AccountChange, error) {
	email = strings.TrimSpace(email)
	if !limits.ValidEmail(email) {
		return 0, fmt.Errorf("a manager needs an email address (name@example.com), not %q", apperr.Excerpt(email))
	}
	if err := checkNewPassword(email, password); err != nil {
		return 0, err
	}
	var change AccountChange
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var id int64
		var old string
		err := tx.QueryRow(ctx, `SELECT id, password_hash FROM orders.managers WHERE lower(email) = lower($1) FOR UPDATE`, email).Scan(&id, &old)
		switch {
		case err == nil && bcrypt.CompareHashAndPassword([]byte(old), []byte(password)) == nil:
			change = PasswordUnchanged
			return nil
		case err == nil:
			change = PasswordReset
		case errors.Is(err, pgx.ErrNoRows):
			change = AccountCreated
		default:
			return err
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
		if err != nil {
			return err
		}
		// Two processes creating the same account at once (dev replicas starting) meet on
		// the unique email; the second sets the password of the first's fresh account.
		if err := tx.QueryRow(ctx, `
			INSERT INTO orders.managers (email, password_hash) VALUES ($1, $2)
			ON CONFLICT (lower(email)) DO UPDATE SET password_hash = excluded.password_hash
			RETURNING id`, email, string(hash)).Scan(&id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM orders.dashboard_sessions WHERE manager_id = $1`, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM orders.signin_limits WHERE key = $1`, accountKey(email).hash)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("set manager %s: %w", email, err)
	}
	return change, nil
}

// dummyHash is compared against when the email is unknown, so a wrong email costs as much
// time as a wrong password and does not reveal which accounts exist.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not a password of anyone"), bcrypt.DefaultCost)

// checkPassword returns the manager id for a correct email and password.
func (s *Service) checkPassword(ctx context.Context, email, password string) (int64, bool, error) {
	var id int64
	var hash string
	err := s.pool.QueryRow(ctx, `SELECT id, password_hash FROM orders.managers WHERE lower(email) = lower($1)`,
		strings.TrimSpace(email)).Scan(&id, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return 0, false, nil
	}
	return id, true, nil
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

func tokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// secureCookies reports whether cookies must be Secure: over TLS, when the operator says
// TLS ends at a proxy in front of us, or when the proxy says the request came over HTTPS
// (X-Forwarded-Proto, which TLS-ending proxies set): without COOKIE_SECURE, a session
// cookie behind such a proxy went out without Secure, and nothing said so (a review).
// Trusting the header is safe here: it can only add Secure, which a client asking for it
// over plain HTTP would only keep from itself.
func (s *Service) secureCookies(r *http.Request) bool {
	return r.TLS != nil || s.cfg.CookieSecure || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (s *Service) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/dashboard", MaxAge: maxAge,
		HttpOnly: true, Secure: s.secureCookies(r), SameSite: http.SameSiteLaxMode,
	})
}

// startSession stores a new session for the manager and sets its cookie. The session the
// browser held before, if any, ends here: its cookie is replaced, and a copy of it (left on
// a shared machine, or taken) would otherwise stay good until it expired, under whichever
// manager signed in before (a review).
func (s *Service) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, managerID int64) error {
	if err := s.endSession(ctx, r); err != nil {
		return err
	}
	token := randomToken()
	_, err := s.pool.Exec(ctx, `
		INSERT INTO orders.dashboard_sessions (token_hash, manager_id, csrf_token, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, tokenHash(token), managerID, randomToken(), s.now(), s.now().Add(s.cfg.SessionTTL))
	if err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	s.setCookie(w, r, sessionCookie, token, int(s.cfg.SessionTTL/time.Second))
	return nil
}

// endSession deletes the session of r's cookie, if it has one.
func (s *Service) endSession(ctx context.Context, r *http.Request) error {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM orders.dashboard_sessions WHERE token_hash = $1`, tokenHash(c.Value)); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// sessionManager finds the manager signed in with r's session cookie.
func (s *Service) sessionManager(ctx context.Context, r *http.Request) (manager, bool, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return manager{}, false, nil
	}
	var m manager
	err = s.pool.QueryRow(ctx, `
		SELECT m.id, m.email, s.csrf_token FROM orders.dashboard_sessions s
		JOIN orders.managers m ON m.id = s.manager_id
		WHERE s.token_hash = $1 AND s.expires_at > $2`, tokenHash(c.Value), s.now()).Scan(&m.ID, &m.Email, &m.CSRF)
	if errors.Is(err, pgx.ErrNoRows) {
		return manager{}, false, nil
	}
	if err != nil {
		return manager{}, false, err
	}
	return m, true, nil
}

// managerHandler is a dashboard handler that runs for a signed-in manager.
type managerHandler func(w http.ResponseWriter, r *http.Request, m manager)

// signedIn guards a dashboard route: without a session a page request is sent to the
// sign-in page and anything else gets 401; a state-changing request must also carry the
// session's CSRF token (header for htmx, form field for plain forms) or gets 403.
func (s *Service) signedIn(h managerHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		m, ok, err := s.sessionManager(r.Context(), r)
		if err != nil {
			s.failPage(w, r, err) // 503 while the database is not answering
			return
		}
		safe := r.Method == http.MethodGet || r.Method == http.MethodHead
		if !ok {
			if safe && r.Header.Get("HX-Request") == "" && r.Header.Get("Accept") != "text/event-stream" {
				http.Redirect(w, r, "/dashboard/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			// An action (not a page) met an ended session: the sign-in page says it was not
			// done, where it said nothing and a manager took the decision for made.
			to := "/dashboard/signin" + backTo(r)
			if !safe {
				sep := "?"
				if strings.Contains(to, "?") {
					sep = "&"
				}
				to += sep + "ended=1"
			}
			w.Header().Set("HX-Redirect", to)
			s.dashboardError(w, r, http.StatusUnauthorized, "sign in to the dashboard first", nil)
			return
		}
		if !safe {
			switch valid, err := validCSRF(r, m.CSRF); {
			case err != nil:
				// Said as it is: "wrong CSRF token" sent a form with a stray % looking for
				// a token (a probe). A body too large never gets here: ValidInput refused it.
				s.dashboardError(w, r, http.StatusBadRequest, "malformed form: "+apperr.Excerpt(err.Error()), nil)
				return
			case !valid:
				s.dashboardError(w, r, http.StatusForbidden, "missing or wrong CSRF token: reload the page and try again", nil)
				return
			}
		}
		h(w, r, m)
	}
}

// backTo is the sign-in page's ?next= for an htmx request whose session ended: the page
// the manager was on (htmx names it in HX-Current-URL), so signing in again returns there
// rather than to the overview. Only a dashboard path of this site is taken.
func backTo(r *http.Request) string {
	u, err := url.Parse(r.Header.Get("HX-Current-URL"))
	if err != nil || !strings.HasPrefix(u.Path, "/dashboard") || strings.HasPrefix(u.Path, "/dashboard/signin") {
		return ""
	}
	return "?next=" + url.QueryEscape(u.RequestURI())
}

// validCSRF compares the request's token with the expected one in constant time; the
// error is a form that could not be read for its token.
func validCSRF(r *http.Request, want string) (bool, error) {
	got := r.Header.Get(ui.CSRFHeader)
	if got == "" {
		r.Body = http.MaxBytesReader(nil, r.Body, httpx.MaxBody)
		if err := r.ParseForm(); err != nil {
			return false, err
		}
		got = r.PostForm.Get(ui.CSRFField)
	}
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1, nil
}

// dashboardError answers a person (a page or htmx) with HTML and a program with the API's
// JSON error shape; internal causes are logged, never shown.
func (s *Service) dashboardError(w http.ResponseWriter, r *http.Request, status int, message string, cause error) {
	switch {
	case cause != nil && r.Context().Err() != nil:
		// The browser left (a tab closed, a page reloaded mid-request): nobody to answer,
		// nothing failed (a probe saw these logged as errors).
		s.logger.DebugContext(r.Context(), "dashboard request cut short by its client", "method", r.Method, "path", r.URL.Path, "err", cause)
		return
	case cause != nil:
		s.logger.ErrorContext(r.Context(), "dashboard request failed", "method", r.Method, "path", r.URL.Path, "err", cause)
	}
	if wantsHTML(r) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_ = ui.ErrorPage(status, message).Render(r.Context(), w)
		return
	}
	code := map[int]string{
		http.StatusBadRequest:          string(apperr.CodeInvalid),
		http.StatusUnauthorized:        string(apperr.CodeUnauthorized),
		http.StatusForbidden:           "forbidden",
		http.StatusNotFound:            string(apperr.CodeNotFound),
		http.StatusMethodNotAllowed:    string(apperr.CodeInvalid),
		http.StatusConflict:            string(apperr.CodeConflict),
		http.StatusUnprocessableEntity: string(apperr.CodeUnprocessable),
		http.StatusServiceUnavailable:  string(apperr.CodeUnavailable),
		http.StatusTooManyRequests:     "too_many_requests",
		// Refused before routing (httpx.ValidInput, through the Mux's Refusals).
		http.StatusRequestTimeout:        "timeout",
		http.StatusRequestEntityTooLarge: "too_large",
		// A form labelled otherwise was answered "internal" (a probe).
		http.StatusUnsupportedMediaType: "unsupported_media_type",
	}[status]
	if code == "" {
		code = "internal"
	}
	httpx.WriteJSON(w, status, httpx.ErrorBody{Error: httpx.ErrorDetail{Code: code, Message: message}})
}

func wantsHTML(r *http.Request) bool {
	return r.Header.Get("HX-Request") != "" || strings.Contains(r.Header.Get("Accept"), "text/html")
}

// signInPage handles GET /dashboard/signin.
func (s *Service) signInPage(w http.ResponseWriter, r *http.Request) {
	if _, ok, _ := s.sessionManager(r.Context(), r); ok {
		http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
		return
	}
	v := ui.SignIn{Next: safeNext(r.URL.Query().Get("next"))}
	if r.URL.Query().Get("ended") == "1" {
		v.Notice = "Your session ended before your last action reached the server: it was not done (nothing was recorded). Sign in and do it again."
	}
	s.renderSignIn(w, r, http.StatusOK, v)
}

func (s *Service) renderSignIn(w http.ResponseWriter, r *http.Request, status int, v ui.SignIn) {
	v.CSRFToken = signinToken(r)
	s.setCookie(w, r, signinCookie, v.CSRFToken, 3600)
	if s.cfg.DevMode && s.cfg.DevPassword != "" {
		v.DevHint = "Development account: " + DevManagerEmail + " (password printed by make run)"
	}
	s.renderPage(w, r, status, ui.SignInPage(v))
}

// signinToken is the browser's sign-in token: the one its cookie holds already when that
// is one of ours (as randomToken makes them), else a new one. Each sign-in page minted its
// own and overwrote the cookie, so the forms of the browser's other sign-in pages were
// refused. Taking the cookie's token back lets nobody in: the form must match the cookie.
func signinToken(r *http.Request) string {
	if c, err := r.Cookie(signinCookie); err == nil {
		if b, err := base64.RawURLEncoding.DecodeString(c.Value); err == nil && len(b) == 32 {
			return c.Value
		}
	}
	return randomToken()
}

// signIn handles POST /dashboard/signin: the form's token must match its cookie (a
// double-submit token: no session exists yet to hold one). A form that does not match
// (its cookie gone with a sign-in in another tab, or expired) comes back with the email
// typed and a word of why, not a bare error page.
func (s *Service) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, httpx.MaxBody)
	if err := r.ParseForm(); err != nil {
		s.dashboardError(w, r, http.StatusBadRequest, "malformed form", nil)
		return
	}
	email, password, next := r.PostForm.Get("email"), r.PostForm.Get("password"), safeNext(r.PostForm.Get("next"))
	c, err := r.Cookie(signinCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get(ui.CSRFField))) != 1 {
		// A form left open in another tab, whose manager has signed in since (which ends
		// every other sign-in form): they are in, so they go where the form would have
		// taken them. Nothing is checked or changed; another manager's form is refused.
		if m, ok, err := s.sessionManager(r.Context(), r); err == nil && ok && strings.EqualFold(m.Email, strings.TrimSpace(email)) {
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
		s.renderSignIn(w, r, http.StatusForbidden, ui.SignIn{Email: email, Next: next,
			Error: "This sign-in form had expired, and nothing was checked: type your password again."})
		return
	}
	account, address := accountKey(email), s.addressKey(r)
	charge, wait, err := s.admitSignIn(r.Context(), account, address)
	if err != nil {
		s.dashboardError(w, r, http.StatusInternalServerError, "internal error", err)
		return
	}
	if wait > 0 {
		// The same answer whether the account exists or not, and whichever key is waiting.
		seconds := retryAfterSeconds(wait)
		s.signins.throttled.Add(1)
		s.logger.WarnContext(r.Context(), "dashboard sign-in throttled", "metric", "dashboard_signin_throttled",
			"email", account.name, "address", address.name, "retry_after", seconds)
		w.Header().Set("Retry-After", strconv.Itoa(seconds))
		s.renderSignIn(w, r, http.StatusTooManyRequests, ui.SignIn{Email: email, Next: next,
			Error: "Too many sign-in attempts. Try again in " + waitText(seconds) + "."})
		return
	}
	id, ok, err := s.checkPassword(r.Context(), email, password)
	if err != nil {
		s.dashboardError(w, r, http.StatusInternalServerError, "internal error", err)
		return
	}
	if !ok {
		s.signins.refused.Add(1)
		if err := s.signInFailed(r.Context(), charge); err != nil {
			// The charge made at the admission stands: the delay only counts from earlier.
			s.logger.ErrorContext(r.Context(), "dashboard sign-in: restart the delay at the refusal", "err", err)
		}
		s.logger.WarnContext(r.Context(), "dashboard sign-in refused", "metric", "dashboard_signin_refused", "email", account.name, "address", address.name)
		s.renderSignIn(w, r, http.StatusUnauthorized, ui.SignIn{Email: email, Next: next, Error: "Wrong email or password."})
		return
	}
	if err := s.signInSucceeded(r.Context(), charge); err != nil {
		// The manager is who they said; a charge left in place only delays their next sign-in.
		s.logger.ErrorContext(r.Context(), "dashboard sign-in: take back the attempt's charge", "err", err)
	}
	if err := s.startSession(r.Context(), w, r, id); err != nil {
		s.dashboardError(w, r, http.StatusInternalServerError, "internal error", err)
		return
	}
	s.setCookie(w, r, signinCookie, "", -1)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signOut handles POST /dashboard/signout.
func (s *Service) signOut(w http.ResponseWriter, r *http.Request, m manager) {
	if err := s.endSession(r.Context(), r); err != nil {
		s.dashboardError(w, r, http.StatusInternalServerError, "internal error", err)
		return
	}
	s.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/dashboard/signin", http.StatusSeeOther)
}

// safeNext keeps a post-sign-in redirect inside the dashboard (no open redirect): a path
// of the dashboard's, once cleaned, with its query. A prefix check let
// /dashboard/..//evil.com through, sent on as /evil.com (a probe).
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.Contains(next, "\\") || !strings.HasPrefix(u.Path, "/") {
		return "/dashboard"
	}
	clean := path.Clean(u.Path)
	if clean != "/dashboard" && !strings.HasPrefix(clean, "/dashboard/") {
		return "/dashboard"
	}
	return (&url.URL{Path: clean, RawQuery: u.RawQuery}).String()
}

// renderPage writes a full page or fragment with the dashboard's headers.
func (s *Service) renderPage(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := c.Render(r.Context(), w); err != nil {
		s.logger.ErrorContext(r.Context(), "render dashboard page", "path", r.URL.Path, "err", err)
	}
}
