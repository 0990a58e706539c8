package milter

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dns"
)

// loadZone: fast.test is answered at once, slow.test's DMARC record after
// 5 s (a message from it is in flight for 5 s).
const loadZone = `
fast.test.          TXT "v=spf1 ip4:192.0.2.25 -all"
_dmarc.fast.test.   TXT "v=DMARC1; p=reject"
slow.test.          TXT "v=spf1 ip4:192.0.2.25 -all"
_dmarc.slow.test.   TXT "v=DMARC1; p=reject"
helo.test.          TXT "v=spf1 ip4:192.0.2.25 -all"
`

// loadDuration is how long TestLoad holds its sessions:
// AUTHMILTER_LOAD_SECONDS if set; else 60 s (the soak) with
// AUTHMILTER_SOAK=1, as CI sets it, and 3 s otherwise, so that a plain
// go test still opens all 500 sessions and runs ~1,500 messages through
// them.
func loadDuration(t *testing.T) time.Duration {
	v := os.Getenv("AUTHMILTER_LOAD_SECONDS")
	if v == "" {
		if os.Getenv("AUTHMILTER_SOAK") == "1" {
			return 60 * time.Second
		}
		return 3 * time.Second
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("AUTHMILTER_LOAD_SECONDS=%q: want a positive number of seconds", v)
	}
	return time.Duration(n) * time.Second
}

// TestLoad holds 500 concurrent milter sessions for loadDuration, each
// sending small messages one after another; every message must end in
// accept with our Authentication-Results, and nothing may leak.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test: skipped with -short")
	}
	const sessions = 500
	hold := loadDuration(t)
	g0, f0 := countBaseline()
	env := newTestEnv(t, loadZone, envOptions{auth: func(c *auth.Config) { c.Limits.EvaluationTimeout = 20 * time.Second }})
	var (
		wg               sync.WaitGroup
		messages, errors atomic.Int64
		firstErr         sync.Once
		errText          string
	)
	fail := func(format string, a ...any) {
		errors.Add(1)
		firstErr.Do(func() { errText = fmt.Sprintf(format, a...) })
	}
	stop := time.Now().Add(hold)
	msg := simpleMessage("a@fast.test", "load")
	// Open the sessions at a steady pace, as an MTA under load would.
	for i := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := gomilter.NewClientWithOptions("tcp", env.addr, gomilter.ClientOptions{
				ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
				ActionMask: gomilter.OptAddHeader | gomilter.OptChangeHeader | gomilter.OptQuarantine,
			})
			s, err := c.Session()
			if err != nil {
				fail("session %d: %v", i, err)
				return
			}
			defer s.Close()
			if act, err := s.Conn("client.example", gomilter.FamilyInet, 25, sessionIP); err != nil || act.Code != gomilter.ActContinue {
				fail("connect %d: %v %v", i, act, err)
				return
			}
			if act, err := s.Helo("helo.test"); err != nil || act.Code != gomilter.ActContinue {
				fail("helo %d: %v %v", i, act, err)
				return
			}
			for time.Now().Before(stop) {
				mods, act, err := trySendMessage(s, "a@fast.test", msg)
				switch {
				case err != nil:
					fail("session %d: %v", i, err)
					return
				case act.Code != gomilter.ActAccept || insertedAR(mods) == "":
					fail("session %d: action %+v, A-R %q", i, act, insertedAR(mods))
				}
				messages.Add(1)
				time.Sleep(time.Second) // ~500 messages a second in all
			}
		}()
		time.Sleep(hold / 20 / sessions) // open them all in the first 5%
	}
	// All sessions are open at once for most of the run.
	var peak atomic.Int64
	watch := make(chan struct{})
	go func() {
		defer close(watch)
		for time.Now().Before(stop) {
			if n := int64(env.srv.Sessions()); n > peak.Load() {
				peak.Store(n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	wg.Wait()
	<-watch
	if peak.Load() != sessions && hold >= 20*time.Second {
		t.Errorf("at most %d sessions open at once, want %d", peak.Load(), sessions)
	}
	t.Logf("%d sessions (peak %d open) for %s: %d messages, %d errors", sessions, peak.Load(), hold, messages.Load(), errors.Load())
	if errors.Load() > 0 {
		t.Errorf("%d errors; first: %s", errors.Load(), errText)
	}
	env.stop()
	env.dns.Close() // delayed answers end too
	checkNoLeaks(t, g0, f0, 5)
}

// TestShutdownUnderLoad: Shutdown with a deadline while messages are in
// flight. Every message ends with a final reply or a closed connection
// (which the MTA turns into its milter default action, tempfail); none is
// accepted without our evaluation, none is left hanging.
func TestShutdownUnderLoad(t *testing.T) {
	const fast, slow = 100, 20
	g0, f0 := countBaseline()
	env := newTestEnv(t, loadZone, envOptions{
		auth: func(c *auth.Config) { c.Limits.EvaluationTimeout = 20 * time.Second },
		dns:  func(c *dns.Config) { c.Timeout = 10 * time.Second },
	})
	env.dns.Delay("_dmarc.slow.test.", 5*time.Second)
	env.dns.Delay("_dmarc.fast.test.", 200*time.Millisecond)
	var (
		wg                                           sync.WaitGroup
		started, replied, closed, unevaluated, other atomic.Int64
	)
	ready := make(chan struct{}, fast+slow)
	for i := range fast + slow {
		domain := "fast.test"
		if i >= fast {
			domain = "slow.test"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := env.client()
			defer s.Close()
			connect(t, s, sessionIP, "helo.test")
			ready <- struct{}{}
			// Keep sending until the server goes away.
			for {
				started.Add(1)
				mods, act, err := trySendMessage(s, "a@"+domain, simpleMessage("a@"+domain, "shutdown"))
				switch {
				case err != nil:
					if !isClosed(err) {
						other.Add(1)
						t.Errorf("not a closed connection: %v", err)
					}
					closed.Add(1)
					return
				case act.Code == gomilter.ActAccept && insertedAR(mods) == "":
					unevaluated.Add(1)
				case act.Code == gomilter.ActAccept || act.Code == gomilter.ActReplyCode:
					replied.Add(1)
				default:
					other.Add(1)
					t.Errorf("unexpected action %+v", act)
				}
			}
		}()
	}
	for range fast + slow {
		<-ready
	}
	time.Sleep(500 * time.Millisecond) // messages of both kinds in flight
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := env.srv.Shutdown(ctx)
	// The slow messages cannot finish within 2 s: Shutdown says so.
	if err == nil {
		t.Error("Shutdown returned nil with slow messages in flight past its deadline")
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("clients still waiting 30 s after Shutdown: a message was left hanging")
	}
	t.Logf("started %d, final replies %d, closed %d, unevaluated accepts %d, other %d",
		started.Load(), replied.Load(), closed.Load(), unevaluated.Load(), other.Load())
	if unevaluated.Load() != 0 || other.Load() != 0 {
		t.Errorf("%d messages accepted without evaluation, %d other outcomes", unevaluated.Load(), other.Load())
	}
	if started.Load() != replied.Load()+closed.Load() {
		t.Errorf("%d messages started, %d replied + %d closed", started.Load(), replied.Load(), closed.Load())
	}
	if closed.Load() != fast+slow || replied.Load() < fast {
		t.Errorf("want every connection closed in the end (%d) and the fast messages in flight answered (≥ %d)", closed.Load(), fast)
	}
	env.stop()
	env.dns.Close() // delayed answers end too
	checkNoLeaks(t, g0, f0, 5)
}
