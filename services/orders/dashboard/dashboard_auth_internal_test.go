package dashboard

import "testing"

// After signing in, a manager goes on to a page of the dashboard only: a prefix check let
// /dashboard/..//evil.com through, redirected to /evil.com (a probe).
func TestSafeNextStaysInTheDashboard(t *testing.T) {
	for next, want := range map[string]string{
		"/dashboard/orders?status=completed": "/dashboard/orders?status=completed",
		"/dashboard":                         "/dashboard",
		"/dashboard/./tickets":               "/dashboard/tickets",
		"/dashboard/..//evil.com":            "/dashboard",
		"/dashboard/../api/orders":           "/dashboard",
		"/dashboardx":                        "/dashboard",
		"//evil.com/dashboard":               "/dashboard",
		"https://evil.com/dashboard":         "/dashboard",
		"/dashboard\\\\evil.com":             "/dashboard",
		"dashboard/orders":                   "/dashboard",
		"":                                   "/dashboard",
	} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}
