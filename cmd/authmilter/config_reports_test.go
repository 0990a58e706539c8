package main

import (
	"testing"
	"time"
)

const reportsOn = "[reports]\nenabled = true\norg_name = \"Receiver\"\nemail = \"dmarc@receiver.example\"\n"

func TestReportsConfigErrorsNameTheKey(t *testing.T) {
	for _, c := range []struct{ file, key string }{
		{"[reports]\nenabled = true\nemail = \"dmarc@receiver.example\"\n", "reports.org_name"},
		{"[reports]\nenabled = true\norg_name = \"R\"\n", "reports.email"},
		{reportsOn + "from = \"Reports <r@x.example>\"\n", "reports.from"},
		{"[reports]\nstore = \"mysql://x\"\n", "reports.store"},
		{"[reports]\nstore = \"sqlite:reports.db\"\n", "reports.store"},
		{"[reports]\nperiod = \"7h\"\n", "reports.period"},
		{"[reports]\nperiod = \"48h\"\n", "reports.period"},
		{"[reports]\nperiod = 86400\n", "reports.period"},
		{"[reports]\ngrace = \"-1m\"\n", "reports.grace"},
		{"[reports]\nflush_interval = \"0s\"\n", "reports.flush_interval"},
		{"[reports]\nqueue_len = 0\n", "reports.queue_len"},
		{"[reports]\nmax_keys = 0\n", "reports.max_keys"},
		{"[reports]\nspool_bytes = -1\n", "reports.spool_bytes"},
		{"[reports]\nspool = \"spool\"\n", "reports.spool"},
		{"[reports]\nreport_when = \"always\"\n", "reports.report_when"},
		{"[reports]\nenvelope_to = true\n", "reports.envelope_to"},
		{"[reports]\nsmtp = \"relay\"\n", "reports.smtp"},
		{reportsOn + "submitter = \"a!b\"\n", "reports.submitter"},
		{reportsOn + "host_id = \"Host-1\"\n", "reports.host_id"},
		{"[reports]\nsend = true\n", "reports.send"},
		{"[reports]\nsend_interval = \"-1s\"\n", "reports.send_interval"},
		{"[reports]\nsmtp_starttls = \"yes\"\n", "reports.smtp_starttls"},
		{"[reports]\nsmtp_username = \"u\"\n", "reports.smtp_password_file"},
		{"[reports]\nsmtp_username = \"u\"\nsmtp_password_file = \"pw\"\n", "reports.smtp_password_file"},
		{"[reports]\nsmtp_timeout = \"0s\"\n", "reports.smtp_timeout"},
		{"[reports]\ndkim_key = \"/k.pem\"\n", "reports.dkim_selector"},
		{"[reports]\ndkim_key = \"k.pem\"\ndkim_selector = \"s\"\n", "reports.dkim_key"},
		{"[reports]\ndaily_cap = -1\n", "reports.daily_cap"},
		{"[reports]\nretry_min = \"0s\"\n", "reports.retry_min"},
		{"[reports]\nretry_max = \"1m\"\n", "reports.retry_max"},
		{"[reports]\nmax_attempts = 0\n", "reports.max_attempts"},
		{"[reports]\nsuppress_for = \"-1h\"\n", "reports.suppress_for"},
	} {
		wantConfigError(t, c.file, c.key)
	}
}

func TestReportsConfigGood(t *testing.T) {
	for _, c := range []struct {
		file      string
		submitter string
		from      string
		period    time.Duration
	}{
		{reportsOn, "receiver.example", "dmarc@receiver.example", 24 * time.Hour},
		{reportsOn + "submitter = \"mx.receiver.example\"\nfrom = \"noreply@reports.receiver.example\"\nperiod = \"1h\"\n",
			"mx.receiver.example", "noreply@reports.receiver.example", time.Hour},
		{reportsOn + "store = \"postgres://authmilter@127.0.0.1/reports\"\nspool = \"\"\nhost_id = \"mx1\"\nreport_when = \"any\"\nsmtp = \"127.0.0.1:10025\"\n",
			"receiver.example", "dmarc@receiver.example", 24 * time.Hour},
	} {
		cfg, err := loadConfigText(t, c.file)
		if err != nil {
			t.Errorf("%q: %v", c.file, err)
			continue
		}
		r := cfg.Reports
		if r.submitter() != c.submitter || r.from() != c.from || r.Period != c.period {
			t.Errorf("%q: submitter %q from %q period %s", c.file, r.submitter(), r.from(), r.Period)
		}
	}
}
