package eventstore

import "github.com/google/uuid"

// NewID returns a new time-ordered id (a UUIDv7) for an order, an event, a message or a
// record such as a reservation. Ids made later sort later, so a new key lands at the right edge
// of every index over it: the pages an insert touches stay the same few however long the
// log and the tables grow. Random ids (v4) spread the inserts over the whole index, whose
// pages then fall out of Postgres's buffer cache once the history outgrows it. People read
// and type the last eight characters of an order id (ui.ShortID), which are random.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}
