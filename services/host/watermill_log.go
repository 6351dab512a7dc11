package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

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
// a logging.RepeatEvery, with how often it came since (a dead letter's line excepted:
// each is logged, see logging.DeadLettered): during a
// database outage every subscriber, consumer and listener fails several times a second,
// and a probe counted 18,000 lines for ten minutes of one.
func watermillLogger(logger *slog.Logger) watermill.LoggerAdapter {
	logger = slog.New(errKey{logger.Handler()})
	return stopQuiet{LoggerAdapter: watermill.NewSlogLoggerWithLevelMapping(logger, map[slog.Level]slog.Level{
		slog.LevelInfo: slog.LevelDebug,
	}), repeats: logging.NewRepeats()}
}

type stopQuiet struct {
	watermill.LoggerAdapter
	repeats *logging.Repeats
	// where is the consumer group and topic With named: with the message, what makes an
	// error the same one. Only they: a field per message (watermill-sql adds msg_uuid)
	// would make every error new, and Repeats remember each for good.
	where watermill.LogFields
}

func (q stopQuiet) Error(msg string, err error, fields watermill.LogFields) {
	if msg == logging.DeadLettered { // stored, whatever its cause: each is logged
		q.LoggerAdapter.Error(msg, err, fields)
		return
	}
	if errors.Is(err, context.Canceled) {
		q.Debug(msg+" (stopping)", fields.Add(watermill.LogFields{"err": err}))
		return
	}
	at := func(k string) any {
		if v, ok := fields[k]; ok {
			return v
		}
		return q.where[k]
	}
	key := fmt.Sprint(msg, "|", at("consumer_group"), "|", at("topic"))
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
	where := q.where
	for _, k := range []string{"consumer_group", "topic"} {
		if v, ok := fields[k]; ok {
			where = where.Add(watermill.LogFields{k: v}) // a copy: the parent's stays as it was
		}
	}
	return stopQuiet{LoggerAdapter: q.LoggerAdapter.With(fields), repeats: q.repeats, where: where}
}

// errKey writes the "error" attribute of Watermill's lines as "err", the key of every other
// line of the log: a query for err= missed the log's own listener and subscribers (a
// probe found both keys).
type errKey struct{ slog.Handler }

func (h errKey) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "error" {
			a.Key = "err"
		}
		out.AddAttrs(a)
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h errKey) WithAttrs(attrs []slog.Attr) slog.Handler { return errKey{h.Handler.WithAttrs(attrs)} }
func (h errKey) WithGroup(name string) slog.Handler       { return errKey{h.Handler.WithGroup(name)} }
