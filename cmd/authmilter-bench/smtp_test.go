package main

import (
	"bufio"
	"net"
	"strings"
	"testing"
)

// fakeMTA answers one SMTP session as Postfix would with XCLIENT, records
// the commands and the DATA content, and rejects DATA when the content has
// "reject-me".
func fakeMTA(t *testing.T) (addr string, got chan []string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got = make(chan []string, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r, w := bufio.NewReader(c), bufio.NewWriter(c)
				say := func(s string) { w.WriteString(s + "\r\n"); w.Flush() }
				say("220 fake")
				var lines []string
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						got <- lines
						return
					}
					l = strings.TrimRight(l, "\r\n")
					lines = append(lines, l)
					switch {
					case strings.HasPrefix(l, "EHLO"):
						say("250-fake\r\n250 XCLIENT ADDR NAME HELO")
					case strings.HasPrefix(l, "XCLIENT"):
						say("220 fake again")
					case l == "DATA":
						say("354 go on")
						var data []string
						for {
							d, _ := r.ReadString('\n')
							d = strings.TrimRight(d, "\r\n")
							if d == "." {
								break
							}
							data = append(data, d)
						}
						lines = append(lines, "<DATA>"+strings.Join(data, "|"))
						if strings.Contains(strings.Join(data, "|"), "reject-me") {
							say("550 5.7.1 no")
						} else {
							say("250 ok")
						}
					case l == "QUIT":
						say("221 bye")
						got <- lines
						return
					default:
						say("250 ok")
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), got
}

func TestSMTPSend(t *testing.T) {
	addr, got := fakeMTA(t)
	msg := &Message{
		Entry:   Entry{ClientIP: "198.51.100.7", Helo: "mail.example.com", MailFrom: "a@example.com", Rcpt: "u@inbox.example", Expect: "accept"},
		Headers: []Field{{"From", " a@example.com"}, {"Subject", " one\n two"}},
		Body:    []byte("line\r\n.dot\r\nlast"),
	}
	d, code, err := smtpSend(addr, msg, true)
	if err != nil || code != "250" || d <= 0 {
		t.Fatalf("smtpSend = %v, %q, %v", d, code, err)
	}
	lines := <-got
	want := []string{
		"EHLO bench.test",
		"XCLIENT ADDR=198.51.100.7 NAME=[UNAVAILABLE] HELO=mail.example.com",
		"EHLO mail.example.com",
		"MAIL FROM:<a@example.com>",
		"RCPT TO:<u@inbox.example>",
		"DATA",
		// Folds become CRLF; a body line starting with "." is stuffed.
		"<DATA>From: a@example.com|Subject: one| two||line|..dot|last",
		"QUIT",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("session:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	msg.Body = []byte("reject-me\r\n")
	msg.Expect = "reject"
	if _, code, err := smtpSend(addr, msg, false); err != nil || code != "550" {
		t.Fatalf("smtpSend = %q, %v; want 550", code, err)
	}
	if lines := <-got; lines[0] != "EHLO mail.example.com" {
		t.Errorf("without XCLIENT the session starts %q", lines[0])
	}
}

func TestSMTPBenchCounts(t *testing.T) {
	addr, _ := fakeMTA(t)
	c := &Corpus{Messages: []*Message{
		{Entry: Entry{ClientIP: "198.51.100.7", Helo: "h.example", MailFrom: "a@example.com", Rcpt: "u@inbox.example", Expect: "accept"}, Body: []byte("x\r\n")},
		{Entry: Entry{ClientIP: "203.0.113.9", Helo: "h.example", MailFrom: "a@example.com", Rcpt: "u@inbox.example", Expect: "reject"}, Body: []byte("reject-me\r\n")},
	}}
	p, m, err := SMTPBench(c, SMTPConfig{Plain: addr, Milter: addr, Sessions: 2, Messages: 6, Rounds: 2, XClient: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range append(p, m...) {
		if r.Errors != 0 || r.Replies['2'] != 3 || r.Replies['5'] != 3 || r.Expected != 6 {
			t.Errorf("%s: %+v", r.Label, r)
		}
	}
	var out strings.Builder
	PrintSMTP(&out, 2, p, m)
	if !strings.Contains(out.String(), "ADDED sessions=2 rounds=2") {
		t.Errorf("summary:\n%s", out.String())
	}
}
