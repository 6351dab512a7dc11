// Command manager creates a dashboard account or resets its password:
//
//	bin/manager -email ana@example.com < password.txt
//
// The password is read from standard input (first line), never from the command line,
// so it stays out of shell history and process listings.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ordermill/ordermill/cmd/internal/cli"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/orders"
)

func main() {
	cli.Main("manager", func(ctx context.Context) error { return run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout) })
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	email := fs.String("email", "", "the manager's email address (their sign-in name)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: manager [flags]\n\nCreates a dashboard account or resets its password, read from standard input.\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintln(fs.Output())
		host.WriteVars(fs.Output(), []host.Var{host.ToolDatabaseURLVar})
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" {
		return errors.New("-email is required; the password is read from standard input")
	}
	if fs.NArg() > 0 {
		// Most likely a password, so not repeated: the error is not to show it again.
		return errors.New("unexpected argument after the flags: the password is read from standard input only, so that it stays out of shell history and process listings")
	}
	if strings.EqualFold(strings.TrimSpace(*email), orders.DevManagerEmail) {
		// The development account's: a start outside DEV_MODE deletes it, and a start in
		// DEV_MODE resets its password to the published one.
		return fmt.Errorf("%s is reserved for the development account (DASHBOARD_DEV_PASSWORD sets its password); choose another address", orders.DevManagerEmail)
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	pool, err := cli.OpenDatabase(ctx, getenv, "manager")
	if err != nil {
		return err
	}
	defer pool.Close()
	change, err := orders.SetManager(ctx, pool, *email, password)
	if err != nil {
		return err
	}
	addr := strings.TrimSpace(*email)
	switch change {
	case orders.AccountCreated:
		fmt.Fprintf(out, "created manager %s: they can sign in at /dashboard\n", addr)
	case orders.PasswordReset:
		fmt.Fprintf(out, "reset the password of manager %s: their sessions are ended, and they can sign in at /dashboard with the new one\n", addr)
	default:
		fmt.Fprintf(out, "manager %s already has this password: nothing changed\n", addr)
	}
	return nil
}
