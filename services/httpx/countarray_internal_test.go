package httpx

import (
	"encoding/json"
	"strings"
	"testing"
)

// The walk counts the lines a decode would find, on every valid JSON object: strings
// holding brackets, commas and escaped quotes, nested arrays, "items" at other depths,
// the name in other cases.
func FuzzCountArrayAsTheDecodeDoes(f *testing.F) {
	for _, seed := range []string{
		`{"items":[{"sku":"SKU-001","quantity":2}],"total":100}`,
		`{"items":[]}`,
		`{"items": [ {} , {"sku":"a,]\"[{"} , 3, "x", [1,[2,3]], null ] }`,
		`{"Items":[1,2,3]}`,
		`{"shippingAddress":{"items":[1,2,3,4]},"items":[1]}`,
		`{"items":[1,2],"items":[1,2,3]}`,
		`{"x":["items",[1,2,3]],"items":[{}]}`,
		`{"total":1}`,
		`[["items"],[1,2,3]]`,
		"{\"items\":[\n\t{},\r\n{}\n]}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got := CountArray([]byte(body), "items") // on anything at all: it runs before the decode
		var top map[string]json.RawMessage
		if !json.Valid([]byte(body)) || json.Unmarshal([]byte(body), &top) != nil || strings.Contains(body, `\u`) {
			return
		}
		want := 0
		for name, raw := range top { // the decode matches names without regard to case
			var items []json.RawMessage
			if strings.EqualFold(name, "items") && json.Unmarshal(raw, &items) == nil {
				want = max(want, len(items))
			}
		}
		if got < want || (got != want && !repeatsItems(body)) {
			t.Fatalf("CountArray(%q) = %d, the decode finds %d", body, got, want)
		}
	})
}

// repeatsItems says body may give "items" twice (only the last is in the map the
// reference reads, the walk counts the most): such a body is refused as a name given twice.
func repeatsItems(body string) bool {
	return strings.Count(strings.ToLower(body), `"items"`) > 1
}

// A body of more lines than an order may have is counted without decoding any of them.
func TestCountArrayOfAHugeBody(t *testing.T) {
	body := `{"items":[` + strings.Repeat(`{},`, 21_824) + `{}],"customerEmail":5}`
	if got := CountArray([]byte(body), "items"); got != 21_825 {
		t.Fatalf("CountArray = %d, want 21825", got)
	}
}

func TestCountArrayCountsOnlyTheTopLevelArray(t *testing.T) {
	for body, want := range map[string]int{
		`{"shippingAddress":{"items":[1,2,3,4]},"items":[1]}`: 1,
		`{"x":["items",[1,2,3]],"items":[{}]}`:                1,
		`{"x":"items","y":[1,2,3]}`:                           0,
		`[["items"],[1,2,3]]`:                                 0,
		`{"items":[1,2],"ITEMS":[1,2,3]}`:                     3,
		`{"items": [ {"sku":"a,]\"[{"} , [1,[2,3]] ]}`:        2,
		`{"items":[]}`:                                        0,
		`{"items":`:                                           0,
	} {
		if got := CountArray([]byte(body), "items"); got != want {
			t.Errorf("CountArray(%q) = %d, want %d", body, got, want)
		}
	}
}
