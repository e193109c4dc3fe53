package queue

// The engine's shared types: errors, the Filter, options, requests and
// results. The verbs are methods of Queue and Tx in the other files;
// `go doc mqsh/queue` lists them all.

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
// the zero Filter matches everything. A field of several values matches a
// message that any one of them matches (-s a@x -s b@y: mail from either).
// Given to a verb that changes messages (retry, cancel, bounce, hold),
// Recipient and Domain also say what it changes: only the matching
// recipients (retry: their domains), not the other recipients of the
// messages they select (scope.go).
//
// Sender and Recipient: a full address matches exactly, case-insensitively;
// "@example.org" matches that domain; a bare word without '@' matches a
// local part or a domain ("jennifer.kowalski" finds jennifer.kowalski@any
// domain, "example.org" finds @example.org, and a word that could be either
// matches both); * and ? are globs; the sender "<>" matches bounces. Domain
// is a recipient domain, exact and case-insensitive. DueBefore/DueAfter
// compare the message's delivery due (the earliest due of its pending
// domains; a message with nothing pending has no due and never matches
// them). Created* compare the creation time. Status matches a message with
// at least one recipient in one of the given states.
type Filter struct {
	IDs           []ID
	Sender        []string
	Recipient     []string
	Domain        []string
	DueBefore     time.Time // exclusive; zero = unset
	DueAfter      time.Time // exclusive; zero = unset
	CreatedBefore time.Time // exclusive; zero = unset
	CreatedAfter  time.Time // exclusive; zero = unset
	Status        []Status
	// The message itself. Subject is a glob over the decoded Subject, in
	// any case; MessageID is exact, with or without its angle brackets;
	// Header is "Name:glob", a field name in any case and a glob over its
	// decoded value, read from the stored text (slower: every candidate's
	// text is read). A message without a stored text (a JSON import)
	// matches none of the three.
	Subject   []string
	MessageID []string
	Header    []string
	Larger    int64 // bytes: size above; 0 = unset
	Smaller   int64 // bytes: size below; 0 = unset
	// Where it came from, for mail that arrived through serve: ClientIP is
	// an address or a CIDR prefix; User the authenticated user, in any case.
	ClientIP []string
	User     []string
	Held     *bool // true: messages with a domain held now; false: with none; nil = unset
	All      bool  // the caller means every message (lets mutating verbs take an empty filter)
	// IDsFrom says where IDs came from when they were not typed one by one
	// ("stdin"): String, and so the audit log, then gives their number and
	// origin (ids="5000 from stdin") rather than every id. "" = list them.
	IDsFrom string
}

// IsEmpty reports whether the filter selects nothing in particular (All aside).
func (f Filter) IsEmpty() bool {
	for _, k := range FilterKeys {
		if _, all := k.Field.(Field[bool]); !all && k.IsSet(&f) {
			return false
		}
	}
	return true
}

// Options configure Open.
type Options struct {
	Schedule Schedule         // for new messages; zero value = DefaultSchedule
	Now      func() time.Time // the clock; nil = time.Now
	User     string           // recorded in the audit log; "" = the OS user
	ReadOnly bool             // open without write access
	// LockWait is how long a change waits for another writer's lock before
	// it gives up with nothing changed; 0 = until its context ends.
	LockWait time.Duration
	// Waiting, when set, is told every few seconds while a change waits for
	// the write lock: who holds it, since when (LockWait.String says it).
	Waiting func(LockWait)
	// Notices writes the failure notices of Bounce; nil = Bounce is
	// refused (nothing is changed).
	Notices NoticeWriter
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
	// Scope names the recipients a change acted on when its filter gave a
	// recipient or domain (see Filter): "at gmx.de", "bill@example.org",
	// "matching *@x*.org"; "" when it acted on whole messages.
	Scope string
	// Parts, with a Scope: how many recipients (cancel, bounce) or domains
	// (retry) of the messages counted were changed.
	Parts int
	// Kept, with a Scope: how many of the messages counted kept other
	// pending recipients, left as they were.
	Kept int
	// First and Last, for retry: the earliest and latest due it gave (they
	// differ with RetryRequest.Spread); zero when nothing was retried.
	First, Last time.Time
	// PastExpiry, for retry: how many of the domains retried are now due
	// after their expiry (they expire when they come due, untried).
	PastExpiry int
}

// RetryRequest: reschedule the pending (scheduled or temporarily failed) domains
// of the selected messages to At (zero = now); with a recipient or domain in
// the filter, only the domains with a pending recipient it names. Expiry is
// never shortened. A message with nothing pending that matches is not counted.
type RetryRequest struct {
	Filter Filter
	At     time.Time
	// Spread paces the release: the N domains retried (in message id, then
	// domain order) come due evenly over Spread from At, i*Spread/N after
	// it, in whole seconds. 0 = all at At.
	Spread time.Duration
	// ExtendExpiry moves the expiry of each domain retried to at least its
	// new due plus ExtendExpiry (never earlier). 0 = expiry stays.
	ExtendExpiry time.Duration
	DryRun       bool
}

// CancelRequest: the selected messages are removed. With a recipient or
// domain in the filter, only the pending recipients it names become
// permanently failed with message "Delivery canceled."; a message is removed
// once nothing in it is pending. A message is counted if anything in it
// changed.
type CancelRequest struct {
	Filter Filter
	DryRun bool
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
	Filter string // canonical filter text, then "; " and the verb's options (at=, reason=)
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
