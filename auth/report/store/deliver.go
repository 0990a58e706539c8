package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// CompleteBuild implements Store.
func (s *sqlStore) CompleteBuild(ctx context.Context, c Claim, reports []Built, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.d.q(`UPDATE build SET state = 'built', lease_owner = NULL, lease_until = NULL, built_at = ?
WHERE period_start = ? AND policy_domain = ? AND state = 'building' AND lease_owner = ?`),
			now.Unix(), c.Period.Begin, c.PolicyDomain, c.Owner)
		if err != nil {
			return fmt.Errorf("store: complete build: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrLeaseLost
		}
		for _, b := range reports {
			if err := s.insertReport(ctx, tx, b, now); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *sqlStore) insertReport(ctx context.Context, tx *sql.Tx, b Built, now time.Time) error {
	_, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO report (id, period_start, period_end, policy_domain, record_fp,
  filename, xml_gz, rows_n, messages, built_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		b.ID, b.Period.Begin, b.Period.End, b.PolicyDomain, b.RecordFP, b.Filename, b.XMLGz, b.Rows, b.Messages, now.Unix())
	if err != nil {
		return fmt.Errorf("store: report %s: %w", b.ID, err)
	}
	for i, d := range b.Dests {
		_, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO delivery (report_id, dest, pos, state, attempts, next_at)
VALUES (?, ?, ?, 'pending', 0, ?) ON CONFLICT (report_id, dest) DO NOTHING`), b.ID, d, i, now.Unix())
		if err != nil {
			return fmt.Errorf("store: delivery %s %s: %w", b.ID, d, err)
		}
	}
	return nil
}

// ClaimDelivery implements Store: the oldest due delivery is taken with a
// row claim (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite's write
// transaction is exclusive), so concurrent senders never share one.
func (s *sqlStore) ClaimDelivery(ctx context.Context, owner string, now time.Time, lease time.Duration) (Delivery, bool, error) {
	d := Delivery{Owner: owner}
	var ok bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, s.d.q(`UPDATE delivery SET state = 'sending', lease_owner = ?, lease_until = ?, attempts = attempts + 1
WHERE (report_id, dest) = (SELECT report_id, dest FROM delivery
  WHERE (state IN ('pending', 'retry') AND next_at <= ?) OR (state = 'sending' AND lease_until < ?)
  ORDER BY next_at, report_id, pos LIMIT 1{skiplocked})
RETURNING report_id, dest, attempts`), owner, now.Add(lease).Unix(), now.Unix(), now.Unix()).Scan(&d.ReportID, &d.Dest, &d.Attempts)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("store: claim delivery: %w", err)
		}
		ok = true
		return nil
	})
	if err != nil || !ok {
		return Delivery{}, false, err
	}
	return d, true, nil
}

// finish ends a delivery lease with state and the optional next attempt.
func (s *sqlStore) finish(ctx context.Context, d Delivery, state string, next int64, reply string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.d.q(`UPDATE delivery SET state = ?, next_at = ?, last_reply = ?, lease_owner = NULL, lease_until = NULL
WHERE report_id = ? AND dest = ? AND state = 'sending' AND lease_owner = ?`), state, next, reply, d.ReportID, d.Dest, d.Owner)
		if err != nil {
			return fmt.Errorf("store: mark %s: %w", state, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrLeaseLost
		}
		return nil
	})
}

// MarkSent implements Store.
func (s *sqlStore) MarkSent(ctx context.Context, d Delivery, reply string) error {
	return s.finish(ctx, d, "sent", 0, reply)
}

// MarkRetry implements Store.
func (s *sqlStore) MarkRetry(ctx context.Context, d Delivery, next time.Time, reply string) error {
	return s.finish(ctx, d, "retry", next.Unix(), reply)
}

// MarkFailed implements Store.
func (s *sqlStore) MarkFailed(ctx context.Context, d Delivery, reply string) error {
	return s.finish(ctx, d, "failed", 0, reply)
}

// Report implements Store.
func (s *sqlStore) Report(ctx context.Context, id string) (Built, error) {
	b := Built{ID: id}
	err := s.db.QueryRowContext(ctx, s.d.q(`SELECT period_start, period_end, policy_domain, record_fp, filename, xml_gz, rows_n, messages
FROM report WHERE id = ?`), id).Scan(&b.Period.Begin, &b.Period.End, &b.PolicyDomain, &b.RecordFP, &b.Filename, &b.XMLGz, &b.Rows, &b.Messages)
	if errors.Is(err, sql.ErrNoRows) {
		return Built{}, ErrNotFound
	}
	if err != nil {
		return Built{}, fmt.Errorf("store: report %s: %w", id, err)
	}
	rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT dest FROM delivery WHERE report_id = ? ORDER BY pos`), id)
	if err != nil {
		return Built{}, fmt.Errorf("store: report %s: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return Built{}, fmt.Errorf("store: report %s: %w", id, err)
		}
		b.Dests = append(b.Dests, d)
	}
	return b, rows.Err()
}

// Resend implements Store.
func (s *sqlStore) Resend(ctx context.Context, id string, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.d.q(`UPDATE delivery SET state = 'pending', next_at = ?, lease_owner = NULL, lease_until = NULL
WHERE report_id = ? AND state <> 'sending'`), now.Unix(), id)
		if err != nil {
			return fmt.Errorf("store: resend %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return nil
		}
		var built int
		if err := tx.QueryRowContext(ctx, s.d.q(`SELECT COUNT(*) FROM report WHERE id = ?`), id).Scan(&built); err != nil {
			return fmt.Errorf("store: resend %s: %w", id, err)
		}
		if built > 0 {
			return ErrInFlight
		}
		return ErrNotFound
	})
}
