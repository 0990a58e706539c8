package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authmilter/authmilter/auth/report"
)

// sqlStore implements Store over database/sql for both dialects.
type sqlStore struct {
	db *sql.DB
	d  dialect
}

func (s *sqlStore) Close() error { return s.db.Close() }

// tx runs f in one transaction (BEGIN IMMEDIATE on SQLite, via the DSN).
func (s *sqlStore) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// migrate creates the schema; lock serializes concurrent openers.
func (s *sqlStore) migrate(ctx context.Context, lock string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if lock != "" {
			if _, err := tx.ExecContext(ctx, lock); err != nil {
				return fmt.Errorf("store: migrate lock: %w", err)
			}
		}
		for _, stmt := range strings.Split(s.d.q(schema+sendSchema), ";\n") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("store: schema: %w", err)
			}
		}
		_, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO meta (k, v) VALUES ('schema', ?) ON CONFLICT (k) DO NOTHING`), schemaVersion)
		if err != nil {
			return fmt.Errorf("store: schema version: %w", err)
		}
		return nil
	})
}

// rowDetail is a row's stored tuple: the report.Row without its count.
func rowDetail(r report.Row) (string, error) {
	r.Count = 0
	b, err := json.Marshal(r)
	return string(b), err
}

// Record implements Store. Keys are written in sorted order so that
// concurrent writers lock rows in the same order (no deadlocks).
func (s *sqlStore) Record(ctx context.Context, b *report.Batch) (int64, error) {
	keys := make([]report.Key, 0, len(b.Rows))
	for k := range b.Rows {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	var orphans int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		orphans = 0
		if err := s.lockPairs(ctx, tx, keys); err != nil {
			return err
		}
		if err := s.recordPolicies(ctx, tx, b); err != nil {
			return err
		}
		st, err := tx.PrepareContext(ctx, s.d.q(`INSERT INTO agg_row (period_start, period_len, policy_domain,
  record_fp, row_hash, source_ip, header_from, disposition, detail, n, last_seen)
SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS
  (SELECT 1 FROM build WHERE period_start = ? AND policy_domain = ?)
ON CONFLICT (period_start, policy_domain, record_fp, row_hash) DO UPDATE
  SET n = agg_row.n + excluded.n, last_seen = {greatest}(agg_row.last_seen, excluded.last_seen)`))
		if err != nil {
			return fmt.Errorf("store: record: %w", err)
		}
		defer st.Close()
		for _, k := range keys {
			r := b.Rows[k]
			det, err := rowDetail(*r)
			if err != nil {
				return fmt.Errorf("store: record: %w", err)
			}
			res, err := st.ExecContext(ctx, k.Period.Begin, k.Period.Len(), k.PolicyDomain, k.RecordFP, k.RowHash,
				r.SourceIP.String(), r.HeaderFrom, string(r.Disposition), det, r.Count, b.LastSeen[k],
				k.Period.Begin, k.PolicyDomain)
			if err != nil {
				return fmt.Errorf("store: record: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				orphans += r.Count
			}
		}
		return nil
	})
	return orphans, err
}

// lockPairs takes the shared pair lock for each (period, policy domain)
// of the sorted keys, in order.
func (s *sqlStore) lockPairs(ctx context.Context, tx *sql.Tx, keys []report.Key) error {
	if s.d.pairShared == "" {
		return nil
	}
	for i, k := range keys {
		if i > 0 && keys[i-1].Period == k.Period && keys[i-1].PolicyDomain == k.PolicyDomain {
			continue
		}
		if _, err := tx.ExecContext(ctx, s.d.q(s.d.pairShared), strconv.FormatInt(k.Period.Begin, 10), k.PolicyDomain); err != nil {
			return fmt.Errorf("store: record lock: %w", err)
		}
	}
	return nil
}

func compareKeys(a, b report.Key) int {
	if c := cmp.Compare(a.Period.Begin, b.Period.Begin); c != 0 {
		return c
	}
	return strings.Compare(a.PolicyDomain+"\x00"+a.RecordFP+"\x00"+a.RowHash, b.PolicyDomain+"\x00"+b.RecordFP+"\x00"+b.RowHash)
}

// recordPolicies upserts the batch's applied records with their newest use.
func (s *sqlStore) recordPolicies(ctx context.Context, tx *sql.Tx, b *report.Batch) error {
	seen := map[string]int64{}
	for k, t := range b.LastSeen {
		seen[k.RecordFP] = max(seen[k.RecordFP], t)
	}
	fps := make([]string, 0, len(b.Policies))
	for fp := range b.Policies {
		fps = append(fps, fp)
	}
	slices.Sort(fps)
	for _, fp := range fps {
		p := b.Policies[fp]
		det, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("store: policy: %w", err)
		}
		_, err = tx.ExecContext(ctx, s.d.q(`INSERT INTO policy_record (fp, policy_domain, detail, first_seen, last_seen)
VALUES (?, ?, ?, ?, ?) ON CONFLICT (fp) DO UPDATE SET last_seen = {greatest}(policy_record.last_seen, excluded.last_seen)`),
			fp, p.Domain, string(det), seen[fp], seen[fp])
		if err != nil {
			return fmt.Errorf("store: policy: %w", err)
		}
	}
	return nil
}

// Due implements Store.
func (s *sqlStore) Due(ctx context.Context, before time.Time) ([]Due, error) {
	t := before.Unix()
	rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT a.period_start, a.period_len, a.policy_domain FROM agg_row a
LEFT JOIN build b ON b.period_start = a.period_start AND b.policy_domain = a.policy_domain
WHERE a.period_start + a.period_len <= ? AND (b.state IS NULL OR (b.state = 'building' AND b.lease_until < ?))
GROUP BY a.period_start, a.period_len, a.policy_domain ORDER BY a.period_start, a.policy_domain`), t, t)
	if err != nil {
		return nil, fmt.Errorf("store: due: %w", err)
	}
	defer rows.Close()
	var out []Due
	for rows.Next() {
		var d Due
		var n int64
		if err := rows.Scan(&d.Period.Begin, &n, &d.PolicyDomain); err != nil {
			return nil, fmt.Errorf("store: due: %w", err)
		}
		d.Period.End = d.Period.Begin + n - 1
		out = append(out, d)
	}
	return out, rows.Err()
}

// ClaimBuild implements Store: an upsert of the build row that succeeds
// only for a new row or an expired lease, so one claimer wins.
func (s *sqlStore) ClaimBuild(ctx context.Context, d Due, owner string, now time.Time, lease time.Duration) (Claim, bool, error) {
	c := Claim{Due: d, Owner: owner}
	var got bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if s.d.pairLock != "" {
			if _, err := tx.ExecContext(ctx, s.d.q(s.d.pairLock), strconv.FormatInt(d.Period.Begin, 10), d.PolicyDomain); err != nil {
				return fmt.Errorf("store: claim lock: %w", err)
			}
		}
		var who string
		err := tx.QueryRowContext(ctx, s.d.q(`INSERT INTO build (period_start, period_len, policy_domain, state, lease_owner, lease_until)
VALUES (?, ?, ?, 'building', ?, ?)
ON CONFLICT (period_start, policy_domain) DO UPDATE SET lease_owner = excluded.lease_owner, lease_until = excluded.lease_until
  WHERE build.state = 'building' AND build.lease_until < ?
RETURNING lease_owner`), d.Period.Begin, d.Period.Len(), d.PolicyDomain, owner, now.Add(lease).Unix(), now.Unix()).Scan(&who)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("store: claim build: %w", err)
		}
		got = who == owner
		return nil
	})
	if err != nil || !got {
		return Claim{}, false, err
	}
	c.Groups, err = s.groups(ctx, d)
	if err != nil {
		return Claim{}, false, err
	}
	return c, true, nil
}

// groups reads the counted rows of d, one group per applied record.
func (s *sqlStore) groups(ctx context.Context, d Due) ([]report.Group, error) {
	rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT a.record_fp, p.detail, a.detail, a.n, a.last_seen
FROM agg_row a JOIN policy_record p ON p.fp = a.record_fp
WHERE a.period_start = ? AND a.policy_domain = ? ORDER BY a.record_fp, a.row_hash`), d.Period.Begin, d.PolicyDomain)
	if err != nil {
		return nil, fmt.Errorf("store: groups: %w", err)
	}
	defer rows.Close()
	var out []report.Group
	lastFP := ""
	for rows.Next() {
		var fp, pdet, rdet string
		var n, last int64
		if err := rows.Scan(&fp, &pdet, &rdet, &n, &last); err != nil {
			return nil, fmt.Errorf("store: groups: %w", err)
		}
		if len(out) == 0 || fp != lastFP {
			lastFP = fp
			var p report.Policy
			if err := json.Unmarshal([]byte(pdet), &p); err != nil {
				return nil, fmt.Errorf("store: policy %s: %w", fp, err)
			}
			out = append(out, report.Group{Policy: p})
		}
		g := &out[len(out)-1]
		var r report.Row
		if err := json.Unmarshal([]byte(rdet), &r); err != nil {
			return nil, fmt.Errorf("store: row: %w", err)
		}
		r.Count = n
		g.Rows = append(g.Rows, r)
		g.LastSeen = max(g.LastSeen, last)
	}
	return out, rows.Err()
}
