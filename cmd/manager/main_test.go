package main

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

func TestCreatesAManagerWithAHashedPassword(t *testing.T) {
	url := pgtest.URL(t)
	env := databaseEnv(url)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-email", "ana@example.com"}, env, strings.NewReader("correct horse battery\n"), &out))
	assert.Equal(t, "created manager ana@example.com: they can sign in at /dashboard\n", out.String())

	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var hash string
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT password_hash FROM orders.managers WHERE email = 'ana@example.com'`).Scan(&hash))
	assert.NotContains(t, hash, "correct horse")
	assert.NoError(t, bcrypt.CompareHashAndPassword([]byte(hash), []byte("correct horse battery")))

	err = run(context.Background(), []string{"-email", "bob@example.com"}, env, strings.NewReader("short\n"), &out)
	assert.Error(t, err, "a short password is refused")
	assert.Error(t, run(context.Background(), nil, env, strings.NewReader("whatever long\n"), &out), "-email is required")
	err = run(context.Background(), []string{"-email", " Manager@Ordermill.local"}, env, strings.NewReader("x-tulip-Harbor-9-quietly\n"), &out)
	assert.ErrorContains(t, err, "reserved for the development account", "the dev account's address is not for people")
	var n int
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM orders.managers WHERE lower(email) = 'manager@ordermill.local'`).Scan(&n))
	assert.Zero(t, n)
}

// An account is created in the services' database only: with a misspelt DATABASE_URL the
// tool created that database, said the manager "can sign in", and the dashboard knew of
// no such account.
func TestRefusesADatabaseThatDoesNotExist(t *testing.T) {
	base, err := url.Parse(pgtest.URL(t))
	require.NoError(t, err)
	base.Path = "/ordermill_no_such_database_" + strings.ReplaceAll(t.Name(), "/", "_")
	env := databaseEnv(base.String())
	var out bytes.Buffer
	err = run(context.Background(), []string{"-email", "ana@example.com"}, env, strings.NewReader("correct horse battery\n"), &out)
	require.ErrorIs(t, err, eventstore.ErrNoDatabase)
	assert.NotContains(t, out.String(), "can sign in")
}

// Finding 6 of issue 8: a reset ends the account's sessions, and weak passwords are refused.
func TestResetEndsSessionsAndRefusesWeakPasswords(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	env := databaseEnv(url)
	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"-email", "ana@example.com"}, env, strings.NewReader("correct horse battery\n"), &out))
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `INSERT INTO orders.dashboard_sessions (token_hash, manager_id, csrf_token, expires_at)
		SELECT 'stolen-cookie', id, 'csrf', now() + interval '1 hour' FROM orders.managers WHERE email = 'ana@example.com'`)
	require.NoError(t, err)

	for _, weak := range []string{"elevenchars", "password1234", "Qwerty123456"} {
		assert.Error(t, run(ctx, []string{"-email", "ana@example.com"}, env, strings.NewReader(weak+"\n"), &out), "%q", weak)
	}
	var sessions int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM orders.dashboard_sessions`).Scan(&sessions))
	assert.Equal(t, 1, sessions, "a refused reset changes nothing")

	out.Reset()
	require.NoError(t, run(ctx, []string{"-email", "ana@example.com"}, env, strings.NewReader("a new and longer passphrase\n"), &out))
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM orders.dashboard_sessions`).Scan(&sessions))
	assert.Equal(t, 0, sessions, "the reset ended the session")
	assert.Contains(t, out.String(), "reset the password of manager ana@example.com", "the tool says it reset, not created, the account")

	out.Reset()
	require.NoError(t, run(ctx, []string{"-email", "ana@example.com"}, env, strings.NewReader("a new and longer passphrase\n"), &out))
	assert.Equal(t, "manager ana@example.com already has this password: nothing changed\n", out.String())
}

// A password typed after the flags (as many tools take it) was ignored: the tool read
// standard input and set whatever came there.
func TestRefusesAStrayArgument(t *testing.T) {
	url := pgtest.URL(t)
	env := databaseEnv(url)
	var out bytes.Buffer
	err := run(context.Background(), []string{"-email", "ana@example.com", "correct horse battery"}, env, strings.NewReader("another long passphrase\n"), &out)
	require.ErrorContains(t, err, "unexpected argument after the flags")
	assert.NotContains(t, err.Error(), "correct horse", "a password typed as an argument is not repeated")
	assert.Empty(t, out.String())
}

// databaseEnv is an environment naming only DATABASE_URL, url.
func databaseEnv(url string) func(string) string {
	return func(k string) string {
		if k == "DATABASE_URL" {
			return url
		}
		return ""
	}
}
