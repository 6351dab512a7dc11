package host

import (
	"context"
	"errors"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill"
)

// watermillLogger is Watermill's logger for a process: its info lines (per-subscription
// chatter) at debug level, and the errors of work cut off because the process is stopping
// (a cancelled context) at debug level too. watermill-sql's subscriber reports a poll cut
// short by the stop as "could not commit tx for querying message", an error, on many
// graceful stops (eventstore's consumer transaction makes that error carry the
// cancellation); nothing is lost (the poll's transaction rolls back) and an operator
// should not be paged for it.
func watermillLogger(logger *slog.Logger) watermill.LoggerAdapter {
	return stopQuiet{watermill.NewSlogLoggerWithLevelMapping(logger, map[slog.Level]slog.Level{
		slog.LevelInfo: slog.LevelDebug,
	})}
}

type stopQuiet struct {
	watermill.LoggerAdapter
}

func (q stopQuiet) Error(msg string, err error, fields watermill.LogFields) {
	if errors.Is(err, context.Canceled) {
		q.Debug(msg+" (stopping)", fields.Add(watermill.LogFields{"err": err}))
		return
	}
	q.LoggerAdapter.Error(msg, err, fields)
}

func (q stopQuiet) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return stopQuiet{q.LoggerAdapter.With(fields)}
}
