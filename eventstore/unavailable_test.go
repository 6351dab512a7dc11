package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
)

// A database that cannot be reached is "unavailable" (the edge answers 503); an error the
// database reports about the request itself is not.
func TestUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = pgx.Connect(ctx, "postgres://postgres@"+addr+"/x?sslmode=disable&connect_timeout=2")
	require.Error(t, err)
	assert.True(t, eventstore.Unavailable(fmt.Errorf("load order: %w", err)), "%v", err)
	assert.True(t, eventstore.Unavailable(&pgconn.PgError{Code: "57P01"}), "admin shutdown")
	assert.True(t, eventstore.Unavailable(&pgconn.PgError{Code: "53300"}), "too many connections")
	assert.False(t, eventstore.Unavailable(&pgconn.PgError{Code: "23505"}), "a unique violation is the request's")
	assert.False(t, eventstore.Unavailable(errors.New("decode: bad json")))
	assert.False(t, eventstore.Unavailable(nil))
}
