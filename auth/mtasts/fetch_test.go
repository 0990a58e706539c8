package mtasts_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/authmilter/authmilter/auth/dns/dnstest"
	"github.com/authmilter/authmilter/auth/mtasts"
	"github.com/authmilter/authmilter/auth/mtasts/mtaststest"
)

const enforce = "version: STSv1\nmode: enforce\nmx: mx1.example.test\nmax_age: 86400\n"

func TestFetch(t *testing.T) {
	ca := mtaststest.NewCA(t)
	srv := mtaststest.StartServer(t, ca, "example.test")
	f := mtasts.NewFetcher(srv.Client())
	ctx := context.Background()
	for _, tt := range []struct {
		name    string
		resp    mtaststest.Response
		failure string // "" ok, else the TLS-RPT type
	}{
		{"ok", mtaststest.Response{Body: enforce}, ""},
		{"content type with charset", mtaststest.Response{Body: enforce, ContentType: "text/plain; charset=US-ASCII"}, ""},
		{"html", mtaststest.Response{Body: enforce, ContentType: "text/html"}, "sts-policy-fetch-error"},
		{"404", mtaststest.Response{Status: 404, Body: enforce}, "sts-policy-fetch-error"},
		{"redirect not followed", mtaststest.Response{Status: 302, Location: "https://mta-sts.example.test/other"}, "sts-policy-fetch-error"},
		{"too big", mtaststest.Response{Body: enforce + strings.Repeat("#", mtasts.MaxPolicyBytes)}, "sts-policy-fetch-error"},
		{"invalid", mtaststest.Response{Body: "version: STSv1\nmode: enforce\n"}, "sts-policy-invalid"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv.SetResponse("example.test", tt.resp)
			p, text, err := f.Fetch(ctx, "example.test")
			if got := mtasts.FailureType(err); got != tt.failure || (err == nil) != (tt.failure == "") {
				t.Fatalf("Fetch: %v (type %q), want %q", err, got, tt.failure)
			}
			if err == nil && (p.Mode != mtasts.ModeEnforce || text != tt.resp.Body) {
				t.Errorf("Fetch = %+v %q", p, text)
			}
		})
	}
}

// TestFetchWebPKI: a certificate for another name, or from a CA not
// trusted, is sts-webpki-invalid (RFC 8461 section 3.3).
func TestFetchWebPKI(t *testing.T) {
	ca := mtaststest.NewCA(t)
	srv := mtaststest.StartServer(t, ca, "other.test")
	srv.SetPolicy("example.test", enforce)
	_, _, err := mtasts.NewFetcher(srv.Client()).Fetch(context.Background(), "example.test")
	if !errors.Is(err, mtasts.ErrWebPKI) {
		t.Errorf("name mismatch: %v", err)
	}
	good := mtaststest.StartServer(t, ca, "example.test")
	good.SetPolicy("example.test", enforce)
	other := mtaststest.NewCA(t)
	client := &http.Client{Transport: mtaststest.Transport(other.Pool(), good.Addr)}
	_, _, err = mtasts.NewFetcher(client).Fetch(context.Background(), "example.test")
	if !errors.Is(err, mtasts.ErrWebPKI) || mtasts.FailureType(err) != "sts-webpki-invalid" {
		t.Errorf("untrusted CA: %v", err)
	}
	good.Close()
	_, _, err = mtasts.NewFetcher(good.Client()).Fetch(context.Background(), "example.test")
	if !errors.Is(err, mtasts.ErrFetch) {
		t.Errorf("server down: %v", err)
	}
}

func TestLookupRecord(t *testing.T) {
	srv, r := dnstest.StartResolver(t, `
_mta-sts.ok.test.     TXT "v=STSv1; id=abc123"
_mta-sts.ok.test.     TXT "something else"
_mta-sts.two.test.    TXT "v=STSv1; id=a"
_mta-sts.two.test.    TXT "v=STSv1; id=b"
_mta-sts.bad.test.    TXT "v=STSv1; id=not-alnum"
_mta-sts.fail.test.   TXT "v=STSv1; id=a"
`)
	srv.ServFail("_mta-sts.fail.test")
	ctx := context.Background()
	if rec, err := mtasts.LookupRecord(ctx, r, "ok.test"); err != nil || rec.ID != "abc123" {
		t.Errorf("ok: %+v %v", rec, err)
	}
	for _, d := range []string{"two.test", "bad.test", "none.test"} {
		if _, err := mtasts.LookupRecord(ctx, r, d); !errors.Is(err, mtasts.ErrNoRecord) {
			t.Errorf("%s: %v, want ErrNoRecord", d, err)
		}
	}
	if _, err := mtasts.LookupRecord(ctx, r, "fail.test"); !errors.Is(err, mtasts.ErrDNS) {
		t.Errorf("SERVFAIL: %v, want ErrDNS", err)
	}
}
