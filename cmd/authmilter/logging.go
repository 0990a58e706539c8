package main

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
)

// logOutput is the daemon's log destination, whose level and format a
// configuration reload changes for every logger derived from it.
type logOutput struct {
	w     io.Writer
	level slog.LevelVar
	base  atomic.Pointer[slog.Handler] // text or JSON on w, at level
}

func newLogOutput(c LogConfig, w io.Writer) *logOutput {
	o := &logOutput{w: w}
	o.set(c)
	return o
}

// set applies log.level and log.format (c is validated).
func (o *logOutput) set(c LogConfig) {
	level, _ := parseLevel(c.Level)
	o.level.Set(level)
	opts := &slog.HandlerOptions{Level: &o.level}
	var h slog.Handler = slog.NewTextHandler(o.w, opts)
	if c.Format == "json" {
		h = slog.NewJSONHandler(o.w, opts)
	}
	o.base.Store(&h)
}

// logger returns the root logger.
func (o *logOutput) logger() *slog.Logger { return slog.New(&switchHandler{out: o}) }

// switchHandler writes through the logOutput's current handler. A derived
// handler (WithAttrs, WithGroup) replays its steps on a new base handler
// once, when the format changed, and caches the result.
type switchHandler struct {
	out   *logOutput
	steps []func(slog.Handler) slog.Handler
	cache atomic.Pointer[derivedHandler]
}

type derivedHandler struct {
	base *slog.Handler
	h    slog.Handler
}

func (s *switchHandler) current() slog.Handler {
	base := s.out.base.Load()
	if len(s.steps) == 0 {
		return *base
	}
	if d := s.cache.Load(); d != nil && d.base == base {
		return d.h
	}
	h := *base
	for _, step := range s.steps {
		h = step(h)
	}
	s.cache.Store(&derivedHandler{base: base, h: h})
	return h
}

func (s *switchHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= s.out.level.Level()
}

func (s *switchHandler) Handle(ctx context.Context, r slog.Record) error {
	return s.current().Handle(ctx, r)
}

func (s *switchHandler) with(step func(slog.Handler) slog.Handler) *switchHandler {
	steps := make([]func(slog.Handler) slog.Handler, len(s.steps), len(s.steps)+1)
	copy(steps, s.steps)
	return &switchHandler{out: s.out, steps: append(steps, step)}
}

func (s *switchHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return s.with(func(h slog.Handler) slog.Handler { return h.WithAttrs(as) })
}

func (s *switchHandler) WithGroup(name string) slog.Handler {
	return s.with(func(h slog.Handler) slog.Handler { return h.WithGroup(name) })
}
