package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// postfixMacros are Postfix 3.7's default macro lists per stage
// (milter_*_macros); a milter's SETSYMLIST replaces the list of a stage.
var postfixMacros = [numStages][]string{
	stageConnect: {"j", "{daemon_name}", "{daemon_addr}", "v", "_"},
	stageHelo:    {"{tls_version}", "{cipher}", "{cipher_bits}", "{cert_subject}", "{cert_issuer}"},
	stageMail:    {"i", "{auth_type}", "{auth_authen}", "{auth_author}", "{mail_addr}", "{mail_host}", "{mail_mailer}"},
	stageRcpt:    {"i", "{rcpt_addr}", "{rcpt_host}", "{rcpt_mailer}"},
	stageData:    {"i"},
	stageEOM:     {"i"},
	stageEOH:     {"i"},
}

// ioTimeout bounds every read and write to a milter.
const ioTimeout = 30 * time.Second

// milterConn is the MTA side of one milter connection.
type milterConn struct {
	c       net.Conn
	r       *bufio.Reader
	w       packetWriter
	buf     []byte
	version uint32
	actions uint32
	proto   uint32
	symlist [numStages][]string
	quick   bool // TCP quick-ack before each read
	off     bool // accepted or rejected for the whole session
	offMsg  bool // accepted for the rest of this message
}

// dialMilter connects and negotiates as Postfix does: protocol 6, every
// action and every protocol step offered.
func dialMilter(addr string, quick bool) (*milterConn, error) {
	network := "tcp"
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", p
	}
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	m := &milterConn{c: c, r: bufio.NewReaderSize(c, 16<<10), w: packetWriter{w: c}, quick: quick}
	var opt [12]byte
	binary.BigEndian.PutUint32(opt[0:], protoVersion)
	binary.BigEndian.PutUint32(opt[4:], mtaActions)
	binary.BigEndian.PutUint32(opt[8:], mtaProtocol)
	m.w.packet(cmdOptNeg, opt[:])
	if err := m.flush(); err != nil {
		c.Close()
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	cmd, data, err := readPacket(m.r, &m.buf)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("bench: negotiation with %s: %w", addr, err)
	}
	if cmd != cmdOptNeg || len(data) < 12 {
		c.Close()
		return nil, fmt.Errorf("bench: negotiation with %s: unexpected reply %q", addr, cmd)
	}
	m.version = binary.BigEndian.Uint32(data[0:])
	m.actions = binary.BigEndian.Uint32(data[4:]) & mtaActions
	m.proto = binary.BigEndian.Uint32(data[8:]) & mtaProtocol
	for rest := data[12:]; len(rest) >= 5; {
		stage := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		i := 0
		for i < len(rest) && rest[i] != 0 {
			i++
		}
		if stage < numStages {
			m.symlist[stage] = strings.Fields(string(rest[:i]))
		}
		rest = rest[min(i+1, len(rest)):]
	}
	return m, nil
}

func (m *milterConn) flush() error {
	m.c.SetWriteDeadline(time.Now().Add(ioTimeout))
	return m.w.flush()
}

func (m *milterConn) close(quit bool) {
	if quit {
		m.w.packet(cmdQuit)
		m.flush()
	}
	m.c.Close()
}

// macros queues a macro packet for the stage of cmd with the values known.
func (m *milterConn) macros(stage int, cmd byte, vals map[string]string) {
	names := m.symlist[stage]
	if names == nil {
		names = postfixMacros[stage]
	}
	data := make([]byte, 0, 128)
	data = append(data, cmd)
	n := 0
	for _, name := range names {
		v, ok := vals[name]
		if !ok {
			continue
		}
		data = cstr(cstr(data, name), v)
		n++
	}
	if n > 0 {
		m.w.packet(cmdMacro, data)
	}
}

// reply is a milter's answer to one command.
type reply struct {
	code byte
	text string // for 'y'
	mods []mod
}

// mod is one message modification received at end of message.
type mod struct {
	code  byte
	index uint32
	name  string
	value string
}

// wait flushes what is queued and reads packets up to a reply that ends the
// command; modifications and progress packets are collected on the way.
func (m *milterConn) wait() (reply, error) {
	var rep reply
	if err := m.flush(); err != nil {
		return rep, err
	}
	if m.quick {
		quickAck(m.c)
	}
	m.c.SetReadDeadline(time.Now().Add(ioTimeout))
	for {
		cmd, data, err := readPacket(m.r, &m.buf)
		if err != nil {
			return rep, err
		}
		switch cmd {
		case repProgress:
			m.c.SetReadDeadline(time.Now().Add(ioTimeout))
		case repAddHeader, repInsHeader, repChgHeader:
			md := mod{code: cmd}
			if cmd != repAddHeader {
				if len(data) < 4 {
					return rep, errPacket
				}
				md.index = binary.BigEndian.Uint32(data)
				data = data[4:]
			}
			s := cstrings(data)
			if len(s) > 0 {
				md.name = s[0]
			}
			if len(s) > 1 {
				md.value = s[1]
			}
			rep.mods = append(rep.mods, md)
		case repQuarantine, '+', '-', '2', 'b', 'e':
			rep.mods = append(rep.mods, mod{code: cmd, value: strings.TrimRight(string(data), "\x00")})
		case repReplyCode:
			rep.code, rep.text = cmd, strings.TrimRight(string(data), "\x00")
			return rep, nil
		case repAccept, repContinue, repDiscard, repReject, repTempfail, repSkip:
			rep.code = cmd
			return rep, nil
		default:
			return rep, fmt.Errorf("bench: unexpected milter reply %q", cmd)
		}
	}
}

// step sends one command (after its macros) and, unless the milter said it
// will not reply (nr flag) or does not want it (no flag), waits for the reply.
func (m *milterConn) step(no, nr uint32, cmd byte, data ...[]byte) (reply, error) {
	if m.proto&no != 0 {
		return reply{code: repContinue}, nil
	}
	m.w.packet(cmd, data...)
	if nr != 0 && m.proto&nr != 0 {
		if len(m.w.buf) >= 64<<10 {
			return reply{code: repContinue}, m.flush()
		}
		return reply{code: repContinue}, nil
	}
	return m.wait()
}

// Outcome is what happened to one message.
type Outcome struct {
	Action  string // accept, quarantine, reject, tempfail, discard, error
	EOM     time.Duration
	Total   time.Duration
	Err     error
	Replies []string // final reply texts ('y')
}

// session is one SMTP session: a connection to each milter of the chain,
// driven in series as Postfix drives smtpd_milters.
type session struct {
	milters []*milterConn
	vals    map[string]string
	seq     int
	id      int
	// qHeader names a header field whose value "yes" marks a quarantine
	// (a milter that quarantines by header, as rspamd's "add header").
	qHeader string
}

// openSession connects to every milter and sends connect and HELO for the
// client of msg.
func openSession(addrs []string, quick bool, id int, msg *Message) (*session, Outcome, error) {
	s := &session{id: id, vals: map[string]string{
		"j": "mx.inbox.example", "{daemon_name}": "mx.inbox.example", "{daemon_addr}": "127.0.0.1",
		"v": "Postfix 3.7.11", "_": "unknown [" + msg.ClientIP + "]",
		"{client_addr}": msg.ClientIP, "{client_name}": "unknown", "{client_ptr}": "unknown",
		"{client_port}": "41234",
	}}
	for _, a := range addrs {
		m, err := dialMilter(a, quick)
		if err != nil {
			s.close()
			return nil, Outcome{}, err
		}
		s.milters = append(s.milters, m)
	}
	ip := net.ParseIP(msg.ClientIP)
	fam := byte('4')
	if ip.To4() == nil {
		fam = '6'
	}
	var conn []byte
	conn = cstr(conn, "unknown")
	conn = append(conn, fam, 0xa1, 0x32) // port 41234
	conn = cstr(conn, msg.ClientIP)
	helo := cstr(nil, msg.Helo)
	for _, stage := range []envStep{
		{stageConnect, cmdConnect, pNoConnect, pNRConn, conn},
		{stageHelo, cmdHelo, pNoHelo, pNRHelo, helo},
	} {
		for _, m := range s.milters {
			if m.off {
				continue
			}
			if m.proto&stage.no == 0 {
				m.macros(stage.stage, stage.cmd, s.vals)
			}
			rep, err := m.step(stage.no, stage.nr, stage.cmd, stage.data)
			if err != nil {
				s.close()
				return nil, Outcome{}, err
			}
			switch rep.code {
			case repContinue:
			case repAccept:
				m.off = true
			default:
				// The session is refused: every message of it gets this answer.
				o := Outcome{Action: action(rep, false)}
				s.close()
				return nil, o, nil
			}
		}
	}
	return s, Outcome{}, nil
}

func (s *session) close() {
	for _, m := range s.milters {
		m.close(true)
	}
}

// action names a final reply.
func action(rep reply, quarantined bool) string {
	switch rep.code {
	case repReject:
		return "reject"
	case repTempfail:
		return "tempfail"
	case repDiscard:
		return "discard"
	case repReplyCode:
		if strings.HasPrefix(rep.text, "4") {
			return "tempfail"
		}
		return "reject"
	}
	if quarantined {
		return "quarantine"
	}
	return "accept"
}

// send runs one message through the chain and ends it with ABORT, as
// Postfix does after end of message.
func (s *session) send(msg *Message) Outcome {
	start := time.Now()
	s.seq++
	o := s.message(msg)
	for _, m := range s.milters {
		if !m.off {
			m.w.packet(cmdAbort)
			if err := m.flush(); err != nil && o.Err == nil {
				o.Err, o.Action = err, "error"
			}
		}
		m.offMsg = false
	}
	o.Total = time.Since(start)
	return o
}

func (s *session) message(msg *Message) Outcome {
	var o Outcome
	s.vals["{mail_addr}"] = msg.MailFrom
	s.vals["{mail_host}"] = domainOf(msg.MailFrom)
	s.vals["{mail_mailer}"] = "smtp"
	s.vals["{rcpt_addr}"] = msg.Rcpt
	s.vals["{rcpt_host}"] = domainOf(msg.Rcpt)
	s.vals["{rcpt_mailer}"] = "virtual"
	delete(s.vals, "i")
	mail := cstr(nil, "<"+msg.MailFrom+">")
	mail = cstr(mail, "BODY=8BITMIME")
	rcpt := cstr(nil, "<"+msg.Rcpt+">")

	envelope := []envStep{
		{stageMail, cmdMail, pNoMail, pNRMail, mail},
		{stageRcpt, cmdRcpt, pNoRcpt, pNRRcpt, rcpt},
		{stageData, cmdData, pNoData, pNRData, nil},
	}
	for i, st := range envelope {
		if st.cmd == cmdData {
			// The queue id exists once a recipient is accepted.
			s.vals["i"] = queueID(s.id, s.seq)
		}
		for _, m := range s.milters {
			if m.off || m.offMsg {
				continue
			}
			if m.proto&st.no == 0 {
				m.macros(st.stage, st.cmd, s.vals)
			}
			rep, err := m.step(st.no, st.nr, st.cmd, st.data)
			if err != nil {
				o.Err, o.Action = err, "error"
				return o
			}
			switch rep.code {
			case repContinue:
			case repAccept:
				m.offMsg = true
			default:
				o.Action = action(rep, false)
				return o
			}
		}
		_ = i
	}

	headers := msg.Headers
	quarantined := false
	for mi, m := range s.milters {
		if m.off || m.offMsg {
			continue
		}
		rep, eom, err := m.content(headers, msg, s.vals)
		o.EOM += eom
		if err != nil {
			o.Err, o.Action = err, "error"
			return o
		}
		if rep.code == repReplyCode {
			o.Replies = append(o.Replies, rep.text)
		}
		switch rep.code {
		case repContinue, repAccept:
		default:
			o.Action = action(rep, false)
			return o
		}
		for _, md := range rep.mods {
			if md.code == repQuarantine || s.quarantineHeader(md) {
				quarantined = true
			}
		}
		if mi < len(s.milters)-1 && len(rep.mods) > 0 {
			headers = applyMods(headers, rep.mods)
		}
	}
	o.Action = action(reply{code: repAccept}, quarantined)
	return o
}

// quarantineHeader reports whether a modification sets the header field
// that marks a quarantine (RunConfig.QuarantineHeader): added, inserted,
// or changed (rspamd sets X-Spam with a change of its first instance,
// which adds the field when there is none).
func (s *session) quarantineHeader(md mod) bool {
	return s.qHeader != "" && (md.code == repAddHeader || md.code == repInsHeader || md.code == repChgHeader) &&
		strings.EqualFold(md.name, s.qHeader) && strings.EqualFold(strings.TrimSpace(md.value), "yes")
}

// content sends the header, the body and end of message to one milter
// and returns its final reply and the end-of-message latency.
func (m *milterConn) content(headers []Field, msg *Message, vals map[string]string) (reply, time.Duration, error) {
	lead := m.proto&pHdrLeadSpc != 0
	hdr := make([]byte, 0, 256)
	if m.proto&pNoHdrs == 0 {
		for _, f := range headers {
			v := f.Value
			if !lead {
				v = strings.TrimLeft(v, " \t")
			}
			m.macros(stageEOH, cmdHeader, vals)
			hdr = cstr(cstr(hdr[:0], f.Name), v)
			rep, err := m.step(0, pNRHdr, cmdHeader, hdr)
			if err != nil {
				return rep, 0, err
			}
			if rep.code != repContinue {
				return m.early(rep)
			}
		}
	}
	if m.proto&pNoEOH == 0 {
		m.macros(stageEOH, cmdEOH, vals)
		rep, err := m.step(0, pNREOH, cmdEOH)
		if err != nil {
			return rep, 0, err
		}
		if rep.code != repContinue {
			return m.early(rep)
		}
	}
	if m.proto&pNoBody == 0 {
		var final *reply
		emit := func(chunk []byte) (bool, error) {
			m.macros(stageEOM, cmdBody, vals)
			rep, err := m.step(0, pNRBody, cmdBody, chunk)
			if err != nil {
				return false, err
			}
			switch rep.code {
			case repContinue:
				return true, nil
			case repSkip:
				return false, nil
			}
			final = &rep
			return false, nil
		}
		var err error
		if msg.Stream > 0 {
			err = streamChunks(msg.Stream, emit)
		} else {
			for off := 0; off < len(msg.Body); off += maxChunk {
				more, e := emit(msg.Body[off:min(off+maxChunk, len(msg.Body))])
				if err = e; !more {
					break
				}
			}
		}
		if err != nil {
			return reply{}, 0, err
		}
		if final != nil {
			return m.early(*final)
		}
	}
	// What the no-reply steps left queued goes out first: the latency
	// measured is that of end of message alone.
	if err := m.flush(); err != nil {
		return reply{}, 0, err
	}
	m.macros(stageEOM, cmdEOM, vals)
	m.w.packet(cmdEOM)
	start := time.Now()
	rep, err := m.wait()
	return rep, time.Since(start), err
}

// early handles a final answer before end of message: accept ends this
// milter's part, anything else ends the message.
func (m *milterConn) early(rep reply) (reply, time.Duration, error) {
	if rep.code == repAccept {
		m.offMsg = true
	}
	return rep, 0, nil
}

// applyMods applies header changes for the next milter of the chain, as
// Postfix's cleanup does between milters.
func applyMods(h []Field, mods []mod) []Field {
	h = append([]Field(nil), h...)
	for _, md := range mods {
		value := " " + md.value
		switch md.code {
		case repAddHeader:
			h = append(h, Field{md.name, value})
		case repInsHeader:
			i := min(int(md.index), len(h))
			h = append(h[:i], append([]Field{{md.name, value}}, h[i:]...)...)
		case repChgHeader:
			n := 0
			for j := range h {
				if strings.EqualFold(h[j].Name, md.name) {
					n++
					if n == int(md.index) {
						if md.value == "" {
							h = append(h[:j], h[j+1:]...)
						} else {
							h[j].Value = value
						}
						break
					}
				}
			}
		}
	}
	return h
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}

// queueID makes a Postfix-looking queue id unique per session and message.
func queueID(session, seq int) string {
	return strings.ToUpper(strconv.FormatInt(int64(session)<<20|int64(seq), 16)) + "A"
}

// envStep is one envelope command of a session: its macro stage, command,
// the SMFIP_NO*/SMFIP_NR_* flags that skip it or its reply, and its data.
type envStep struct {
	stage  int
	cmd    byte
	no, nr uint32
	data   []byte
}
