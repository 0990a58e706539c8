package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/policy"
	"github.com/authmilter/authmilter/milter"
)

// metrics implements milter.Observer with Prometheus collectors on a
// registry of its own (no global state).
type metrics struct {
	reg          *prometheus.Registry
	res          atomic.Pointer[dns.Resolver]
	messages     *prometheus.CounterVec
	results      *prometheus.CounterVec
	eom          prometheus.Histogram
	active       prometheus.Gauge
	reloads      *prometheus.CounterVec
	dryRun       *prometheus.CounterVec
	skipped      *prometheus.CounterVec
	acceptErrors prometheus.Counter
	refused      prometheus.Counter
}

func newMetrics(res *dns.Resolver) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authmilter_messages_total", Help: "Messages by final action.",
		}, []string{"action"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authmilter_results_total", Help: "Results by method (spf, dkim, dmarc) and result word.",
		}, []string{"method", "result"}),
		eom: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authmilter_eom_latency_seconds",
			Help:    "Time from end of message (the MTA's end-of-message command) to the decision.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		dryRun: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authmilter_dry_run_messages_total",
			Help: "Messages in policy.dry_run by the action that would have been taken (they were accepted).",
		}, []string{"would_action"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authmilter_skipped_total",
			Help: "Messages not evaluated, accepted at MAIL FROM, by reason (trusted network, authenticated client).",
		}, []string{"reason"}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authmilter_sessions_active", Help: "Open milter connections.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authmilter_config_reloads_total", Help: "Configuration reloads (SIGHUP) by result: applied or refused.",
		}, []string{"result"}),
		acceptErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authmilter_accept_errors_total", Help: "Failed accepts of milter connections (each retried after a pause).",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authmilter_connections_refused_total", Help: "Milter connections closed at once: milter.max_connections were open.",
		}),
	}
	m.res.Store(res)
	for _, r := range []string{"applied", "refused"} {
		m.reloads.WithLabelValues(r) // exported at 0 from the start
	}
	m.reg.MustRegister(m.messages, m.results, m.eom, m.active, m.reloads, m.dryRun, m.skipped, m.acceptErrors, m.refused, dnsCollector{m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

var _ milter.Observer = (*metrics)(nil)

func (m *metrics) SessionOpened() { m.active.Inc() }
func (m *metrics) SessionClosed() { m.active.Dec() }

// reloaded counts a reload; result is "applied" or "refused".
func (m *metrics) reloaded(result string) { m.reloads.WithLabelValues(result).Inc() }

func (m *metrics) AcceptFailed()      { m.acceptErrors.Inc() }
func (m *metrics) ConnectionRefused() { m.refused.Inc() }

func (m *metrics) setResolver(r *dns.Resolver) { m.res.Store(r) }

func (m *metrics) MessageSkipped(reason string) { m.skipped.WithLabelValues(reason).Inc() }

func (m *metrics) MessageDone(r *auth.Report, action string, eom time.Duration) {
	m.messages.WithLabelValues(action).Inc()
	m.eom.Observe(eom.Seconds())
	if d := r.Decision; d.DryRun {
		m.dryRun.WithLabelValues(string(cmp.Or(d.WouldBe, policy.Accept))).Inc()
	}
	if r.Skipped != "" {
		return
	}
	m.results.WithLabelValues("spf", string(r.SPF.Result)).Inc()
	for _, d := range r.DKIM {
		m.results.WithLabelValues("dkim", string(d.Result)).Inc()
	}
	m.results.WithLabelValues("dmarc", string(r.DMARC.Result)).Inc()
}

// handler is the HTTP endpoint's handler: /metrics and /healthz, with
// /debug/pprof/ when withPprof is.
func (m *metrics) handler(withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("ok\n"))
	})
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// endpoint is the HTTP listener of [metrics]; a reload swaps its handler
// (pprof on or off) or replaces it (another address).
type endpoint struct {
	addr    string
	handler atomic.Pointer[http.Handler]
	ln      net.Listener
	hs      *http.Server
}

// listenEndpoint binds addr ("" is no endpoint: nil, nil). It serves once
// start is called, so a reload can bind the new address before it commits.
func listenEndpoint(addr string, h http.Handler) (*endpoint, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen: %w", err)
	}
	e := &endpoint{addr: addr, ln: ln}
	e.handler.Store(&h)
	e.hs = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*e.handler.Load()).ServeHTTP(w, r) }),
		ReadHeaderTimeout: 5 * time.Second,
	}
	return e, nil
}

func (e *endpoint) start(log *slog.Logger) {
	if e == nil {
		return
	}
	go func() {
		if err := e.hs.Serve(e.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint stopped", "err", err)
		}
	}()
}

func (e *endpoint) stop() {
	if e == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	e.hs.Shutdown(ctx)
	e.ln.Close() // when start was never called
}

func (e *endpoint) setHandler(h http.Handler) { e.handler.Store(&h) }

func (e *endpoint) address() string {
	if e == nil {
		return ""
	}
	return e.addr
}

// dnsCollector exports the resolver's Stats at scrape time.
type dnsCollector struct{ m *metrics }

var (
	descHits      = prometheus.NewDesc("authmilter_dns_cache_hits_total", "DNS lookups answered from the cache.", nil, nil)
	descMisses    = prometheus.NewDesc("authmilter_dns_cache_misses_total", "DNS lookups not answered from the cache.", nil, nil)
	descCoalesced = prometheus.NewDesc("authmilter_dns_coalesced_total", "DNS misses that joined an identical lookup in flight.", nil, nil)
	descUpstream  = prometheus.NewDesc("authmilter_dns_upstream_total", "Upstream DNS exchanges by outcome.", []string{"rcode"}, nil)
	descLatency   = prometheus.NewDesc("authmilter_dns_upstream_latency_seconds", "Upstream DNS exchange time.", nil, nil)
	descEntries   = prometheus.NewDesc("authmilter_dns_cache_entries", "DNS answers in the cache.", nil, nil)
	descBytes     = prometheus.NewDesc("authmilter_dns_cache_bytes", "Memory of the DNS answers in the cache, as counted against dns.cache_bytes.", nil, nil)
	descDropped   = prometheus.NewDesc("authmilter_dns_cache_dropped_total", "DNS answers dropped from the cache: \"evicted\" for room, \"expired\" at their TTL, \"too_big\" never kept (over dns.cache_max_answer_bytes).", []string{"reason"}, nil)
)

func (c dnsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descHits
	ch <- descMisses
	ch <- descCoalesced
	ch <- descUpstream
	ch <- descLatency
	ch <- descEntries
	ch <- descBytes
	ch <- descDropped
}

func (c dnsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.res.Load().Stats()
	ch <- prometheus.MustNewConstMetric(descHits, prometheus.CounterValue, float64(s.Hits))
	ch <- prometheus.MustNewConstMetric(descMisses, prometheus.CounterValue, float64(s.Misses))
	ch <- prometheus.MustNewConstMetric(descCoalesced, prometheus.CounterValue, float64(s.Coalesced))
	for rc, n := range s.Rcodes {
		ch <- prometheus.MustNewConstMetric(descUpstream, prometheus.CounterValue, float64(n), rc)
	}
	buckets := make(map[float64]uint64, len(dns.LatencyBounds))
	for i, b := range dns.LatencyBounds {
		buckets[b.Seconds()] = s.LatencyBuckets[i]
	}
	ch <- prometheus.MustNewConstHistogram(descLatency, s.LatencyBuckets[len(dns.LatencyBounds)], s.LatencySum.Seconds(), buckets)
	ch <- prometheus.MustNewConstMetric(descEntries, prometheus.GaugeValue, float64(s.CacheEntries))
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(s.CacheBytes))
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.CacheEvicted), "evicted")
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.CacheExpired), "expired")
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.CacheTooBig), "too_big")
}
