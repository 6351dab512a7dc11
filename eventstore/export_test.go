package eventstore

import wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

// GuardedBeginner exposes the delayed queues' transactions to the external tests.
func GuardedBeginner(b wsql.Beginner) wsql.Beginner { return guardedBeginner{b} }
