// Package aggregate counts DMARC report events (RFC 9990) in memory and
// writes them to a report store, without ever making the caller wait.
//
// The caller's side is Offer: a non-blocking send of one item into a
// bounded queue (a full queue drops the item and counts it). One goroutine
// folds items into a report.Batch; a second one writes batches to the store
// at an interval, so a slow store never stops the folding. While the store
// is down or slow the counts wait in memory up to MaxKeys distinct rows;
// rows beyond that spill to a bounded on-disk spool (JSON lines), replayed
// at start and once the store takes writes again; past the spool's bound
// they are dropped and counted. Flush and Close write what is pending
// (SIGHUP, SIGTERM). A crash loses at most the counts not yet written or
// spooled: one flush interval; a crash between a replay's write and the
// removal of the replayed file counts that file twice at the next start.
package aggregate
