// Package remote is the queue interface (queue.Backend) implemented by a
// client of a Stalwart server's management API, versions 0.12 to 0.15: the
// REST routes under /api/queue. v0.16 moved the queue to JMAP and answers
// 404 there, which the client reports as ErrNoQueueAPI.
//
// # What is asked of the server
//
// A listing fetches whole messages, values=1, a page at a time in id order
// (range-start after the last id seen, so that a change between pages skips
// nothing), never one request per message. mqsh's filter is mapped onto the
// server's parameters only where the server's answer is sure to hold every
// message mqsh's filter matches: to=@domain for a recipient or domain
// filter (the server lower-cases recipient domains), before/after for due
// bounds in the future (the server ignores past ones), range-start and
// range-end for ids. Everything else, and the exact match of all of it, is
// finished on the client with the local semantics (exact addresses, globs,
// domains, status, creation time), so a remote list gives what a local one
// would on the same messages. Sender filters are finished on the client
// only: the server's from= is a case-sensitive substring of the return path
// as received, which could miss a message mqsh's case-insensitive match
// includes.
//
// Both message shapes are read, told apart per message: domains[] (up to
// v0.12) and recipients[] (v0.13 on, per-recipient schedules folded into
// per-domain ones as queue.ImportJSON does).
//
// # Changes
//
// Retry and Cancel list their selection first, compute what changes exactly
// as the local engine would (the Result is the same), then send one PATCH
// or DELETE per message (with filter= for some recipients or domains, at=
// for a time). The server's bulk routes are not used: they run in the
// background and say only whether something matched. The server decides
// expiry on a retry (v0.12 sets it to at+10s, v0.15 to ten more attempts);
// mqsh asks for nothing else. A dry run sends nothing.
//
// # Scripts are not transactions
//
// A script on a remote queue cannot be one transaction: Run gives the
// script a Txn that reads from the server and collects the changes the
// script asks for. They are sent only once the script has returned without
// error (RunWrite), in the order asked, and never in a dry run (RunDryRun)
// or a read-only run (RunRead refuses them). Reads within the script do not
// see its own collected changes, and another client may change the queue
// between the script's reads and the sending.
//
// # What the API cannot do
//
// The API serves no message text (Raw), keeps no audit log (Audit), and
// cannot add messages (Enqueue, ImportJSON, ImportEML, LoadDemo): these
// return ErrUnsupported with a sentence saying so.
package remote
