package eventstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// BenchmarkAppend measures appending one event (stored and published in one transaction)
// from parallel writers, each on its own stream: the cost of one decision.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.Pool(b)
	var writer atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		stream := eventstore.Stream{Type: "order", ID: fmt.Sprintf("bench-%d", writer.Add(1))}
		version := 0
		for pb.Next() {
			if err := appendOne(ctx, pool, stream, version, version); err != nil {
				b.Fatal(err)
			}
			version++
		}
	})
}
