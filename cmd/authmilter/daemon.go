package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/milter"
)

// version is set at build time with -ldflags "-X main.version=..."; without
// it, the module version from the build information is shown.
var version = "dev"

// usageText lists the commands; "authmilter -h" and "authmilter check"
// print it.
const usageText = `usage:
  authmilter [flags]                   run the daemon (flags below)
  authmilter check spf [flags]         evaluate SPF for a client, HELO and MAIL FROM
  authmilter check dkim [flags] [FILE] verify the DKIM signatures of a message
  authmilter check message [flags] [FILE]
                                       evaluate a message as the daemon would
  authmilter check arc [flags] [FILE]  verify the ARC chain of a message
  authmilter check COMMAND -h          the flags of a check command
  authmilter reports status|list|show|send|resend|bounce
                                       DMARC aggregate reports ([reports])
  authmilter tls-policy lookup [flags] DOMAIN
                                       the outbound TLS-policy answer for DOMAIN, and why
  authmilter dkim keygen -domain D -selector S [-algorithm rsa|ed25519] [-bits 2048] -out DIR
                                       make a DKIM signing key, print its DNS TXT record
  authmilter dkim check-keys [-config F] [-dns HOST:PORT] [-json]
                                       compare every [[dkim.sign]] key with DNS
`

// versionText is the -version output: the version, then the module, the
// VCS revision and the Go version from the binary's build information.
func versionText(version string, bi *debug.BuildInfo) string {
	if bi == nil {
		return fmt.Sprintf("authmilter %s\n(no build information)\n", version)
	}
	if version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version = bi.Main.Version
	}
	rev, modified, at := "unknown", "", ""
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = " (modified)"
			}
		case "vcs.time":
			at = " " + s.Value
		}
	}
	return fmt.Sprintf("authmilter %s\nmodule:   %s %s\nrevision: %s%s%s\ngo:       %s\n",
		version, bi.Main.Path, bi.Main.Version, rev, at, modified, bi.GoVersion)
}

// daemonFlags are the command-line flags of the daemon.
type daemonFlags struct {
	config, listen, dns  string
	checkConfig, version bool
}

func parseDaemonFlags(args []string, stderr io.Writer) (daemonFlags, error) {
	var f daemonFlags
	fs := flag.NewFlagSet("authmilter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.config, "config", "", "configuration `file` (TOML); without it the defaults apply")
	fs.StringVar(&f.listen, "listen", "", "listen `address`: inet:host:port, inet6:[addr]:port or unix:/path (overrides the file)")
	fs.StringVar(&f.dns, "dns", "", "DNS `servers`, comma-separated host:port (overrides the file)")
	fs.BoolVar(&f.checkConfig, "check-config", false, "check the configuration and exit")
	fs.BoolVar(&f.version, "version", false, "print the version, module and VCS revision, and exit")
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fmt.Fprintln(stderr, "\ndaemon flags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return f, nil
}

// configure loads the file and applies the flags over it.
func configure(f daemonFlags) (Config, error) {
	cfg, err := loadConfig(f.config)
	if err != nil {
		return cfg, err
	}
	if f.listen != "" {
		cfg.Listen = f.listen
	}
	if f.dns != "" {
		cfg.DNS.Servers = strings.Split(f.dns, ",")
	}
	return cfg, cfg.validate()
}

func runDaemon(args []string, stdout, stderr io.Writer) int {
	f, err := parseDaemonFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "authmilter:", err)
		return 2
	}
	if f.version {
		bi, _ := debug.ReadBuildInfo()
		fmt.Fprint(stdout, versionText(version, bi))
		return 0
	}
	cfg, err := configure(f)
	if err != nil {
		fmt.Fprintln(stderr, "authmilter: configuration:", err)
		return 1
	}
	if f.checkConfig {
		fmt.Fprintln(stdout, "configuration ok")
		return 0
	}
	// A closed stdout or stderr (authmilter 2>&1 | head -1) must not stop
	// the daemon: Go dies of SIGPIPE on a write to fd 1 or 2 unless the
	// signal is ignored; the write then fails (EPIPE) and the line is
	// dropped. The log is written by its own goroutine (logWriter).
	signal.Ignore(syscall.SIGPIPE)
	lw := newLogWriter(stderr)
	defer lw.Flush(2 * time.Second)
	out := newLogOutput(cfg.Log, lw)
	log := out.logger()
	gc := setGCPercent(os.Getenv)
	// go-milter reports dropped connections and protocol errors through the
	// standard log package: route it into the same structured log.
	slog.SetDefault(log.With("component", "go-milter"))
	log.Debug("garbage collector", "gogc", gc)
	if err := serve(cfg, f, out); err != nil {
		log.Error("authmilter stopped", "err", err)
		return 1
	}
	return 0
}

// defaultGCPercent is the daemon's garbage-collection target (GOGC) unless
// its environment sets GOGC. Go's default, 100, keeps the heap at its 4 MB
// minimum under load and collects every ~50 messages; 200 costs a few MB of
// RSS for less CPU per message (cmd/authmilter-bench/README.md has the
// figures).
const defaultGCPercent = 200

// setGCPercent applies defaultGCPercent when GOGC is not set (an
// administrator's GOGC, off included, is left to the runtime) and returns
// the setting in force.
func setGCPercent(getenv func(string) string) string {
	if v := getenv("GOGC"); v != "" {
		return v
	}
	debug.SetGCPercent(defaultGCPercent)
	return fmt.Sprint(defaultGCPercent)
}

// build makes the evaluator for a configuration, and the resolver unless
// one is given (a reload keeps the resolver, and its cache, when [dns] did
// not change). run runs its messages' background work (the daemon's
// milter.Workers), nil a new goroutine for each; log may be nil (the check
// commands).
func build(cfg Config, log *slog.Logger, res *dns.Resolver, run func(f func())) (*dns.Resolver, *auth.Evaluator, error) {
	if cfg.AuthservID == "" && !auth.Qualified(cfg.HostName) && log != nil {
		log.Warn("authserv_id is unset and this host's name is not fully qualified: mail from an MTA that does not send its own name (the j macro) gets the short name as authserv-id; set authserv_id",
			"host_name", cfg.HostName)
	}
	if res == nil {
		rc := cfg.DNS
		rc.Logger = log
		var err error
		if res, err = dns.New(rc); err != nil {
			return nil, nil, fmt.Errorf("dns: %w", err)
		}
	}
	cfg.Config.KeepHeaderBytes = cfg.Reports.keepHeaderBytes()
	ev, err := auth.NewWithGo(cfg.Config, res, log, run)
	if err != nil {
		return nil, nil, err
	}
	if log != nil {
		if err := checkSignKeys(ev, log); err != nil { // dkim_checkkeys.go
			return nil, nil, err
		}
	}
	return res, ev, nil
}

// hostFQDN is this host's fully qualified name, the default authserv-id
// when the MTA does not name itself: os.Hostname, then its canonical name
// (/etc/hosts or DNS, as the C library's resolver configuration says),
// like hostname -f. It stays the short name when neither qualifies it.
func hostFQDN() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	if auth.Qualified(h) {
		return strings.TrimSuffix(h, ".")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if cn, err := net.DefaultResolver.LookupCNAME(ctx, h); err == nil && auth.Qualified(cn) {
		return strings.TrimSuffix(cn, ".")
	}
	if addrs, err := net.DefaultResolver.LookupHost(ctx, h); err == nil {
		for _, a := range addrs {
			names, err := net.DefaultResolver.LookupAddr(ctx, a)
			if err == nil && len(names) > 0 && auth.Qualified(names[0]) {
				return strings.TrimSuffix(names[0], ".")
			}
		}
	}
	return h
}

// authservIDAttr describes the authserv-id in force for the log.
func authservIDAttr(c auth.Config) slog.Attr {
	if c.AuthservID != "" {
		return slog.String("authserv_id", c.AuthservID)
	}
	return slog.String("authserv_id", "the MTA's name (j macro), else "+c.HostName)
}

// instance is the running daemon: what a reload changes.
type instance struct {
	f       daemonFlags
	cfg     Config // in force
	out     *logOutput
	log     *slog.Logger
	res     *dns.Resolver
	srv     *milter.Server
	workers *milter.Workers // the sessions' and their messages' goroutines
	obs     *metrics
	web     *endpoint // nil when metrics.listen is ""
	rep     *reporter // nil when reports are off
}

// serve runs the daemon until SIGTERM or SIGINT; SIGHUP reloads.
func serve(cfg Config, f daemonFlags, out *logOutput) error {
	log := out.logger()
	workers := milter.NewWorkers()
	defer workers.Stop()
	res, ev, err := build(cfg, log, nil, workers.Go)
	if err != nil {
		return err
	}
	obs := newMetrics(res)
	rep, err := newReporter(cfg.Reports, log)
	if err != nil {
		return err
	}
	var mobs milter.Observer = obs
	if rep != nil {
		if err := rep.startFailure(cfg, res, log, obs.reg); err != nil {
			rep.close(cfg.ShutdownTimeout)
			return err
		}
		obs.reg.MustRegister(reportCollector{rep})
		mobs = reportingObserver{obs, rep}
		// Runs after the milter stopped (deferred first, so last): the
		// final flush, bounded by shutdown_timeout.
		defer rep.stop(log, cfg.ShutdownTimeout)
	}
	sched, err := startReportScheduler(cfg.Reports, rep, res, log, obs.reg)
	if err != nil {
		return err
	}
	defer sched.stop() // before rep.stop: the store stays open while it sends
	srv, err := milter.NewServer(cfg.Milter, ev, workers.Go, log, mobs)
	if err != nil {
		return err
	}
	ln, err := listen(cfg.Listen, cfg.SocketMode, cfg.SocketGroup)
	if err != nil {
		return err
	}
	web, err := listenEndpoint(cfg.Metrics.Listen, obs.handler(cfg.Metrics.Pprof))
	if err != nil {
		ln.Close()
		return err
	}
	web.start(log)
	tp, err := startTLSPolicy(cfg.TLSPolicy, res, log, obs.reg)
	if err != nil {
		ln.Close()
		web.stop()
		return err
	}
	defer tp.stop()
	in := &instance{f: f, cfg: cfg, out: out, log: log, res: res, srv: srv, workers: workers, obs: obs, web: web, rep: rep}
	defer func() { in.web.stop() }()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("authmilter started", "version", version, "listen", cfg.Listen, authservIDAttr(ev.Config()), "dns", strings.Join(res.Servers(), ","))

	for {
		select {
		case err := <-served:
			return err
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				in.reload()
				continue
			}
			log.Info("shutting down", "signal", sig.String(), "timeout", in.cfg.ShutdownTimeout)
			ctx, cancel := context.WithTimeout(context.Background(), in.cfg.ShutdownTimeout)
			err := srv.Shutdown(ctx)
			cancel()
			if err != nil {
				log.Warn("shutdown timed out", "err", err)
			}
			log.Info("authmilter stopped")
			return nil
		}
	}
}

// parseListen splits "inet:127.0.0.1:8893", "inet6:[::1]:8893" or
// "unix:/path" into a network and an address.
func parseListen(s string) (network, addr string, err error) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok || rest == "" {
		return "", "", fmt.Errorf("%q: want inet:host:port, inet6:[addr]:port or unix:/path", s)
	}
	switch kind {
	case "unix", "local":
		if !strings.HasPrefix(rest, "/") {
			return "", "", fmt.Errorf("%q: unix socket path must be absolute", s)
		}
		return "unix", rest, nil
	case "inet", "inet6":
		if _, _, err := net.SplitHostPort(rest); err != nil {
			// Sendmail's form port@host.
			if p, h, ok := strings.Cut(rest, "@"); ok {
				rest = net.JoinHostPort(h, p)
			} else {
				return "", "", fmt.Errorf("%q: %v", s, err)
			}
		}
		if kind == "inet6" {
			return "tcp6", rest, nil
		}
		return "tcp", rest, nil
	}
	return "", "", fmt.Errorf("%q: unknown socket type %q", s, kind)
}

// listen opens the milter socket. A unix socket gets mode and, when set,
// group. A socket file left by an earlier run is replaced, but one that a
// running instance still serves is an error: removing it would steal the
// path from that instance, whose exit would then remove ours.
func listen(spec, mode, group string) (net.Listener, error) {
	network, addr, err := parseListen(spec)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		if err := removeStaleSocket(addr); err != nil {
			return nil, err
		}
	}
	// No TCP keepalive on the MTA's connections: Go would set four socket
	// options per accepted connection for it, and a vanished MTA is noticed
	// by milter.idle_timeout. (TCP_NODELAY is Go's default.)
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), network, addr)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		if err := socketAccess(addr, mode, group); err != nil {
			ln.Close()
			return nil, err
		}
	}
	return ln, nil
}

// removeStaleSocket removes a socket file at path that nothing serves.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return nil // nothing there, or not a socket: Listen reports it
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("unix:%s: another process (a running authmilter?) accepts connections on this socket", path)
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
		os.Remove(path) // a stale socket from a previous run
		return nil
	}
	return fmt.Errorf("unix:%s: cannot tell whether the socket is in use: %w", path, err)
}

// socketAccess gives a unix socket its mode and group.
func socketAccess(path, mode, group string) error {
	if group != "" {
		gid, err := lookupGroup(group)
		if err != nil {
			return fmt.Errorf("socket_group: %w", err)
		}
		if err := os.Chown(path, -1, gid); err != nil {
			return fmt.Errorf("socket_group: %w", err)
		}
	}
	m, _ := parseMode(mode)
	return os.Chmod(path, m)
}

// parseLevel reads log.level: one of debug, info, warn, error.
func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is not one of debug, info, warn, error", s)
}
