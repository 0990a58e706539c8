package milter

import (
	"errors"
	"strconv"
	"strings"

	gomilter "github.com/emersion/go-milter"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/arc"
)

// ARC set fields we insert when sealing ([arc.seal]).
const (
	fieldAAR  = "ARC-Authentication-Results"
	fieldAMS  = "ARC-Message-Signature"
	fieldSeal = "ARC-Seal"
)

// seal adds our ARC set on top of the header (RFC 8617 §5.1), the last
// header change of the message: ARC-Seal above ARC-Message-Signature above
// ARC-Authentication-Results. Each value carries the one leading space
// the negotiated header mode needs (see arValue) and LF folds. A message
// that cannot be sealed is delivered unsealed, with the reason logged.
func (m *message) seal(md *gomilter.Modifier, r *auth.Report) error {
	set, err := m.am.Seal(r)
	switch {
	case errors.Is(err, arc.ErrNoSeal):
		m.s.log.Debug("arc: not sealed", "queue_id", m.env.QueueID, "reason", err.Error())
		return nil
	case err != nil:
		m.s.log.Warn("arc: sealing failed", "queue_id", m.env.QueueID, "err", err)
		return nil
	case set == nil:
		return nil
	}
	for _, f := range [...][2]string{{fieldAAR, set.AAR}, {fieldAMS, set.AMS}, {fieldSeal, set.Seal}} {
		if err := insertTop(md, f[0], f[1]); err != nil {
			return err
		}
	}
	return nil
}

// arcAttrs adds the ARC result to the message's log line when the message
// had ARC fields: the result and the sealers ("2:lists.example:pass",
// newest first), with the reason of a failure.
func arcAttrs(attrs []any, r *auth.Report) []any {
	a := r.ARC
	if a.Result == "" || a.Result == arc.None {
		return attrs
	}
	attrs = append(attrs, "arc", string(a.Result))
	if len(a.Sealers) > 0 {
		s := make(dkimResults, len(a.Sealers))
		for i, x := range a.Sealers {
			s[i] = strings.Join([]string{strconv.Itoa(x.Instance), x.Domain, string(x.Result)}, ":")
		}
		attrs = append(attrs, "arc_sealers", s)
	}
	if a.Reason != "" {
		attrs = append(attrs, "arc_reason", a.Reason)
	}
	return attrs
}
