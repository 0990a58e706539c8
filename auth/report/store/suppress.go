package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// sendSchema holds the sender's own state: destinations suppressed for a
// while (permanent failures, bounces) and the sends per destination and
// UTC day (the daily cap). Created with the rest of the schema.
const sendSchema = `
CREATE TABLE IF NOT EXISTS suppression (dest TEXT PRIMARY KEY, until BIGINT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS send_quota (dest TEXT NOT NULL, day BIGINT NOT NULL, n BIGINT NOT NULL,
  PRIMARY KEY (dest, day));
`

// Suppress implements Store: dest gets nothing before until (a later
// until already stored is kept).
func (s *sqlStore) Suppress(ctx context.Context, dest string, until time.Time, reason string) error {
	_, err := s.db.ExecContext(ctx, s.d.q(`INSERT INTO suppression (dest, until, reason) VALUES (?, ?, ?)
ON CONFLICT (dest) DO UPDATE SET until = {greatest}(suppression.until, excluded.until), reason = excluded.reason`),
		strings.ToLower(dest), until.Unix(), reason)
	if err != nil {
		return fmt.Errorf("store: suppress %s: %w", dest, err)
	}
	return nil
}

// Suppressed implements Store.
func (s *sqlStore) Suppressed(ctx context.Context, dest string, now time.Time) (time.Time, string, error) {
	var until int64
	var reason string
	err := s.db.QueryRowContext(ctx, s.d.q(`SELECT until, reason FROM suppression WHERE dest = ? AND until > ?`),
		strings.ToLower(dest), now.Unix()).Scan(&until, &reason)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, "", nil
	}
	if err != nil {
		return time.Time{}, "", fmt.Errorf("store: suppressed %s: %w", dest, err)
	}
	return time.Unix(until, 0).UTC(), reason, nil
}

// TakeQuota implements Store: one atomic upsert, so that senders on
// several hosts share the cap.
func (s *sqlStore) TakeQuota(ctx context.Context, dest string, now time.Time, limit int) (bool, error) {
	if limit <= 0 {
		return true, nil
	}
	day := now.UTC().Truncate(24 * time.Hour).Unix()
	res, err := s.db.ExecContext(ctx, s.d.q(`INSERT INTO send_quota (dest, day, n) VALUES (?, ?, 1)
ON CONFLICT (dest, day) DO UPDATE SET n = send_quota.n + 1 WHERE send_quota.n < ?`),
		strings.ToLower(dest), day, limit)
	if err != nil {
		return false, fmt.Errorf("store: quota %s: %w", dest, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: quota %s: %w", dest, err)
	}
	return n == 1, nil
}
