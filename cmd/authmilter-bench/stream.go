package main

import (
	"fmt"
	"time"
)

// StreamResult is the memory cost of one very large message.
type StreamResult struct {
	Bytes   int64
	Elapsed time.Duration
	Action  string
	RSS     RSS
}

// Stream sends one message whose body is mb megabytes (made chunk by chunk,
// never whole in memory) through the targets while sampling the targets'
// RSS every 10 ms. The header is that of msg (a signed corpus message, so
// the body is hashed all the way).
func Stream(targets []string, msg *Message, mb int, pids []int) (*StreamResult, error) {
	s, refused, err := openSession(targets, true, 0, msg)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return &StreamResult{Action: refused.Action}, nil
	}
	defer s.close()
	stop := make(chan struct{})
	rss := make(chan RSS)
	go func() { rss <- sampleRSS(pids, 10*time.Millisecond, stop) }()
	time.Sleep(50 * time.Millisecond) // a baseline sample first
	m := *msg
	m.Body, m.Stream = nil, int64(mb)<<20
	start := time.Now()
	out := s.send(&m)
	el := time.Since(start)
	close(stop)
	r := &StreamResult{Bytes: m.Stream, Elapsed: el, Action: out.Action, RSS: <-rss}
	return r, out.Err
}

// streamChunks calls emit with the chunks of a generated text body of n
// bytes, reusing one buffer; emit returns false to stop.
func streamChunks(n int64, emit func([]byte) (bool, error)) error {
	buf := make([]byte, 0, maxChunk)
	line := 0
	for n > 0 {
		buf = buf[:0]
		for n > 0 && len(buf) < maxChunk-100 {
			before := len(buf)
			buf = fmt.Appendf(buf, "line %09d of a very large message streaming through the milter\r\n", line)
			line++
			n -= int64(len(buf) - before)
		}
		more, err := emit(buf)
		if err != nil || !more {
			return err
		}
	}
	return nil
}
