package policy

import "testing"

// TestARCOverride covers each branch of the ARC override: only a trusted
// sealer's passing chain that recorded a pass for this author domain
// changes a DMARC fail's action, and the result stays a fail.
func TestARCOverride(t *testing.T) {
	vouch := ARCInput{Sealer: "lists.example", PassFor: []string{"Example.COM."}}
	tests := []struct {
		name     string
		override Action
		pol      DomainPolicy
		result   Result
		arc      ARCInput
		list     bool
		want     Action
		kind     OverrideKind
	}{
		{"no chain", Quarantine, PolicyReject, ResultFail, ARCInput{}, false, Reject, OverrideNone},
		{"untrusted sealer or broken chain", Quarantine, PolicyReject, ResultFail,
			ARCInput{PassFor: []string{"example.com"}}, false, Reject, OverrideNone},
		{"no AAR pass for this domain", Quarantine, PolicyReject, ResultFail,
			ARCInput{Sealer: "lists.example", PassFor: []string{"other.example"}}, false, Reject, OverrideNone},
		{"trusted and pass: quarantine", Quarantine, PolicyReject, ResultFail, vouch, false, Quarantine, OverrideARC},
		{"trusted and pass: accept", Accept, PolicyReject, ResultFail, vouch, false, Accept, OverrideARC},
		{"trusted and pass, before List-Id", Quarantine, PolicyReject, ResultFail, vouch, true, Quarantine, OverrideARC},
		{"p=quarantine, override accept", Accept, PolicyQuarantine, ResultFail, vouch, false, Accept, OverrideARC},
		{"p=quarantine, override quarantine changes nothing", Quarantine, PolicyQuarantine, ResultFail, vouch, false, Quarantine, OverrideNone},
		{"temperror is not overridden", Accept, PolicyReject, ResultTemperror, vouch, false, Tempfail, OverrideNone},
		{"trusted chain failed on DNS: tempfail", Quarantine, PolicyReject, ResultFail,
			ARCInput{TempSealer: "lists.example"}, false, Tempfail, OverrideNone},
		{"trusted chain failed on DNS, List-Id: quarantine", Quarantine, PolicyReject, ResultFail,
			ARCInput{TempSealer: "lists.example"}, true, Quarantine, OverrideMailingList},
		{"trusted chain failed on DNS, p=quarantine", Quarantine, PolicyQuarantine, ResultFail,
			ARCInput{TempSealer: "lists.example"}, false, Quarantine, OverrideNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			cfg.ARCOverrideAction = tt.override
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			d := Decide(cfg, Input{Authors: []Author{{Domain: "example.com", Result: tt.result, Policy: tt.pol}},
				HasListID: tt.list, ARC: tt.arc})
			if d.Action != tt.want || d.Override.Kind != tt.kind {
				t.Fatalf("got %s %+v (%s), want %s %s", d.Action, d.Override, d.Reason, tt.want, tt.kind)
			}
			if tt.kind == OverrideARC && d.Override.Detail != "lists.example" {
				t.Errorf("detail %q", d.Override.Detail)
			}
		})
	}
}

func TestARCOverrideActionValidated(t *testing.T) {
	for _, a := range []Action{Reject, Tempfail, ""} {
		cfg := Default()
		cfg.ARCOverrideAction = a
		if err := cfg.Validate(); err == nil {
			t.Errorf("arc_override_action %q accepted", a)
		}
	}
}
