package metrics

import (
	"bytes"
	"errors"
	"log"
	"net"
	"os"
	"syscall"
	"testing"
)

// A scrape whose client has gone is not logged (it was a line per metric family, a
// million lines a minute under a probe's scrapes sent and dropped); other failures are.
func TestQuietOnHangUps(t *testing.T) {
	var logged bytes.Buffer
	l := quietOnHangUps{log.New(&logged, "", 0)}
	for _, gone := range []error{syscall.EPIPE, syscall.ECONNRESET} {
		l.Println("error encoding and sending metric family:", &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", gone)})
	}
	if logged.Len() != 0 {
		t.Fatalf("a hang-up was logged: %q", logged.String())
	}
	l.Println("error gathering metrics:", errors.New("lag of saga: the database does not answer"))
	if logged.Len() == 0 {
		t.Fatal("a failed read was not logged")
	}
}
