package tlspolicy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"
)

const (
	// MaxRequest bounds a request netstring (Postfix >= 3.12 sends at
	// most 10000 bytes).
	MaxRequest = 10000
	// idleTimeout closes a connection without a request this long;
	// Postfix closes its own after 10 s idle.
	idleTimeout = 2 * time.Minute
	// maxConns bounds the connections served at once.
	maxConns = 200
)

// Serve answers socketmap requests on ln until ln is closed or Close is
// called. Each connection carries requests "NAME KEY" one at a time
// (socketmap_table(5)); NAME, the map name, is not used.
func (s *Service) Serve(ln net.Listener) error {
	sem := make(chan struct{}, maxConns)
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return err
		}
		select {
		case sem <- struct{}{}:
		default:
			s.log.Warn("tls policy: too many connections", "max", maxConns)
			c.Close()
			continue
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		go func() {
			defer func() { <-sem }()
			s.serveConn(c)
		}()
	}
}

// Close closes every open connection; Serve returns once its listener is
// closed too.
func (s *Service) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
}

func (s *Service) serveConn(c net.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReader(c)
	var out []byte
	for {
		c.SetReadDeadline(time.Now().Add(idleTimeout))
		req, err := ReadNetstring(r, MaxRequest)
		if err != nil {
			if err != io.EOF && !errors.Is(err, net.ErrClosed) {
				s.log.Info("tls policy: bad request", "err", err)
			}
			return
		}
		reply := s.Answer(context.Background(), string(req))
		out = AppendNetstring(out[:0], reply)
		c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// Answer is the reply text for one request "NAME KEY", and logs the
// decision.
func (s *Service) Answer(ctx context.Context, req string) string {
	_, key, ok := strings.Cut(req, " ")
	if !ok || key == "" {
		return "PERM request is not \"NAME KEY\""
	}
	start := time.Now()
	d := s.Lookup(ctx, key)
	reply := d.Answer.Format(s.cfg.Vocabulary)
	s.log.Info("tls policy", "key", key, "kind", d.Kind, "answer", reply,
		slog.Int64("ms", time.Since(start).Milliseconds()))
	s.log.Debug("tls policy steps", "key", key, "why", strings.Join(d.Why, "; "))
	return reply
}
