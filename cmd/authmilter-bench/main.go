// Command authmilter-bench is a milter load generator that speaks the
// protocol as Postfix does, with the corpus and DNS it needs:
//
//	authmilter-bench gen  -dir DIR [-messages N]       write a corpus
//	authmilter-bench dns  -corpus DIR [-dns-delay D] [-forward 127.0.0.77:53]
//	authmilter-bench null -listen 127.0.0.1:PORT        a milter that accepts at once
//	                      [-dkim-dns ADDR]            ... after verifying DKIM only (a floor)
//	authmilter-bench run  -corpus DIR -target ADDR[,ADDR...] [-c 8] [-n N] ...
//	authmilter-bench stream -corpus DIR -target ADDR -mb 50 -pid PID
//	authmilter-bench smtp -corpus DIR -plain HOST:PORT -milter HOST:PORT [-c 1] [-n 200] [-r 3]
//	                      a real MTA's listeners without and with the milter
//
// Everything listens and connects on loopback only; the corpus' client
// addresses (198.51.100.0/24, 203.0.113.0/24) are data, never contacted.
// compare.sh runs authmilter, OpenDKIM→OpenDMARC and the null milter side
// by side with it.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmds := map[string]func([]string, io.Writer, io.Writer) error{
		"gen": cmdGen, "dns": cmdDNS, "null": cmdNull, "run": cmdRun, "stream": cmdStream, "smtp": cmdSMTP,
	}
	if len(args) == 0 || cmds[args[0]] == nil {
		fmt.Fprintln(stderr, "usage: authmilter-bench gen|dns|null|run|stream|smtp [flags]")
		return 2
	}
	if err := cmds[args[0]](args[1:], stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "authmilter-bench:", err)
		return 1
	}
	return 0
}

func cmdGen(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "output `directory`")
	n := fs.Int("messages", 400, "number of distinct messages")
	seed := fs.Uint64("seed", 1, "random seed of the mix and sizes")
	maxSize := fs.Int("max-size", 1<<20, "largest message in `bytes`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("gen: -dir is required")
	}
	if err := Generate(GenConfig{Dir: *dir, Messages: *n, Seed: *seed, MaxSize: *maxSize}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "corpus of %d messages in %s\n", *n, *dir)
	return nil
}

func cmdDNS(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dns", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("corpus", "", "corpus `directory` (its zone.txt is served)")
	delay := fs.Duration("dns-delay", 0, "delay every answer by this `duration` (cold-cache runs)")
	forward := fs.String("forward", "", "also listen on this loopback `host:port` (e.g. 127.0.0.77:53), forwarding to the server")
	addrFile := fs.String("addr-file", "", "write the server's address to this `file`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	zone, err := os.ReadFile(*dir + "/zone.txt")
	if err != nil {
		return err
	}
	d, err := StartDNS(string(zone), *delay, *forward)
	if err != nil {
		return err
	}
	defer d.Close()
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(d.Srv.Addr+"\n"), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "dns %s forward %s delay %s\n", d.Srv.Addr, *forward, *delay)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	fmt.Fprintf(stdout, "dns: %d queries forwarded\n", d.Forwarded.Load())
	return nil
}

func cmdNull(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("null", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8890", "loopback `host:port`")
	replyAll := fs.Bool("reply-all", false, "reply to every command (no NR flags)")
	quick := fs.Bool("quickack", false, "set TCP quick-ack after each read, as authmilter does on Linux (an MTA without TCP_NODELAY then never waits on our delayed ACK)")
	dkimDNS := fs.String("dkim-dns", "", "verify each message's DKIM signatures with auth/dkim, keys from this loopback DNS `host:port` (cached): the floor of DKIM's cost")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := loopbackOnly(*listen); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	n := &NullMilter{QuickAck: *quick}
	var floor *dkimFloor
	if *dkimDNS != "" {
		if err := loopbackOnly(*dkimDNS); err != nil {
			return err
		}
		floor = newDKIMFloor(*dkimDNS)
		n.Verify = floor.Verify
	}
	if *replyAll {
		n.Protocol = pNoUnknown | pNoData | pHdrLeadSpc
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; n.Close() }()
	fmt.Fprintf(stdout, "null milter on %s\n", ln.Addr())
	err = n.Serve(ln)
	if floor != nil {
		fmt.Fprintf(stdout, "dkim floor: %d signatures, %d verified\n", floor.Sigs.Load(), floor.Valid.Load())
	}
	return err
}

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("corpus", "", "corpus `directory`")
	target := fs.String("target", "", "milter `addresses`, comma-separated: a chain driven in series (inet host:port or unix:/path)")
	c := fs.Int("c", 8, "concurrent SMTP sessions")
	n := fs.Int("n", 4000, "messages to send")
	dur := fs.Duration("duration", 60*time.Second, "stop after this long even if -n is not reached")
	perConn := fs.Int("per-conn", 1, "messages per SMTP session")
	warmup := fs.Int("warmup", 0, "messages sent first, not counted (warms caches)")
	pids := fs.String("pid", "", "target `PIDs`, comma-separated, for RSS")
	label := fs.String("label", "run", "label of the RESULT line")
	metrics := fs.String("metrics", "", "authmilter metrics `URL`: DNS counters before and after")
	noQuick := fs.Bool("no-quickack", false, "do not set TCP quick-ack before reads (delayed-ACK stalls show)")
	qHeader := fs.String("quarantine-header", "", "a header `field` that, added with the value yes, counts as a quarantine (rspamd: X-Spam)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	corpus, err := LoadCorpus(*dir)
	if err != nil {
		return err
	}
	if *target == "" {
		return fmt.Errorf("run: -target is required")
	}
	pl, err := parsePIDs(*pids)
	if err != nil {
		return err
	}
	targets, err := loopbackTargets(*target)
	if err != nil {
		return err
	}
	cfg := RunConfig{Targets: targets, Sessions: *c, Messages: *n, Duration: *dur,
		PerConn: *perConn, Warmup: *warmup, PIDs: pl, Label: *label, NoQuick: *noQuick,
		QuarantineHeader: *qHeader}
	var before map[string]float64
	if *metrics != "" {
		u, err := url.Parse(*metrics)
		if err != nil {
			return fmt.Errorf("run: -metrics: %w", err)
		}
		if err := loopbackOnly(u.Host); err != nil {
			return fmt.Errorf("run: -metrics: %w", err)
		}
		if before, err = scrapeDNS(*metrics); err != nil {
			return err
		}
	}
	res, err := Run(corpus, cfg)
	if err != nil {
		return err
	}
	res.Print(stdout)
	if *metrics != "" {
		after, err := scrapeDNS(*metrics)
		if err != nil {
			return err
		}
		d := func(k string) float64 { return after[k] - before[k] }
		fmt.Fprintf(stdout, "  dns (daemon, this run incl. warmup): upstream %.0f, cache hits %.0f, misses %.0f, coalesced %.0f\n",
			d("upstream_total"), d("cache_hits_total"), d("cache_misses_total"), d("coalesced_total"))
		fmt.Fprintf(stdout, "DNS label=%s upstream=%.0f hits=%.0f misses=%.0f coalesced=%.0f\n",
			*label, d("upstream_total"), d("cache_hits_total"), d("cache_misses_total"), d("coalesced_total"))
	}
	if res.Errors > 0 {
		return fmt.Errorf("run: %d messages failed: %v", res.Errors, res.FirstErr)
	}
	return nil
}

func cmdStream(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("stream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("corpus", "", "corpus `directory` (the first signed message gives the header)")
	target := fs.String("target", "", "milter `addresses`, comma-separated")
	mb := fs.Int("mb", 50, "body size in `MiB`")
	pids := fs.String("pid", "", "target `PIDs`, comma-separated, for RSS")
	if err := fs.Parse(args); err != nil {
		return err
	}
	corpus, err := LoadCorpus(*dir)
	if err != nil {
		return err
	}
	pl, err := parsePIDs(*pids)
	if err != nil {
		return err
	}
	msg := corpus.Messages[0]
	for _, m := range corpus.Messages {
		if m.Kind == "aligned-rsa" {
			msg = m
			break
		}
	}
	targets, err := loopbackTargets(*target)
	if err != nil {
		return err
	}
	r, err := Stream(targets, msg, *mb, pl)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "stream: %d MiB in %.2fs (%.0f MB/s), action %s, target RSS start %.1f MB max %.1f MB end %.1f MB, growth %.1f MB\n",
		*mb, r.Elapsed.Seconds(), float64(r.Bytes)/1e6/r.Elapsed.Seconds(), r.Action,
		float64(r.RSS.Start)/1024, float64(r.RSS.Max)/1024, float64(r.RSS.End)/1024, float64(r.RSS.Max-r.RSS.Start)/1024)
	fmt.Fprintf(stdout, "STREAM mb=%d seconds=%.2f rss_start_kb=%d rss_max_kb=%d growth_kb=%d action=%s\n",
		*mb, r.Elapsed.Seconds(), r.RSS.Start, r.RSS.Max, r.RSS.Max-r.RSS.Start, r.Action)
	return nil
}

// loopbackOnly refuses an address that is not a unix socket or a loopback
// host:port: the bench never sends traffic anywhere else.
func loopbackOnly(addr string) error {
	if strings.HasPrefix(addr, "unix:") {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q: only loopback addresses (127.0.0.0/8, ::1) or unix:/path", addr)
	}
	return nil
}

func loopbackTargets(list string) ([]string, error) {
	targets := strings.Split(list, ",")
	for _, t := range targets {
		if err := loopbackOnly(t); err != nil {
			return nil, err
		}
	}
	return targets, nil
}

func parsePIDs(s string) ([]int, error) {
	var out []int
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		p, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("-pid %q: %w", s, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func cmdSMTP(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("smtp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("corpus", "", "corpus `directory`")
	plain := fs.String("plain", "", "the MTA's listener without the milter (`host:port`)")
	withMilter := fs.String("milter", "", "the MTA's listener with the milter (`host:port`)")
	c := fs.Int("c", 1, "concurrent SMTP sessions")
	n := fs.Int("n", 200, "messages per listener and round")
	rounds := fs.Int("r", 3, "rounds (plain, then milter, each round)")
	xclient := fs.Bool("xclient", true, "present the corpus' client address and HELO with XCLIENT (Postfix)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	corpus, err := LoadCorpus(*dir)
	if err != nil {
		return err
	}
	for _, a := range []string{*plain, *withMilter} {
		if err := loopbackOnly(a); err != nil {
			return fmt.Errorf("smtp: %w", err)
		}
	}
	cfg := SMTPConfig{Plain: *plain, Milter: *withMilter, Sessions: *c, Messages: *n, Rounds: *rounds, XClient: *xclient}
	p, m, err := SMTPBench(corpus, cfg)
	if err != nil {
		return err
	}
	PrintSMTP(stdout, *c, p, m)
	for i := range p {
		if p[i].Errors > 0 || m[i].Errors > 0 {
			return fmt.Errorf("smtp: messages failed (see the first errors above)")
		}
	}
	return nil
}
