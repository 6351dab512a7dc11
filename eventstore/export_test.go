package eventstore

import wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

// GuardedBeginner exposes the delayed queues' transactions to the external tests.
func GuardedBeginner(b wsql.Beginner) wsql.Beginner { return guardedBeginner{b} }

// SetMaintenanceDatabase makes name the maintenance database until restore is called, for
// a test of a server whose role may not open Postgres's own.
func SetMaintenanceDatabase(name string) (restore func()) {
	old := maintenanceDatabase
	maintenanceDatabase = name
	return func() { maintenanceDatabase = old }
}

// OpenLock is the advisory lock Open checks and migrates under.
const OpenLock = openLock

// LagQuery is the statement that counts how far a consumer group is behind in a topic.
var LagQuery = lagQuery

// LoadStreamsSQL is LoadStreams's statement, for its plan test.
const LoadStreamsSQL = loadStreamsSQL
