package order

import (
	"encoding/json"
	"reflect"
	"testing"
)

// storedNames is every name an order event may be stored under, current and older.
func storedNames() []string {
	var names []string
	for _, n := range EventNames() {
		names = append(names, StoredNames(n)...)
	}
	return append(names, "order.unknown.v9", "")
}

// FuzzDecode feeds any payload under any stored name to Decode and Upcast, as a log
// written by another version, a hand-edited row or a bug would. Neither may panic; a
// payload Decode reads is an event Apply folds (it advances Version by one, so the
// stream position stays right); and an older version's payload upcast and decoded is the
// event Decode reads from the old payload directly, so every reader sees one shape.
func FuzzDecode(f *testing.F) {
	names := storedNames()
	f.Add(uint8(0), []byte(`{}`))
	f.Add(uint8(1), []byte(`null`))
	f.Add(uint8(2), []byte(`[]`))
	f.Add(uint8(3), []byte(`{"at":"not a time"}`))
	f.Add(uint8(4), []byte(`{"score":1e400}`))
	f.Add(uint8(5), []byte(`{"items":[{"sku":"A","quantity":-1,"unitPrice":-9223372036854775808}]}`))
	for i, n := range names {
		switch n {
		case NameOrderPlacedV1:
			f.Add(uint8(i), []byte(placedV1))
			f.Add(uint8(i), []byte(`{"total":"x"}`))
			f.Add(uint8(i), []byte(`{"total":9223372036854775807,"currency":"\u00ff"}`))
		case NameOrderPlaced:
			raw, _ := json.Marshal(placedV2())
			f.Add(uint8(i), raw)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, payload []byte) {
		name := names[int(which)%len(names)]
		e, err := Decode(name, payload)
		upName, upPayload, upErr := Upcast(name, payload)
		if err != nil {
			if _, old := upcasters[name]; old && upErr == nil {
				t.Fatalf("Upcast read %s %q that Decode refuses: %v", name, payload, err)
			}
			return
		}
		if e == nil {
			t.Fatalf("Decode(%s, %q) returned no event and no error", name, payload)
		}
		placed := Rehydrate([]Event{placedV2()})
		before := placed.Version
		placed.Apply(e)
		if placed.Version != before+1 {
			t.Fatalf("Apply of a decoded %s did not count it: version %d → %d", name, before, placed.Version)
		}
		if upErr != nil {
			t.Fatalf("Decode read %s %q but Upcast refused it: %v", name, payload, upErr)
		}
		again, err := Decode(upName, upPayload)
		if err != nil {
			t.Fatalf("the upcast of %s %q does not decode as %s: %v (%s)", name, payload, upName, err, upPayload)
		}
		if !reflect.DeepEqual(normalized(t, e), normalized(t, again)) {
			t.Fatalf("%s %q decodes to %#v directly, to %#v through Upcast", name, payload, e, again)
		}
		if _, old := upcasters[name]; !old && (upName != name || string(upPayload) != string(payload)) {
			t.Fatalf("Upcast changed the current event %s", name)
		}
	})
}

// normalized compares events by their JSON, as the log stores them: a time's monotonic
// reading or location pointer is not part of an event.
func normalized(t *testing.T, e Event) string {
	raw, err := json.Marshal(e)
	if err != nil {
		t.Fatalf("a decoded %s does not encode: %v", e.EventName(), err)
	}
	return string(raw)
}
