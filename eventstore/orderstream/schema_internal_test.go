package orderstream

import (
	"crypto/sha256"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ordermill/ordermill/domain/order"
)

// snapshotShapes records the shape of order.Order (its JSON fields and their types, all
// the way down) that each snapshotSchema stands for.
var snapshotShapes = map[int]string{
	2: "78a022d8", // order lines keep the catalog's name (Item.Name)
	3: "9114c253", // refunds keep what was given back (Refunds)
	4: "9114c253", // the same shape: UpdatedAt no longer moves with the desk's own events
	5: "4c212293", // a failed reservation keeps the short SKU (ReservationFailedSKU)
	6: "cc8b895f", // tickets keep what they say (TicketTexts)
	7: "0d05fa48", // tickets keep a digest of each thing they say, not its text (TicketDigests)
}

// A snapshot is order.Order as JSON, read back by whichever release loads it. A change to
// Order that kept snapshotSchema let a release without the change read a newer snapshot,
// drop what it did not know and write it back under the same number: a rolling-upgrade
// probe found the catalog's names gone from 234 orders for good. Order's shape is pinned
// to the schema: change it, bump snapshotSchema and record the new shape here.
func TestSnapshotSchemaIsBumpedWhenOrderChanges(t *testing.T) {
	var b strings.Builder
	describe(&b, reflect.TypeFor[order.Order](), map[reflect.Type]bool{})
	got := fmt.Sprintf("%x", sha256.Sum256([]byte(b.String())))[:8]
	assert.Equal(t, snapshotShapes[snapshotSchema], got,
		"order.Order's shape changed: bump snapshotSchema and record its shape (%s):\n%s", got, b.String())
}

// describe writes t's JSON shape: a struct's exported fields with their JSON names and
// types, recursively; a type with its own JSON encoding (time.Time) by name.
func describe(b *strings.Builder, t reflect.Type, seen map[reflect.Type]bool) {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		fmt.Fprintf(b, "%s of ", t.Kind())
		describe(b, t.Elem(), seen)
		return
	case reflect.Map:
		fmt.Fprintf(b, "map %s to ", t.Key())
		describe(b, t.Elem(), seen)
		return
	case reflect.Struct:
		if t.PkgPath() != "" && !strings.HasPrefix(t.PkgPath(), "github.com/ordermill/") || seen[t] {
			b.WriteString(t.String())
			return
		}
		seen[t] = true
		fmt.Fprintf(b, "%s{", t)
		for f := range t.Fields() {
			if !f.IsExported() {
				continue
			}
			fmt.Fprintf(b, "%s %q ", f.Name, f.Tag.Get("json"))
			describe(b, f.Type, seen)
			b.WriteString("; ")
		}
		b.WriteString("}")
		return
	}
	b.WriteString(t.String())
}
