package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/authmilter/authmilter/auth/report"
)

// Summary is a built report without its bytes, with its deliveries.
type Summary struct {
	ID           string
	PolicyDomain string
	Period       report.Period
	Filename     string
	Rows         int
	Messages     int64
	BuiltAt      int64
	Deliveries   []DeliveryState
}

// DeliveryState is one destination of a report and how far it got.
type DeliveryState struct {
	Dest      string
	State     string // pending, sending, retry, sent, failed
	Attempts  int
	NextAt    int64
	LastReply string
}

// Status is an overview of the store.
type Status struct {
	PendingRows     int64            // counted rows not yet built into a report
	PendingMessages int64            // their messages
	Reports         int64            // built reports
	Deliveries      map[string]int64 // by state
	// OldestUnsent is when the oldest report with an unsent delivery
	// (pending, retry or sending) was built; 0 when there is none.
	OldestUnsent int64
}

// List implements Store.
func (s *sqlStore) List(ctx context.Context) ([]Summary, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT r.id, r.policy_domain, r.period_start, r.period_end, r.filename, r.rows_n, r.messages,
  r.built_at, d.dest, d.state, d.attempts, d.next_at, d.last_reply
FROM report r LEFT JOIN delivery d ON d.report_id = r.id ORDER BY r.period_start, r.policy_domain, r.id, d.pos`)
	if err != nil {
		return nil, fmt.Errorf("store: list: %w", err)
	}
	defer rows.Close()
	var out []Summary
	for rows.Next() {
		var m Summary
		var dest, state, reply sql.NullString
		var attempts, next sql.NullInt64
		if err := rows.Scan(&m.ID, &m.PolicyDomain, &m.Period.Begin, &m.Period.End, &m.Filename, &m.Rows, &m.Messages,
			&m.BuiltAt, &dest, &state, &attempts, &next, &reply); err != nil {
			return nil, fmt.Errorf("store: list: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].ID != m.ID {
			out = append(out, m)
		}
		if dest.Valid {
			last := &out[len(out)-1]
			last.Deliveries = append(last.Deliveries, DeliveryState{Dest: dest.String, State: state.String,
				Attempts: int(attempts.Int64), NextAt: next.Int64, LastReply: reply.String})
		}
	}
	return out, rows.Err()
}

// Status implements Store.
func (s *sqlStore) Status(ctx context.Context) (Status, error) {
	st := Status{Deliveries: map[string]int64{}}
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(a.n), 0) FROM agg_row a
LEFT JOIN build b ON b.period_start = a.period_start AND b.policy_domain = a.policy_domain
WHERE b.state IS NULL OR b.state <> 'built'`).Scan(&st.PendingRows, &st.PendingMessages)
	if err != nil {
		return st, fmt.Errorf("store: status: %w", err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM report`).Scan(&st.Reports); err != nil {
		return st, fmt.Errorf("store: status: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT state, COUNT(*) FROM delivery GROUP BY state`)
	if err != nil {
		return st, fmt.Errorf("store: status: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return st, fmt.Errorf("store: status: %w", err)
		}
		st.Deliveries[k] = n
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("store: status: %w", err)
	}
	err = s.db.QueryRowContext(ctx, `SELECT COALESCE(MIN(r.built_at), 0) FROM report r JOIN delivery d ON d.report_id = r.id
WHERE d.state IN ('pending', 'retry', 'sending')`).Scan(&st.OldestUnsent)
	if err != nil {
		return st, fmt.Errorf("store: status: %w", err)
	}
	return st, nil
}

// OldestUnsentAge is how long the oldest unsent report has waited at now;
// 0 when every report is sent or failed (or it was built by a clock
// ahead of now, as reports send -now can).
func (st Status) OldestUnsentAge(now time.Time) time.Duration {
	if st.OldestUnsent == 0 {
		return 0
	}
	return max(0, now.Sub(time.Unix(st.OldestUnsent, 0)))
}
