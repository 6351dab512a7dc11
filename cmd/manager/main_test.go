package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/ordermill/ordermill/eventstore/pgtest"
)

func TestCreatesAManagerWithAHashedPassword(t *testing.T) {
	url := pgtest.URL(t)
	env := func(k string) string {
		if k == "DATABASE_URL" {
			return url
		}
		return ""
	}
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-email", "ana@example.com"}, env, strings.NewReader("correct horse battery\n"), &out))
	assert.Contains(t, out.String(), "ana@example.com")

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
}
