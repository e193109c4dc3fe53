package dsn

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// Build writes the whole notice r describes: a multipart/report with a
// human-readable text/plain part, a message/delivery-status part, and the
// original message (RET=FULL) or its header. Lines end in CRLF. The caller
// enqueues the result from the null sender <> to r.To.
//
// Build refuses a report it cannot write truthfully (no recipient, no
// sender to return it to, a host name or status that is not one, an unknown
// action). Text that comes from outside (addresses, remote replies,
// envelope ids) is never trusted: control characters become spaces, so a
// CR or LF in a remote reply cannot start a header field or a MIME part.
func Build(r Report) ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, fmt.Errorf("dsn: %w", err)
	}
	date := r.Date
	if date.IsZero() {
		date = time.Now()
	}
	msgID := r.MessageID
	if msgID == "" {
		var b [12]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("dsn: make a message id: %w", err)
		}
		msgID = hex.EncodeToString(b[:]) + "@" + r.Hostname
	}

	text := humanText(r)
	status, err := statusFields(r)
	if err != nil {
		return nil, fmt.Errorf("dsn: %w", err)
	}
	var orig []byte
	var origType string
	if len(r.Original) > 0 {
		orig = crlf(r.Original)
		origType = "message/rfc822"
		if !r.Full {
			orig = headerSection(orig)
			origType = "text/rfc822-headers"
		}
	}
	boundary := makeBoundary(msgID, date, text, status, orig)
	if bytes.Contains(text, []byte(boundary)) || bytes.Contains(status, []byte(boundary)) || bytes.Contains(orig, []byte(boundary)) {
		return nil, errors.New("dsn: the MIME boundary occurs in the notice's content; try again with another message id")
	}

	var h message.Header
	err = addFields(&h.Header,
		"From", (&mail.Address{Name: "Mail Delivery Subsystem", Address: "MAILER-DAEMON@" + r.Hostname}).String(),
		"To", toField(r.To),
		"Subject", subject(r.Recipients),
		"Date", date.Format(time.RFC1123Z),
		"Message-ID", "<"+msgID+">",
		"Auto-Submitted", "auto-replied",
		"MIME-Version", "1.0",
		"Content-Type", mime.FormatMediaType("multipart/report", map[string]string{"report-type": "delivery-status", "boundary": boundary}),
	)
	if err != nil {
		return nil, fmt.Errorf("dsn: %w", err)
	}

	var out bytes.Buffer
	w, err := message.CreateWriter(&out, h)
	if err != nil {
		return nil, fmt.Errorf("dsn: write the notice's header: %w", err)
	}
	if err := writePart(w, text, "text/plain", map[string]string{"charset": "utf-8"}, "quoted-printable"); err != nil {
		return nil, fmt.Errorf("dsn: write the human-readable part: %w", err)
	}
	if err := writePart(w, status, "message/delivery-status", nil, "7bit"); err != nil {
		return nil, fmt.Errorf("dsn: write the delivery-status part: %w", err)
	}
	if orig != nil {
		if err := writePart(w, orig, origType, nil, bodyEncoding(orig)); err != nil {
			return nil, fmt.Errorf("dsn: write the original message part: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("dsn: finish the notice: %w", err)
	}
	return out.Bytes(), nil
}

// toField writes the sender's address for the To field: as given when it
// is already a valid address (a quoted local part stays as it came), else
// quoted by net/mail.
func toField(to string) string {
	if a, err := mail.ParseAddress("<" + to + ">"); err == nil && a.Name == "" {
		return "<" + to + ">"
	}
	return (&mail.Address{Address: to}).String()
}

// writePart adds one part with the given type and transfer encoding; the
// writer go-message returns does the encoding.
func writePart(w *message.Writer, body []byte, typ string, params map[string]string, cte string) error {
	var h message.Header // written last field first
	h.Set("Content-Transfer-Encoding", cte)
	h.SetContentType(typ, params)
	pw, err := w.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := pw.Write(body); err != nil {
		return err
	}
	return pw.Close()
}

// addFields adds name/value pairs to h, formatted and folded, so that they
// are written in the order given (go-message writes a header's fields last
// added first).
func addFields(h *textproto.Header, kv ...string) error {
	for i := len(kv) - 2; i >= 0; i -= 2 {
		f, err := formatField(kv[i], kv[i+1])
		if err != nil {
			return err
		}
		h.AddRaw(f)
	}
	return nil
}

var (
	hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$`)
	statusRE   = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}$`)
)

// check says what is wrong with r, if anything.
func (r *Report) check() error {
	if !hostnameRE.MatchString(r.Hostname) || len(r.Hostname) > 253 {
		return fmt.Errorf("reporting host name %q is not a domain name; give the server's own name, such as mx.example.org", r.Hostname)
	}
	if r.To == "" || r.To == "<>" {
		return errors.New("the notice has no recipient: a message from the null sender <> never gets a delivery notice")
	}
	if hasControl(r.To) {
		return fmt.Errorf("sender address %q holds control characters; a notice cannot be addressed to it", r.To)
	}
	if r.MessageID != "" && (strings.ContainsAny(r.MessageID, " \t<>") || hasControl(r.MessageID) || !strings.Contains(r.MessageID, "@")) {
		return fmt.Errorf("message id %q is not of the form left@right without <>; give one such as 1234@mx.example.org, or none to have one made", r.MessageID)
	}
	if len(r.Recipients) == 0 {
		return errors.New("the report names no recipients; give at least one recipient to report on")
	}
	for i, rc := range r.Recipients {
		if !rc.Action.valid() {
			return fmt.Errorf("recipient %d (%q): action %q is not one of failed, delayed, delivered, relayed, expanded", i+1, rc.Address, rc.Action)
		}
		if clean(rc.Address) == "" {
			return fmt.Errorf("recipient %d has no address; every recipient reported on needs one", i+1)
		}
		if rc.Status != "" && !statusRE.MatchString(rc.Status) {
			return fmt.Errorf("recipient %d (%q): status %q is not an enhanced status code such as 5.1.1", i+1, rc.Address, rc.Status)
		}
	}
	return nil
}

// subject names the notice after the kinds of news it carries.
func subject(rs []Recipient) string {
	var failed, delayed, good bool
	for _, rc := range rs {
		switch rc.Action {
		case Failed:
			failed = true
		case Delayed:
			delayed = true
		default:
			good = true
		}
	}
	switch {
	case failed && !delayed && !good:
		return "Undelivered Mail Returned to Sender"
	case delayed && !failed && !good:
		return "Delayed Mail (still being retried)"
	case good && !failed && !delayed:
		return "Successful Mail Delivery Report"
	}
	return "Mail Delivery Status Report"
}

// makeBoundary derives the MIME boundary from the notice's content, so the
// same report always gives the same bytes (golden files) and no content can
// be made to contain it without breaking SHA-256.
func makeBoundary(msgID string, date time.Time, parts ...[]byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00", msgID, date.UnixNano())
	for _, p := range parts {
		fmt.Fprintf(h, "%d\x00", len(p))
		h.Write(p)
	}
	return "=_dsn_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// crlf turns every line end in b (LF, CR or CRLF) into CRLF, and ends a
// last unterminated line.
func crlf(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/40+2)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\r':
			out = append(out, '\r', '\n')
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\r', '\n')
	}
	return out
}

// headerSection returns the header of a CRLF message up to and including
// the empty line that ends it (all of it when there is no body).
func headerSection(b []byte) []byte {
	if bytes.HasPrefix(b, []byte("\r\n")) {
		return b[:2]
	}
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return b[:i+4]
	}
	return b
}

// bodyEncoding is the Content-Transfer-Encoding that declares b as it is.
func bodyEncoding(b []byte) string {
	for _, c := range b {
		if c >= 0x80 {
			return "8bit"
		}
	}
	return "7bit"
}
