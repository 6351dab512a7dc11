package eventstore

import "github.com/google/uuid"

// NewID returns a new time-ordered id (a UUIDv7) for an event, a message or an entity
// such as an order. Ids made later sort later, so a new key lands at the right edge of
// every index over it: the pages an insert touches stay the same few however long the log
// and the tables grow. Random ids (v4) would spread the inserts over the whole index, whose
// pages then fall out of Postgres's buffer cache once the history outgrows it. The id
// shows when it was made, to the millisecond; an order's id says no more than its
// created_at.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}
