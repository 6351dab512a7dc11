package httpx

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/ordermill/ordermill/domain/apperr"
)

// repeatedNameByTokens is the walk for names given twice as it was, a walk of
// json.Decoder's tokens, naming the name with its path: the reference the byte walk is
// checked against.
func repeatedNameByTokens(body []byte) string {
	type level struct {
		names    map[string]bool // nil in an array
		wantName bool
		at       string // the level's own path
		index    int    // an array's next index
	}
	var stack []*level
	at := "" // the path of the value the next token starts
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return "" // the end, or malformed JSON, which Decode has reported
		}
		if len(stack) > 0 && stack[len(stack)-1].names == nil {
			if d, ok := tok.(json.Delim); !ok || d == '{' || d == '[' {
				top := stack[len(stack)-1]
				at = top.at + "[" + strconv.Itoa(top.index) + "]"
				top.index++
			}
		}
		if d, ok := tok.(json.Delim); ok && (d == '{' || d == '[') {
			l := &level{at: at}
			if d == '{' {
				l.names, l.wantName = map[string]bool{}, true
			}
			stack = append(stack, l)
			continue
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
		} else if name, ok := tok.(string); ok && len(stack) > 0 && stack[len(stack)-1].wantName {
			top := stack[len(stack)-1]
			at = name
			if top.at != "" {
				at = top.at + "." + name
			}
			folded := strings.ToLower(name)
			if top.names[folded] {
				return at
			}
			top.names[folded], top.wantName = true, false
			continue
		}
		if len(stack) > 0 && stack[len(stack)-1].names != nil {
			stack[len(stack)-1].wantName = true // a value ended: a name comes next
		}
	}
}

// repeatedName is the walk of bytes for names given twice alone, as DecodeLenient has it.
func repeatedName(body []byte) string {
	return apperr.ErrorField(nameFault(body, nil, false))
}

// The walk of bytes finds the same repeated name, at the same path, as the walk of tokens, on every valid
// JSON body: escapes (an escaped quote inside a name, a name spelt with \u escapes),
// strings holding braces and commas, names at every level, case folded.
func FuzzRepeatedNameAsTheTokensDid(f *testing.F) {
	for _, seed := range []string{
		`{"items":[{"sku":"A","quantity":1}],"items":[]}`,
		`{"a":{"b":1,"c":[1,{"d":1,"D":2}]}}`,
		`{"a\"b":1,"A\"B":2}`,
		`{"\u0061":1,"a":2}`,
		`{"x":"{\"y\":1,\"y\":2}","y":[",",{"z":"}"}],"Y":0}`,
		`[{"x":1},{"x":2}]`,
		`{"k":["k","k"]}`,
		` { "a" : [ ] , "b" : { } , "A" : null } `,
		`{"\\":1,"\\\\":2,"\\":3}`,
		`"just a string"`,
		`{}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return
		}
		if got, want := repeatedName(body), apperr.Excerpt(repeatedNameByTokens(body)); got != want {
			t.Fatalf("repeatedName(%q) = %q, the tokens' walk said %q", body, got, want)
		}
	})
}

// One order of 100 lines, and an object of 30,000 names: the walk costs a pass over the
// bytes, not a map an object nor the square of an object's names.
func BenchmarkRepeatedName(b *testing.B) {
	lines := strings.Repeat(`{"sku":"SKU-001","quantity":1,"unitPrice":12.5},`, 100)
	order := []byte(`{"items":[` + strings.TrimSuffix(lines, ",") + `],"customerId":"c-1","shippingAddress":{"name":"Ann","line1":"1 Main St","city":"Paris","country":"FR"}}`)
	var wide bytes.Buffer
	wide.WriteString("{")
	for i := range 30_000 {
		if i > 0 {
			wide.WriteString(",")
		}
		wide.WriteString(`"k` + strconv.Itoa(i) + `":1`)
	}
	wide.WriteString("}")
	for name, body := range map[string][]byte{"order": order, "wide": wide.Bytes()} {
		b.Run(name+"/bytes", func(b *testing.B) {
			for b.Loop() {
				repeatedName(body)
			}
		})
		b.Run(name+"/tokens", func(b *testing.B) {
			for b.Loop() {
				repeatedNameByTokens(body)
			}
		})
	}
}
