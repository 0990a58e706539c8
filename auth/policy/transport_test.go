package policy

import "testing"

// TestTransport: a required-TLS shortfall counts like an Author Domain's
// decision: the stricter wins, dry run turns it into accept, an internal
// error ignores it.
func TestTransport(t *testing.T) {
	tf := &Transport{Action: Tempfail, Reply: Reply{Code: "450", Enhanced: "4.7.1", Text: "TLS is required for mail from {domain}"},
		Domain: "example.org", Reason: "example.org requires TLS: no TLS"}
	pass := []Author{{Domain: "example.org", Result: ResultPass}}
	reject := []Author{{Domain: "example.org", Result: ResultFail, Policy: PolicyReject}}
	cfg := Default()

	d := Decide(cfg, Input{Authors: pass, Transport: tf})
	if d.Action != Tempfail || d.Code != "450" || d.Enhanced != "4.7.1" || d.Text != "TLS is required for mail from example.org" {
		t.Errorf("dmarc pass + TLS tempfail: %+v", d)
	}
	if d := Decide(cfg, Input{Authors: reject, Transport: tf}); d.Action != Reject || d.Code != "550" {
		t.Errorf("dmarc reject + TLS tempfail: %+v", d)
	}
	q := *tf
	q.Action = Quarantine
	if d := Decide(cfg, Input{Authors: pass, Transport: &q}); d.Action != Quarantine || d.Quarantine != QuarantineMilter {
		t.Errorf("quarantine: %+v", d)
	}
	a := *tf
	a.Action = Accept
	if d := Decide(cfg, Input{Authors: pass, Transport: &a}); d.Action != Accept || d.Reason != "dmarc pass" {
		t.Errorf("accept (record only): %+v", d)
	}
	if d := Decide(cfg, Input{InternalError: true, Transport: &Transport{Action: Reject}}); d.Action != Tempfail || d.Enhanced != "4.3.0" {
		t.Errorf("internal error: %+v", d)
	}
	dry := cfg
	dry.DryRun = true
	if d := Decide(dry, Input{Authors: pass, Transport: tf}); d.Action != Accept || d.WouldBe != Tempfail {
		t.Errorf("dry run: %+v", d)
	}
}
