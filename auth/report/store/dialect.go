package store

import (
	"strconv"
	"strings"
)

// dialect holds the few differences between SQLite and PostgreSQL SQL.
type dialect struct {
	name       string
	blob       string // binary column type
	greatest   string // two-argument maximum: MAX (SQLite) or GREATEST
	skipLocked string // row-claim suffix for a subquery
	dollar     bool   // $1 placeholders instead of ?
	// pairLock and pairShared take a transaction-scoped lock on one
	// (period, policy domain): ClaimBuild exclusive, Record shared, so a
	// claim waits for writers in flight and no row lands in a pair after
	// its build read it. Empty for SQLite, whose write transactions
	// already exclude each other.
	pairLock, pairShared string
}

var (
	sqliteDialect   = dialect{name: "sqlite", blob: "BLOB", greatest: "MAX"}
	postgresDialect = dialect{name: "postgres", blob: "BYTEA", greatest: "GREATEST",
		skipLocked: " FOR UPDATE SKIP LOCKED", dollar: true,
		pairLock:   "SELECT pg_advisory_xact_lock(7264354, hashtext(? || '/' || ?))",
		pairShared: "SELECT pg_advisory_xact_lock_shared(7264354, hashtext(? || '/' || ?))"}
)

// q rewrites a query written with ? placeholders and {blob}, {greatest}
// and {skiplocked} markers for the dialect. The queries carry no ? in
// literals.
func (d dialect) q(s string) string {
	s = strings.NewReplacer("{blob}", d.blob, "{greatest}", d.greatest, "{skiplocked}", d.skipLocked).Replace(s)
	if !d.dollar {
		return s
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// schema is the same for both backends; times are epoch seconds UTC.
// agg_row is the hot table: one row per counted tuple; detail holds the
// tuple as JSON (report.Row without its count).
const schema = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS policy_record (fp TEXT PRIMARY KEY, policy_domain TEXT NOT NULL,
  detail TEXT NOT NULL, first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS agg_row (period_start BIGINT NOT NULL, period_len BIGINT NOT NULL,
  policy_domain TEXT NOT NULL, record_fp TEXT NOT NULL, row_hash TEXT NOT NULL,
  source_ip TEXT NOT NULL, header_from TEXT NOT NULL, disposition TEXT NOT NULL,
  detail TEXT NOT NULL, n BIGINT NOT NULL, last_seen BIGINT NOT NULL,
  PRIMARY KEY (period_start, policy_domain, record_fp, row_hash));
CREATE TABLE IF NOT EXISTS build (period_start BIGINT NOT NULL, period_len BIGINT NOT NULL,
  policy_domain TEXT NOT NULL, state TEXT NOT NULL, lease_owner TEXT, lease_until BIGINT,
  built_at BIGINT, PRIMARY KEY (period_start, policy_domain));
CREATE TABLE IF NOT EXISTS report (id TEXT PRIMARY KEY, period_start BIGINT NOT NULL,
  period_end BIGINT NOT NULL, policy_domain TEXT NOT NULL, record_fp TEXT NOT NULL,
  filename TEXT NOT NULL, xml_gz {blob} NOT NULL, rows_n BIGINT NOT NULL, messages BIGINT NOT NULL,
  built_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS delivery (report_id TEXT NOT NULL, dest TEXT NOT NULL, pos BIGINT NOT NULL,
  state TEXT NOT NULL, attempts BIGINT NOT NULL, next_at BIGINT NOT NULL, lease_owner TEXT,
  lease_until BIGINT, last_reply TEXT, PRIMARY KEY (report_id, dest));
CREATE INDEX IF NOT EXISTS delivery_due ON delivery (state, next_at);
`

// schemaVersion is stored in meta; a later version migrates from it.
const schemaVersion = "1"
