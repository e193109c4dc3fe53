// Package notices turns the delivery engine's notice events into delivery
// status notifications (RFC 3464, written by package dsn) and queues each as
// a new message from the null sender <> to the original sender, to be
// delivered like any other. It is the glue between delivery and dsn in
// `mqsh serve`.
package notices

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"mqsh/delivery"
	"mqsh/dsn"
	"mqsh/queue"
)

// Notifier queues a notice for every event it is given. It implements
// delivery.Notifier.
type Notifier struct {
	Queue    queue.Backend    // where notices are queued
	Hostname string           // the reporting MTA: Reporting-MTA and MAILER-DAEMON@Hostname
	Log      io.Writer        // one line per notice queued or failed; nil = none
	Now      func() time.Time // the clock; nil = time.Now

	mu sync.Mutex
}

var _ delivery.Notifier = (*Notifier)(nil)

// Notify builds the notice of n and queues it. A notice about a message
// from <> is never made (the queue makes none, and this checks again), nor
// one that no recipient's NOTIFY asks for. Failures are logged: the
// delivery outcome itself is already recorded.
func (nf *Notifier) Notify(ctx context.Context, n delivery.Notice) {
	id, queued, err := nf.Send(ctx, n)
	switch {
	case err != nil:
		nf.logf("%s: sender %s notification to <%s> not queued: %v", n.Message, kindWord(n.Kind), n.ReturnPath, err)
	case queued:
		nf.logf("%s: sender %s notification: %s", n.Message, kindWord(n.Kind), id)
	}
}

// Send builds and queues the notice of n, returning the id of the new
// message; queued is false when no notice is owed.
func (nf *Notifier) Send(ctx context.Context, n delivery.Notice) (id queue.ID, queued bool, err error) {
	r, ok := nf.Report(n)
	if !ok {
		return 0, false, nil
	}
	raw, err := dsn.Build(r)
	if err != nil {
		return 0, false, fmt.Errorf("build notice: %w", err)
	}
	m, err := nf.Queue.Enqueue(ctx, queue.Envelope{
		Sender:     "",
		Recipients: []queue.EnvelopeRecipient{{Address: n.ReturnPath}},
	}, raw)
	if err != nil {
		return 0, false, fmt.Errorf("queue notice: %w", err)
	}
	return m.ID, true, nil
}

// Report is the dsn.Report of notice n; ok is false when no notice is owed
// (a bounce, or no recipient whose NOTIFY asks for this kind).
func (nf *Notifier) Report(n delivery.Notice) (r dsn.Report, ok bool) {
	action := dsn.Failed
	switch n.Kind {
	case queue.NoticeDelay:
		action = dsn.Delayed
	case queue.NoticeSuccess:
		action = dsn.Delivered
	}
	now := time.Now
	if nf.Now != nil {
		now = nf.Now
	}
	at := now().UTC()
	r = dsn.Report{
		Hostname: nf.Hostname,
		To:       n.ReturnPath,
		EnvID:    n.EnvID,
		Arrival:  n.Created,
		Date:     at,
		Original: n.Raw,
		Full:     strings.EqualFold(n.Ret, "FULL"),
	}
	remote := remoteHost(n.RemoteMTA)
	for _, rc := range n.Recipients {
		if !dsn.Wanted(n.ReturnPath, dsn.NotifyFlags(rc.Notify), action) {
			continue
		}
		d := dsn.Recipient{
			Address:     rc.Address,
			ORCPT:       rc.ORCPT,
			Action:      action,
			Status:      rc.Enhanced,
			LastAttempt: at,
		}
		if rc.Code != 0 {
			d.RemoteMTA = remote
			d.Diagnostic = delivery.Reply{Code: rc.Code, Enhanced: rc.Enhanced, Message: rc.Message}.String()
		} else {
			d.Reason = rc.Message
		}
		if d.Status == "" && rc.Code >= 200 && rc.Code < 600 {
			d.Status = fmt.Sprintf("%d.0.0", rc.Code/100)
		}
		r.Recipients = append(r.Recipients, d)
	}
	return r, len(r.Recipients) > 0
}

// remoteHost is the host name of "host[ip]:port", as Remote-MTA gives it.
func remoteHost(s string) string {
	if i := strings.IndexByte(s, '['); i >= 0 {
		s = s[:i]
	}
	return s
}

func kindWord(k queue.NoticeKind) string {
	switch k {
	case queue.NoticeDelay:
		return "delay"
	case queue.NoticeSuccess:
		return "delivery"
	}
	return "non-delivery"
}

func (nf *Notifier) logf(format string, args ...any) {
	if nf.Log == nil {
		return
	}
	nf.mu.Lock()
	defer nf.mu.Unlock()
	fmt.Fprintf(nf.Log, format+"\n", args...)
}
