package auth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	msgauth "github.com/emersion/go-msgauth/dkim"

	"github.com/authmilter/authmilter/auth/dns"
)

func TestRawField(t *testing.T) {
	tests := []struct{ name, value, want string }{
		{"Subject", " plain", "Subject: plain\r\n"},
		{"Subject", " a\n b", "Subject: a\r\n b\r\n"},
		{"Subject", " a\r\n\tb", "Subject: a\r\n\tb\r\n"},
		// A bare CR is an octet of the value, not a line break.
		{"Subject", " a\rb", "Subject: a\rb\r\n"},
		{"From", " <a@example.com>\rFrom: <b@evil.example>", "From: <a@example.com>\rFrom: <b@evil.example>\r\n"},
		{"Subject", " a\r", "Subject: a\r\r\n"},
		{"Subject", " a\r\r\n b", "Subject: a\r\r\n b\r\n"},
		// A line break that is not a fold stays within the field.
		{"Subject", " a\nFrom: <b@evil.example>", "Subject: a\r\n From: <b@evil.example>\r\n"},
		{"Subject", " a\r\nFrom: x", "Subject: a\r\n From: x\r\n"},
		{"Subject", " a\n", "Subject: a\r\n \r\n"},
		{"Subject", " a\n\r\nbody", "Subject: a\r\n \r\n body\r\n"},
		// A line break in the name.
		{"X\r\nFrom", " x", "X  From: x\r\n"},
	}
	for _, tt := range tests {
		if got := rawField(tt.name, tt.value); got != tt.want {
			t.Errorf("rawField(%q, %q) = %q, want %q", tt.name, tt.value, got, tt.want)
		}
	}
}

// mapResolver answers TXT lookups from a map; everything else is NXDOMAIN.
type mapResolver map[string]string

func (r mapResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	if txt, ok := r[strings.ToLower(strings.TrimSuffix(name, "."))]; ok {
		return []string{txt}, nil
	}
	return nil, dns.NewError(dns.ErrNXDomain, name)
}

func (mapResolver) LookupIP(_ context.Context, _, host string) ([]net.IP, error) {
	return nil, dns.NewError(dns.ErrNXDomain, host)
}

func (mapResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	return nil, dns.NewError(dns.ErrNXDomain, name)
}

func (mapResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	return nil, dns.NewError(dns.ErrNXDomain, addr)
}

// TestOneViewOfHeader: DMARC reads the header DKIM hashes. A bare CR is an
// octet of its field, never the start of another one: a From holding one
// is a malformed From; a signed field holding one verifies as signed; a
// field in which a bare CR hides a From line makes the From unusable.
func TestOneViewOfHeader(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	res := mapResolver{
		"sel._domainkey.example.com": "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)),
		"_dmarc.example.com":         "v=DMARC1; p=reject",
	}
	cfg := DefaultConfig()
	cfg.AuthservID = "mx.test"
	ev, err := New(cfg, res, nil)
	if err != nil {
		t.Fatal(err)
	}
	// sign signs a header block (CRLF line ends, bare CRs as they are)
	// and body with c=simple/simple, as go-msgauth's signer reads them.
	sign := func(hdr string) string {
		var out bytes.Buffer
		err := msgauth.Sign(&out, strings.NewReader(hdr+"\r\nHello\r\n"), &msgauth.SignOptions{
			Domain: "example.com", Selector: "sel", Signer: key, HeaderKeys: []string{"From", "Subject"},
			HeaderCanonicalization: "simple", BodyCanonicalization: "simple",
		})
		if err != nil {
			t.Fatal(err)
		}
		sig, _, _ := strings.Cut(out.String(), "\r\nFrom:")
		name, value, _ := strings.Cut(sig, ":")
		return name + "\x00" + strings.ReplaceAll(value, "\r\n", "\n")
	}
	type field struct{ name, value string }
	tests := []struct {
		name      string
		fields    []field
		signed    string // a header block to sign; its signature goes first
		fromError string
		dkim      string
		dmarc     string
	}{
		{name: "plain", fields: []field{{"From", " <a@example.com>"}, {"Subject", " hi"}},
			signed: "From: <a@example.com>\r\nSubject: hi\r\n", dkim: "pass", dmarc: "pass"},
		{name: "bare CR in a signed Subject",
			fields: []field{{"From", " <a@example.com>"}, {"Subject", " hi\rthere"}},
			signed: "From: <a@example.com>\r\nSubject: hi\rthere\r\n", dkim: "pass", dmarc: "pass"},
		{name: "bare CR in From, another From behind it",
			fields: []field{{"From", " <a@example.com>\rFrom: <b@evil.example>"}, {"Subject", " hi"}},
			signed: "From: <a@example.com>\rFrom: <b@evil.example>\r\nSubject: hi\r\n",
			dkim:   "pass", fromError: "malformed", dmarc: "permerror"},
		{name: "bare CR at the end of From", fields: []field{{"From", " <a@example.com>\r"}},
			fromError: "malformed", dkim: "", dmarc: "permerror"},
		{name: "line break not a fold in From", fields: []field{{"From", " <a@example.com>\nX: y"}},
			fromError: "malformed", dmarc: "permerror"},
		{name: "CR in the From name", fields: []field{{"From\r", " <a@example.com>"}},
			fromError: "malformed", dmarc: "permerror"},
		{name: "LF in the From name", fields: []field{{"\nFrom", " <a@example.com>"}},
			fromError: "malformed", dmarc: "permerror"},
		{name: "From behind a bare CR in Subject",
			fields: []field{{"From", " <a@example.com>"}, {"Subject", " hi\rFrom : <ceo@bank.example>"}},
			signed: "From: <a@example.com>\r\nSubject: hi\rFrom : <ceo@bank.example>\r\n",
			dkim:   "pass", fromError: "multiple", dmarc: "permerror"},
		{name: "From behind a bare CR, no other From",
			fields:    []field{{"Subject", " hi\rfrom: <ceo@bank.example>"}},
			fromError: "malformed", dmarc: "permerror"},
		{name: "From behind a CR in a name",
			fields:    []field{{"From", " <a@example.com>"}, {"X\rFrom", " <ceo@bank.example>"}},
			fromError: "multiple", dmarc: "permerror"},
		{name: "From name with WSP before the colon, as DKIM reads it",
			fields:    []field{{"From", " <a@example.com>"}, {"From \t", " <b@evil.example>"}},
			fromError: "multiple", dmarc: "permerror"},
		{name: "no From behind a CR followed by WSP",
			fields: []field{{"From", " <a@example.com>"}, {"Subject", " hi\r From: x"}},
			dmarc:  "fail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ev.NewMessage(context.Background(), Envelope{Helo: "h.test", MailFrom: "a@example.com"})
			if tt.signed != "" {
				name, value, _ := strings.Cut(sign(tt.signed), "\x00")
				m.Header(name, value)
			}
			for _, f := range tt.fields {
				m.Header(f.name, f.value)
			}
			m.EndHeaders()
			m.Body([]byte("Hello\r\n"))
			r := m.Finish(context.Background())
			dkimResult := ""
			if len(r.DKIM) > 0 {
				dkimResult = string(r.DKIM[0].Result)
			}
			if string(r.FromError) != tt.fromError || dkimResult != tt.dkim || string(r.DMARC.Result) != tt.dmarc {
				t.Fatalf("from-error %q dkim %q dmarc %q (%s), want %q %q %q",
					r.FromError, dkimResult, r.DMARC.Result, r.DMARC.Reason, tt.fromError, tt.dkim, tt.dmarc)
			}
		})
	}
}

// TestHidesFrom: the fields in which a reader taking a bare CR for a line
// end sees a From field.
func TestHidesFrom(t *testing.T) {
	tests := []struct {
		name, value string
		hides       bool
	}{
		{"Subject", " hi\rFrom: x", true},
		{"Subject", " hi\rfrom\t: x", true},
		{"Subject", " hi\nFROM:x", true},
		{"X\rFrom", " x", true},
		{"Subject", " hi\r\nFrom: x", true}, // not a fold either
		{"Subject", " hi\r\n From: x", false},
		{"Subject", " hi\r From: x", false},
		{"Subject", " hi\rFromage: x", false},
		{"Subject", " hi\rFrom", false},
		{"Subject", " From: x", false},
		{"Subject", " hi\rX: From: x", false},
	}
	for _, tt := range tests {
		if got := hidesFrom(tt.name, tt.value); got != tt.hides {
			t.Errorf("hidesFrom(%q, %q) = %v, want %v", tt.name, tt.value, got, tt.hides)
		}
	}
}

// TestBareCRDkimpy: the messages of dkim/testdata/bare-cr, signed by dkimpy
// with a bare CR in a header field, evaluated through the path the check
// command and the milter share (fields split, rebuilt by rawField, DKIM,
// From): DKIM hashes the field with its CR, DMARC reads the same From.
func TestBareCRDkimpy(t *testing.T) {
	key, err := os.ReadFile("dkim/testdata/dkim-dkimpy/test.txt")
	if err != nil {
		t.Fatal(err)
	}
	res := mapResolver{"sel._domainkey.example.com": strings.TrimSpace(string(key)), "_dmarc.example.com": "v=DMARC1; p=reject"}
	cfg := DefaultConfig()
	cfg.AuthservID = "mx.test"
	ev, err := New(cfg, res, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][3]string{ // DKIM, From error, DMARC
		"subj":            {"pass", "", "pass"},
		"from":            {"pass", "malformed", "permerror"},
		"subjend-simple":  {"pass", "", "pass"},
		"subjend-relaxed": {"fail", "", "fail"}, // dkimpy strips the trailing CR (README.md there)
	}
	files, err := filepath.Glob("dkim/testdata/bare-cr/*.eml")
	if err != nil || len(files) != 12 {
		t.Fatalf("%d messages (%v)", len(files), err)
	}
	for _, f := range files {
		base := filepath.Base(f)
		w, ok := want[strings.Split(base, "-")[0]]
		if !ok {
			w = want[strings.Join(strings.Split(base, "-")[:2], "-")]
		}
		t.Run(base, func(t *testing.T) {
			msg, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r, err := ev.EvaluateReader(context.Background(), Envelope{Helo: "h.test"}, bytes.NewReader(msg))
			if err != nil {
				t.Fatal(err)
			}
			if len(r.DKIM) != 1 || string(r.DKIM[0].Result) != w[0] || string(r.FromError) != w[1] || string(r.DMARC.Result) != w[2] {
				t.Fatalf("dkim %+v from-error %q dmarc %s, want %q", r.DKIM, r.FromError, r.DMARC.Result, w)
			}
		})
	}
}
