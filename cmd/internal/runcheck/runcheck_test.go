package runcheck_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/cmd/internal/runcheck"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// A run counts only the dead letters stored after it began: a second loadgen run on the
// same database reported the first run's letters, re-driven or not, as its own failure.
func TestDeadLettersCountOnlyThoseAfterTheMark(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	letter := func(topic string) {
		t.Helper()
		_, err := pool.Exec(ctx, `INSERT INTO dead_letters (topic, consumer_group, message_uuid, payload, metadata, error)
			VALUES ($1, 'saga', gen_random_uuid()::text, '{}', '{}', 'it broke')`, topic)
		require.NoError(t, err)
	}
	mark, err := runcheck.DeadLetterMark(ctx, pool)
	require.NoError(t, err)
	assert.Zero(t, mark)
	letter("before_1")
	letter("before_2")
	mark, err = runcheck.DeadLetterMark(ctx, pool)
	require.NoError(t, err)
	lines, err := runcheck.DeadLetters(ctx, pool, mark)
	require.NoError(t, err)
	assert.Empty(t, lines, "the letters of earlier runs are not this run's")

	letter("during")
	lines, err = runcheck.DeadLetters(ctx, pool, mark)
	require.NoError(t, err)
	require.Len(t, lines, 1)
	assert.Contains(t, lines[0], "dead letter on during (saga): it broke")
	lines, err = runcheck.DeadLetters(ctx, pool, 0)
	require.NoError(t, err)
	assert.Len(t, lines, 3, "from the start, every letter")
}
