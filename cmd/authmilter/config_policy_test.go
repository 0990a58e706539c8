package main

import (
	"strings"
	"testing"
)

// TestPolicyValuesRefusedWhenDecoded: an action or quarantine mode that
// does not exist is refused by the decoder itself, with the line and the
// key, before anything is validated; a good one decodes to its constant.
func TestPolicyValuesRefusedWhenDecoded(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{"[policy]\nreject_action = \"bounce\"\n", `line 2: policy.reject_action: "bounce" is not one of accept, reject, quarantine, tempfail`},
		{"[policy]\n\nfrom_multiple_action = \"Reject\"\n", `line 3: policy.from_multiple_action: "Reject" is not one of`},
		{"[policy]\ntemperror_action = 1\n", `line 2: policy.temperror_action: "1" is not one of`},
		{"[policy]\nquarantine_mode = \"hold\"\n", `line 2: policy.quarantine_mode: "hold" is not one of milter, header, accept`},
		// A valid action that this key does not allow: Validate names it.
		{"[policy]\ninternal_error_action = \"reject\"\n", `policy.internal_error_action: "reject" is not one of tempfail, accept`},
	} {
		path := t.TempDir() + "/c.toml"
		if err := writeFile(path, c.file); err != nil {
			t.Fatal(err)
		}
		if _, err := loadConfig(path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.file, err, c.want)
		}
	}
	path := t.TempDir() + "/c.toml"
	if err := writeFile(path, "[policy]\nreject_action = \"quarantine\"\nquarantine_mode = \"header\"\n"); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Policy.RejectAction != "quarantine" || cfg.Policy.QuarantineMode != "header" {
		t.Errorf("decoded %q, %q", cfg.Policy.RejectAction, cfg.Policy.QuarantineMode)
	}
}
