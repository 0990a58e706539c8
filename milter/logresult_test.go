package milter

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/policy"
)

// TestLogResultLevel: the per-message line is written at info, and with
// log.level above info not even its fields are built.
func TestLogResultLevel(t *testing.T) {
	r := &auth.Report{Authors: []string{"example.com"}, Decision: policy.Decision{Action: policy.Accept, Reason: "dmarc pass"}}
	for _, tc := range []struct {
		level slog.Level
		line  bool
	}{{slog.LevelInfo, true}, {slog.LevelWarn, false}} {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tc.level}))
		m := &message{s: &session{log: log}, start: time.Now()}
		m.env.ClientIP = net.ParseIP("198.51.100.7")
		m.env.MailFrom = "a@example.com"
		m.logResult(r)
		if got := strings.Contains(buf.String(), "msg=message"); got != tc.line {
			t.Errorf("level %v: line written %v, want %v: %q", tc.level, got, tc.line, buf.String())
		}
		if !tc.line {
			if n := testing.AllocsPerRun(100, func() { m.logResult(r) }); n != 0 {
				t.Errorf("level %v: %v allocations per message, want 0", tc.level, n)
			}
		}
	}
}
