// Package sql embeds the database migrations so every binary and test applies the same schema.
package sql

import "embed"

// Migrations holds the goose migration files, applied in file-name order.
//
//go:embed *.sql
var Migrations embed.FS
