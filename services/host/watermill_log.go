package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/ordermill/ordermill/eventstore/logging"
)

// watermillLogger is Watermill's logger for a process: its info lines (per-subscription
// chatter) at debug level, and the errors of work cut off because the process is stopping
// (a cancelled context) at debug level too. watermill-sql's subscriber reports a poll cut
// short by the stop as "could not commit tx for querying message", an error, on many
// graceful stops (eventstore's consumer transaction makes that error carry the
// cancellation); nothing is lost (the poll's transaction rolls back) and an operator
// should not be paged for it.
//
// An error repeating (the same message, from the same consumer and topic) is logged once
// a logging.RepeatEvery, with how often it came since: during a
// database outage every subscriber, consumer and listener fails several times a second,
// and a probe counted 18,000 lines for ten minutes of one.
func watermillLogger(logger *slog.Logger) watermill.LoggerAdapter {
	return stopQuiet{LoggerAdapter: watermill.NewSlogLoggerWithLevelMapping(logger, map[slog.Level]slog.Level{
		slog.LevelInfo: slog.LevelDebug,
	}), repeats: logging.NewRepeats()}
}

type stopQuiet struct {
	watermill.LoggerAdapter
	repeats *logging.Repeats
	with    string // the fields added by With, part of what makes an error the same one
}

func (q stopQuiet) Error(msg string, err error, fields watermill.LogFields) {
	if errors.Is(err, context.Canceled) {
		q.Debug(msg+" (stopping)", fields.Add(watermill.LogFields{"err": err}))
		return
	}
	key := q.with + "|" + msg + "|" + fmt.Sprint(fields["consumer_group"], fields["topic"])
	log, since := q.repeats.Due(key)
	if !log {
		q.Debug(msg+" (repeated)", fields.Add(watermill.LogFields{"err": err}))
		return
	}
	if since > 0 {
		fields = fields.Add(watermill.LogFields{"repeated_since_last_line": since})
	}
	q.LoggerAdapter.Error(msg, err, fields)
}

func (q stopQuiet) With(fields watermill.LogFields) watermill.LoggerAdapter {
	parts := []string{q.with}
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		parts = append(parts, fmt.Sprintf("%s=%v", k, fields[k]))
	}
	return stopQuiet{LoggerAdapter: q.LoggerAdapter.With(fields), repeats: q.repeats, with: strings.Join(parts, " ")}
}
