package dashboard

import "testing"

// A customer-given value a spreadsheet would run as a formula is exported behind a quote:
// a formula character at its start, after leading white space, after a semicolon (a
// cell where ";" separates), or in its full-width form. A probe's "\n=1+1", "a;=HYPERLINK(…)"
// and "＝1+1" went out as they were.
func TestCSVSafeQuotesWhatASpreadsheetWouldRun(t *testing.T) {
	for v, want := range map[string]string{
		"=1+1":                "'=1+1",
		"+1":                  "'+1",
		"-1":                  "'-1",
		"@SUM(A1)":            "'@SUM(A1)",
		"\t=1":                "'\t=1",
		"\n=1+1":              "'\n=1+1",
		"  =1+1":              "'  =1+1",
		"a;=HYPERLINK(\"x\")": "'a;=HYPERLINK(\"x\")",
		"a; +1":               "'a; +1",
		"＝1+1":                "'＝1+1",
		"ana@example.com":     "ana@example.com",
		"cust-42":             "cust-42",
		"ana-b@example.com":   "ana-b@example.com",
		"":                    "",
		"Ana María = buyer":   "Ana María = buyer",
	} {
		if got := csvSafe(v); got != want {
			t.Errorf("csvSafe(%q) = %q, want %q", v, got, want)
		}
	}
}
