package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SMTPConfig drives a real MTA over SMTP: the same corpus through two of its
// listeners, one without a milter and one with, so the difference is what
// the milter adds to the SMTP transaction as the MTA really talks to it.
type SMTPConfig struct {
	Plain, Milter string // the MTA's listeners: host:port
	Sessions      int    // concurrent SMTP sessions
	Messages      int    // messages per listener and round
	Rounds        int    // plain and milter runs, interleaved
	// XClient presents each message's client address and HELO with
	// Postfix's XCLIENT (smtpd_authorized_xclient_hosts); without it the
	// client is the loopback address the generator connects from.
	XClient bool
}

// SMTPRun is one listener's run: msgs/s and the transaction's latency, from
// MAIL FROM to the reply to the end of DATA.
type SMTPRun struct {
	Label   string
	Rate    float64
	Lat     [3]time.Duration // p50, p95, p99
	Replies map[byte]int     // by the first digit of the final reply
	// Expected counts final replies of the class the corpus expects of a
	// DMARC-enforcing milter (2xx for accept and quarantine, 5xx for
	// reject); meaningful with XClient only.
	Expected int
	Errors   int
	FirstErr error
}

// SMTPBench runs the rounds and returns the plain and milter runs.
func SMTPBench(c *Corpus, cfg SMTPConfig) (plain, milter []SMTPRun, err error) {
	if cfg.Sessions < 1 || cfg.Messages < 1 || cfg.Rounds < 1 {
		return nil, nil, fmt.Errorf("bench: sessions, messages and rounds must be at least 1")
	}
	for range cfg.Rounds {
		p := smtpRun(c, cfg.Plain, "plain", cfg)
		m := smtpRun(c, cfg.Milter, "milter", cfg)
		plain, milter = append(plain, p), append(milter, m)
	}
	return plain, milter, nil
}

// smtpRun sends Messages messages through addr over Sessions connections,
// one message per SMTP session (as the milter benchmark does).
func smtpRun(c *Corpus, addr, label string, cfg SMTPConfig) SMTPRun {
	var next atomic.Int64
	var mu sync.Mutex
	run := SMTPRun{Label: label, Replies: map[byte]int{}}
	var lat []time.Duration
	start := time.Now()
	var wg sync.WaitGroup
	for range cfg.Sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= cfg.Messages {
					return
				}
				msg := c.Messages[i%len(c.Messages)]
				d, code, err := smtpSend(addr, msg, cfg.XClient)
				mu.Lock()
				if err != nil {
					run.Errors++
					if run.FirstErr == nil {
						run.FirstErr = err
					}
				} else {
					lat = append(lat, d)
					run.Replies[code[0]]++
					if expectClass(msg.Expect) == code[0] {
						run.Expected++
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	run.Rate = float64(len(lat)) / time.Since(start).Seconds()
	run.Lat = percentiles(lat)
	return run
}

// expectClass is the reply class an MTA gives for a corpus expectation.
func expectClass(expect string) byte {
	if expect == "reject" {
		return '5'
	}
	return '2'
}

// smtpSend sends one message in its own SMTP session and returns the time
// from MAIL FROM to the final reply after DATA, and that reply's code.
func smtpSend(addr string, msg *Message, xclient bool) (time.Duration, string, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	s := &smtpClient{r: bufio.NewReader(conn), w: bufio.NewWriter(conn)}
	if _, err := s.expect("", '2'); err != nil { // greeting
		return 0, "", err
	}
	helo := msg.Helo
	if xclient {
		if _, err := s.expect("EHLO bench.test", '2'); err != nil {
			return 0, "", err
		}
		// XCLIENT answers with a new greeting (RFC-less Postfix extension).
		cmd := fmt.Sprintf("XCLIENT ADDR=%s NAME=[UNAVAILABLE] HELO=%s", msg.ClientIP, helo)
		if _, err := s.expect(cmd, '2'); err != nil {
			return 0, "", err
		}
	}
	if _, err := s.expect("EHLO "+helo, '2'); err != nil {
		return 0, "", err
	}
	begin := time.Now()
	code, err := s.cmd(fmt.Sprintf("MAIL FROM:<%s>", msg.MailFrom))
	if err != nil {
		return 0, "", err
	}
	if code[0] != '2' {
		return time.Since(begin), code, nil // refused at MAIL (a milter's answer there)
	}
	if code, err = s.cmd(fmt.Sprintf("RCPT TO:<%s>", msg.Rcpt)); err != nil || code[0] != '2' {
		return 0, "", fmt.Errorf("RCPT: %s %v", code, err)
	}
	if code, err = s.cmd("DATA"); err != nil || code[0] != '3' {
		return 0, "", fmt.Errorf("DATA: %s %v", code, err)
	}
	writeData(s.w, msg)
	code, err = s.cmd(".")
	d := time.Since(begin)
	if err != nil {
		return 0, "", err
	}
	s.cmd("QUIT")
	return d, code, nil
}

// smtpClient is the least of an SMTP client: one command, one reply.
type smtpClient struct {
	r *bufio.Reader
	w *bufio.Writer
}

// cmd sends a command line ("" sends nothing: read the greeting) and reads
// the whole (multiline) reply, returning its code.
func (s *smtpClient) cmd(line string) (string, error) {
	if line != "" {
		s.w.WriteString(line)
		s.w.WriteString("\r\n")
		if err := s.w.Flush(); err != nil {
			return "", err
		}
	}
	for {
		l, err := s.r.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("after %q: %w", line, err)
		}
		if len(l) < 4 {
			return "", fmt.Errorf("after %q: short reply %q", line, l)
		}
		if l[3] != '-' {
			return l[:3], nil
		}
	}
}

// expect sends a command and wants a reply of the given class.
func (s *smtpClient) expect(line string, class byte) (string, error) {
	code, err := s.cmd(line)
	if err == nil && code[0] != class {
		err = fmt.Errorf("%q: reply %s", line, code)
	}
	return code, err
}

// writeData writes the message as DATA content: the header fields with
// their folds (bare LF in the corpus' fields become CRLF), the body with
// dot-stuffing. The terminating "." is the caller's.
func writeData(w *bufio.Writer, msg *Message) {
	for _, f := range msg.Headers {
		w.WriteString(f.Name)
		w.WriteString(":")
		w.WriteString(strings.ReplaceAll(f.Value, "\n", "\r\n"))
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
	body := msg.Body
	for len(body) > 0 {
		i := bytes.Index(body, []byte("\r\n"))
		line := body
		if i >= 0 {
			line, body = body[:i+2], body[i+2:]
		} else {
			body = nil
		}
		if len(line) > 0 && line[0] == '.' {
			w.WriteByte('.')
		}
		w.Write(line)
		if i < 0 {
			w.WriteString("\r\n")
		}
	}
}

// PrintSMTP writes each round and the medians of the added latency.
func PrintSMTP(w io.Writer, sessions int, plain, milter []SMTPRun) {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for i := range plain {
		for _, r := range []SMTPRun{plain[i], milter[i]} {
			fmt.Fprintf(w, "SMTP label=%s sessions=%d round=%d rate=%.1f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f 2xx=%d 4xx=%d 5xx=%d expected=%d errors=%d\n",
				r.Label, sessions, i+1, r.Rate, ms(r.Lat[0]), ms(r.Lat[1]), ms(r.Lat[2]),
				r.Replies['2'], r.Replies['4'], r.Replies['5'], r.Expected, r.Errors)
			if r.FirstErr != nil {
				fmt.Fprintf(w, "  first error: %v\n", r.FirstErr)
			}
		}
	}
	var add [3][]time.Duration
	var pr, mr []time.Duration
	for i := range plain {
		for q := range 3 {
			add[q] = append(add[q], milter[i].Lat[q]-plain[i].Lat[q])
		}
		pr = append(pr, time.Duration(plain[i].Rate*1000))
		mr = append(mr, time.Duration(milter[i].Rate*1000))
	}
	med := func(d []time.Duration) time.Duration { return percentiles(append([]time.Duration(nil), d...))[0] }
	fmt.Fprintf(w, "ADDED sessions=%d rounds=%d p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f plain_rate=%.1f milter_rate=%.1f (medians of the per-round differences)\n",
		sessions, len(plain), ms(med(add[0])), ms(med(add[1])), ms(med(add[2])),
		float64(med(pr))/1000, float64(med(mr))/1000)
}
