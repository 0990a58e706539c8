package dns

import (
	"errors"
	"testing"

	"github.com/miekg/dns"
)

// answerQuery is the query the checkAnswer tests answer.
func answerQuery() *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion("_dmarc.example.com.", dns.TypeTXT)
	q.Id = 0x1234
	q.SetEdns0(ednsSize, false)
	return q
}

// answerSeeds are answers to answerQuery, right and wrong, packed.
func answerSeeds(t testing.TB) [][]byte {
	q := answerQuery()
	var out [][]byte
	add := func(m *dns.Msg) {
		p, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	ok := new(dns.Msg)
	ok.SetReply(q)
	rr, _ := dns.NewRR(`_dmarc.example.com. 300 IN TXT "v=DMARC1; p=reject"`)
	ok.Answer = []dns.RR{rr}
	add(ok)
	wrongID := ok.Copy()
	wrongID.Id++
	add(wrongID)
	wrongName := ok.Copy()
	wrongName.Question[0].Name = "_dmarc.example.net."
	add(wrongName)
	refused := new(dns.Msg)
	refused.SetRcode(q, dns.RcodeRefused)
	refused.Question = nil
	add(refused)
	truncated := new(dns.Msg)
	truncated.SetReply(q)
	truncated.Truncated = true
	add(truncated)
	p := out[0]
	out = append(out, p[:15], p[:11], p[:len(p)-5], nil)
	return out
}

func TestCheckAnswer(t *testing.T) {
	q := answerQuery()
	seeds := answerSeeds(t)
	for _, tt := range []struct {
		name     string
		p        []byte
		udp, tcp error // nil: accepted
	}{
		{"right", seeds[0], nil, nil},
		{"another ID", seeds[1], errForeign, ErrBadAnswer},
		{"another question", seeds[2], ErrBadAnswer, ErrBadAnswer},
		{"REFUSED without question", seeds[3], nil, nil},
		{"TC", seeds[4], nil, nil},
		{"cut in the question", seeds[5], ErrBadAnswer, ErrBadAnswer},
		{"short of a header", seeds[6], errForeign, ErrBadAnswer},
		{"cut in the record", seeds[7], ErrBadAnswer, ErrBadAnswer},
		{"empty", seeds[8], errForeign, ErrBadAnswer},
	} {
		for _, tcp := range []bool{false, true} {
			want := tt.udp
			if tcp {
				want = tt.tcp
			}
			m, err := checkAnswer(q, tt.p, tcp)
			if want == nil && (err != nil || m == nil) || want != nil && !errors.Is(err, want) {
				t.Errorf("%s (tcp %v): %v, want %v", tt.name, tcp, err, want)
			}
		}
	}
}

// FuzzCheckAnswer: any octets as the answer to a query are accepted only
// if they answer it, and are otherwise ignored (UDP, not ours), sent to TCP
// (UDP, truncated) or a temporary ErrBadAnswer, without panic.
func FuzzCheckAnswer(f *testing.F) {
	for _, p := range answerSeeds(f) {
		f.Add(p, false)
		f.Add(p, true)
	}
	q := answerQuery()
	f.Fuzz(func(t *testing.T, p []byte, tcp bool) {
		m, err := checkAnswer(q, p, tcp)
		switch {
		case err == nil:
			if m.Id != q.Id || !m.Response {
				t.Fatalf("accepted another ID or a query: %v", m)
			}
			if m.Rcode == dns.RcodeSuccess || m.Rcode == dns.RcodeNameError || len(m.Question) > 0 {
				rq := m.Question[0]
				if len(m.Question) != 1 || rq.Qtype != dns.TypeTXT || !sameName(rq.Name, "_dmarc.example.com.") {
					t.Fatalf("accepted another question: %v", m.Question)
				}
			}
		case errors.Is(err, errForeign), errors.Is(err, errTooBig):
			if tcp {
				t.Fatalf("over TCP: %v", err)
			}
		case !errors.Is(err, ErrBadAnswer) || !IsTemporary(err):
			t.Fatalf("not a temporary bad answer: %v", err)
		}
	})
}
