// Package queue is mqsh's queue engine: an SMTP delivery queue kept in one SQLite
// file, modelled on Stalwart's per-domain queue. It owns the database; every other
// part of mqsh (the command line, the shell, Lua, later servers) goes through the
// verbs in this package, each of which runs in one transaction.
//
// # Data model
//
// A Message has an id (snowflake-shaped, growing with time, shown as upper-case
// hex), a return path ("" for bounces), its creation time, size, optional DSN
// envelope id and priority, the raw RFC 5322 text, and its recipient Domains. A
// Domain carries the schedule, as in Stalwart up to v0.12: status and details,
// retry count, delivery due, next delay notice and expiry; its Recipients carry
// their own status and the last SMTP reply (code, enhanced code, message) and an
// optional ORCPT. A new message is due at once, with its first delay notice and
// its expiry taken from the queue's Schedule (DefaultSchedule: notices after 1
// and 3 days, expiry after 5 days; its retry intervals, 2m, 5m, 10m, 15m, 30m,
// 1h, 2h, are for the delivery engine to come, and shape the demo data).
//
// # Storage
//
// Tables messages, domains (WITHOUT ROWID, keyed by message and position),
// recipients (likewise), bodies (raw texts, kept apart so that listings never
// read them), audit and meta. messages.due holds the earliest due of the
// message's pending domains (NULL when nothing is pending) and is kept by every
// verb. Indexes: messages by lower-case return path, return-path domain, due and
// creation time; domains by (name, message); recipients by (lower-case address,
// message). The foreign keys are declared but not enforced: the verbs that
// remove messages delete their rows in every table themselves. A cancel or
// bounce of many messages files their ids in removals and commits; every
// reader skips them from then on, and a sweep moves their rows to the trash
// afterwards (removals.go). The file is
// opened in WAL mode with BEGIN IMMEDIATE write transactions through a single
// writer connection, plus a pool of read-only connections; several processes
// may use the same file at once. A change waits for another's write lock in
// Go, telling Options.Waiting who holds it and for how long, up to
// Options.LockWait or the end of its context (see lock.go); UpdateDeferred
// begins as a read snapshot and takes the lock at the first change, for
// scripts. The schema is created and upgraded by numbered
// migrations (embedded files migrations/NNNN_name.sql) recorded in PRAGMA
// user_version; the file is marked as a queue by
// PRAGMA application_id.
//
// # Filters
//
// One Filter selects messages for every verb; one function turns it into
// parameterised SQL, choosing the most selective index (ids, recipient address,
// sender address, recipient domain, sender domain), so that the pages of a
// listing cost the same however far they are. Fields combine with AND:
//
//   - Sender and Recipient: a full address matches exactly, case-insensitively;
//     "@example.org" or "example.org" matches that domain (exactly: not its
//     subdomains); * and ? are globs over the whole address ("*@*.example.org"),
//     and a glob without "@" is also tried against the domain alone ("bill*"
//     finds bill@x, "example.*" finds a@example.com); "<addr>" is addr; the
//     sender "<>" matches bounces.
//   - Domain: a recipient domain, exact and case-insensitive.
//   - DueBefore/DueAfter: the message's due, the earliest due of its pending
//     domains; a message with nothing pending never matches. CreatedBefore/
//     CreatedAfter: the creation time. All bounds are exclusive; times in the
//     past are compared like any other.
//   - Status: at least one recipient in one of the states.
//   - IDs: one of the ids.
//
// The empty filter matches everything; Retry and Cancel refuse it unless All is
// set (ErrEmptyFilter). Filter.String is the canonical text recorded in the audit
// log (ids=A,B sender=X rcpt=X domain=X due>T due<T created>T created<T
// status=S,S all) and ParseFilter reads it back. FilterKeys, the one table of
// filter keys, binds each field by type to its audit word, its command-line
// flag, its Lua key and its HTTP parameter; all of these derive from it. ParseTime reads the times users
// type: RFC 3339, a date alone (midnight UTC), now, and offsets from now such as
// +2h, -3d or 90m (units s, m, h, d, w).
//
// # Verbs and transactions
//
// Read verbs: List (keyset pages in id order), Batches (every match in one
// transaction, read ahead), Count, Get, Raw, Summary (by
// domain, sender, status or age), Suggest (tab completion) and Audit. Write
// verbs: Enqueue, Retry, Cancel, ImportJSON, ImportEML and LoadDemo. Each Queue
// verb runs in its own transaction; Update, Preview (always rolled back) and View
// run several verbs of a Tx in one, for scripts. Retry and Cancel report what
// they changed (Result) and take DryRun, which runs the same code and rolls it
// back. The context of a transaction is checked between batches: when it ends
// (Ctrl-C, a script's time limit) the transaction rolls back.
//
// Retry moves the due of pending domains and never touches expiry: Stalwart up
// to v0.12 set expires to at+10s, which shortens it; here a domain retried past
// its expiry simply expires when it comes due.
//
// Every change is recorded in the audit table in the same transaction: OS user
// (or Options.User), time, source (WithSource; "cli" by default), verb, the
// filter text plus the verb's options, the count and the ids.
//
// Whoever calls (command line, batch, Lua, an import), the engine checks what
// it is given: no control character in a pattern, address or domain (SQLite
// ends a GLOB pattern at a NUL), addresses within RFC 5321's lengths, at most
// 1,000 recipients a message, times from 1970 to 9999. New messages lose their
// Bcc fields.
//
// # Import and export
//
// MarshalJSON writes Stalwart's management-API shape, both generations in one
// object (domains[] of v0.7-v0.12 and recipients[] of v0.13+), with the id as a
// JSON number and, added, queue_id (the id in hex) on messages and code,
// enhanced_code and message on recipients with a reply (AppendJSON for many
// messages; IDOfJSON reads the id back). ImportJSON reads JSON Lines of that shape and of the
// v0.13+ shape (recipients[] with per-recipient schedules), tolerant of null and
// absent times, of statuses as strings or single-key objects, and of API
// envelopes ({"data": ...}); ids are kept; the whole import is one transaction,
// and an error names the line (a line is at most 16 MiB and 100 levels deep).
// ImportEML queues an RFC 5322 message with the
// envelope given or read from its headers. LoadDemo loads the six messages of
// stalwart-cli's documented session and generated ones (generateDemo).
package queue
