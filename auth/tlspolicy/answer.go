package tlspolicy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/authmilter/authmilter/auth/mtasts"
)

// Vocabulary is what the Postfix that asks understands in an answer.
type Vocabulary struct {
	// Servername: the servername= attribute (Postfix >= 3.4).
	Servername bool
	// TLSRPT: the TLS-RPT attributes policy_type=, policy_domain=,
	// mx_host_pattern=, policy_string=, policy_failure= (Postfix >= 3.10
	// built with TLS-RPT support; older versions defer the mail with
	// "invalid attribute name").
	TLSRPT bool
}

// VocabularyFor returns the vocabulary of Postfix version "MAJOR.MINOR"
// (a patch level is ignored), or an error naming what is wrong.
func VocabularyFor(version string) (Vocabulary, error) {
	parts := strings.Split(version, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Vocabulary{}, fmt.Errorf("%q is not a Postfix version like \"3.7\"", version)
	}
	var n [2]int
	for i := range n {
		v, err := strconv.Atoi(parts[i])
		if err != nil || v < 0 {
			return Vocabulary{}, fmt.Errorf("%q is not a Postfix version like \"3.7\"", version)
		}
		n[i] = v
	}
	if n[0] < 2 || n[0] == 2 && n[1] < 11 {
		return Vocabulary{}, fmt.Errorf("%q: socketmap TLS policies need Postfix 2.11 or later", version)
	}
	at := func(maj, min int) bool { return n[0] > maj || n[0] == maj && n[1] >= min }
	return Vocabulary{Servername: at(3, 4), TLSRPT: at(3, 10)}, nil
}

// Kind is the status word of a socketmap reply.
type Kind string

// The reply kinds (socketmap_table(5)). Postfix defers the mail on TEMP,
// TIMEOUT and PERM.
const (
	NotFound Kind = "NOTFOUND"
	OK       Kind = "OK"
	Temp     Kind = "TEMP"
	Perm     Kind = "PERM"
)

// Answer is one reply to Postfix.
type Answer struct {
	Kind Kind
	// Level is the TLS security level for OK: "dane-only", "dane",
	// "secure".
	Level string
	// Match lists the certificate name patterns of "secure" in Postfix's
	// form: a host name, or ".domain" for any name below domain.
	Match []string
	// Servername "hostname": send the MX host name as SNI.
	Servername string
	// STS is the MTA-STS policy behind a "secure" answer, for the
	// TLS-RPT attributes.
	STS *STSInfo
	// Reason is the text of a TEMP or PERM reply.
	Reason string
}

// STSInfo is what TLS-RPT needs of the policy an answer applies.
type STSInfo struct {
	Domain string
	Policy mtasts.Policy
	// Failure is the TLS-RPT failure type when the policy in force is a
	// cached one because the refresh failed, else "".
	Failure string
}

// Format is the reply text for a Postfix speaking voc.
func (a Answer) Format(voc Vocabulary) string {
	switch a.Kind {
	case NotFound:
		return "NOTFOUND "
	case Temp, Perm:
		return string(a.Kind) + " " + a.Reason
	}
	var b strings.Builder
	b.WriteString("OK ")
	b.WriteString(a.Level)
	if len(a.Match) > 0 {
		b.WriteString(" match=")
		b.WriteString(strings.Join(a.Match, ":"))
	}
	if a.Servername != "" && voc.Servername {
		b.WriteString(" servername=")
		b.WriteString(a.Servername)
	}
	if a.STS != nil && voc.TLSRPT {
		writeTLSRPT(&b, a.STS)
	}
	return b.String()
}

// writeTLSRPT adds the attributes with which Postfix >= 3.10 reports the
// MTA-STS policy in its TLS-RPT datagrams (RFC 8460 section 4.3: the
// policy type, domain, MX patterns and the policy text, one line each).
func writeTLSRPT(b *strings.Builder, s *STSInfo) {
	b.WriteString(" policy_type=sts policy_domain=")
	b.WriteString(s.Domain)
	for _, mx := range s.Policy.MX {
		b.WriteString(" mx_host_pattern=")
		b.WriteString(mx)
	}
	lines := []string{"version: STSv1", "mode: " + string(s.Policy.Mode)}
	for _, mx := range s.Policy.MX {
		lines = append(lines, "mx: "+mx)
	}
	lines = append(lines, "max_age: "+strconv.Itoa(s.Policy.MaxAge))
	for _, l := range lines {
		b.WriteString(" { policy_string = ")
		b.WriteString(l)
		b.WriteString(" }")
	}
	if s.Failure != "" {
		b.WriteString(" policy_failure=")
		b.WriteString(s.Failure)
	}
}

// matchPatterns turns MTA-STS MX patterns into Postfix match= patterns:
// "*.example.net" becomes ".example.net". Postfix's ".example.net" also
// accepts deeper names (a.b.example.net) where RFC 8461 section 4.1 allows
// one label: Postfix before 3.10.5 cannot say "one label".
func matchPatterns(mx []string) []string {
	out := make([]string, len(mx))
	for i, p := range mx {
		out[i] = strings.TrimPrefix(p, "*")
	}
	return out
}
