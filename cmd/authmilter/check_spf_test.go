package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

const checkSPFZone = `
example.com.          TXT "v=spf1 include:_spf.example.net -all exp=why.example.com"
why.example.com.      TXT "%{i} is not one of %{d}'s hosts"
_spf.example.net.     TXT "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all"
mail.example.com.     TXT "v=spf1 a -all"
mail.example.com.     A   192.0.2.25
broken.example.com.   TXT "v=spf1 ip4:192.0.2.0/33 -all"
`

func startSPFServer(t *testing.T) *dnstest.Server {
	t.Helper()
	srv, err := dnstest.Start(checkSPFZone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func runCheckSPF(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = checkSPF(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckSPFJSON(t *testing.T) {
	srv := startSPFServer(t)
	tests := []struct {
		ip, helo, from string
		want           spfJSON
	}{
		{"192.0.2.25", "mail.example.com", "alice@example.com", spfJSON{
			Result: "pass", Domain: "example.com", Identity: "mailfrom", Sender: "alice@example.com",
			Helo: spfHeloJSON{Result: "pass", Domain: "mail.example.com", Reason: "a matched"}}},
		{"198.51.100.7", "mail.example.com", "alice@example.com", spfJSON{
			Result: "fail", Explanation: "198.51.100.7 is not one of example.com's hosts",
			Domain: "example.com", Identity: "mailfrom", Sender: "alice@example.com", Reason: "-all matched",
			Helo: spfHeloJSON{Result: "fail", Domain: "mail.example.com", Reason: "-all matched"}}},
		{"192.0.2.25", "mail.example.com", "", spfJSON{
			Result: "pass", Domain: "mail.example.com", Identity: "mailfrom", Sender: "postmaster@mail.example.com",
			Reason: "a matched", Helo: spfHeloJSON{Result: "pass", Domain: "mail.example.com", Reason: "a matched"}}},
		{"192.0.2.25", "[192.0.2.25]", "bob@broken.example.com", spfJSON{
			Result: "permerror", Domain: "broken.example.com", Identity: "mailfrom", Sender: "bob@broken.example.com",
			Helo: spfHeloJSON{Result: "none", Domain: "[192.0.2.25]", Reason: "HELO is not a domain name"}}},
	}
	for _, tc := range tests {
		code, out, errOut := runCheckSPF(t, "-ip", tc.ip, "-helo", tc.helo, "-mail-from", tc.from,
			"-dns", srv.Addr, "-dns-timeout", "2s", "-json")
		if code != 0 {
			t.Fatalf("%v: exit %d, stderr %q", tc, code, errOut)
		}
		var got spfJSON
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v: %v in %q", tc, err, out)
		}
		if strings.Count(out, "\n") != 1 {
			t.Errorf("%v: want one JSON line, got %q", tc, out)
		}
		// The MAIL FROM reason is compared where the table gives one;
		// lookups are not compared.
		if tc.want.Reason == "" {
			tc.want.Reason = got.Reason
		}
		tc.want.Lookups = got.Lookups
		if got != tc.want {
			t.Errorf("ip %s helo %s from %q:\n got %+v\nwant %+v", tc.ip, tc.helo, tc.from, got, tc.want)
		}
	}
}

func TestCheckSPFText(t *testing.T) {
	srv := startSPFServer(t)
	code, out, _ := runCheckSPF(t, "-ip", "198.51.100.7", "-helo", "mail.example.com",
		"-mail-from", "alice@example.com", "-dns", srv.Addr)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"spf=fail smtp.helo=mail.example.com (-all matched",
		"spf=fail smtp.mailfrom=example.com (-all matched",
		"explanation: 198.51.100.7 is not one of example.com's hosts",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestCheckSPFTemperror(t *testing.T) {
	srv := startSPFServer(t)
	srv.ServFail("example.com")
	code, out, _ := runCheckSPF(t, "-ip", "192.0.2.25", "-helo", "mail.example.com",
		"-mail-from", "alice@example.com", "-dns", srv.Addr, "-json")
	var got spfJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != 0 {
		t.Fatalf("exit %d, %v, %q", code, err, out)
	}
	if got.Result != "temperror" {
		t.Errorf("SERVFAIL gave %s (%s), want temperror", got.Result, got.Reason)
	}
}

func TestCheckSPFUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-ip", "not-an-ip", "-helo", "mail.example.com"},
		{"-ip", "192.0.2.1"},
		{"-ip", "192.0.2.1", "-helo", "h.example.com", "extra"},
		{"-bogus"},
		{"-ip", "192.0.2.1", "-helo", "h.example.com", "-dns-timeout", "soon"},
		{"-ip", "192.0.2.1", "-helo", "h.example.com", "-dns", "bad host:port:x"},
		{"-ip", "192.0.2.1", "-helo", "h.example.com", "-dns", "127.0.0.1:http"},
	} {
		if code, _, _ := runCheckSPF(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}
