package httpx

import (
	"bytes"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/limits"
)

// ValidInput refuses with 400, before next runs, a request carrying a NUL character or
// bytes that are not UTF-8 in its path, query, header values or body. Postgres stores
// neither in TEXT or JSONB (SQLSTATE 22021), so such input would otherwise reach a query
// and fail there as a 500, in whichever handler happened to pass it on; checking here
// covers every handler of every service at once.
//
// The body is read (at most MaxBody bytes, as every handler would) and handed on
// unchanged. It is checked as bytes, which covers JSON whatever its Content-Type says
// (curl -d labels JSON a form): a JSON string can still spell a NUL as the escape \u0000,
// so that escape is refused too. A form's values are checked once percent-decoded.
func ValidInput(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkInput(w, r); err != nil {
			WriteError(w, r, logger, err)
			return
		}
		next.ServeHTTP(w, r)
	})
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
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	body, err := ReadBody(w, r)
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !cleanText(string(body)) || hasNULEscape(body) {
		return notText("body", "the request body")
	}
	if mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mediaType == "application/x-www-form-urlencoded" {
		form, _ := url.ParseQuery(string(body))
		return checkValues(form, "form field")
	}
	return nil
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

// hasNULEscape reports whether a JSON text spells a NUL as \u0000: a "u0000" preceded by
// an odd number of backslashes (an even number are escaped backslashes themselves).
func hasNULEscape(body []byte) bool {
	for rest, at := body, 0; ; {
		i := bytes.Index(rest, []byte("u0000"))
		if i < 0 {
			return false
		}
		at += i
		backslashes := 0
		for j := at - 1; j >= 0 && body[j] == '\\'; j-- {
			backslashes++
		}
		if backslashes%2 == 1 {
			return true
		}
		at++
		rest = body[at:]
	}
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
