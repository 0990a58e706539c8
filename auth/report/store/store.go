package store

import (
	"context"
	"errors"
	"time"

	"github.com/authmilter/authmilter/auth/report"
)

// Errors.
var (
	// ErrLeaseLost: the caller no longer holds the build or delivery
	// lease (it expired and someone else took it, or the work is done).
	ErrLeaseLost = errors.New("store: lease lost")
	// ErrNotFound: no report with that ID.
	ErrNotFound = errors.New("store: not found")
	// ErrInFlight: every delivery of the report is being sent right now
	// (leased); a resend can be asked again when they are done.
	ErrInFlight = errors.New("store: report being sent")
)

// Store is what the aggregator, the builder and the sender need.
// Implementations are safe for concurrent use, also from several processes
// and hosts on one database.
type Store interface {
	// Record adds a flush's counts in one transaction: the counts of one
	// key add up across calls, writers and hosts. Rows of a (period,
	// policy domain) whose build was already claimed are not added; their
	// messages are returned as orphans.
	Record(ctx context.Context, b *report.Batch) (orphans int64, err error)
	// Due lists the (period, policy domain) pairs whose period ended
	// before before and that are not built yet (or whose builder's lease
	// expired).
	Due(ctx context.Context, before time.Time) ([]Due, error)
	// ClaimBuild leases the build of d to owner until now+lease and
	// returns its groups (one per applied record). ok is false when the
	// pair is built or another owner holds a live lease: exactly one
	// claimer builds each pair.
	ClaimBuild(ctx context.Context, d Due, owner string, now time.Time, lease time.Duration) (c Claim, ok bool, err error)
	// CompleteBuild stores the built reports and a pending delivery per
	// destination, and marks the pair built, all in one transaction, while
	// c's owner still holds the lease (else ErrLeaseLost).
	CompleteBuild(ctx context.Context, c Claim, reports []Built, now time.Time) error
	// ClaimDelivery leases one delivery that is pending, due for retry, or
	// whose sender's lease expired; ok false when none is.
	ClaimDelivery(ctx context.Context, owner string, now time.Time, lease time.Duration) (d Delivery, ok bool, err error)
	// MarkSent, MarkRetry and MarkFailed end a delivery lease (ErrLeaseLost
	// when d's owner no longer holds it).
	MarkSent(ctx context.Context, d Delivery, reply string) error
	MarkRetry(ctx context.Context, d Delivery, next time.Time, reply string) error
	MarkFailed(ctx context.Context, d Delivery, reply string) error
	// Report returns a built report with the bytes stored at build time,
	// for a resend (RFC 9990 §3.5.4: same identifiers) or an export.
	Report(ctx context.Context, id string) (Built, error)
	// Resend makes the report's deliveries pending again from now, but for
	// those being sent: ErrInFlight when that is all of them, ErrNotFound
	// when there is no such report.
	Resend(ctx context.Context, id string, now time.Time) error
	// Suppress keeps dest (an address, compared without case) from getting
	// reports before until, for reason (a permanent failure, a bounce).
	Suppress(ctx context.Context, dest string, until time.Time, reason string) error
	// Suppressed returns until when dest is suppressed at now, else the
	// zero time.
	Suppressed(ctx context.Context, dest string, now time.Time) (until time.Time, reason string, err error)
	// TakeQuota counts one send to dest in now's UTC day and reports
	// whether it is within limit sends that day (false: none taken);
	// limit 0 is no limit.
	TakeQuota(ctx context.Context, dest string, now time.Time, limit int) (bool, error)
	// List returns every built report with its deliveries, oldest period
	// first, without the bytes.
	List(ctx context.Context) ([]Summary, error)
	// Status counts what is pending, built and delivered.
	Status(ctx context.Context) (Status, error)
	Close() error
}

// Due is one (period, policy domain) ready to be built.
type Due struct {
	Period       report.Period
	PolicyDomain string
}

// Claim is a leased build: the groups to hand to report.Plan.
type Claim struct {
	Due
	Owner  string
	Groups []report.Group
}

// Built is a report as stored: frozen bytes and where it goes.
type Built struct {
	ID           string
	PolicyDomain string
	Period       report.Period
	RecordFP     string
	Filename     string // RFC 9990 §3.5.1, .xml.gz
	XMLGz        []byte
	Rows         int
	Messages     int64
	Dests        []string // rua URIs, in record order
}

// NewBuilt freezes a planned report: gzip of its XML, its filename, and
// its rua URIs as destinations.
func NewBuilt(r report.Report) Built {
	return Built{
		ID: r.ID, PolicyDomain: r.Policy.Domain, Period: r.Period,
		RecordFP: r.Policy.Fingerprint(), Filename: r.Filename(true),
		XMLGz: report.Gzip(r.XML()), Rows: len(r.Rows), Messages: r.Messages(),
		Dests: append([]string(nil), r.Policy.RUA...),
	}
}

// Delivery is one leased (report, destination) send.
type Delivery struct {
	ReportID string
	Dest     string
	Owner    string
	Attempts int
}
