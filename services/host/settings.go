package host

import (
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// logSettings logs, at start-up, the variables of vars that environ sets, with their
// values (a secret's as "(set)", a URL's password left out; the rest of --help's
// variables take their defaults), and warns of each variable environ sets that is no
// variable of vars but one letter or two away from one: an operator could not tell
// what a process ran with, and typos (RISK_TRESHOLD, SMTP_ULR) were ignored without a word
// (a probe).
func logSettings(logger *slog.Logger, environ []string, vars []Var) {
	known := map[string]bool{}
	for _, v := range vars {
		known[v.Name] = true
	}
	var set []string
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if known[name] {
			set = append(set, name+"="+shown(name, value))
			continue
		}
		for _, v := range vars {
			if near(name, v.Name) {
				logger.Warn(name+" is not read by this service: did you mean "+v.Name+"?", "variable", name, "meant", v.Name)
				break
			}
		}
	}
	slices.Sort(set)
	logger.Info("settings: the variables set; every other one of --help takes its default", "set", strings.Join(set, " "))
}

// shown is how logSettings shows value of variable name: a secret's as "(set)"; a URL
// (a *_URL, *_ENDPOINT or *_BASE) without its user and password, or query values that
// may be keys; and "(set)" for any
// value of a URL variable that does not parse as scheme://host (a connection string, or a
// URL with a password pgx takes and net/url does not: "pa?ss", "12#34"), and for any other
// value naming a password (the review of this line found both logged).
func shown(name, value string) string {
	for _, secret := range []string{"SECRET", "TOKEN", "PASSWORD"} {
		if strings.Contains(name, secret) {
			return "(set)"
		}
	}
	if !strings.HasSuffix(name, "_URL") && !strings.HasSuffix(name, "_ENDPOINT") && !strings.HasSuffix(name, "_BASE") {
		if strings.Contains(strings.ToLower(value), "password") {
			return "(set)"
		}
		return quoted(value)
	}
	u, err := url.Parse(value)
	if err != nil || u.Scheme == "" || u.Host == "" || (u.User == nil && strings.Contains(value, "@")) {
		return "(set)"
	}
	q := u.Query()
	for key := range q {
		if k := strings.ToLower(key); strings.Contains(k, "key") || strings.Contains(k, "token") || strings.Contains(k, "secret") || strings.Contains(k, "pass") || strings.Contains(k, "sig") {
			q.Set(key, "xxxxx")
		}
	}
	u.RawQuery = q.Encode()
	if u.User != nil { // a user name may be a token too (an SMTP relay's)
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword("xxxxx", "xxxxx")
		} else {
			u.User = url.User("xxxxx")
		}
	}
	return quoted(u.String())
}

// quoted is value, in Go's quotes when it holds a space or a quote, so that the list of
// settings reads unambiguously.
func quoted(value string) string {
	if strings.ContainsAny(value, " \t\"") {
		return strconv.Quote(value)
	}
	return value
}

// near says whether name is a typo of want: an edit or a swap of two neighbouring letters
// away from it (two for names of eight letters or more), and not the same.
func near(name, want string) bool {
	limit := 1
	if len(want) >= 8 {
		limit = 2
	}
	return name != want && distance(name, want) <= limit
}

// distance is the optimal string alignment distance between a and b: insertions,
// deletions, substitutions and swaps of neighbouring bytes.
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
