package dns

import "strings"

// joinTXT joins the strings of one TXT record without separator (RFC 7208
// section 3.3, RFC 6376 section 3.6.2.2), undoing the presentation-format
// escapes miekg/dns puts in them: \DDD for bytes outside printable ASCII,
// \" and \\, and \X for any other X (RFC 1035 section 5.1).
func joinTXT(ss []string) string {
	if len(ss) == 1 && strings.IndexByte(ss[0], '\\') < 0 {
		return ss[0]
	}
	var b strings.Builder
	n := 0
	for _, s := range ss {
		n += len(s)
	}
	b.Grow(n)
	for _, s := range ss {
		unescape(&b, s)
	}
	return b.String()
}

func unescape(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			v := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')
			if v <= 255 {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i+1])
		i++
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
