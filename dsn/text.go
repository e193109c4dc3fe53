package dsn

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// sections are the human-readable part's headings, in the order the part
// gives them: bad news first.
var sections = []struct {
	action  Action
	heading string
}{
	{Failed, "Your message could not be delivered to these recipients. This is a permanent error; the mail system has given up:"},
	{Delayed, "Your message has not been delivered to these recipients yet. The mail system will keep trying; you need do nothing now:"},
	{Delivered, "Your message was delivered to these recipients:"},
	{Relayed, "Your message was passed on to these recipients' mail systems, which send no notices of their own; you may hear nothing more:"},
	{Expanded, "Your message was delivered to these recipients and forwarded on from there:"},
}

// humanText writes the text/plain part: who reports, then one section per
// kind of news with a short paragraph per recipient (the address, what the
// remote server said or why there is no reply, and for delays until when
// delivery goes on being tried). Lines end in LF; the quoted-printable
// writer makes them CRLF.
func humanText(r Report) []byte {
	var b bytes.Buffer
	about := "This is the mail system at " + r.Hostname + ", with a report on your message"
	if !r.Arrival.IsZero() {
		about += " of " + r.Arrival.Format(time.RFC1123Z)
	}
	if id := clean(r.EnvID); id != "" {
		about += " (envelope id " + id + ")"
	}
	wrap(&b, about+".", "")

	for _, s := range sections {
		first := true
		for _, rc := range r.Recipients {
			if rc.Action != s.action {
				continue
			}
			if first {
				b.WriteString("\n")
				wrap(&b, s.heading, "")
				first = false
			}
			b.WriteString("\n")
			recipientText(&b, rc)
		}
	}

	switch {
	case len(r.Original) == 0:
	case r.Full:
		b.WriteString("\nYour message is attached below.\n")
	default:
		b.WriteString("\nThe header of your message is attached below.\n")
	}
	return b.Bytes()
}

// recipientText writes one recipient's paragraph.
func recipientText(b *bytes.Buffer, rc Recipient) {
	fmt.Fprintf(b, "  <%s>\n", clean(rc.Address))
	if o := clean(rc.ORCPT); o != "" {
		if _, addr, ok := strings.Cut(o, ";"); ok {
			o = strings.TrimSpace(addr)
		}
		if o != "" && !strings.EqualFold(o, clean(rc.Address)) {
			wrap(b, "originally addressed as <"+o+">", "    ")
		}
	}
	mta := clean(rc.RemoteMTA)
	switch diag := clean(rc.Diagnostic); {
	case diag != "" && mta != "":
		wrap(b, mta+" replied: "+diag, "    ")
	case diag != "":
		wrap(b, "the remote server replied: "+diag, "    ")
	case rc.Action == Delivered && mta != "":
		wrap(b, "delivered to "+mta, "    ")
	case rc.Action == Relayed && mta != "":
		wrap(b, "passed on to "+mta, "    ")
	}
	if reason := clean(rc.Reason); reason != "" {
		wrap(b, reason, "    ")
	}
	if rc.Action == Delayed && !rc.WillRetryUntil.IsZero() {
		wrap(b, "delivery will be tried until "+rc.WillRetryUntil.Format(time.RFC1123Z), "    ")
	}
}

// wrap writes s as lines of at most 72 columns where it can (a longer word
// stays whole), each starting with indent.
func wrap(b *bytes.Buffer, s, indent string) {
	const width = 72
	col := 0
	for _, w := range strings.Fields(s) {
		switch {
		case col == 0:
			b.WriteString(indent)
			col = len(indent)
		case col+1+len(w) > width:
			b.WriteString("\n" + indent)
			col = len(indent)
		default:
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += len(w)
	}
	b.WriteString("\n")
}
