package store

import (
	"context"
	"database/sql"
	"fmt"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// migrateLock serializes schema creation between hosts starting at once
// (CREATE TABLE IF NOT EXISTS is not safe against a concurrent creator).
const migrateLock = "SELECT pg_advisory_xact_lock(7264353)"

// OpenPostgres connects to the PostgreSQL database at dsn (a URL or
// key=value string as libpq takes) and creates the schema if needed.
func OpenPostgres(ctx context.Context, dsn string) (Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	s := &sqlStore{db: db, d: postgresDialect}
	if err := s.migrate(ctx, migrateLock); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	return s, nil
}
