// Package dsn is in charge of delivery status notifications (RFC 3464): the
// multipart/report messages an MTA sends back to a sender to say that mail
// failed, is delayed, or was delivered, and the rules (RFC 3461 NOTIFY) that
// decide whether a sender gets one at all.
//
// It knows nothing of the queue: a caller describes the notice in a Report,
// Build turns it into message text, and the caller enqueues that text from
// the null sender <> to Report.To.
//
// emersion/go-message writes the MIME structure: its multipart writer, its
// quoted-printable encoding of the text part, and its folding of long
// fields. The standard library's mime/multipart takes a part's header as a
// map (field order lost) and net/textproto does not fold, so they would
// need more code of our own, not less.
package dsn

import "time"

// Action is what happened to one recipient, as written in the Action field
// of a delivery-status part (RFC 3464 section 2.3.3).
type Action string

// The actions RFC 3464 defines.
const (
	Failed    Action = "failed"    // permanently undeliverable, or expired
	Delayed   Action = "delayed"   // not delivered yet, still being retried
	Delivered Action = "delivered" // accepted by the final destination
	Relayed   Action = "relayed"   // handed to a host that sends no notices itself
	Expanded  Action = "expanded"  // delivered and forwarded on to more recipients
)

// valid reports whether a is one of the five actions.
func (a Action) valid() bool {
	switch a {
	case Failed, Delayed, Delivered, Relayed, Expanded:
		return true
	}
	return false
}

// Recipient is what a notice says about one recipient.
type Recipient struct {
	Address        string    // Final-Recipient: written "rfc822; ADDRESS"
	ORCPT          string    // Original-Recipient as given with ORCPT, xtext-decoded ("rfc822;a@b.example"); "" = none
	Action         Action    // what happened
	Status         string    // enhanced status code, e.g. "5.1.1"; "" = the action's generic code (5.0.0, 4.0.0, 2.0.0)
	RemoteMTA      string    // host name of the remote MTA; "" = none
	Diagnostic     string    // the remote reply, e.g. "550 5.1.1 No such user" (written "smtp; …"); "" = none
	Reason         string    // a local explanation when there is no remote reply (e.g. "connection to mx.example.org timed out"); human part only; "" = none
	LastAttempt    time.Time // Last-Attempt-Date; zero = none
	WillRetryUntil time.Time // Will-Retry-Until, for delayed recipients; zero = none
}

// Report describes one notice to one sender about one message.
type Report struct {
	Hostname   string      // the reporting MTA: Reporting-MTA "dns; HOST" and From: MAILER-DAEMON@HOST
	To         string      // the original sender (the return path the notice goes to)
	EnvID      string      // Original-Envelope-Id (ENVID); "" = none
	Arrival    time.Time   // Arrival-Date of the original message; zero = omitted
	Date       time.Time   // the notice's Date; zero = now
	Recipients []Recipient // the recipients this notice is about, in order (one kind or mixed)
	Original   []byte      // the original message text
	Full       bool        // RET=FULL: include the whole original (message/rfc822); else its header (text/rfc822-headers)
	MessageID  string      // the notice's Message-ID without <>; "" = a random one @Hostname
}

// NotifyFlags are a recipient's RFC 3461 NOTIFY parameter, with the same bits
// the queue stores. Zero means the client gave no NOTIFY.
type NotifyFlags uint8

// The NOTIFY keywords.
const (
	NotifySuccess NotifyFlags = 1 // NOTIFY=SUCCESS
	NotifyFailure NotifyFlags = 2 // NOTIFY=FAILURE
	NotifyDelay   NotifyFlags = 4 // NOTIFY=DELAY
	NotifyNever   NotifyFlags = 8 // NOTIFY=NEVER
)

// Wanted reports whether a recipient of a message from sender, with these
// NOTIFY flags, gets a notice of this kind. Never for the null sender (a
// notice about a bounce would loop), never with NOTIFY=NEVER; without NOTIFY,
// failures and delays are reported and successes are not (RFC 3461 section
// 4.1); otherwise exactly what was asked. Relayed and expanded count as
// success.
func Wanted(sender string, notify NotifyFlags, kind Action) bool {
	if sender == "" || sender == "<>" || notify&NotifyNever != 0 {
		return false
	}
	if notify == 0 {
		notify = NotifyFailure | NotifyDelay
	}
	switch kind {
	case Failed:
		return notify&NotifyFailure != 0
	case Delayed:
		return notify&NotifyDelay != 0
	case Delivered, Relayed, Expanded:
		return notify&NotifySuccess != 0
	}
	return false
}
