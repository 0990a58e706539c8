package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"

	_ "modernc.org/sqlite" // database/sql driver "sqlite", pure Go
)

// sqliteParams are set on every connection through the DSN: a pragma run
// with Exec would reach only one pooled connection. WAL lets readers run
// beside the writer; busy_timeout makes a second writer (another store or
// process on the file) wait instead of failing; _txlock=immediate takes
// the write lock at BEGIN, so a transaction never fails upgrading it.
const sqliteParams = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"

// OpenSQLite opens (creating if needed) the SQLite database file at path.
func OpenSQLite(ctx context.Context, path string) (Store, error) {
	u := url.URL{Scheme: "file", Opaque: url.PathEscape(path), RawQuery: sqliteParams}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, fmt.Errorf("store: sqlite %s: %w", path, err)
	}
	s := &sqlStore{db: db, d: sqliteDialect}
	if err := s.migrate(ctx, ""); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: sqlite %s: %w", path, err)
	}
	return s, nil
}
