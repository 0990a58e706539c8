package dmarc

import (
	"context"
	"testing"
)

func BenchmarkParseRecord(b *testing.B) {
	s := "v=DMARC1; p=reject; sp=quarantine; np=reject; adkim=s; aspf=r; rua=mailto:a@example.com,mailto:b@example.net!10m; fo=1:d; pct=100"
	for b.Loop() {
		if _, err := ParseRecord(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthorDomains(b *testing.B) {
	v := []string{"\"Doe, John\" (CEO; Example) <john@Example.COM>, Team: a@x.example, b@Bücher.example;"}
	for b.Loop() {
		if _, err := AuthorDomains(v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvaluate is one message with a relaxed DKIM pass from a
// subdomain: two walks, over an in-memory resolver (the CPU cost of DMARC
// without DNS latency).
func BenchmarkEvaluate(b *testing.B) {
	f := &fakeResolver{
		txt:    map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject; sp=quarantine")},
		exists: map[string]bool{"news.example.com": true},
	}
	e := &Evaluator{Resolver: f}
	ctx := context.Background()
	for b.Loop() {
		r := e.Evaluate(ctx, "news.example.com", SPFInput{"pass", "bounces.esp.example"}, pass("mail.example.com"))
		if r.Result != ResultPass {
			b.Fatal(r)
		}
	}
}
