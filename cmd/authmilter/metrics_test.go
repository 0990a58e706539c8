package main

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/policy"
)

// TestMetricsDryRunAndSkipped: a dry run counts what was done (accept) in
// authmilter_messages_total and what would have been done in its own
// metric; skipped clients are counted by reason.
func TestMetricsDryRunAndSkipped(t *testing.T) {
	res, err := dns.New(dns.Config{Servers: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	m := newMetrics(res)
	dry := &auth.Report{Decision: policy.Decision{Action: policy.Accept, DryRun: true, WouldBe: policy.Reject}}
	m.MessageDone(dry, string(dry.Decision.Action), time.Millisecond)
	m.MessageDone(&auth.Report{Decision: policy.Decision{Action: policy.Accept, DryRun: true}}, "accept", time.Millisecond)
	m.MessageDone(&auth.Report{Decision: policy.Decision{Action: policy.Reject}}, "reject", time.Millisecond)
	m.MessageSkipped("trusted network")
	m.MessageSkipped("trusted network")
	m.MessageSkipped("authenticated client")

	w := httptest.NewRecorder()
	m.handler(false).ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	out := w.Body.String()
	for _, want := range []string{
		`authmilter_messages_total{action="accept"} 2`,
		`authmilter_messages_total{action="reject"} 1`,
		`authmilter_dry_run_messages_total{would_action="reject"} 1`,
		`authmilter_dry_run_messages_total{would_action="accept"} 1`,
		`authmilter_skipped_total{reason="trusted network"} 2`,
		`authmilter_skipped_total{reason="authenticated client"} 1`,
		`authmilter_config_reloads_total{result="refused"} 0`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
