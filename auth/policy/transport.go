package policy

// CheckReply says what is wrong with each part of r as a reply of class
// ("4" or "5"), "" for a good part; the text may hold {domain}; an empty
// text is not checked. For other sections' replies (tls.*).
func CheckReply(r Reply, class string) (code, enhanced, text string) {
	return r.check(class, true)
}

// Transport is a shortfall in required transport security that the
// caller found (auth/tlsreq): the configured action, its reply (the text's
// {domain} becomes Domain) and the reason for the log line.
type Transport struct {
	Action Action
	Reply  Reply
	Domain string
	Reason string
}

// transportDecision is the decision for t; Decide keeps the stricter of it
// and the DMARC decision.
func transportDecision(cfg Config, t *Transport) Decision {
	switch t.Action {
	case Reject, Tempfail:
		return replyDecision(t.Action, t.Reply, t.Domain, t.Reason)
	case Quarantine:
		if cfg.QuarantineMode == QuarantineAccept {
			return Decision{Action: Accept, Reason: t.Reason + ", quarantine_mode accept"}
		}
		return Decision{Action: Quarantine, Quarantine: cfg.QuarantineMode,
			Text: expand(t.Reply.Text, t.Domain), Reason: t.Reason}
	}
	return Decision{Action: Accept, Reason: t.Reason}
}
