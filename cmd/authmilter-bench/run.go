package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// RunConfig drives one load run.
type RunConfig struct {
	Targets  []string // the milter chain, in the order Postfix calls it
	Sessions int      // concurrent SMTP sessions
	Messages int      // messages to send (upper bound)
	Duration time.Duration
	PerConn  int // messages per SMTP session
	Warmup   int // messages sent first and not counted (warms DNS caches)
	PIDs     []int
	Label    string
	NoQuick  bool // no TCP quick-ack: measure delayed-ACK stalls too
	// QuarantineHeader names a header field that, added with the value
	// "yes", counts as a quarantine ("" = only the milter's quarantine).
	QuarantineHeader string
}

// Result is the outcome of a run.
type Result struct {
	Label    string
	Sessions int
	Messages int
	Elapsed  time.Duration
	Rate     float64 // messages per second
	EOM      [3]time.Duration
	Total    [3]time.Duration
	Actions  map[string]int
	Expected int // messages whose action is the one the corpus expects
	Errors   int
	FirstErr error
	RSS      RSS
	Bytes    int64
	// CPU is the targets' user+system CPU time during the run (from
	// /proc/PID/stat), summed over the PIDs: steadier than msgs/s when
	// other processes share the cores.
	CPU time.Duration
	// SelfCPU is the generator's own CPU time during the run.
	SelfCPU time.Duration
}

// RSS summarizes the targets' resident memory during a run (KiB, summed
// over the PIDs).
type RSS struct{ Start, Max, End int64 }

// Run drives the corpus through the targets and measures.
func Run(c *Corpus, cfg RunConfig) (*Result, error) {
	if cfg.Sessions < 1 || cfg.PerConn < 1 {
		return nil, fmt.Errorf("bench: sessions and per-conn must be at least 1")
	}
	if cfg.Warmup > 0 {
		w := cfg
		w.Warmup, w.Messages, w.PIDs = 0, cfg.Warmup, nil
		if _, err := Run(c, w); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(cfg.Duration)
	if cfg.Duration <= 0 {
		deadline = time.Now().Add(time.Hour)
	}
	r := &runner{c: c, cfg: cfg, deadline: deadline, outs: make([]workerOut, cfg.Sessions)}
	stopRSS := make(chan struct{})
	rssDone := make(chan RSS)
	go func() { rssDone <- sampleRSS(cfg.PIDs, 100*time.Millisecond, stopRSS) }()

	cpu0, self0 := readCPU(cfg.PIDs), readCPU([]int{os.Getpid()})
	start := time.Now()
	var wg sync.WaitGroup
	for w := range cfg.Sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.worker(w)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopRSS)
	res := &Result{Label: cfg.Label, Sessions: cfg.Sessions, Elapsed: elapsed, Actions: map[string]int{}, RSS: <-rssDone,
		CPU: readCPU(cfg.PIDs) - cpu0, SelfCPU: readCPU([]int{os.Getpid()}) - self0}
	var eom, total []time.Duration
	for _, o := range r.outs {
		eom = append(eom, o.eom...)
		total = append(total, o.total...)
		for k, v := range o.actions {
			res.Actions[k] += v
		}
		res.Expected += o.expected
		res.Errors += o.errs
		res.Bytes += o.bytes
		if res.FirstErr == nil {
			res.FirstErr = o.firstErr
		}
	}
	res.Messages = len(eom) + res.Errors
	res.Rate = float64(len(eom)) / elapsed.Seconds()
	res.EOM = percentiles(eom)
	res.Total = percentiles(total)
	return res, nil
}

// runner is one Run's shared state; each worker owns outs[w].
type runner struct {
	c        *Corpus
	cfg      RunConfig
	deadline time.Time
	next     atomic.Int64
	outs     []workerOut
}

type workerOut struct {
	eom, total []time.Duration
	actions    map[string]int
	expected   int
	errs       int
	firstErr   error
	bytes      int64
}

func (o *workerOut) record(msg *Message, out Outcome) {
	o.actions[out.Action]++
	if out.Err != nil {
		o.errs++
		if o.firstErr == nil {
			o.firstErr = out.Err
		}
		return
	}
	if out.Action == msg.Expect {
		o.expected++
	}
	o.eom = append(o.eom, out.EOM)
	o.total = append(o.total, out.Total)
	o.bytes += int64(msg.Size)
}

// worker is one SMTP client: sessions of PerConn messages, one after the
// other, until the count or the deadline is reached.
func (r *runner) worker(w int) {
	cfg, o := r.cfg, &r.outs[w]
	o.actions = map[string]int{}
	for time.Now().Before(r.deadline) {
		i := int(r.next.Add(int64(cfg.PerConn))) - cfg.PerConn
		if i >= cfg.Messages {
			return
		}
		n := min(cfg.PerConn, cfg.Messages-i)
		first := r.c.Messages[i%len(r.c.Messages)]
		s, refused, err := openSession(cfg.Targets, !cfg.NoQuick, w, first)
		if err != nil || s == nil { // failed, or refused at connect or HELO
			if err != nil {
				refused = Outcome{Action: "error", Err: err}
			}
			for range n {
				o.record(first, refused)
			}
			continue
		}
		s.qHeader = cfg.QuarantineHeader
		for j := range n {
			// One client per session: later messages take its address and
			// HELO (their expected action assumes their own: with
			// -per-conn > 1 the "as expected" count is only indicative).
			msg := r.c.Messages[(i+j)%len(r.c.Messages)]
			if j > 0 && msg.ClientIP != first.ClientIP {
				m := *msg
				m.ClientIP, m.Helo = first.ClientIP, first.Helo
				msg = &m
			}
			out := s.send(msg)
			o.record(msg, out)
			if out.Err != nil {
				break
			}
		}
		s.close()
	}
}

// percentiles returns p50, p95 and p99.
func percentiles(d []time.Duration) [3]time.Duration {
	var p [3]time.Duration
	if len(d) == 0 {
		return p
	}
	slices.Sort(d)
	for i, q := range []float64{.50, .95, .99} {
		p[i] = d[min(len(d)-1, int(q*float64(len(d))))]
	}
	return p
}

// sampleRSS reads VmRSS of the PIDs every period until stop.
func sampleRSS(pids []int, period time.Duration, stop <-chan struct{}) RSS {
	var r RSS
	if len(pids) == 0 {
		<-stop
		return r
	}
	r.Start = readRSS(pids)
	r.Max = r.Start
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-stop:
			r.End = readRSS(pids)
			r.Max = max(r.Max, r.End)
			return r
		case <-t.C:
			r.Max = max(r.Max, readRSS(pids))
		}
	}
}

// readRSS sums VmRSS (KiB) of the PIDs from /proc/PID/status.
func readRSS(pids []int) int64 {
	var sum int64
	for _, pid := range pids {
		f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				sum += n
			}
		}
		f.Close()
	}
	return sum
}

// readCPU sums utime and stime of the PIDs from /proc/PID/stat (clock
// ticks of 10 ms on Linux).
func readCPU(pids []int) time.Duration {
	var sum time.Duration
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command name, which is in parentheses.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		sum += time.Duration(ut+st) * 10 * time.Millisecond
	}
	return sum
}

// Print writes a human report and one machine-readable RESULT line.
func (r *Result) Print(w io.Writer) {
	fmt.Fprintf(w, "%s: %d sessions, %d messages (%.1f MB) in %.2fs: %.0f msgs/s\n",
		r.Label, r.Sessions, r.Messages, float64(r.Bytes)/1e6, r.Elapsed.Seconds(), r.Rate)
	fmt.Fprintf(w, "  EOM latency p50 %s p95 %s p99 %s; whole message p50 %s p95 %s p99 %s\n",
		ms(r.EOM[0]), ms(r.EOM[1]), ms(r.EOM[2]), ms(r.Total[0]), ms(r.Total[1]), ms(r.Total[2]))
	keys := make([]string, 0, len(r.Actions))
	for k := range r.Actions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var acts []string
	for _, k := range keys {
		acts = append(acts, fmt.Sprintf("%s=%d", k, r.Actions[k]))
	}
	cpuPerMsg, selfPerMsg := 0.0, 0.0
	if r.Messages > 0 {
		cpuPerMsg = float64(r.CPU.Microseconds()) / float64(r.Messages)
		selfPerMsg = float64(r.SelfCPU.Microseconds()) / float64(r.Messages)
	}
	fmt.Fprintf(w, "  actions: %s; as the corpus expects: %d/%d; generator CPU %.0f us/msg\n", strings.Join(acts, " "), r.Expected, r.Messages, selfPerMsg)
	if r.RSS.Start > 0 {
		fmt.Fprintf(w, "  target RSS: start %.1f MB, max %.1f MB, end %.1f MB; target CPU %.0f us/msg\n",
			float64(r.RSS.Start)/1024, float64(r.RSS.Max)/1024, float64(r.RSS.End)/1024, cpuPerMsg)
	}
	if r.FirstErr != nil {
		fmt.Fprintf(w, "  errors: %d, first: %v\n", r.Errors, r.FirstErr)
	}
	fmt.Fprintf(w, "RESULT label=%s sessions=%d msgs=%d rate=%.1f eom_p50_ms=%.3f eom_p95_ms=%.3f eom_p99_ms=%.3f rss_start_kb=%d rss_max_kb=%d cpu_us_msg=%.0f gen_cpu_us_msg=%.0f expected=%d errors=%d actions=%s\n",
		r.Label, r.Sessions, r.Messages, r.Rate, msf(r.EOM[0]), msf(r.EOM[1]), msf(r.EOM[2]),
		r.RSS.Start, r.RSS.Max, cpuPerMsg, selfPerMsg, r.Expected, r.Errors, strings.Join(acts, ","))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", msf(d)) }
func msf(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

// scrapeDNS reads the daemon's DNS counters from its metrics endpoint.
func scrapeDNS(url string) (map[string]float64, error) {
	cl := http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "authmilter_dns_") || strings.Contains(line, "latency") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		key := strings.TrimPrefix(name, "authmilter_dns_")
		if strings.HasPrefix(key, "upstream_total") {
			out["upstream_total"] += f
		}
		out[key] = f
	}
	return out, sc.Err()
}
