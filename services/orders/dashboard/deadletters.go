package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/ui"
)

// deadLetterRoutes mounts the dead-letters page and its re-drive actions:
//
//	GET  /dashboard/dead-letters               dead letters, their messages and errors
//	POST /dashboard/dead-letters/{id}/redrive  re-drive one (asks to confirm first)
//	POST /dashboard/dead-letters/redrive       re-drive every open one of a topic (confirm first)
//
// A re-drive is a POST, so it carries the session's CSRF token (signedIn checks it); it is
// done only when the form says confirm=yes, which only the confirmation page's form does.
func (s *Service) deadLetterRoutes(handle func(string, http.HandlerFunc)) {
	handle("GET /dashboard/dead-letters", s.signedIn(s.deadLettersPage))
	handle("POST /dashboard/dead-letters/{id}/redrive", s.signedIn(s.redriveOne))
	handle("POST /dashboard/dead-letters/redrive", s.signedIn(s.redriveTopic))
}

// deadLetterPageSize is how many dead letters the page lists, newest first.
const deadLetterPageSize = 200

func (s *Service) deadLettersPage(w http.ResponseWriter, r *http.Request, m manager) {
	p, err := s.page(r.Context(), m, "dead-letters", "Dead letters")
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	var v ui.DeadLetters
	if v.Letters, err = s.deadLetters(r.Context(), 0, "", deadLetterPageSize); err == nil {
		v.Topics, err = s.deadLetterTopics(r.Context())
	}
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	// The outcome comes back as a number in the query, never as text to echo.
	if n, err := strconv.Atoi(r.URL.Query().Get("redriven")); err == nil && n >= 0 {
		v.Flash = fmt.Sprintf("%d dead letter(s) re-driven: each is back with the consumer group that failed it.", n)
		if n == 0 {
			v.Flash = "Nothing was re-driven: the dead letters had been re-driven already."
		}
	}
	s.renderPage(w, r, http.StatusOK, ui.DeadLettersPage(p, v))
}

// redriveOne handles POST /dashboard/dead-letters/{id}/redrive.
func (s *Service) redriveOne(w http.ResponseWriter, r *http.Request, m manager) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	var exists bool
	if err == nil && id > 0 {
		if err := s.pool.QueryRow(r.Context(), `SELECT EXISTS (SELECT 1 FROM dead_letters WHERE id = $1)`, id).Scan(&exists); err != nil {
			s.failPage(w, r, fmt.Errorf("look up dead letter %d: %w", id, err))
			return
		}
	}
	if !exists {
		// Not "nothing was re-driven: re-driven already", which a letter never there was
		// told (a probe).
		s.dashboardError(w, r, http.StatusNotFound, "no such dead letter", nil)
		return
	}
	s.redrive(w, r, m, ui.RedriveConfirm{ID: id})
}

// redriveTopic handles POST /dashboard/dead-letters/redrive with a topic.
func (s *Service) redriveTopic(w http.ResponseWriter, r *http.Request, m manager) {
	if err := r.ParseForm(); err != nil {
		s.dashboardError(w, r, http.StatusBadRequest, "malformed form", nil)
		return
	}
	topic := strings.TrimSpace(r.PostForm.Get("topic"))
	if topic == "" {
		s.dashboardError(w, r, http.StatusBadRequest, "name the topic to re-drive", nil)
		return
	}
	s.redrive(w, r, m, ui.RedriveConfirm{Topic: topic})
}

// redrive shows the confirmation for c or, confirmed, re-drives and goes back to the list.
func (s *Service) redrive(w http.ResponseWriter, r *http.Request, m manager, c ui.RedriveConfirm) {
	if err := r.ParseForm(); err != nil {
		s.dashboardError(w, r, http.StatusBadRequest, "malformed form", nil)
		return
	}
	ctx := r.Context()
	if r.PostForm.Get("confirm") == "yes" {
		if c.ID == 0 {
			// Only the letters the question counted: one that failed while the manager read
			// it went back too, unreviewed (a review).
			upTo, err := strconv.ParseInt(r.PostForm.Get("upto"), 10, 64)
			if err != nil || upTo < 1 {
				s.dashboardError(w, r, http.StatusBadRequest, "the confirmation names no dead letters: ask again", nil)
				return
			}
			c.UpTo = upTo
		}
		done, err := eventstore.Redrive(ctx, s.pool, eventstore.RedriveFilter{ID: c.ID, Topic: c.Topic, UpTo: c.UpTo, By: m.Email})
		if err != nil {
			s.failPage(w, r, err)
			return
		}
		http.Redirect(w, r, "/dashboard/dead-letters?redriven="+strconv.Itoa(len(done)), http.StatusSeeOther)
		return
	}
	letters, err := s.deadLetters(ctx, c.ID, c.Topic, deadLetterPageSize)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	open := letters[:0]
	for _, d := range letters {
		if d.RedrivenAt == nil {
			open = append(open, d)
		}
	}
	if len(open) == 0 {
		http.Redirect(w, r, "/dashboard/dead-letters?redriven=0", http.StatusSeeOther)
		return
	}
	c.Letters, c.Count = open, len(open)
	if c.Topic != "" {
		// The count may exceed the page: say how many the re-drive takes.
		if err := s.pool.QueryRow(ctx, `SELECT count(*), coalesce(max(id), 0) FROM dead_letters WHERE topic = $1 AND redriven_at IS NULL`, c.Topic).Scan(&c.Count, &c.UpTo); err != nil {
			s.failPage(w, r, fmt.Errorf("count dead letters: %w", err))
			return
		}
	}
	p, err := s.page(ctx, m, "dead-letters", "Re-drive dead letters")
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	s.renderPage(w, r, http.StatusOK, ui.RedriveConfirmPage(p, c))
}

// deadLetters reads the newest dead letters (one, by id, or one topic's, or all); the
// order comes from the message's correlation id, or from the event envelope or command
// body it carries.
func (s *Service) deadLetters(ctx context.Context, id int64, topic string, limit int) ([]ui.DeadLetter, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, topic, consumer_group,
			coalesce(nullif(metadata->>'correlation_id', ''), payload->>'streamId', payload->>'orderId', ''),
			coalesce(nullif(metadata->>'name', ''), payload->>'name', ''), error, failed_at,
			message_uuid, coalesce(payload, 'null'::jsonb)::text, metadata::text, redriven_at, coalesce(redriven_by, '')
		FROM dead_letters
		WHERE ($1 = 0 OR id = $1) AND ($2 = '' OR topic = $2)
		ORDER BY failed_at DESC, id DESC LIMIT $3`, id, topic, limit)
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	ds, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ui.DeadLetter])
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	for i := range ds {
		ds[i].Payload, ds[i].Metadata = indentJSON(ds[i].Payload), indentJSON(ds[i].Metadata)
	}
	return ds, nil
}

// deadLetterTopics counts the open dead letters by topic.
func (s *Service) deadLetterTopics(ctx context.Context) ([]ui.DeadLetterTopic, error) {
	rows, err := s.pool.Query(ctx, `SELECT topic, count(*)::int FROM dead_letters WHERE redriven_at IS NULL GROUP BY topic ORDER BY topic`)
	if err != nil {
		return nil, fmt.Errorf("dead letter topics: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[ui.DeadLetterTopic])
}

// indentJSON pretty-prints a JSON text; anything else is shown as it is.
func indentJSON(s string) string {
	var b bytes.Buffer
	if json.Indent(&b, []byte(s), "", "  ") != nil {
		return s
	}
	return b.String()
}
