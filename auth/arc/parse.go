package arc

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/authmilter/authmilter/auth/dkim"
)

// MaxInstances is the highest instance number allowed (RFC 8617 §4.2.1).
const MaxInstances = 50

// Field names of an ARC set (RFC 8617 §4.1).
const (
	nameAAR  = "ARC-Authentication-Results"
	nameAMS  = "ARC-Message-Signature"
	nameSeal = "ARC-Seal"
)

var (
	// ErrSyntax is a malformed ARC header field.
	ErrSyntax = errors.New("arc: malformed header field")
	// ErrStructure is a chain whose sets are incomplete, duplicated or not
	// numbered 1..N (RFC 8617 §4.2, §5.1.1).
	ErrStructure = errors.New("arc: invalid chain structure")
)

// seal is a parsed ARC-Seal (RFC 8617 §4.1.3).
type seal struct {
	inst   int
	cv     string // none, pass or fail
	algo   string
	domain string
	sel    string
	sig    []byte
	field  string
}

// msgSig is a parsed ARC-Message-Signature (RFC 8617 §4.1.2): a DKIM
// signature without v= and with i= the instance.
type msgSig struct {
	inst          int
	algo          string
	domain        string
	sel           string
	headers       []string
	sig, bodyHash []byte
	headerRelaxed bool
	bodyRelaxed   bool
	limit         int64 // l=, -1 when absent
	field         string
}

// set is one ARC set (RFC 8617 §4.1).
type set struct {
	aar, ams, seal string // the raw fields
}

// fieldValue returns the part of a raw field after the colon.
func fieldValue(f string) string {
	_, v, _ := strings.Cut(f, ":")
	return v
}

// parseInstance parses an i= value: 1..MaxInstances (RFC 8617 §4.2.1).
func parseInstance(v string) (int, error) {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > 2 {
		return 0, fmt.Errorf("%w: instance %q", ErrSyntax, v)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, fmt.Errorf("%w: instance %q", ErrSyntax, v)
		}
	}
	n, _ := strconv.Atoi(v)
	if n < 1 || n > MaxInstances {
		return 0, fmt.Errorf("%w: instance %d out of 1..%d", ErrSyntax, n, MaxInstances)
	}
	return n, nil
}

// aarInstance returns the instance of an ARC-Authentication-Results field,
// whose value starts with "i=N;" (RFC 8617 §4.1.1).
func aarInstance(f string) (int, error) {
	head, _, ok := strings.Cut(fieldValue(f), ";")
	if !ok {
		return 0, fmt.Errorf("%w: %s without \"i=N;\"", ErrSyntax, nameAAR)
	}
	name, v, ok := strings.Cut(head, "=")
	if !ok || strings.TrimSpace(name) != "i" {
		return 0, fmt.Errorf("%w: %s without \"i=N;\"", ErrSyntax, nameAAR)
	}
	return parseInstance(v)
}

// tagInstance returns i= of a signature field's tag list.
func tagInstance(f string) (int, map[string]string, error) {
	v := fieldValue(f)
	// RFC 6376 §3.2: tag-spec *( ";" tag-spec ) [ ";" ] allows an empty
	// spec only at the end (the suite fails "s=dummy;;").
	specs := strings.Split(v, ";")
	for _, spec := range specs[:len(specs)-1] {
		if strings.Trim(spec, " \t\r\n") == "" {
			return 0, nil, fmt.Errorf("%w: empty tag-spec", ErrSyntax)
		}
	}
	tags, err := dkim.ParseTagList(v)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	v, ok := tags["i"]
	if !ok {
		return 0, nil, fmt.Errorf("%w: no i= tag", ErrSyntax)
	}
	n, err := parseInstance(v)
	return n, tags, err
}

// decodeB64 decodes a base64 tag value, folding whitespace removed.
func decodeB64(v string) ([]byte, error) {
	v = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, v)
	return base64.StdEncoding.DecodeString(v)
}

// required returns the named tags, failing on the first absent one.
func required(tags map[string]string, names ...string) error {
	for _, n := range names {
		if _, ok := tags[n]; !ok {
			return fmt.Errorf("%w: no %s= tag", ErrSyntax, n)
		}
	}
	return nil
}

// checkAlgo accepts the a= values RFC 8617 §4.1.3 and RFC 8463 allow;
// rsa-sha1 is not allowed (RFC 8301 §3.1).
func checkAlgo(a string) error {
	switch a {
	case "rsa-sha256", "ed25519-sha256":
		return nil
	}
	return fmt.Errorf("%w: unsupported algorithm a=%.20s", ErrSyntax, a)
}

// parseSeal parses an ARC-Seal field (RFC 8617 §4.1.3).
func parseSeal(f string) (*seal, error) {
	inst, tags, err := tagInstance(f)
	if err != nil {
		return nil, err
	}
	if err := required(tags, "a", "b", "cv", "d", "s"); err != nil {
		return nil, err
	}
	// §4.1.3: an ARC-Seal has no h= (it signs the ARC sets only); the
	// suite holds one with h= to be a failure.
	if _, ok := tags["h"]; ok {
		return nil, fmt.Errorf("%w: h= in %s", ErrSyntax, nameSeal)
	}
	s := &seal{inst: inst, algo: tags["a"], domain: tags["d"], sel: tags["s"], field: f}
	if err := checkAlgo(s.algo); err != nil {
		return nil, err
	}
	switch cv := strings.ToLower(tags["cv"]); cv {
	case "none", "pass", "fail":
		s.cv = cv
	default:
		return nil, fmt.Errorf("%w: cv=%.20s", ErrSyntax, tags["cv"])
	}
	if s.domain == "" || s.sel == "" {
		return nil, fmt.Errorf("%w: empty d= or s=", ErrSyntax)
	}
	if s.sig, err = decodeB64(tags["b"]); err != nil || len(s.sig) == 0 {
		return nil, fmt.Errorf("%w: b= is not base64", ErrSyntax)
	}
	if t, ok := tags["t"]; ok {
		if _, err := strconv.ParseUint(strings.TrimSpace(t), 10, 64); err != nil {
			return nil, fmt.Errorf("%w: t=%.20s", ErrSyntax, t)
		}
	}
	return s, nil
}

// parseMsgSig parses an ARC-Message-Signature field (RFC 8617 §4.1.2).
func parseMsgSig(f string) (*msgSig, error) {
	inst, tags, err := tagInstance(f)
	if err != nil {
		return nil, err
	}
	if err := required(tags, "a", "b", "bh", "d", "h", "s"); err != nil {
		return nil, err
	}
	m := &msgSig{inst: inst, algo: tags["a"], domain: tags["d"], sel: tags["s"], limit: -1, field: f}
	if err := checkAlgo(m.algo); err != nil {
		return nil, err
	}
	if m.domain == "" || m.sel == "" {
		return nil, fmt.Errorf("%w: empty d= or s=", ErrSyntax)
	}
	if m.sig, err = decodeB64(tags["b"]); err != nil || len(m.sig) == 0 {
		return nil, fmt.Errorf("%w: b= is not base64", ErrSyntax)
	}
	if m.bodyHash, err = decodeB64(tags["bh"]); err != nil || len(m.bodyHash) == 0 {
		return nil, fmt.Errorf("%w: bh= is not base64", ErrSyntax)
	}
	for _, h := range strings.Split(tags["h"], ":") {
		h = strings.Trim(h, " \t\r\n") // folding around a name
		if h == "" {
			continue // an empty name signs nothing (the suite passes "h=" and "to::date")
		}
		// §4.1.2: ARC-Seal fields must not be signed by an AMS.
		if strings.EqualFold(h, nameSeal) {
			return nil, fmt.Errorf("%w: h= names %s", ErrSyntax, nameSeal)
		}
		m.headers = append(m.headers, h)
	}
	// RFC 6376 §3.5 makes simple/simple the default, but the ValiMail suite
	// (ams_fields_c_na) and dkimpy verify an AMS without c= as
	// relaxed/relaxed, the only form ARC signers emit; we follow them.
	hc, bc := "relaxed", "relaxed"
	if c, ok := tags["c"]; ok {
		hc, bc, _ = strings.Cut(strings.TrimSpace(c), "/")
		if bc == "" {
			bc = "simple"
		}
	}
	for _, c := range []string{hc, bc} {
		if c != "simple" && c != "relaxed" {
			return nil, fmt.Errorf("%w: c=%.20s", ErrSyntax, tags["c"])
		}
	}
	m.headerRelaxed, m.bodyRelaxed = hc == "relaxed", bc == "relaxed"
	if l, ok := tags["l"]; ok {
		if m.limit, err = strconv.ParseInt(strings.TrimSpace(l), 10, 64); err != nil || m.limit < 0 {
			return nil, fmt.Errorf("%w: l=%.20s", ErrSyntax, l)
		}
	}
	if t, ok := tags["t"]; ok {
		if _, err := strconv.ParseUint(strings.TrimSpace(t), 10, 64); err != nil {
			return nil, fmt.Errorf("%w: t=%.20s", ErrSyntax, t)
		}
	}
	return m, nil
}

// collect sorts the ARC fields among fields into sets by instance and checks
// the structure (RFC 8617 §5.1.1, §5.2 steps 1-3): every instance 1..N has
// exactly one field of each kind.
func collect(fields []string) ([]set, error) {
	var sets []set
	for _, f := range fields {
		name, _, _ := strings.Cut(f, ":")
		name = strings.TrimSpace(name)
		var kind int
		switch {
		case strings.EqualFold(name, nameAAR):
			kind = 0
		case strings.EqualFold(name, nameAMS):
			kind = 1
		case strings.EqualFold(name, nameSeal):
			kind = 2
		default:
			continue
		}
		var inst int
		var err error
		if kind == 0 {
			inst, err = aarInstance(f)
		} else {
			inst, _, err = tagInstance(f)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for len(sets) < inst {
			sets = append(sets, set{})
		}
		slot := [...]*string{&sets[inst-1].aar, &sets[inst-1].ams, &sets[inst-1].seal}[kind]
		if *slot != "" {
			return nil, fmt.Errorf("%w: two %s fields with i=%d", ErrStructure, name, inst)
		}
		*slot = f
	}
	for i, s := range sets {
		if s.aar == "" || s.ams == "" || s.seal == "" {
			return nil, fmt.Errorf("%w: set i=%d incomplete", ErrStructure, i+1)
		}
	}
	return sets, nil
}
