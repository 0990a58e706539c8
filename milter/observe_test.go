package milter

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/policy"
)

// recorder is an Observer that keeps what it was told.
type recorder struct {
	mu      sync.Mutex
	done    []observed
	skipped []string
}

type observed struct {
	r      *auth.Report
	action string
	eom    time.Duration
}

func (o *recorder) SessionOpened()     {}
func (o *recorder) SessionClosed()     {}
func (o *recorder) AcceptFailed()      {}
func (o *recorder) ConnectionRefused() {}
func (o *recorder) MessageDone(r *auth.Report, action string, eom time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.done = append(o.done, observed{r, action, eom})
}
func (o *recorder) MessageSkipped(reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.skipped = append(o.skipped, reason)
}

// TestEOMLatencyFromEndOfMessage: the end-of-message latency does not
// include the time the MTA spent sending the message after MAIL FROM.
func TestEOMLatencyFromEndOfMessage(t *testing.T) {
	obs := &recorder{}
	env := newTestEnv(t, sessionZone, envOptions{obs: obs})
	s := env.client()
	defer s.Close()
	connect(t, s, sessionIP, "helo.test")
	if act, err := s.Mail("b@other.test", nil); err != nil || act.Code != gomilter.ActContinue {
		t.Fatalf("mail: %v %v", act, err)
	}
	const pause = 500 * time.Millisecond
	time.Sleep(pause) // a slow client between MAIL FROM and end of message
	for _, f := range []func() (*gomilter.Action, error){
		func() (*gomilter.Action, error) { return s.HeaderField("From", " <b@other.test>") },
		func() (*gomilter.Action, error) { return s.HeaderEnd() },
		func() (*gomilter.Action, error) { return s.BodyChunk([]byte("Hello.\r\n")) },
	} {
		if _, err := f(); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.End(); err != nil {
		t.Fatal(err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.done) != 1 {
		t.Fatalf("%d messages observed", len(obs.done))
	}
	o := obs.done[0]
	if o.r.Elapsed < pause || o.eom > o.r.Elapsed-pause/2 {
		t.Errorf("eom latency %s, message %s: the pause of %s after MAIL FROM is counted", o.eom, o.r.Elapsed, pause)
	}
}

// TestSkippedCounted: a trusted client's message is reported as skipped,
// with its reason, and logged at debug.
func TestSkippedCounted(t *testing.T) {
	obs := &recorder{}
	env := newTestEnv(t, sessionZone, envOptions{obs: obs})
	s := env.client()
	defer s.Close()
	connect(t, s, "127.0.0.1", "localhost")
	if act, err := s.Mail("a@other.test", nil); err != nil || act.Code != gomilter.ActAccept {
		t.Fatalf("mail from a trusted client: %v %v", act, err)
	}
	obs.mu.Lock() // MAIL FROM was answered after the log line and the observer
	defer obs.mu.Unlock()
	if len(obs.skipped) != 1 || obs.skipped[0] != "trusted network" || len(obs.done) != 0 {
		t.Errorf("skipped %q, done %d", obs.skipped, len(obs.done))
	}
	if l := env.logs.String(); !strings.Contains(l, "level=DEBUG msg=\"message not evaluated\" reason=\"trusted network\"") ||
		!strings.Contains(l, "client=127.0.0.1") {
		t.Errorf("no debug line for the skipped message:\n%s", l)
	}
}

// TestLogLineJSONUniqueKeys: several DKIM results are one "dkim" key (an
// array in JSON, comma-separated in text), and a dry run logs what was done
// and what would have been done as separate fields.
func TestLogLineJSONUniqueKeys(t *testing.T) {
	r := &auth.Report{
		Authors: []string{"example.com"},
		DKIM:    []dkim.Result{{Result: "pass", Domain: "a.example"}, {Result: "fail", Domain: "b.example"}},
		Decision: policy.Decision{Action: policy.Accept, Reason: "dry run, would reject: dmarc fail",
			DryRun: true, WouldBe: policy.Reject},
	}
	var buf bytes.Buffer
	m := &message{s: &session{log: slog.New(slog.NewJSONHandler(&buf, nil))}, start: time.Now()}
	m.logResult(r)
	keys, err := objectKeys(buf.Bytes())
	if err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			t.Errorf("key %q repeats: %s", k, buf.String())
		}
		seen[k] = true
	}
	var line struct {
		DKIM         []string `json:"dkim"`
		Action       string   `json:"action"`
		DryRunAction string   `json:"dry_run_action"`
	}
	json.Unmarshal(buf.Bytes(), &line)
	if strings.Join(line.DKIM, " ") != "pass:a.example fail:b.example" || line.Action != "accept" || line.DryRunAction != "reject" {
		t.Errorf("line %+v: %s", line, buf.String())
	}

	buf.Reset()
	m.s.log = slog.New(slog.NewTextHandler(&buf, nil))
	m.logResult(r)
	if l := buf.String(); !strings.Contains(l, " dkim=pass:a.example,fail:b.example ") || !strings.Contains(l, " action=accept ") ||
		!strings.Contains(l, " dry_run_action=reject") {
		t.Errorf("text line: %s", l)
	}
}

// objectKeys returns the keys of a JSON object, in order, repeats kept
// (encoding/json keeps only the last of repeated keys).
func objectKeys(b []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, k.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
	}
	_, err := dec.Token()
	if err == io.EOF {
		err = nil
	}
	return keys, err
}
