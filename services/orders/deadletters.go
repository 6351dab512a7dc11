package orders

import (
	"context"
	"fmt"
	"net/http"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/ui"
)

func (s *Service) deadLettersPage(w http.ResponseWriter, r *http.Request, m manager) {
	p, err := s.page(r.Context(), m, "dead-letters", "Dead letters")
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	ds, err := s.deadLetters(r.Context(), 200)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	s.renderPage(w, r, http.StatusOK, ui.DeadLettersPage(p, ds))
}

// deadLetters reads the newest dead letters; the order comes from the message's
// correlation id, or from the event envelope or command body it carries.
func (s *Service) deadLetters(ctx context.Context, limit int) ([]ui.DeadLetter, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, topic, consumer_group,
			coalesce(nullif(metadata->>'correlation_id', ''), payload->>'streamId', payload->>'orderId', ''),
			coalesce(nullif(metadata->>'name', ''), payload->>'name', ''), error, failed_at
		FROM dead_letters ORDER BY failed_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[ui.DeadLetter])
}
