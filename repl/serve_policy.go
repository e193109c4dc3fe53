package repl

import (
	"bytes"
	"context"
	"mime"
	"net/mail"
	"strings"
	"time"

	"mqsh/delivery"
	"mqsh/lua"
	"mqsh/smtpd"
)

// The Lua policy's hooks (--policy) as the servers call them: thin
// adapters that convert the servers' values to the lua package's. The
// policy runs each call in its sandbox under its own time limit, logs its
// failures and then answers as if it were not there.

// arrivalHook is smtpd's OnArrival: on_arrival(msg) accepts, holds or
// rejects.
func arrivalHook(p *lua.Policy) func(ctx context.Context, a *smtpd.Arrival) smtpd.Verdict {
	return func(ctx context.Context, a *smtpd.Arrival) smtpd.Verdict {
		la := lua.Arrival{
			Sender:   a.Sender,
			Size:     int64(len(a.Raw)),
			ClientIP: a.Client.IP,
			User:     a.Client.User,
			Helo:     a.Client.Helo,
		}
		for _, r := range a.Recipients {
			la.Recipients = append(la.Recipients, r.Address)
		}
		if m, err := mail.ReadMessage(bytes.NewReader(a.Raw)); err == nil {
			la.Headers = map[string][]string(m.Header)
			la.MessageID = strings.TrimSpace(m.Header.Get("Message-Id"))
			subj := m.Header.Get("Subject")
			if dec, err := new(mime.WordDecoder).DecodeHeader(subj); err == nil {
				subj = dec
			}
			la.Subject = subj
		}
		verdict, reply := p.OnArrival(ctx, la)
		switch verdict {
		case "hold":
			return smtpd.Verdict{Action: smtpd.Hold, Reply: reply} // the reason, if any
		case "reject":
			return smtpd.Verdict{Action: smtpd.Reject, Reply: reply}
		}
		return smtpd.Verdict{Action: smtpd.Accept}
	}
}

// retryHook is delivery's NextRetry: next_retry(domain, reply, attempt).
func retryHook(p *lua.Policy) func(domain string, r delivery.Reply, attempt int) (time.Duration, bool) {
	return func(domain string, r delivery.Reply, attempt int) (time.Duration, bool) {
		return p.NextRetry(context.Background(), domain, lua.Reply{Code: r.Code, Enhanced: r.Enhanced, Text: r.Message}, attempt)
	}
}

// routeHook is delivery's Route: route(domain) may name a host:port.
func routeHook(p *lua.Policy) func(domain string) string {
	return func(domain string) string {
		hp, ok := p.Route(context.Background(), domain)
		if !ok {
			return ""
		}
		return hp
	}
}
