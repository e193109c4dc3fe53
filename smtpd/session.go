package smtpd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"mqsh/queue"
)

// Replies of the session's own.
var (
	errRelayDenied   = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relay access denied"}
	errTooManyRcpts  = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "Too many recipients"}
	errBadRecipient  = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address syntax: want user@domain"}
	errBadSender     = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "Bad sender address syntax: want user@domain or <>"}
	errNeedsTLS      = &smtp.SMTPError{Code: 538, EnhancedCode: smtp.EnhancedCode{5, 7, 11}, Message: "Encryption required for requested authentication mechanism"}
	errLineTooLong   = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Message refused: a line is longer than 2000 characters (RFC 5321 allows 998)"}
	errNoTransaction = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Error: need MAIL command"}
)

// session is one client's SMTP conversation.
type session struct {
	s    *Server
	c    *smtp.Conn
	w    *wireConn
	ip   netip.Addr
	user string // authenticated as; "" when not

	// the transaction under way
	mail  bool
	from  string
	opts  smtp.MailOptions
	hold  time.Time
	rcpts []queue.EnvelopeRecipient

	head []byte // the Received header being written, kept for the next
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	w, ok := c.Conn().(*wireConn)
	if !ok {
		return nil, fmt.Errorf("internal error: connection not wrapped")
	}
	ss := &session{s: s, c: c, w: w, ip: addrIP(w.raw.RemoteAddr())}
	w.onTLS = func() { ss.user = ""; ss.Reset() }
	return ss, nil
}

func (ss *session) Reset() {
	if ss.mail {
		ss.s.com.inTx.Add(-1)
	}
	ss.mail, ss.from, ss.opts, ss.hold, ss.rcpts = false, "", smtp.MailOptions{}, time.Time{}, nil
}

func (ss *session) Logout() error {
	ss.Reset()
	return nil
}

// authOffered reports whether AUTH may be used on this connection: there
// are users, and the connection is encrypted or the listener is loopback.
func (ss *session) authOffered() bool {
	if len(ss.s.cfg.Users) == 0 {
		return false
	}
	return ss.w.tls || addrIP(ss.w.raw.LocalAddr()).IsLoopback()
}

func (ss *session) AuthMechanisms() []string {
	if !ss.authOffered() {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if len(ss.s.cfg.Users) == 0 {
		return nil, smtp.ErrAuthUnsupported
	}
	if !ss.authOffered() {
		return nil, errNeedsTLS
	}
	check := func(user, pass string) error {
		hash, ok := ss.s.cfg.Users[user]
		if !ok {
			hash = dummyHash // the same work for an unknown user
		}
		if bcrypt.CompareHashAndPassword([]byte(hash), []byte(pass)) != nil || !ok {
			ss.s.logf("warning: %s: SASL %s authentication failed for user %q", ss.w.clientName(), mech, user)
			return smtp.ErrAuthFailed
		}
		ss.user = user
		ss.s.logf("%s: SASL %s authentication succeeded, sasl_username=%s", ss.w.clientName(), mech, user)
		return nil
	}
	switch strings.ToUpper(mech) {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				return smtp.ErrAuthFailed
			}
			return check(user, pass)
		}), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// dummyHash is compared against when the user is unknown.
var dummyHash = func() string {
	h, _ := bcrypt.GenerateFromPassword([]byte("no such user"), bcrypt.MinCost)
	return string(h)
}()

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	ss.Reset()
	if from != "" && !validAddress(from) {
		ss.reject("MAIL", errBadSender, from, "")
		return errBadSender
	}
	ss.mail, ss.from, ss.hold = true, from, ss.w.hold
	ss.s.com.inTx.Add(1)
	if opts != nil {
		ss.opts = *opts
	}
	return nil
}

func (ss *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if !ss.mail {
		return errNoTransaction
	}
	if len(ss.rcpts) >= ss.s.cfg.MaxRecipients {
		ss.reject("RCPT", errTooManyRcpts, ss.from, to)
		return errTooManyRcpts
	}
	if !validAddress(to) {
		ss.reject("RCPT", errBadRecipient, ss.from, to)
		return errBadRecipient
	}
	if !ss.mayRelay() {
		ss.reject("RCPT", errRelayDenied, ss.from, to)
		return errRelayDenied
	}
	r := queue.EnvelopeRecipient{Address: to}
	if opts != nil {
		if opts.OriginalRecipient != "" {
			r.ORCPT = strings.ToLower(string(opts.OriginalRecipientType)) + ";" + opts.OriginalRecipient
		}
		for _, n := range opts.Notify {
			f, err := queue.ParseNotify(string(n))
			if err != nil {
				return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: "Malformed NOTIFY parameter value"}
			}
			r.Notify |= f
		}
	}
	ss.rcpts = append(ss.rcpts, r)
	return nil
}

// mayRelay reports whether the client may send to any recipient: it has
// authenticated, or its address is in a relay network.
func (ss *session) mayRelay() bool {
	if ss.user != "" {
		return true
	}
	for _, p := range ss.s.cfg.RelayNetworks {
		if p.Contains(ss.ip) {
			return true
		}
	}
	return false
}

// dataRoom is the room a message read through go-smtp starts with, past
// its Received header: a message of a few KiB is read without the buffer
// growing.
const dataRoom = 4 << 10

func (ss *session) Data(r io.Reader) error {
	// The Received header and the message go into one buffer, which is the
	// queued text. As a rule the message was taken in by the connection's
	// wrapper, which hands go-smtp an empty message (wire.go): then the
	// buffer is made to fit the two. Else the message is read from go-smtp
	// behind the header.
	ss.head = ss.received(ss.head[:0], ss.s.cfg.Now())
	var first [1]byte
	n, err := io.ReadFull(r, first[:])
	var raw []byte
	switch err {
	case io.EOF: // nothing from go-smtp
		err = nil
		text := ss.w.takeData()
		raw = append(make([]byte, 0, len(ss.head)+len(text)), ss.head...)
		raw = append(raw, text...)
	case nil:
		var b bytes.Buffer
		b.Grow(len(ss.head) + dataRoom)
		b.Write(ss.head)
		b.WriteByte(first[0])
		_, err = b.ReadFrom(r)
		n = b.Len() - len(ss.head)
		raw = b.Bytes()
	}
	if err != nil {
		if errors.Is(err, smtp.ErrDataTooLarge) {
			ss.reject("DATA", smtp.ErrDataTooLarge, ss.from, "")
			return smtp.ErrDataTooLarge
		}
		if errors.Is(err, smtp.ErrTooLongLine) {
			ss.reject("DATA", errLineTooLong, ss.from, "")
			return errLineTooLong
		}
		ss.s.logf("lost connection after DATA from %s (%d bytes received, nothing queued): %v", ss.w.clientName(), n, err)
		return err
	}
	env := queue.Envelope{
		Sender:     ss.from,
		Recipients: ss.rcpts,
		EnvID:      ss.opts.EnvelopeID,
		Ret:        string(ss.opts.Return),
		Client:     queue.Client{IP: ss.ip.String(), User: ss.user, Helo: ss.c.Hostname()},
		HoldUntil:  ss.hold,
	}
	status := "queued"
	if f := ss.s.cfg.OnArrival; f != nil {
		v := f(context.Background(), &Arrival{Client: env.Client, Sender: env.Sender, Recipients: env.Recipients, EnvID: env.EnvID, Ret: env.Ret, HoldUntil: env.HoldUntil, Raw: raw})
		switch v.Action {
		case Reject:
			e := parseReply(v.Reply)
			ss.reject("DATA", e, ss.from, "")
			return e
		case Hold:
			env.Held, env.HoldReason, status = true, v.Reply, "held"
		}
	}
	m, err := ss.s.com.enqueue(context.Background(), env, raw)
	if err != nil {
		e := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Error: queue file write error, try again later"}
		var refused *refusedError
		if errors.As(err, &refused) {
			e = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Message refused: " + strings.ReplaceAll(err.Error(), "\n", " ")}
		}
		ss.s.logf("warning: %s: message not queued: %v", ss.w.clientName(), err)
		ss.reject("DATA", e, ss.from, "")
		return e
	}
	extra := ""
	if ss.user != "" {
		extra += " sasl_username=" + ss.user
	}
	if !ss.hold.IsZero() {
		extra += " hold_until=" + ss.hold.UTC().Format(time.RFC3339)
	}
	sender := ss.from
	ss.s.logf("%s: client=%s from=<%s> size=%d nrcpt=%d%s (%s)", m.ID, ss.w.clientName(), sender, len(raw), len(ss.rcpts), extra, status)
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "Message queued as " + m.ID.String()}
}

// received appends the Received header the server adds (RFC 5321 4.4) to b.
func (ss *session) received(b []byte, now time.Time) []byte {
	b = append(b, "Received: from "...)
	b = append(b, ss.c.Hostname()...)
	b = append(b, " ("...)
	b = append(b, ss.w.clientName()...)
	b = append(b, ")\r\n\tby "...)
	b = append(b, ss.s.cfg.Hostname...)
	b = append(b, " (mqsh) with "...)
	if ss.opts.UTF8 {
		b = append(b, "UTF8"...)
	}
	if ss.w.greeting == "HELO" {
		b = append(b, "SMTP"...)
	} else {
		b = append(b, "ESMTP"...)
	}
	if ss.w.tls {
		b = append(b, 'S')
	}
	if ss.user != "" {
		b = append(b, 'A')
	}
	if ss.w.tls {
		b = append(b, "\r\n\t("...)
		b = append(b, tlsVersion(ss.w.tlsState.Version)...)
		b = append(b, ')')
	}
	if len(ss.rcpts) == 1 {
		b = append(b, "\r\n\tfor <"...)
		b = append(b, ss.rcpts[0].Address...)
		b = append(b, '>')
	}
	b = append(b, ";\r\n\t"...)
	b = now.AppendFormat(b, "Mon, 2 Jan 2006 15:04:05 -0700")
	return append(b, "\r\n"...)
}

// reject logs a refusal in Postfix's form.
func (ss *session) reject(stage string, e *smtp.SMTPError, from, to string) {
	line := fmt.Sprintf("NOQUEUE: reject: %s from %s: %d %d.%d.%d %s; from=<%s>", stage, ss.w.clientName(), e.Code, e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2], e.Message, from)
	if to != "" {
		line += " to=<" + to + ">"
	}
	ss.s.logf("%s helo=<%s>", line, ss.c.Hostname())
}

// validAddress reports whether a is user@domain with both parts present.
func validAddress(a string) bool {
	at := strings.LastIndexByte(a, '@')
	return at > 0 && at < len(a)-1 && !strings.ContainsAny(a, " \t\r\n<>")
}

func tlsVersion(v uint16) string {
	switch v {
	case 0x0304:
		return "TLS1.3"
	case 0x0303:
		return "TLS1.2"
	}
	return fmt.Sprintf("TLS 0x%04x", v)
}

// loginServer is the server side of SASL LOGIN (draft-murchison-sasl-login),
// which go-sasl offers only as a client: ask the user name, then the
// password.
type loginServer struct {
	check    func(user, pass string) error
	user     string
	step     int
	finished bool
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if len(response) > 0 { // an initial response carries the user name
			l.user = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.user = string(response)
		l.step++
		return []byte("Password:"), false, nil
	case 2:
		l.step++
		if err := l.check(l.user, string(response)); err != nil {
			return nil, true, err
		}
		return nil, true, nil
	}
	return nil, true, fmt.Errorf("unexpected response")
}
