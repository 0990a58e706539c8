package mime

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// recorder keeps every signed content and leaf body, as the walker hands them.
type recorder struct {
	log    []string
	signed map[string]*bytes.Buffer
	keep   int
}

func (r *recorder) Begin(e *Entity) Sink {
	r.log = append(r.log, fmt.Sprintf("begin %s %s", e.Part, e.Type))
	if r.signed == nil {
		r.signed = map[string]*bytes.Buffer{}
	}
	switch {
	case e.Type == "multipart/signed":
		b := &bytes.Buffer{}
		r.signed[e.Part] = b
		return Sink{W: b}
	case strings.HasPrefix(e.Type, "multipart/"):
		return Sink{}
	}
	return Sink{Keep: r.keep}
}

func (r *recorder) End(e *Entity, body []byte, err error) {
	s := fmt.Sprintf("end %s %q", e.Part, body)
	if err != nil {
		s += " " + err.Error()
	}
	r.log = append(r.log, s)
}

// walk feeds body in chunks of n bytes (all at once for n <= 0).
func walk(ct, body string, n int, keep int, lim Limits) *recorder {
	r := &recorder{keep: keep}
	w := NewWalker(ct, "", lim, r)
	b := []byte(body)
	for len(b) > 0 {
		k := len(b)
		if n > 0 && n < k {
			k = n
		}
		w.Write(b[:k])
		b = b[k:]
	}
	w.Close()
	return r
}

const signedCT = `multipart/signed; protocol="application/pkcs7-signature"; boundary="b1"`

const signedBody = "preamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\nHello\r\n--not-a-delimiter\r\n\r\n--b1 \r\n" +
	"Content-Type: application/pkcs7-signature\r\n\r\nSIG\r\n--b1--\r\nepilogue\r\n"

func TestSignedContentIsRawFirstPart(t *testing.T) {
	want := "Content-Type: text/plain\r\n\r\nHello\r\n--not-a-delimiter\r\n"
	for _, n := range []int{0, 1, 2, 3, 7, 64} {
		r := walk(signedCT, signedBody, n, 100, Limits{})
		if got := r.signed["TEXT"].String(); got != want {
			t.Errorf("chunk %d: signed content %q, want %q", n, got, want)
		}
		wantLog := []string{"begin TEXT multipart/signed", "begin 1 text/plain",
			`end 1 "Hello\r\n--not-a-delimiter\r\n"`, "begin 2 application/pkcs7-signature",
			`end 2 "SIG"`, `end TEXT ""`}
		if strings.Join(r.log, "|") != strings.Join(wantLog, "|") {
			t.Errorf("chunk %d: log\n%q\nwant\n%q", n, r.log, wantLog)
		}
	}
}

func TestNestedPartNumbers(t *testing.T) {
	body := "--outer\r\nContent-Type: multipart/signed; boundary=inner; protocol=\"application/pgp-signature\"\r\n\r\n" +
		"--inner\r\nContent-Type: multipart/alternative; boundary=alt\r\n\r\n--alt\r\n\r\nplain\r\n--alt\r\n" +
		"Content-Type: text/html\r\n\r\n<p>\r\n--alt--\r\n--inner\r\nContent-Type: application/pgp-signature\r\n\r\nS\r\n--inner--\r\n" +
		"--outer\r\nContent-Type: text/plain\r\n\r\nfooter\r\n--outer--\r\n"
	r := walk("multipart/mixed; boundary=outer", body, 5, 100, Limits{})
	want := []string{"begin TEXT multipart/mixed", "begin 1 multipart/signed", "begin 1.1 multipart/alternative",
		"begin 1.1.1 text/plain", `end 1.1.1 "plain"`, "begin 1.1.2 text/html", `end 1.1.2 "<p>"`, `end 1.1 ""`,
		"begin 1.2 application/pgp-signature", `end 1.2 "S"`, `end 1 ""`, "begin 2 text/plain", `end 2 "footer"`, `end TEXT ""`}
	if strings.Join(r.log, "|") != strings.Join(want, "|") {
		t.Errorf("log\n%q\nwant\n%q", r.log, want)
	}
	wantSigned := "Content-Type: multipart/alternative; boundary=alt\r\n\r\n--alt\r\n\r\nplain\r\n--alt\r\n" +
		"Content-Type: text/html\r\n\r\n<p>\r\n--alt--"
	if got := r.signed["1"].String(); got != wantSigned {
		t.Errorf("signed %q, want %q", got, wantSigned)
	}
}

func TestUnterminatedAndLimits(t *testing.T) {
	r := walk(signedCT, "--b1\r\n\r\nHello\r\n--b1\r\n\r\nSIG", 0, 100, Limits{})
	want := []string{"begin TEXT multipart/signed", "begin 1 text/plain", `end 1 "Hello"`, "begin 2 text/plain",
		`end 2 "" mime: multipart ended without its close delimiter`,
		`end TEXT "" mime: multipart ended without its close delimiter`}
	if strings.Join(r.log, "|") != strings.Join(want, "|") {
		t.Errorf("log\n%q\nwant\n%q", r.log, want)
	}
	r = walk(signedCT, "--b1\r\n\r\n0123456789\r\n--b1--\r\n", 0, 4, Limits{})
	if !strings.Contains(strings.Join(r.log, "|"), `end 1 "" mime: part larger than the size kept`) {
		t.Errorf("keep limit: %q", r.log)
	}
	deep := ""
	for i := range 20 {
		deep += fmt.Sprintf("--d%d\r\nContent-Type: multipart/mixed; boundary=d%d\r\n\r\n", i, i+1)
	}
	r = walk("multipart/mixed; boundary=d0", deep, 0, 4, Limits{MaxDepth: 3})
	if !strings.Contains(strings.Join(r.log, "|"), "end 1.1.1 \"\" mime: nesting depth") {
		t.Errorf("depth limit: %q", r.log)
	}
	r = walk("multipart/mixed; boundary=b", "--b\r\nX: "+strings.Repeat("a", 100)+"\r\n\r\nbody\r\n--b--\r\n", 0, 4,
		Limits{MaxHeaderBytes: 50})
	if !strings.Contains(strings.Join(r.log, "|"), "end 1 \"\" mime: part header too large") {
		t.Errorf("header limit: %q", r.log)
	}
}

func TestLongLinesPassExactly(t *testing.T) {
	long := strings.Repeat("x", 3000)
	body := "--b1\r\n\r\n" + long + "\r\n--b1" + long + "\r\n--b1\r\n\r\nS\r\n--b1--\r\n"
	for _, n := range []int{0, 1, 999, 1001} {
		r := walk(signedCT, body, n, 10000, Limits{})
		if got, want := r.signed["TEXT"].String(), "\r\n"+long+"\r\n--b1"+long; got != want {
			t.Errorf("chunk %d: signed content has %d bytes, want %d", n, len(got), len(want))
		}
	}
}

func TestInertTopLevel(t *testing.T) {
	r := &recorder{}
	w := NewWalker("image/png", "base64", Limits{}, nopHandler{})
	if !w.inert {
		t.Fatal("walker over image/png is not inert")
	}
	w.Write([]byte("--b1\r\n"))
	w.Close()
	_ = r
}

type nopHandler struct{}

func (nopHandler) Begin(*Entity) Sink         { return Sink{} }
func (nopHandler) End(*Entity, []byte, error) {}
