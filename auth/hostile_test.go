package auth_test

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

var updateHostile = flag.Bool("update-hostile", false, "rewrite auth/testdata/hostile/*.want from the current results")

// Hostile cases live in testdata/hostile, one per NN-name:
//
//   - NN-name.eml is the message, byte for byte; or NN-name.gen generates it
//     (big cases are generated rather than committed): each line is a Go
//     quoted string, optionally prefixed by "COUNT*", appended COUNT times
//     (with %d replaced by the repetition's index when it occurs);
//   - NN-name.zone is served by dnstest; its ";; " lines give the envelope
//     (ip, helo (a Go quoted string when it starts with a quote), mail-from), faults (servfail NAME), configuration
//     (limit KEY VALUE) and generated records (txt-strings NAME COUNT TEXT:
//     one TXT record of COUNT strings, the first one HEAD when TEXT is "HEAD|REST"; txt-records NAME COUNT TEXT: COUNT
//     TXT records);
//   - NN-name.want is the expected result and action (-update-hostile
//     rewrites it).
//
// Every case must end in its result within generous bounds of time and
// memory.
const hostileDir = "testdata/hostile"

type hostileCase struct {
	name   string
	msg    []byte
	zone   string
	env    auth.Envelope
	faults []string
	rrs    []mdns.RR
	limits map[string]string
}

func TestHostileCorpus(t *testing.T) {
	specs, err := filepath.Glob(filepath.Join(hostileDir, "*.zone"))
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) < 40 {
		t.Fatalf("only %d hostile cases", len(specs))
	}
	for _, spec := range specs {
		base := strings.TrimSuffix(spec, ".zone")
		t.Run(filepath.Base(base), func(t *testing.T) {
			c := loadHostile(t, base)
			r, allocs, elapsed := runHostile(t, c)
			// Generous bounds: a case may allocate 64 MiB plus 32 times
			// its size, and take 15 s (the evaluation deadline is 5 s).
			if limit := uint64(64<<20 + 32*len(c.msg)); allocs > limit {
				t.Errorf("allocated %d bytes for a %d-byte message (bound %d)", allocs, len(c.msg), limit)
			}
			if elapsed > 15*time.Second {
				t.Errorf("took %s", elapsed)
			}
			got := renderHostile(r)
			if *updateHostile {
				if err := os.WriteFile(base+".want", []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(base + ".want")
			if err != nil {
				t.Fatalf("%v (run with -update-hostile to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s.want differs (run with -update-hostile to accept):\n--- got\n%s--- want\n%s", base, got, want)
			}
		})
	}
}

func loadHostile(t *testing.T, base string) *hostileCase {
	t.Helper()
	c := &hostileCase{name: filepath.Base(base), limits: map[string]string{}}
	if b, err := os.ReadFile(base + ".eml"); err == nil {
		c.msg = b
	} else if b, err := os.ReadFile(base + ".gen"); err == nil {
		c.msg = generate(t, string(b))
	} else {
		t.Fatalf("%s: neither .eml nor .gen", base)
	}
	f, err := os.Open(base + ".zone")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var zone strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		d, ok := strings.CutPrefix(line, ";; ")
		if !ok {
			zone.WriteString(line + "\n")
			continue
		}
		fs := strings.Fields(d)
		switch {
		case fs[0] == "ip" && len(fs) == 2:
			c.env.ClientIP = net.ParseIP(fs[1])
		case fs[0] == "helo":
			c.env.Helo = strings.TrimPrefix(d, "helo ")
			if strings.HasPrefix(c.env.Helo, `"`) {
				h, err := strconv.Unquote(c.env.Helo)
				if err != nil {
					t.Fatalf("%s: helo: %v", base, err)
				}
				c.env.Helo = h
			}
		case fs[0] == "mail-from" && len(fs) == 2:
			c.env.MailFrom = strings.Trim(fs[1], "<>")
		case fs[0] == "servfail" && len(fs) == 2:
			c.faults = append(c.faults, fs[1])
		case fs[0] == "limit" && len(fs) == 3:
			c.limits[fs[1]] = fs[2]
		case (fs[0] == "txt-strings" || fs[0] == "txt-records") && len(fs) >= 4:
			n, err := strconv.Atoi(fs[2])
			if err != nil {
				t.Fatalf("%s: %q: %v", base, line, err)
			}
			text := strings.Join(fs[3:], " ")
			hdr := mdns.RR_Header{Name: mdns.Fqdn(fs[1]), Rrtype: mdns.TypeTXT, Class: mdns.ClassINET, Ttl: 300}
			if fs[0] == "txt-strings" {
				// "HEAD|TEXT": the first string is HEAD, the rest TEXT.
				head, rest, ok := strings.Cut(text, "|")
				if !ok {
					rest = head
				}
				txt := make([]string, n)
				for i := range txt {
					txt[i] = expand(rest, i)
				}
				txt[0] = expand(head, 0)
				c.rrs = append(c.rrs, &mdns.TXT{Hdr: hdr, Txt: txt})
			} else {
				for i := range n {
					c.rrs = append(c.rrs, &mdns.TXT{Hdr: hdr, Txt: []string{expand(text, i)}})
				}
			}
		default:
			t.Fatalf("%s: unknown directive %q", base, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	c.zone = zone.String()
	return c
}

func expand(s string, i int) string {
	if strings.Contains(s, "%d") {
		return strings.ReplaceAll(s, "%d", strconv.Itoa(i))
	}
	return s
}

// generate builds a message from a .gen spec.
func generate(t *testing.T, spec string) []byte {
	t.Helper()
	var b bytes.Buffer
	for line := range strings.SplitSeq(spec, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		n := 1
		if i := strings.Index(line, `*"`); i > 0 {
			var err error
			if n, err = strconv.Atoi(line[:i]); err != nil {
				t.Fatalf("gen: %q: %v", line, err)
			}
			line = line[i+1:]
		}
		s, err := strconv.Unquote(line)
		if err != nil {
			t.Fatalf("gen: %q: %v", line, err)
		}
		if !strings.Contains(s, "%d") {
			b.WriteString(strings.Repeat(s, n))
			continue
		}
		for i := range n {
			b.WriteString(expand(s, i))
		}
	}
	return b.Bytes()
}

// runHostile evaluates a case through auth.EvaluateReader and measures the
// bytes it allocated and its duration.
func runHostile(t *testing.T, c *hostileCase) (*auth.Report, uint64, time.Duration) {
	t.Helper()
	srv, err := dnstest.Start(c.zone)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.AddRR(c.rrs...)
	for _, n := range c.faults {
		srv.ServFail(n)
	}
	res, err := dns.New(dns.Config{Servers: []string{srv.Addr}, Timeout: time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := auth.New(hostileConfig(t, c.limits), res, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := c.env
	env.QueueID = c.name
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := ev.EvaluateReader(ctx, env, bytes.NewReader(c.msg))
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	return r, after.TotalAlloc - before.TotalAlloc, elapsed
}

func hostileConfig(t *testing.T, limits map[string]string) auth.Config {
	t.Helper()
	cfg := auth.DefaultConfig()
	cfg.AuthservID = "mx.hostile.test"
	cfg.Limits.EvaluationTimeout = 5 * time.Second
	cfg.SPF.Timeout = 5 * time.Second
	for k, v := range limits {
		n, err := strconv.Atoi(v)
		if err != nil && k != "evaluation_timeout" {
			t.Fatalf("limit %s: %v", k, err)
		}
		switch k {
		case "max_headers":
			cfg.Limits.MaxHeaders = n
		case "max_header_bytes":
			cfg.Limits.MaxHeaderBytes = n
		case "max_signatures":
			cfg.DKIM.MaxSignatures = n
		case "max_lookups":
			cfg.SPF.MaxLookups = n
		case "max_from_domains":
			cfg.DMARC.MaxFromDomains = n
		case "evaluation_timeout":
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Limits.EvaluationTimeout = d
		default:
			t.Fatalf("unknown limit %s", k)
		}
	}
	return cfg
}

// renderHostile prints the result and action of a case. Reasons that may
// carry addresses or timings are left out; long DKIM lists are counted.
func renderHostile(r *auth.Report) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("spf: %s domain=%s", r.SPF.Result, r.SPF.Domain)
	w("helo: %s", r.HELO.Result)
	if len(r.DKIM) <= 12 {
		for _, d := range r.DKIM {
			w("dkim: %s d=%s", d.Result, d.Domain)
		}
	} else {
		counts := map[dkim.Status]int{}
		var order []dkim.Status
		for _, d := range r.DKIM {
			if counts[d.Result] == 0 {
				order = append(order, d.Result)
			}
			counts[d.Result]++
		}
		for _, k := range order {
			w("dkim: %d× %s", counts[k], k)
		}
	}
	if r.FromError != "" {
		w("from-error: %s", r.FromError)
	}
	w("authors: %s", strings.Join(r.Authors, " "))
	w("dmarc: %s policy=%s domain=%s", r.DMARC.Result, r.DMARC.Policy, r.DMARC.Domain)
	d := r.Decision
	w("action: %s %s %s", d.Action, d.Code, d.Enhanced)
	if len(r.Forged) > 0 {
		w("forged: %v", r.Forged)
	}
	if r.Problem != "" {
		w("problem: %s", r.Problem)
	}
	w("header-bytes: %d", len(r.Header))
	return b.String()
}
