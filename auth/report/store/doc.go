// Package store keeps DMARC aggregate report data (RFC 9990) between the
// milter and the sender: counted rows per period, policy domain and
// applied record; built reports with their frozen bytes; and deliveries
// with leases, so that several writers and several hosts can share one
// database. One interface, two backends over database/sql: SQLite
// (modernc.org/sqlite, pure Go) for a single host and PostgreSQL
// (github.com/jackc/pgx/v5) for fleets.
//
// Guarantees, for both backends:
//   - Counts add up: Record upserts n = n + batch count in one transaction
//     per flush, across writers, processes and hosts.
//   - Each (period, policy domain) is built by exactly one claimer; a
//     builder that dies loses its lease and another takes over. Every
//     recorded message ends up either in that build or in the orphan count
//     Record returns (a late event), never in neither: on PostgreSQL a
//     shared advisory lock per pair in Record against an exclusive one in
//     ClaimBuild; on SQLite the immediate write transactions.
//   - Each delivery is leased to one sender at a time (FOR UPDATE SKIP
//     LOCKED on PostgreSQL); an expired lease is taken over, and a stale
//     owner's MarkSent fails with ErrLeaseLost.
//   - A resend uses the bytes stored at build time (RFC 9990 §3.5.4).
//   - Suppressions and the per-address daily send quota are shared by every
//     host on the database (TakeQuota is one atomic upsert).
//
// All times are epoch seconds UTC, passed in by the caller (no clock here).
package store
