package eventstore

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultConnectTimeout bounds how long opening a database connection may take unless the
// database URL sets connect_timeout: with the server down or unreachable a request fails
// within it (503, see Unavailable) instead of hanging.
const DefaultConnectTimeout = 3 * time.Second

// Unavailable reports whether err means the database cannot be reached or is not
// accepting work right now (down, restarting, shutting down, out of connections): the
// request may succeed if retried later, so the HTTP edge answers 503, not 500.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"): // connection exception
			return true
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03": // admin or crash shutdown, cannot connect now
			return true
		case pgErr.Code == "53300": // too many connections
			return true
		}
		return false
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	// A pool waiting for a connection that never comes, or a connect that timed out, ends
	// with the operation's deadline.
	return errors.Is(err, context.DeadlineExceeded) && pgconn.Timeout(err)
}
