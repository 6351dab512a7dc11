package orderstream

import (
	"github.com/ordermill/ordermill/domain/order"
)

// ReadTogether answers reads of ids with one query, as the reads that queued behind a
// query in flight are answered: each read's order, or its error.
func (r *Reader) ReadTogether(ids ...string) ([]*order.Order, []error) {
	batch := make([]*read, len(ids))
	for i, id := range ids {
		batch[i] = &read{id: id, done: make(chan struct{})}
	}
	r.query(batch)
	orders, errs := make([]*order.Order, len(ids)), make([]error, len(ids))
	for i, rd := range batch {
		orders[i], errs[i] = rd.o, rd.err
	}
	return orders, errs
}
