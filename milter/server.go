package milter

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	gomilter "github.com/emersion/go-milter"

	"github.com/authmilter/authmilter/auth"
)

// Config is the milter part of the configuration ([milter] in TOML).
type Config struct {
	// IdleTimeout closes a milter connection on which the MTA sends nothing
	// for this long (Postfix keeps one per SMTP session).
	IdleTimeout time.Duration `toml:"idle_timeout"`
	// WriteTimeout bounds each write to the MTA.
	WriteTimeout time.Duration `toml:"write_timeout"`
	// MaxConnections caps the milter connections open at once: past it a
	// new connection is closed at once, and the MTA applies its milter
	// default action to that SMTP session.
	MaxConnections int `toml:"max_connections"`
	// MaxPacketBytes refuses a milter packet (command byte and payload)
	// longer than this: the connection is closed. MTAs send body chunks
	// of at most 65535 bytes and one header field per packet.
	MaxPacketBytes int `toml:"max_packet_bytes"`
}

// DefaultConfig returns the defaults used when no file sets a key.
func DefaultConfig() Config {
	return Config{IdleTimeout: 10 * time.Minute, WriteTimeout: 30 * time.Second,
		MaxConnections: 1000, MaxPacketBytes: 1 << 20}
}

// minPacketBytes is the smallest max_packet_bytes: a full body chunk
// (65535 bytes, the most Postfix and Sendmail send) and its command byte.
const minPacketBytes = 1 << 16

// Validate checks the values; errors name the key.
func (c Config) Validate() error {
	switch {
	case c.IdleTimeout <= 0:
		return fmt.Errorf("milter.idle_timeout: must be positive, got %s", c.IdleTimeout)
	case c.WriteTimeout <= 0:
		return fmt.Errorf("milter.write_timeout: must be positive, got %s", c.WriteTimeout)
	case c.MaxConnections < 1:
		return fmt.Errorf("milter.max_connections: must be at least 1, got %d", c.MaxConnections)
	case c.MaxPacketBytes < minPacketBytes || c.MaxPacketBytes > 1<<30:
		return fmt.Errorf("milter.max_packet_bytes: must be between %d and %d, got %d", minPacketBytes, 1<<30, c.MaxPacketBytes)
	}
	return nil
}

// Observer receives events for metrics. All methods must be cheap and safe
// for concurrent use.
type Observer interface {
	SessionOpened()
	SessionClosed()
	// AcceptFailed counts a failed accept (retried after a pause).
	AcceptFailed()
	// ConnectionRefused counts a connection closed at once because
	// milter.max_connections were open.
	ConnectionRefused()
	// MessageDone is called at end of message; eom is the time from end
	// of message to the decision.
	MessageDone(r *auth.Report, action string, eom time.Duration)
	// MessageSkipped is called at MAIL FROM for a message that is not
	// evaluated (auth.Message.Skipped gives the reason).
	MessageSkipped(reason string)
}

// Server is the milter daemon's protocol side.
type Server struct {
	cfg   atomic.Pointer[Config]          // read at each accept; SetConfig swaps it
	proto atomic.Pointer[gomilter.Server] // serves connections accepted from now on, per cfg
	log   *slog.Logger
	eval  atomic.Pointer[auth.Evaluator]
	obs   Observer

	run   func(f func()) // runs each connection's session
	gmLog *log.Logger    // go-milter's error messages

	mu        sync.Mutex
	conns     map[*trackedConn]struct{}
	listeners []net.Listener
	closing   bool
	closed    chan struct{} // closed by Shutdown: ends an accept pause, and Serve
}

// NewServer returns a server evaluating with e. run runs each connection's
// session (the daemon passes Workers.Go, as it does to auth.NewWithGo);
// nil is a new goroutine for each. obs may be nil.
func NewServer(cfg Config, e *auth.Evaluator, run func(f func()), log *slog.Logger, obs Observer) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if run == nil {
		run = func(f func()) { go f() }
	}
	s := &Server{log: log, obs: obs, conns: map[*trackedConn]struct{}{},
		closed: make(chan struct{}), run: run,
		gmLog: slog.NewLogLogger(log.With("component", "go-milter").Handler(), slog.LevelWarn)}
	s.cfg.Store(&cfg)
	s.proto.Store(s.protocol(cfg))
	s.eval.Store(e)
	return s, nil
}

// SetEvaluator swaps the evaluator (configuration reload). Messages already
// started keep the one they began with.
func (s *Server) SetEvaluator(e *auth.Evaluator) { s.eval.Store(e) }

// SetConfig applies a new configuration (reload) to connections accepted
// from now on; open connections keep the timeouts and packet limit they
// started with.
func (s *Server) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	s.cfg.Store(&cfg)
	s.proto.Store(s.protocol(cfg))
	return nil
}

// Sessions returns the number of open milter connections.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Serve accepts milter connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	defer ln.Close()
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return gomilter.ErrServerClosed
	}
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	l := &listener{Listener: ln, srv: s}
	for {
		c, err := l.Accept()
		if err != nil {
			select {
			case <-s.closed:
				return nil
			default:
				return err
			}
		}
		proto := s.proto.Load()
		s.run(func() { s.serveConn(proto, c) })
	}
}

// serveConn runs one connection's session. When it ends (QUIT, the MTA
// gone, a timeout, shutdown), a message in flight is released: a message
// whose MTA went away must not keep its DNS lookups and its DKIM verifier
// goroutine alive.
func (s *Server) serveConn(proto *gomilter.Server, c *trackedConn) {
	ss := newSession(s, c)
	proto.ServeConn(c, ss)
	ss.endMessage()
	s.untrack(c)
}

// protocol is the go-milter server for the connections accepted under cfg.
// It has no NewMilter: go-milter calls it only after a response whose
// Continue() is false, and ours all continue (respond.go).
func (s *Server) protocol(cfg Config) *gomilter.Server {
	return &gomilter.Server{
		Actions: gomilter.OptAddHeader | gomilter.OptChangeHeader | gomilter.OptQuarantine | gomilter.OptSetSymList,
		// No reply to connect, HELO, RCPT, headers, end of header and body
		// chunks (noReplySteps): a message costs the MTA two round trips
		// (MAIL, end of message).
		Protocol: gomilter.OptHeaderLeadingSpace | gomilter.OptNoUnknown | gomilter.OptNoData | noReplyOptions(),
		// The macros we read (conn.go macros), at the stages the MTAs send
		// them: the MTA's host name and listener name, the SASL login, the
		// queue id (Postfix sends "i" only after the first RCPT).
		SymList: map[gomilter.Stage][]string{
			gomilter.StageConnect:  {"j", "{daemon_name}"},
			gomilter.StageHelo:     tlsMacros,
			gomilter.StageMailFrom: append([]string{"i", "{auth_authen}"}, tlsMacros...),
			gomilter.StageEOH:      {"i"},
			gomilter.StageEOM:      {"i"},
		},
		// A packet must start within idle_timeout and arrive whole within
		// idle_timeout of its start: a peer trickling bytes is cut off.
		ReadTimeout:  cfg.IdleTimeout,
		WriteTimeout: cfg.WriteTimeout,
		// Each packet's buffer grows with the bytes received, up to
		// max_packet_bytes; header fields are kept by auth.Message, within
		// limits.*, not a second time by go-milter.
		MaxPacketSize: uint32(cfg.MaxPacketBytes),
		NoHeaderMap:   true,
		ErrorLog:      s.gmLog,
	}
}

// Why track refuses a connection.
type refusal int

const (
	admitted refusal = iota
	refusedClosing
	refusedFull // max_connections open
)

func (s *Server) track(c *trackedConn) refusal {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return refusedClosing
	}
	if len(s.conns) >= s.cfg.Load().MaxConnections {
		if s.obs != nil {
			s.obs.ConnectionRefused()
		}
		return refusedFull
	}
	s.conns[c] = struct{}{}
	if s.obs != nil {
		s.obs.SessionOpened()
	}
	return admitted
}

func (s *Server) untrack(c *trackedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[c]; ok {
		delete(s.conns, c)
		if s.obs != nil {
			s.obs.SessionClosed()
		}
	}
}

// Shutdown stops accepting connections, closes the idle ones, and waits for
// messages in flight to get their final reply; when ctx ends first, the
// rest are closed, and the MTA applies its milter default action (tempfail
// in our samples) to them: no message is accepted unevaluated.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		close(s.closed)
	}
	s.closing = true
	for _, ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		idle, busy := s.split()
		for _, c := range idle {
			c.Close() // its session's read fails, and the session ends
		}
		if len(busy) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			for _, c := range busy {
				c.Close()
			}
			s.log.Warn("shutdown: closed milter connections with a message in flight; the MTA applies its milter default action", "count", len(busy))
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// split returns the open connections without and with a message in flight.
func (s *Server) split() (idle, busy []*trackedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.busy.Load() {
			busy = append(busy, c)
		} else {
			idle = append(idle, c)
		}
	}
	return idle, busy
}
