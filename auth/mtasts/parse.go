package mtasts

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Errors of the parsers. Both wrap ErrInvalid (errors.Is).
var (
	// ErrInvalid: a record or policy that does not follow RFC 8461.
	// TLS-RPT (RFC 8460 section 4.3.2.1) calls a bad policy
	// "sts-policy-invalid".
	ErrInvalid = errors.New("mtasts: invalid")
)

// Mode is a policy's mode (RFC 8461 section 5).
type Mode string

// The modes.
const (
	ModeEnforce Mode = "enforce" // deliver only over verified TLS to a matching MX
	ModeTesting Mode = "testing" // report failures, deliver anyway
	ModeNone    Mode = "none"    // no policy (a domain withdrawing its policy)
)

// MaxAge is the largest max_age (RFC 8461 section 3.2: 31557600 s, a
// year); larger values are clamped to it.
const MaxAge = 31557600

// MaxPolicyBytes bounds a policy file (RFC 8461 section 3.3: senders may
// limit it; 64 KiB as in mox and postfix-mta-sts-resolver).
const MaxPolicyBytes = 64 << 10

// Record is a parsed _mta-sts TXT record (RFC 8461 section 3.1).
type Record struct {
	// ID changes whenever the policy does: 1 to 32 letters and digits.
	ID string
}

// ParseRecord parses a TXT record "v=STSv1; id=...;". It reports
// isSTS false for a record that does not start with "v=STSv1" (to be
// ignored, section 3.1), and an error wrapping ErrInvalid for one that
// does but is malformed.
func ParseRecord(txt string) (rec Record, isSTS bool, err error) {
	fields := strings.Split(txt, ";")
	v := strings.Trim(fields[0], " \t")
	if v != "v=STSv1" {
		return Record{}, false, nil
	}
	seen := map[string]bool{}
	for i, f := range fields[1:] {
		f = strings.Trim(f, " \t")
		if f == "" {
			if i == len(fields)-2 {
				break // a trailing ";" is allowed
			}
			return Record{}, true, fmt.Errorf("%w record: empty field", ErrInvalid)
		}
		key, val, ok := strings.Cut(f, "=")
		if !ok || !validKey(key) {
			return Record{}, true, fmt.Errorf("%w record: field %q", ErrInvalid, f)
		}
		if seen[key] {
			continue // the first wins
		}
		seen[key] = true
		if key == "id" {
			if len(val) < 1 || len(val) > 32 || !allAlnum(val) {
				return Record{}, true, fmt.Errorf("%w record: id %q is not 1 to 32 letters and digits", ErrInvalid, val)
			}
			rec.ID = val
		}
	}
	if rec.ID == "" {
		return Record{}, true, fmt.Errorf("%w record: no id", ErrInvalid)
	}
	return rec, true, nil
}

// Policy is a parsed policy file (RFC 8461 section 3.2).
type Policy struct {
	Mode   Mode
	MaxAge int      // seconds, at most MaxAge
	MX     []string // patterns, lower-case, "*." for one label
}

// ParsePolicy parses a policy file: "key: value" lines ending in LF or
// CRLF. version (STSv1), mode and max_age are required, mx at least once
// unless mode is none; unknown keys (extensions) are ignored; of a
// repeated key other than mx, the first counts.
func ParsePolicy(text string) (Policy, error) {
	var p Policy
	if len(text) > MaxPolicyBytes {
		return p, fmt.Errorf("%w policy: over %d bytes", ErrInvalid, MaxPolicyBytes)
	}
	seen := map[string]bool{}
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.Trim(line, " \t") == "" {
			continue // a blank line, the trailing delimiter's one included
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok || !validKey(key) {
			return p, fmt.Errorf("%w policy: line %d is not \"key: value\"", ErrInvalid, n+1)
		}
		val = strings.Trim(val, " \t")
		if key != "mx" && seen[key] {
			continue
		}
		seen[key] = true
		switch key {
		case "version":
			if val != "STSv1" {
				return p, fmt.Errorf("%w policy: version %q", ErrInvalid, val)
			}
		case "mode":
			switch Mode(val) {
			case ModeEnforce, ModeTesting, ModeNone:
				p.Mode = Mode(val)
			default:
				return p, fmt.Errorf("%w policy: mode %q", ErrInvalid, val)
			}
		case "max_age":
			// 1*10DIGIT (RFC 8461 errata 7282); clamped to a year.
			if len(val) < 1 || len(val) > 10 || strings.Trim(val, "0123456789") != "" {
				return p, fmt.Errorf("%w policy: max_age %q", ErrInvalid, val)
			}
			a, _ := strconv.ParseInt(val, 10, 64)
			p.MaxAge = int(min(a, MaxAge))
		case "mx":
			pat, err := parseMXPattern(val)
			if err != nil {
				return p, err
			}
			p.MX = append(p.MX, pat)
		}
	}
	switch {
	case !seen["version"]:
		return p, fmt.Errorf("%w policy: no version", ErrInvalid)
	case p.Mode == "":
		return p, fmt.Errorf("%w policy: no mode", ErrInvalid)
	case !seen["max_age"]:
		return p, fmt.Errorf("%w policy: no max_age", ErrInvalid)
	case len(p.MX) == 0 && p.Mode != ModeNone:
		return p, fmt.Errorf("%w policy: no mx", ErrInvalid)
	}
	return p, nil
}

// parseMXPattern checks an mx value: a domain name, optionally "*." and a
// domain (RFC 8461 section 3.2), and returns it lower-cased without a
// trailing dot.
func parseMXPattern(v string) (string, error) {
	name := strings.TrimPrefix(v, "*.")
	name = strings.TrimSuffix(name, ".")
	if !validDomain(name) {
		return "", fmt.Errorf("%w policy: mx %q", ErrInvalid, v)
	}
	if strings.HasPrefix(v, "*.") {
		return "*." + strings.ToLower(name), nil
	}
	return strings.ToLower(name), nil
}

// Matches reports whether the MX host name matches one of the policy's
// patterns (RFC 8461 section 4.1): equal ignoring case, or for "*.D" one
// label followed by D.
func (p Policy) Matches(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			label, parent, found := strings.Cut(host, ".")
			if found && label != "" && parent == rest {
				return true
			}
		} else if host == pat {
			return true
		}
	}
	return false
}

// validKey: 1*32(ALPHA / DIGIT / "_" / "-" / ".") (RFC 8461 sections 3.1,
// 3.2).
func validKey(k string) bool {
	if len(k) < 1 || len(k) > 32 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// validDomain: an ASCII host name, labels of 1 to 63 letters, digits and
// hyphens, at most 253 octets, at least two labels.
func validDomain(d string) bool {
	if len(d) == 0 || len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, l := range strings.Split(d, ".") {
		if len(l) < 1 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if !isAlnum(l[i]) && l[i] != '-' {
				return false
			}
		}
	}
	return true
}

func allAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
