package milter

import "github.com/authmilter/authmilter/auth/mime"

// appendSignatures adds the log line's S/MIME and OpenPGP results, one key
// per method ("smime", "openpgp"), each a list of "result:part:identifier"
// (identifier empty when unknown); nothing for a message without any.
func appendSignatures(attrs []any, rs []mime.Result) []any {
	if len(rs) == 0 {
		return attrs
	}
	var sm, pg dkimResults
	for _, r := range rs {
		v := string(r.Result) + ":" + r.Part + ":" + r.Identifier
		if r.Method == mime.MethodSMIME {
			sm = append(sm, v)
		} else {
			pg = append(pg, v)
		}
	}
	if len(sm) > 0 {
		attrs = append(attrs, "smime", sm)
	}
	if len(pg) > 0 {
		attrs = append(attrs, "openpgp", pg)
	}
	return attrs
}
