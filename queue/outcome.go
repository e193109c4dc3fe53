package queue

import (
	"strings"
	"time"
)

// What a delivery attempt does to its domain, apart from how an engine
// reads and writes it: Record (attempt.go) and the PostgreSQL engine's
// Record both apply attempts through Schedule.ApplyAttempt.

// AttemptDomain is a claimed domain and its message as Record reads them
// before applying an attempt.
type AttemptDomain struct {
	Status     Status
	Details    string
	RetryNum   int
	NotifyAt   time.Time // next delay notice; zero when none
	Expires    time.Time
	LockedBy   string // who holds the lease; "" when none
	ReturnPath string // the message's return path as given; "" for a bounce
	EnvID      string
	Ret        string
	Created    time.Time
	// Recipients are the domain's recipients in order; ApplyAttempt changes
	// them and marks the changed ones Dirty.
	Recipients []AttemptRecipient
	// OthersPending says another domain of the message is still pending.
	OthersPending bool
}

// AttemptRecipient is a recipient of an AttemptDomain.
type AttemptRecipient struct {
	Recipient
	Idx   int  // its index among the message's recipients
	Dirty bool // changed by the attempt: to be written
}

// AttemptChange is what applying an attempt changes.
type AttemptChange struct {
	// Release says the lease is the attempt's worker's: it goes.
	Release bool
	// Write says the domain takes Status, Details, RetryNum, Due and
	// NotifyAt, and its Dirty recipients are written; when false only the
	// lease goes (when Release) and nothing else changes.
	Write bool
	// Gone says nothing in the message is pending any more: it is removed
	// (and nothing of it written).
	Gone     bool
	Status   Status
	Details  string
	RetryNum int
	Due      time.Time
	NotifyAt time.Time // zero = none
	Notices  []Notice
}

// ApplyAttempt applies the outcome of attempt a to its domain d at now, as
// Record documents it, and returns what changed and the notices due.
func (s Schedule) ApplyAttempt(a *Attempt, d *AttemptDomain, now time.Time) AttemptChange {
	ch := AttemptChange{Release: d.LockedBy != "" && d.LockedBy == a.Worker}
	if !d.Status.Pending() {
		return ch
	}
	rcpts := d.Recipients
	results := make(map[string]*RcptResult, len(a.Recipients))
	for i := range a.Recipients {
		results[strings.ToLower(a.Recipients[i].Address)] = &a.Recipients[i]
	}
	var finals []int // indexes into rcpts that became final now
	for i := range rcpts {
		r := &rcpts[i]
		res, ok := results[strings.ToLower(r.Address)]
		if !ok || !r.Status.Pending() {
			continue
		}
		r.Status, r.Code, r.Enhanced, r.Message = res.Status, res.Code, res.Enhanced, res.Message
		r.Dirty = true
		if !r.Status.Pending() {
			finals = append(finals, i)
		}
	}
	tried := !a.Skipped
	retryNum := d.RetryNum
	if tried {
		retryNum++
	}
	// The domain's details: why it failed as a whole, else the first
	// recipient still failing.
	details := d.Details
	if a.DomainFail {
		details = a.Reply
	} else if tried {
		details = ""
		for _, r := range rcpts {
			if r.Status == TempFail || r.Status == PermFail {
				details = r.Details()
				break
			}
		}
	}
	pending, delivered := false, false
	for _, r := range rcpts {
		pending = pending || r.Status.Pending()
		delivered = delivered || r.Status == Completed
	}
	if pending && !now.Before(d.Expires) {
		// Expired: every pending recipient fails permanently with its last
		// reply, else the domain's, else expiredText.
		for i := range rcpts {
			r := &rcpts[i]
			if !r.Status.Pending() {
				continue
			}
			if r.Code == 0 {
				r.Message = details
				if r.Message == "" {
					r.Message = expiredText
				}
			}
			r.Status = PermFail
			r.Dirty = true
			finals = append(finals, i)
		}
		if details == "" {
			details = expiredText
		}
		pending = false
	}
	if pending && !tried {
		return ch // skipped before its expiry: only the lease goes
	}
	ch.Write, ch.Details, ch.RetryNum, ch.Due, ch.NotifyAt = true, details, retryNum, now, d.NotifyAt
	var delays []Recipient
	switch {
	case pending:
		ch.Status = TempFail
		wait := a.RetryAfter
		if wait <= 0 {
			wait = s.retryAfter(retryNum - 1)
		}
		ch.Due = now.Add(wait)
		if ch.Due.After(d.Expires) {
			ch.Due = d.Expires
		}
		if !d.NotifyAt.IsZero() && d.NotifyAt.Unix() <= now.Unix() {
			for _, r := range rcpts {
				if r.Status.Pending() && wants(r.Notify, NotifyDelay) {
					if r.Code == 0 && r.Message == "" {
						r.Message = details
					}
					delays = append(delays, r.Recipient)
				}
			}
			ch.NotifyAt = s.nextNotifyTime(d.Created, now)
		}
	case delivered:
		ch.Status = Completed
	default:
		ch.Status = PermFail
	}
	ch.Gone = !pending && !d.OthersPending

	// The notices: never about a bounce.
	if d.ReturnPath == "" {
		return ch
	}
	base := Notice{Message: a.Message, ReturnPath: d.ReturnPath, EnvID: d.EnvID, Ret: d.Ret,
		Created: d.Created, Domain: a.Domain, RemoteMTA: a.Host}
	var failed, succeeded []Recipient
	for _, i := range finals {
		r := rcpts[i]
		switch {
		case r.Status == PermFail && wants(r.Notify, NotifyFailure):
			failed = append(failed, r.Recipient)
		case r.Status == Completed && r.Notify&NotifySuccess != 0:
			succeeded = append(succeeded, r.Recipient)
		}
	}
	for _, k := range []struct {
		kind NoticeKind
		rs   []Recipient
	}{{NoticeFailure, failed}, {NoticeDelay, delays}, {NoticeSuccess, succeeded}} {
		if len(k.rs) > 0 {
			n := base
			n.Kind, n.Recipients = k.kind, k.rs
			ch.Notices = append(ch.Notices, n)
		}
	}
	return ch
}

// nextNotifyTime is the next notify time after now of a message created at
// created, or zero when the schedule's notices are used up.
func (s Schedule) nextNotifyTime(created, now time.Time) time.Time {
	for _, d := range s.Notify {
		if t := created.Add(d); t.After(now) {
			return t
		}
	}
	return time.Time{}
}
