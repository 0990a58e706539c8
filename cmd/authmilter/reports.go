package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/report"
	"github.com/authmilter/authmilter/auth/report/schedule"
	"github.com/authmilter/authmilter/auth/report/store"
)

const reportsUsage = `usage:
  authmilter reports status [-config FILE]        counts pending, built and delivered
  authmilter reports list [-config FILE]          every built report and its destinations
  authmilter reports show [-config FILE] [-xml] ID   one report (-xml: its XML)
  authmilter reports send [-config FILE] [-dry-run DIR] [-now TIME]
        build the reports whose period is over; -dry-run DIR writes each one
        that is due as the .xml.gz and .eml it would send, sending nothing;
        -now (RFC 3339) is the clock that decides which periods are over
        and which deliveries are due. Without -dry-run it sends every due
        delivery through reports.smtp, as the daemon does each send_interval.
  authmilter reports resend [-config FILE] ID     make a report's deliveries pending again
  authmilter reports bounce [-config FILE] < DSN  a bounce of one of our reports: suppress
        its failed destinations for suppress_for (for an alias of the from
        address: "|authmilter reports bounce -config FILE"; exit 75 when the
        store is unavailable, so the MTA retries)
`

// runReports is "authmilter reports ...".
func runReports(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmds := map[string]func(*reportsCmd, []string) error{
		"status": (*reportsCmd).status,
		"list":   (*reportsCmd).list,
		"show":   (*reportsCmd).show,
		"send":   (*reportsCmd).send,
		"resend": (*reportsCmd).resend,
		"bounce": (*reportsCmd).bounce,
	}
	if len(args) == 0 || cmds[args[0]] == nil {
		fmt.Fprint(stderr, reportsUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			return 0
		}
		return 2
	}
	c := &reportsCmd{name: args[0], stdin: stdin, stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("authmilter reports "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.config, "config", "", "configuration `file` (TOML); its [reports] section is used")
	if args[0] == "show" {
		fs.BoolVar(&c.xml, "xml", false, "print the report's XML")
	}
	if args[0] == "send" {
		fs.StringVar(&c.dryRun, "dry-run", "", "write the reports that are due into `DIR` (.xml.gz and .eml) instead of sending")
		fs.StringVar(&c.now, "now", "", "the `time` (RFC 3339) that decides which periods are over; default: now")
	}
	fs.Usage = func() { fmt.Fprint(stderr, reportsUsage) }
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	c.args = fs.Args()
	if err := cmds[args[0]](c, c.args); err != nil {
		fmt.Fprintf(stderr, "authmilter reports %s: %v\n", args[0], err)
		var u usageError
		if errors.As(err, &u) {
			return 2
		}
		var tf tempFailure
		if errors.As(err, &tf) {
			return 75 // EX_TEMPFAIL (sysexits.h): the MTA retries a pipe
		}
		return 1
	}
	return 0
}

type usageError string

func (u usageError) Error() string { return string(u) }

type reportsCmd struct {
	name           string
	config         string
	xml            bool
	dryRun, now    string
	args           []string
	stdin          io.Reader
	stdout, stderr io.Writer
	cfg            Config
}

// open loads the configuration and opens reports.store.
func (c *reportsCmd) open(ctx context.Context) (store.Store, error) {
	cfg, err := loadConfig(c.config)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	c.cfg = cfg
	return openStore(ctx, cfg.Reports.Store)
}

// withStore runs f with the configured store open, and closes it.
func (c *reportsCmd) withStore(f func(ctx context.Context, st store.Store) error) error {
	ctx := context.Background()
	st, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	return f(ctx, st)
}

func (c *reportsCmd) noArgs(args []string) error {
	if len(args) > 0 {
		return usageError(fmt.Sprintf("unexpected argument %q", args[0]))
	}
	return nil
}

func (c *reportsCmd) status(args []string) error {
	if err := c.noArgs(args); err != nil {
		return err
	}
	return c.withStore(func(ctx context.Context, st store.Store) error {
		s, err := st.Status(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "store:            %s\n", c.cfg.Reports.Store)
		fmt.Fprintf(c.stdout, "pending rows:     %d (%d messages not yet in a report)\n", s.PendingRows, s.PendingMessages)
		fmt.Fprintf(c.stdout, "reports built:    %d\n", s.Reports)
		for _, k := range []string{"pending", "sending", "retry", "sent", "failed"} {
			fmt.Fprintf(c.stdout, "deliveries %-7s %d\n", k+":", s.Deliveries[k])
		}
		if s.OldestUnsent != 0 {
			fmt.Fprintf(c.stdout, "oldest unsent:    built %s (%s ago)\n", time.Unix(s.OldestUnsent, 0).UTC().Format(time.RFC3339),
				s.OldestUnsentAge(time.Now()).Round(time.Second))
		}
		return nil
	})
}

func (c *reportsCmd) list(args []string) error {
	if err := c.noArgs(args); err != nil {
		return err
	}
	return c.withStore(func(ctx context.Context, st store.Store) error {
		l, err := st.List(ctx)
		if err != nil {
			return err
		}
		for _, s := range l {
			var ds []string
			for _, d := range s.Deliveries {
				ds = append(ds, d.Dest+"="+d.State)
			}
			fmt.Fprintf(c.stdout, "%s %s %s %d messages %d rows %s\n", s.ID, s.PolicyDomain,
				time.Unix(s.Period.Begin, 0).UTC().Format("2006-01-02T15:04Z"), s.Messages, s.Rows, strings.Join(ds, " "))
		}
		return nil
	})
}

func (c *reportsCmd) show(args []string) error {
	if len(args) != 1 {
		return usageError("show needs one report ID")
	}
	return c.withStore(func(ctx context.Context, st store.Store) error {
		b, err := st.Report(ctx, args[0])
		if err != nil {
			return err
		}
		if c.xml {
			x, err := gunzip(b.XMLGz)
			if err != nil {
				return err
			}
			_, err = c.stdout.Write(x)
			return err
		}
		fmt.Fprintf(c.stdout, "id:            %s\npolicy domain: %s\nperiod:        %s .. %s\nfilename:      %s\nrows:          %d\nmessages:      %d\n",
			b.ID, b.PolicyDomain, time.Unix(b.Period.Begin, 0).UTC().Format(time.RFC3339),
			time.Unix(b.Period.End, 0).UTC().Format(time.RFC3339), b.Filename, b.Rows, b.Messages)
		l, err := st.List(ctx)
		if err != nil {
			return err
		}
		for _, s := range l {
			if s.ID != b.ID {
				continue
			}
			for _, d := range s.Deliveries {
				fmt.Fprintf(c.stdout, "destination:   %s %s attempts=%d %s\n", d.Dest, d.State, d.Attempts, d.LastReply)
			}
		}
		return nil
	})
}

func (c *reportsCmd) resend(args []string) error {
	if len(args) != 1 {
		return usageError("resend needs one report ID")
	}
	return c.withStore(func(ctx context.Context, st store.Store) error {
		if err := st.Resend(ctx, args[0], time.Now()); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "report %s: deliveries pending again\n", args[0])
		return nil
	})
}

// send builds the due reports and sends the due deliveries, or with
// -dry-run writes the reports whose deliveries are due.
func (c *reportsCmd) send(args []string) error {
	if err := c.noArgs(args); err != nil {
		return err
	}
	now := time.Now()
	if c.now != "" {
		t, err := time.Parse(time.RFC3339, c.now)
		if err != nil {
			return usageError(fmt.Sprintf("-now: %q is not an RFC 3339 time such as 2026-12-08T00:30:00Z", c.now))
		}
		now = t
	}
	// Checked before the store is opened (or created).
	if cfg, err := loadConfig(c.config); err != nil {
		return fmt.Errorf("configuration: %w", err)
	} else if !cfg.Reports.Enabled {
		return errors.New("reports.enabled is false in the configuration")
	} else if c.dryRun == "" && cfg.Reports.SMTP == "" {
		return errors.New("reports.smtp is empty: nothing can be sent (use -dry-run DIR to write the reports as files)")
	}
	return c.withStore(func(ctx context.Context, st store.Store) error {
		rc := c.cfg.Reports
		if c.dryRun == "" {
			return c.sendNow(ctx, st, now)
		}
		meta := reportMeta(rc)
		host, _ := os.Hostname()
		b := schedule.Builder{Store: st, Meta: meta, When: schedule.When(rc.ReportWhen), Grace: rc.Grace,
			Owner: fmt.Sprintf("%s/%d", host, os.Getpid())}
		res, err := b.Build(ctx, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "built %d reports, skipped %d (report_when = %q)\n", len(res.Built), len(res.Skipped), rc.ReportWhen)
		if err := os.MkdirAll(c.dryRun, 0o755); err != nil {
			return err
		}
		l, err := st.List(ctx)
		if err != nil {
			return err
		}
		n := 0
		for _, s := range l {
			if !deliveryDue(s, now) {
				continue
			}
			rep, err := st.Report(ctx, s.ID)
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(c.dryRun, rep.Filename), rep.XMLGz, 0o644); err != nil {
				return err
			}
			eml := schedule.Message(rep, meta, rc.from(), now)
			if err := os.WriteFile(filepath.Join(c.dryRun, rep.ID+".eml"), eml, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "%s %s %d messages -> %s\n", rep.ID, rep.PolicyDomain, rep.Messages, strings.Join(schedule.Recipients(rep.Dests), ", "))
			n++
		}
		fmt.Fprintf(c.stdout, "dry run: %d reports written to %s, nothing sent\n", n, c.dryRun)
		return nil
	})
}

// sendNow builds and sends what is due at now through reports.smtp.
func (c *reportsCmd) sendNow(ctx context.Context, st store.Store, now time.Time) error {
	rc := c.cfg.Reports
	res, err := dns.New(c.cfg.DNS)
	if err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	j, err := newReportJobs(rc, st, res, slog.New(slog.NewTextHandler(c.stderr, nil)))
	if err != nil {
		return err
	}
	built, out, err := j.run(ctx, now)
	fmt.Fprintf(c.stdout, "built %d reports, skipped %d (report_when = %q)\n", len(built.Built), len(built.Skipped), rc.ReportWhen)
	var parts []string
	for _, o := range schedule.Outcomes {
		parts = append(parts, fmt.Sprintf("%s %d", o, out[o]))
	}
	fmt.Fprintf(c.stdout, "deliveries: %s\n", strings.Join(parts, ", "))
	return err
}

// deliveryDue reports whether a report has a delivery waiting to be sent
// at now.
func deliveryDue(s store.Summary, now time.Time) bool {
	for _, d := range s.Deliveries {
		if (d.State == "pending" || d.State == "retry") && d.NextAt <= now.Unix() {
			return true
		}
	}
	return false
}

// reportMeta is report_metadata from [reports].
func reportMeta(rc ReportsConfig) report.Meta {
	return report.Meta{OrgName: rc.OrgName, Email: rc.Email, Submitter: rc.submitter(), HostID: rc.HostID,
		Generator: "authmilter " + version, LegacyPass: rc.LegacyPassDisposition}
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(zr, 64<<20))
}
