package mime

import (
	"bytes"
	"fmt"
	"testing"
)

// checker records what the walker hands over and checks its contract: End
// once for each Begin, children before their parent.
type checker struct {
	t      *testing.T
	open   map[*Entity]bool
	out    bytes.Buffer
	signed map[*Entity]*bytes.Buffer
}

func (c *checker) Begin(e *Entity) Sink {
	if c.open[e] {
		c.t.Fatalf("Begin twice for part %s", e.Part)
	}
	c.open[e] = true
	fmt.Fprintf(&c.out, "begin %s %s %s|", e.Part, e.Type, e.Encoding)
	if e.Type == "multipart/signed" {
		b := &bytes.Buffer{}
		c.signed[e] = b
		return Sink{W: b}
	}
	return Sink{Keep: 256}
}

func (c *checker) End(e *Entity, body []byte, err error) {
	if !c.open[e] {
		c.t.Fatalf("End without Begin for part %s", e.Part)
	}
	for o := range c.open {
		if o.Parent == e {
			c.t.Fatalf("part %s ended before its child %s", e.Part, o.Part)
		}
	}
	delete(c.open, e)
	fmt.Fprintf(&c.out, "end %s %q %v|", e.Part, body, err)
	if b := c.signed[e]; b != nil {
		fmt.Fprintf(&c.out, "signed %q|", b.Bytes())
	}
}

func walkAll(t *testing.T, ct string, body []byte, chunk int) string {
	c := &checker{t: t, open: map[*Entity]bool{}, signed: map[*Entity]*bytes.Buffer{}}
	w := NewWalker(ct, "", Limits{MaxDepth: 4, MaxParts: 50, MaxHeaderBytes: 512}, c)
	for p := body; len(p) > 0; {
		k := min(len(p), chunk)
		w.Write(p[:k])
		p = p[k:]
	}
	w.Close()
	if len(c.open) != 0 {
		t.Fatalf("%d entities never ended", len(c.open))
	}
	return c.out.String()
}

// FuzzWalker: any body, cut anywhere, gives the same entities and bytes as
// the body in one piece, and keeps the Handler contract.
func FuzzWalker(f *testing.F) {
	f.Add(signedCT, []byte(signedBody), uint16(3))
	f.Add("multipart/mixed; boundary=b", []byte("--b\r\nContent-Type: multipart/signed; boundary=c\r\n\r\n--c\r\n\r\nx\r\n--c--\r\n--b--\r\n"), uint16(1))
	f.Fuzz(func(t *testing.T, ct string, body []byte, chunk uint16) {
		if len(body) > 1<<16 {
			return
		}
		whole := walkAll(t, ct, body, len(body)+1)
		if cut := walkAll(t, ct, body, int(chunk%2000)+1); cut != whole {
			t.Fatalf("chunks of %d differ:\n%s\nwhole:\n%s", chunk%2000+1, cut, whole)
		}
	})
}
