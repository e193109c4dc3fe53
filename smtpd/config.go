package smtpd

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"mqsh/queue"
)

// Config says how the server accepts mail. The zero value is usable: the OS
// host name, 25 MiB messages, 100 recipients, relay from loopback only, no
// AUTH, no STARTTLS, nothing logged.
type Config struct {
	Hostname       string        // in the greeting and the Received header; "" = the OS host name
	MaxMessageSize int64         // bytes a client may send (552 5.3.4 beyond it); 0 = 25 MiB
	MaxRecipients  int           // recipients per message (452 4.5.3 beyond it); 0 = 100
	MaxHold        time.Duration // the longest FUTURERELEASE hold; 0 = 7 days
	ReadTimeout    time.Duration // a client's silence before 421; 0 = 5 minutes
	WriteTimeout   time.Duration // 0 = 1 minute

	// RelayNetworks may send to any recipient without authenticating; nil
	// means loopback only (127.0.0.0/8 and ::1), an empty slice nobody.
	// Everything else gets 554 5.7.1 Relay access denied at RCPT.
	RelayNetworks []netip.Prefix
	// Users are the AUTH PLAIN/LOGIN credentials: user name -> bcrypt hash.
	// AUTH is offered only over TLS, or on a loopback listener.
	Users map[string]string
	// TLS, when set, offers STARTTLS with this configuration.
	TLS *tls.Config

	// OnArrival, when set, is asked about every message before it is
	// queued: it may accept it, hold it or reject it with a reply.
	OnArrival func(ctx context.Context, a *Arrival) Verdict

	// Log receives one line per event (connect, queued, reject, ...), in the
	// form mail administrators grep; nil = none.
	Log io.Writer
	// BatchMax is the most messages one group commit writes; 0 = 512.
	BatchMax int
	// Now is the clock of Received headers and FUTURERELEASE; nil = time.Now.
	Now func() time.Time
}

// Arrival is what an OnArrival policy is told about a message.
type Arrival struct {
	Client     queue.Client
	Sender     string // "" for a bounce
	Recipients []queue.EnvelopeRecipient
	EnvID      string
	Ret        string    // FULL, HDRS or ""
	HoldUntil  time.Time // FUTURERELEASE; zero when none
	Raw        []byte    // the message as it will be queued, Received header first
}

// Action is an OnArrival policy's decision.
type Action int

// The decisions.
const (
	Accept Action = iota // queue the message
	Hold                 // queue it held: nothing is delivered until it is released
	Reject               // refuse it with Verdict.Reply
)

// Verdict is what an OnArrival policy returns. Reply is the SMTP reply of a
// rejection, such as "550 5.7.1 Spam is not welcome here" ("" gives
// "550 5.7.1 Message rejected by policy"), or the reason of a hold ("" for
// none).
type Verdict struct {
	Action Action
	Reply  string
}

// Defaults.
const (
	DefaultMaxMessageSize = 25 << 20
	DefaultMaxRecipients  = 100
	DefaultMaxHold        = 7 * 24 * time.Hour
)

// withDefaults fills in the zero fields and checks the others.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Hostname == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		cfg.Hostname = h
	}
	if strings.ContainsAny(cfg.Hostname, " \t\r\n[]") {
		return cfg, fmt.Errorf("invalid host name %q: want a name such as mx.example.org", cfg.Hostname)
	}
	if cfg.MaxMessageSize < 0 || cfg.MaxRecipients < 0 || cfg.MaxHold < 0 || cfg.BatchMax < 0 {
		return cfg, fmt.Errorf("negative limit in the SMTP settings: sizes, counts and durations must be 0 (the default) or more")
	}
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.MaxRecipients == 0 {
		cfg.MaxRecipients = DefaultMaxRecipients
	}
	if cfg.MaxHold == 0 {
		cfg.MaxHold = DefaultMaxHold
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 5 * time.Minute
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = time.Minute
	}
	if cfg.RelayNetworks == nil {
		cfg.RelayNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	for user, hash := range cfg.Users {
		if user == "" || !strings.HasPrefix(hash, "$2") {
			return cfg, fmt.Errorf("invalid credentials for user %q: want a user name and a bcrypt hash ($2a$...)", user)
		}
	}
	if cfg.BatchMax == 0 {
		cfg.BatchMax = 512
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	return cfg, nil
}

// parseReply reads a policy's reply "550 5.7.1 text" into an SMTP error; a
// reply that is not a 4xx or 5xx code gives the default rejection.
func parseReply(reply string) *smtp.SMTPError {
	e := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Message rejected by policy"}
	f := strings.Fields(reply)
	if len(f) == 0 {
		return e
	}
	code, err := strconv.Atoi(f[0])
	if err != nil || code < 400 || code > 599 {
		return e
	}
	e.Code, f = code, f[1:]
	e.EnhancedCode = smtp.EnhancedCode{code / 100, 0, 0}
	if len(f) > 0 {
		if p := strings.Split(f[0], "."); len(p) == 3 {
			var ec smtp.EnhancedCode
			ok := true
			for i := range p {
				ec[i], err = strconv.Atoi(p[i])
				ok = ok && err == nil
			}
			if ok && ec[0] == code/100 {
				e.EnhancedCode, f = ec, f[1:]
			}
		}
	}
	if len(f) > 0 {
		e.Message = strings.Join(f, " ")
	}
	return e
}
