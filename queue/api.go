package queue

// The exported API of the engine: errors, the Filter, requests and results. The
// commented signatures below index the verbs, which live in the other files.

import (
	"errors"
	"time"
)

// Errors callers can test with errors.Is.
var (
	// ErrNotFound: no message has that id.
	ErrNotFound = errors.New("message not found")
	// ErrEmptyFilter: a mutating verb was given an empty filter without All.
	ErrEmptyFilter = errors.New("refusing to change every message: give a filter or ids, or say all explicitly")
)

// Filter selects messages. Every field is optional and fields combine with AND;
// the zero Filter matches everything.
//
// Sender and Recipient: a full address matches exactly, case-insensitively;
// "@example.org" or "example.org" matches that domain; * and ? are globs; the
// sender "<>" matches bounces. Domain is a recipient domain, exact and
// case-insensitive. DueBefore/DueAfter compare the message's delivery due (the
// earliest due of its pending domains; a message with nothing pending has no due
// and never matches them). Created* compare the creation time. Status matches a
// message with at least one recipient in one of the given states.
type Filter struct {
	IDs           []ID
	Sender        string
	Recipient     string
	Domain        string
	DueBefore     time.Time // exclusive; zero = unset
	DueAfter      time.Time // exclusive; zero = unset
	CreatedBefore time.Time // exclusive; zero = unset
	CreatedAfter  time.Time // exclusive; zero = unset
	Status        []Status
	All           bool // the caller means every message (lets mutating verbs take an empty filter)
}

// IsEmpty reports whether the filter selects nothing in particular (All aside).
func (f Filter) IsEmpty() bool {
	return len(f.IDs) == 0 && f.Sender == "" && f.Recipient == "" && f.Domain == "" &&
		f.DueBefore.IsZero() && f.DueAfter.IsZero() && f.CreatedBefore.IsZero() &&
		f.CreatedAfter.IsZero() && len(f.Status) == 0
}

// String is the canonical text of the filter, as recorded in the audit log and
// read back by ParseFilter: space-separated key=value words in a fixed order,
// e.g. `sender=bill@example.net domain=example.org due<2024-05-01T00:00:00Z`.
// The empty filter is "all" when All is set and "" otherwise.
//   func (f Filter) String() string

// ParseFilter reads the canonical text written by Filter.String.
//   func ParseFilter(s string) (Filter, error)

// ParseTime reads a time as users type it: RFC 3339, a date alone (midnight UTC),
// or relative to now: "now", "+2h", "-3d", "90m" (= now+90m). Units s, m, h, d, w.
// The error names the accepted forms.
//   func ParseTime(s string, now time.Time) (time.Time, error)

// Options configure Open.
type Options struct {
	Schedule Schedule         // for new messages; zero value = DefaultSchedule
	Now      func() time.Time // the clock; nil = time.Now
	User     string           // recorded in the audit log; "" = the OS user
	ReadOnly bool             // open without write access
}

// Page asks List for one page: messages with id > After, at most Limit of them.
type Page struct {
	After ID
	Limit int // 0 = no limit
}

// Result says what a mutating verb did (or, in a dry run, would do).
type Result struct {
	Count   int            // messages changed
	IDs     []ID           // their ids, ascending
	Domains map[string]int // per recipient domain: messages with a change in that domain
	DryRun  bool           // nothing was changed
}

// RetryRequest: reschedule the pending (scheduled or temporarily failed) domains
// of the selected messages, only Domain when set, to At (zero = now). Expiry is
// never shortened. A message with nothing pending that matches is not counted.
type RetryRequest struct {
	Filter Filter
	Domain string
	At     time.Time
	DryRun bool
}

// CancelRequest: without Recipient the selected messages are removed. With
// Recipient (same matching as Filter.Recipient) matching pending recipients become
// permanently failed with message "Delivery canceled."; a message is removed once
// nothing in it is pending. A message is counted if anything in it changed.
type CancelRequest struct {
	Filter    Filter
	Recipient string
	DryRun    bool
}

// SummaryRow is one group of Summary: qshape/exiqsumm style.
type SummaryRow struct {
	Key    string // the domain, sender, status word or age bucket
	Count  int
	Size   int64 // bytes
	Oldest time.Time
	Newest time.Time
}

// AuditEntry records one change to the queue.
type AuditEntry struct {
	Seq    int64
	At     time.Time
	User   string // OS user
	Source string // who asked: "cli", "shell", "script NAME ARGS..." (see WithSource)
	Verb   string // enqueue, import, retry, cancel, demo ...
	Filter string // canonical filter text, then "; " and the verb's options (retry-domain=, at=, cancel-rcpt=)
	Count  int
	IDs    []ID
}

// AuditQuery selects audit entries, newest first.
type AuditQuery struct {
	Since time.Time // zero = all
	Verb  string    // "" = any
	Limit int       // 0 = all
}

// Suggestion kinds for Suggest (tab completion).
const (
	SuggestID        = "id"        // hex id prefix
	SuggestSender    = "sender"    // return path prefix
	SuggestRecipient = "recipient" // recipient address prefix
	SuggestDomain    = "domain"    // recipient domain prefix
)

// WithSource labels the changes made under ctx in the audit log ("cli",
// "shell", "script purge-sender.lua bad@example.com").
//   func WithSource(ctx context.Context, source string) context.Context

// Queue is an open queue database. It is safe for concurrent use, and several
// processes may open the same file at once.
//   func Open(path string, opts Options) (*Queue, error)
//   func (q *Queue) Close() error
//   func (q *Queue) Path() string
//
// Read verbs (each in one read transaction):
//   func (q *Queue) List(ctx context.Context, f Filter, p Page) ([]Message, error) // ascending id
//   func (q *Queue) Count(ctx context.Context, f Filter) (int, error)
//   func (q *Queue) Get(ctx context.Context, id ID) (*Message, error)             // ErrNotFound
//   func (q *Queue) Raw(ctx context.Context, id ID) ([]byte, error)               // the RFC 5322 text; nil if not kept
//   func (q *Queue) Summary(ctx context.Context, f Filter, by string) ([]SummaryRow, error) // by: domain|sender|status|age
//   func (q *Queue) Suggest(ctx context.Context, kind, prefix string, limit int) ([]string, error)
//   func (q *Queue) Audit(ctx context.Context, aq AuditQuery) ([]AuditEntry, error)
//
// Write verbs (each in one immediate write transaction, audited in it):
//   func (q *Queue) Enqueue(ctx context.Context, env Envelope, raw []byte) (*Message, error)
//   func (q *Queue) Retry(ctx context.Context, r RetryRequest) (Result, error)
//   func (q *Queue) Cancel(ctx context.Context, r CancelRequest) (Result, error)
//   func (q *Queue) ImportJSON(ctx context.Context, r io.Reader) (Result, error)   // JSON Lines, both Stalwart shapes, ids kept
//   func (q *Queue) ImportEML(ctx context.Context, raw []byte, env *Envelope) (*Message, error) // env nil: from headers
//   func (q *Queue) LoadDemo(ctx context.Context, n int, seed int64) (Result, error) // the documented six + n generated
//
// Several verbs in one transaction (Lua scripts): Update commits when fn returns
// nil and rolls back otherwise; Preview always rolls back (dry run). Tx has the
// same read and write verbs as Queue, plus Each, which streams in constant memory.
//   func (q *Queue) Update(ctx context.Context, fn func(tx *Tx) error) error
//   func (q *Queue) Preview(ctx context.Context, fn func(tx *Tx) error) error
//   func (q *Queue) View(ctx context.Context, fn func(tx *Tx) error) error
//   func (tx *Tx) Each(f Filter, fn func(m *Message) error) error
//   func (tx *Tx) List/Count/Get/Summary/Retry/Cancel/Enqueue (same signatures, no ctx: the tx's ctx)
//
// JSON (the Stalwart v0.7-v0.12 management-API message shape, domains[]):
//   func (m *Message) MarshalJSON() ([]byte, error)
