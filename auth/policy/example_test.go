package policy_test

import (
	"fmt"
	"net"

	"github.com/authmilter/authmilter/auth/policy"
)

func ExampleDecide() {
	cfg := policy.Default()
	cfg.TrustedForwarders = []string{"198.51.100.0/24"}

	in := policy.Input{
		Authors:  []policy.Author{{Domain: "example.com", Result: "fail", Policy: "reject"}},
		ClientIP: net.ParseIP("192.0.2.1"),
	}
	d := policy.Decide(cfg, in)
	fmt.Println(d.Action, d.Code, d.Enhanced, d.Text)

	in.HasListID = true // RFC 9989 §7.4: local evidence against rejecting
	d = policy.Decide(cfg, in)
	fmt.Println(d.Action, d.Quarantine, "-", d.Reason)
	// Output:
	// reject 550 5.7.1 DMARC policy of example.com rejects this message
	// quarantine milter - dmarc fail, policy reject, quarantined: mailing list (List-Id)
}

func ExampleConfig_Validate() {
	cfg := policy.Default()
	cfg.RejectCode = "451"
	fmt.Println(cfg.Validate())
	// Output: policy.reject_code: "451" is not a 5xx reply code
}

func ExampleDefault() {
	cfg := policy.Default()
	fmt.Println(cfg.RejectCode, cfg.RejectEnhanced, cfg.TemperrorAction, cfg.TempfailCode, cfg.TempfailEnhanced, cfg.QuarantineMode)
	// Output: 550 5.7.1 tempfail 451 4.7.1 milter
}
