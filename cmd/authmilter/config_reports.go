package main

import (
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/authmilter/authmilter/auth/report/schedule"
)

// ReportsConfig is the [reports] table: DMARC aggregate reports
// (RFC 9990). Off by default.
type ReportsConfig struct {
	Enabled bool `toml:"enabled"`
	// Store is "sqlite:/path" or a "postgres://" URL.
	Store     string `toml:"store"`
	OrgName   string `toml:"org_name"`
	Email     string `toml:"email"`
	Submitter string `toml:"submitter"` // default: the domain of email
	From      string `toml:"from"`      // default: email
	HostID    string `toml:"host_id"`
	// SMTP is the relay reports are sent through (host:port); "" sends
	// nothing (only "reports send -dry-run").
	SMTP          string        `toml:"smtp"`
	Period        time.Duration `toml:"period"`
	Grace         time.Duration `toml:"grace"`
	FlushInterval time.Duration `toml:"flush_interval"`
	QueueLen      int           `toml:"queue_len"`
	MaxKeys       int           `toml:"max_keys"`
	Spool         string        `toml:"spool"`
	SpoolBytes    int64         `toml:"spool_bytes"`
	ReportWhen    string        `toml:"report_when"`
	EnvelopeTo    bool          `toml:"envelope_to"`
	// LegacyPassDisposition writes disposition "pass" as "none".
	LegacyPassDisposition bool `toml:"legacy_pass_disposition"`
	// SendingConfig: the keys of sending (config_reports_send.go).
	SendingConfig

	// Failure reports (RFC 9991), off by default: failure_reports.go.
	FailureEnabled     bool          `toml:"failure_enabled"`
	FailureRatePerHour int           `toml:"failure_rate_per_hour"`
	FailureMerge       time.Duration `toml:"failure_merge"`
	FailureQueueLen    int           `toml:"failure_queue_len"`
	FailureHeaderBytes int           `toml:"failure_header_bytes"`
}

func defaultReports() ReportsConfig {
	return ReportsConfig{
		Store:         "sqlite:/var/lib/authmilter/reports.db",
		Period:        24 * time.Hour,
		Grace:         30 * time.Minute,
		FlushInterval: 10 * time.Second,
		QueueLen:      8192,
		MaxKeys:       100000,
		Spool:         "/var/lib/authmilter/reports.spool",
		SpoolBytes:    64 << 20,
		ReportWhen:    string(schedule.WhenAccepted),
		SMTP:          "127.0.0.1:25",
		SendingConfig: defaultSending(),

		FailureRatePerHour: 10,
		FailureMerge:       time.Hour,
		FailureQueueLen:    1024,
		FailureHeaderBytes: 16 << 10,
	}
}

// validate checks [reports]; most keys only when reports are enabled (the
// sample file must load as it is).
func (r *ReportsConfig) validate() error {
	switch {
	case r.Period <= 0 || r.Period > 24*time.Hour || (24*time.Hour)%r.Period != 0 || r.Period%time.Second != 0:
		return fmt.Errorf("reports.period: must divide 24h in whole seconds (such as \"24h\" or \"1h\"), got %s", r.Period)
	case r.Grace < 0:
		return fmt.Errorf("reports.grace: must not be negative, got %s", r.Grace)
	case r.FlushInterval <= 0:
		return fmt.Errorf("reports.flush_interval: must be positive, got %s", r.FlushInterval)
	case r.QueueLen < 1:
		return fmt.Errorf("reports.queue_len: must be at least 1, got %d", r.QueueLen)
	case r.MaxKeys < 1:
		return fmt.Errorf("reports.max_keys: must be at least 1, got %d", r.MaxKeys)
	case r.SpoolBytes < 0:
		return fmt.Errorf("reports.spool_bytes: must not be negative, got %d", r.SpoolBytes)
	case !schedule.When(r.ReportWhen).Valid():
		return fmt.Errorf("reports.report_when: must be \"any\", \"accepted\" or \"pass\", got %q", r.ReportWhen)
	case r.EnvelopeTo:
		return fmt.Errorf("reports.envelope_to: not supported yet (the evaluation does not see the recipients); leave it false")
	}
	if err := r.validateFailure(); err != nil {
		return err
	}
	if _, _, err := parseStore(r.Store); err != nil {
		return fmt.Errorf("reports.store: %w", err)
	}
	if r.SMTP != "" {
		if err := checkHostPort(r.SMTP); err != nil {
			return fmt.Errorf("reports.smtp: %w", err)
		}
	}
	if err := r.SendingConfig.validate(); err != nil {
		return err
	}
	if r.Spool != "" && !strings.HasPrefix(r.Spool, "/") {
		return fmt.Errorf("reports.spool: must be an absolute path or \"\", got %q", r.Spool)
	}
	if !r.Enabled {
		return nil
	}
	if strings.TrimSpace(r.OrgName) == "" {
		return fmt.Errorf("reports.org_name: required when reports.enabled (the org_name of every report)")
	}
	if err := checkAddr(r.Email); err != nil {
		return fmt.Errorf("reports.email: %w", err)
	}
	if r.From != "" {
		if err := checkAddr(r.From); err != nil {
			return fmt.Errorf("reports.from: %w", err)
		}
	}
	if r.Submitter != "" && (strings.ContainsAny(r.Submitter, "!@ /") || !strings.Contains(r.Submitter, ".")) {
		return fmt.Errorf("reports.submitter: %q is not a domain name", r.Submitter)
	}
	for _, c := range r.HostID {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return fmt.Errorf("reports.host_id: lower-case letters and digits only, got %q", r.HostID)
		}
	}
	return nil
}

// checkAddr accepts a bare addr-spec (local@domain).
func checkAddr(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return fmt.Errorf("%q is not an address like dmarc-reports@example.net", s)
	}
	return nil
}

// submitter is the receiver domain of the reports: submitter, else the
// domain of email.
func (r *ReportsConfig) submitter() string {
	if r.Submitter != "" {
		return strings.ToLower(r.Submitter)
	}
	_, d, _ := strings.Cut(r.Email, "@")
	return strings.ToLower(d)
}

func (r *ReportsConfig) from() string {
	if r.From != "" {
		return r.From
	}
	return r.Email
}

// parseStore splits reports.store into a backend ("sqlite" or
// "postgres") and its path or URL.
func parseStore(s string) (kind, arg string, err error) {
	switch {
	case strings.HasPrefix(s, "sqlite:"):
		p := strings.TrimPrefix(s, "sqlite:")
		if !strings.HasPrefix(p, "/") {
			return "", "", fmt.Errorf("%q: the SQLite path must be absolute (sqlite:/var/lib/authmilter/reports.db)", s)
		}
		return "sqlite", p, nil
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		return "postgres", s, nil
	}
	return "", "", fmt.Errorf("%q: want sqlite:/path or a postgres:// URL", s)
}
