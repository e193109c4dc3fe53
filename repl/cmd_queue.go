package repl

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"mqsh/queue"
)

// The queue commands: stalwart-cli's list, status, retry and cancel, and
// mqsh's own summary, raw, add, import, demo and audit.

const (
	defaultPageSize = 20   // rows per page of `queue list`, as stalwart-cli
	machineChunk    = 1000 // messages fetched at a time for a dry run's json, csv and ids
	dryRunRows      = 10   // rows a dry run shows as a table
)

// wholeTableRows bounds the one table of a list off a terminal: a table is
// drawn from all its rows at once (about 5 KB of memory each).
var wholeTableRows = 10000

func now(env *Env) time.Time {
	if env.Now == nil {
		return time.Now()
	}
	return env.Now()
}

// formatOf returns the --format value (the parser has checked it against the flag's Values).
func formatOf(inv *Invocation) string { return strings.ToLower(inv.Value("format")) }

// orList writes "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// intFlag reads an integer flag: its value, or its declared Default, or def
// when it has neither.
func intFlag(inv *Invocation, name string, def, min int) (int, error) {
	v := inv.Value(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min {
		return 0, usageFor(inv.Cmd, fmt.Sprintf("invalid value '%s' for '--%s': want a whole number of at least %d", v, name, min))
	}
	return n, nil
}

// timeFlag reads a time flag with queue.ParseTime; zero when absent.
func timeFlag(env *Env, inv *Invocation, name string) (time.Time, error) {
	v, ok := inv.Set[name]
	if !ok {
		return time.Time{}, nil
	}
	t, err := queue.ParseTime(v, now(env))
	if err != nil {
		return time.Time{}, usageFor(inv.Cmd, fmt.Sprintf("invalid value '%s' for '--%s': %v", v, name, err))
	}
	return t, nil
}

// filterOf builds the filter from the filter flags the command declares
// (Flag.Filter), each read by its filter key.
func filterOf(env *Env, inv *Invocation) (queue.Filter, error) {
	var f queue.Filter
	for _, fl := range inv.Cmd.Flags {
		v, ok := inv.Set[fl.Long]
		if fl.Filter == nil || !ok {
			continue
		}
		vs := []string{v}
		if fl.Repeat {
			vs = inv.Lists[fl.Long]
		}
		for _, v := range vs {
			if err := fl.Filter.Parse(&f, v, now(env)); err != nil {
				return f, usageFor(inv.Cmd, fmt.Sprintf("invalid value '%s' for '--%s': %v", v, fl.Long, err))
			}
		}
	}
	if err := f.Validate(); err != nil {
		return f, usageFor(inv.Cmd, err.Error())
	}
	return f, nil
}

// idsOf parses the id arguments; "-" reads ids from standard input, one per
// line (blank lines and # comments skipped): hex ids, or JSON messages as
// `list -o json` writes them (see queue.IDOfJSON). Every id is checked before
// anything runs. texts holds each id as typed (in hex for JSON). given says
// ids were asked for.
func idsOf(env *Env, args []string) (ids []queue.ID, texts []string, given bool, err error) {
	seen := map[queue.ID]bool{}
	add := func(s string) error {
		id, err := queue.ParseID(s)
		if err != nil {
			return plainf("Failed to parse id %q.", s)
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
			texts = append(texts, s)
		}
		return nil
	}
	for _, a := range args {
		given = true
		if a != "-" {
			if err := add(a); err != nil {
				return nil, nil, true, err
			}
			continue
		}
		if env.Stdin == nil {
			return nil, nil, true, errors.New("no standard input to read ids from")
		}
		sc := bufio.NewScanner(env.Stdin)
		sc.Buffer(nil, 16<<20) // a JSON message of many recipients is long
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if strings.HasPrefix(line, "{") {
				id, err := queue.IDOfJSON([]byte(line))
				if err != nil {
					return nil, nil, true, plainf("Failed to parse id on line %d of standard input: %v.", n, err)
				}
				line = id.String()
			}
			if err := add(line); err != nil {
				return nil, nil, true, err
			}
		}
		if err := sc.Err(); err != nil {
			return nil, nil, true, fmt.Errorf("read ids from standard input: %w", err)
		}
	}
	return ids, texts, given, nil
}

// viewFilter is the filter of the commands that only read (list, summary):
// the filter flags and the ids, which narrow each other. none is true when ids
// were asked for and none came (an empty standard input): nothing to show.
func viewFilter(env *Env, inv *Invocation) (f queue.Filter, none bool, err error) {
	if f, err = filterOf(env, inv); err != nil {
		return f, false, err
	}
	ids, _, given, err := idsOf(env, inv.Args)
	if err != nil {
		return f, false, err
	}
	f.IDs = ids
	return f, given && len(ids) == 0, nil
}

func runList(ctx context.Context, env *Env, inv *Invocation) error {
	format := formatOf(inv)
	f, none, err := viewFilter(env, inv)
	if err != nil {
		return err
	}
	if none {
		fmt.Fprintf(env.Stderr, "\n0 queued message(s) found.\n")
		return nil
	}
	size, err := intFlag(inv, "page-size", defaultPageSize, 1)
	if err != nil {
		return err
	}
	table := format == "table" || format == "wide"
	chunk, paging := size, table && env.Terminal && env.ReadKey != nil
	w := newMessageWriter(env, format)
	if !paging {
		// Nobody to wait for: the selection is read in batches (on the
		// SQLite engine from one snapshot, the next batch read while this
		// one is written). Off a terminal a table is one table, however
		// long, unless -p asks for pages (past wholeTableRows rows another
		// table starts, to bound memory); the machine formats stream.
		if _, pages := inv.Set["page-size"]; table && !pages {
			chunk = wholeTableRows
		}
		total := 0
		var pending []queue.Message
		err := queue.EachBatch(ctx, env.Queue, f, func(msgs []queue.Message) error {
			total += len(msgs)
			if !table {
				return w.write(msgs)
			}
			pending = append(pending, msgs...)
			for len(pending) >= chunk {
				if err := w.write(pending[:chunk]); err != nil {
					return err
				}
				pending = slices.Delete(pending, 0, chunk)
			}
			return nil
		})
		if err == nil && len(pending) > 0 {
			err = w.write(pending)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "\n%d queued message(s) found.\n", total)
		return nil
	}
	_, fixed := inv.Set["page-size"]
	total, quit := 0, false
	var after queue.ID
	for {
		// A page fills the screen unless -p says how many messages it
		// holds. One message more than fits tells whether another follows.
		lines := 0
		if !fixed {
			lines = pageLines(env)
		}
		limit := chunk
		if lines > 0 {
			limit = max(1, lines/2) // a message takes two lines at least
		}
		msgs, err := env.Queue.List(ctx, f, queue.Page{After: after, Limit: limit + 1})
		if err != nil {
			return err
		}
		n := min(len(msgs), limit)
		if lines > 0 {
			n = fitLines(msgs[:n], lines)
		}
		more := len(msgs) > n
		msgs = msgs[:n]
		if err := w.write(msgs); err != nil {
			return err
		}
		total += len(msgs)
		if !more {
			break
		}
		after = msgs[len(msgs)-1].ID
		fmt.Fprintln(env.Stderr, "\n--- Press any key to continue or 'q' to exit ---")
		k, err := env.ReadKey()
		if errors.Is(err, ErrInterrupt) || err == nil && (k == 'q' || k == 'Q') {
			quit = true
			break
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if quit {
		if total, err = env.Queue.Count(ctx, f); err != nil {
			return err
		}
	}
	fmt.Fprintf(env.Stderr, "\n%d queued message(s) found.\n", total)
	return nil
}

// pageOverhead is how many lines of a screen a page of the list takes
// besides its rows: the blank lines around the table, the top rule, the
// header and its rule, the pager's prompt, and the line the cursor stays on.
const pageOverhead = 8

// pageLines is how many lines a page's rows may take on the terminal: its
// height less pageOverhead; 0 when the height is not known (the page then
// holds defaultPageSize messages).
func pageLines(env *Env) int {
	if env.Height == nil {
		return 0
	}
	h := env.Height()
	if h <= 0 {
		return 0
	}
	return max(2, h-pageOverhead)
}

// fitLines is how many of msgs fit in lines rows of a list table (each
// takes a line per recipient, at least one, and a rule under it); at least
// one, so that a message taller than the screen is still shown.
func fitLines(msgs []queue.Message, lines int) int {
	used := 0
	for i := range msgs {
		h := 0
		for _, d := range msgs[i].Domains {
			h += len(d.Recipients)
		}
		used += max(1, h) + 1
		if used > lines {
			return max(1, i)
		}
	}
	return len(msgs)
}

func runStatus(ctx context.Context, env *Env, inv *Invocation) error {
	format := formatOf(inv)
	ids, texts, _, err := idsOf(env, inv.Args)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return errNoMessages
	}
	w := newMessageWriter(env, format)
	for i, id := range ids {
		m, err := env.Queue.Get(ctx, id)
		if errors.Is(err, queue.ErrNotFound) {
			m = nil
		} else if err != nil {
			return fmt.Errorf("message %s: %w", id, err)
		}
		if format == "table" {
			if err := writeTable(env.Stderr, env.Stdout, StatusTable(texts[i], m, env.Color)); err != nil {
				return err
			}
			continue
		}
		if m == nil {
			fmt.Fprintf(env.Stderr, "Message %s not found.\n", id)
			continue
		}
		if err := w.write([]queue.Message{*m}); err != nil {
			return err
		}
	}
	return nil
}

// selection is what retry and cancel act on: the filter flags and the ids.
type selection struct {
	filter queue.Filter
	ids    []queue.ID // ids given, in order
	given  bool       // ids were given (perhaps none came from stdin)
}

func selectionOf(env *Env, inv *Invocation) (selection, error) {
	f, err := filterOf(env, inv)
	if err != nil {
		return selection{}, err
	}
	ids, _, given, err := idsOf(env, inv.Args)
	if err != nil {
		return selection{}, err
	}
	if given && len(ids) == 0 {
		return selection{}, errNoMessages
	}
	f.IDs = ids
	if slices.Contains(inv.Args, "-") {
		// The audit says where the ids came from rather than listing them.
		f.IDsFrom = "stdin"
		if len(inv.Args) > 1 {
			f.IDsFrom = "the command line and stdin"
		}
	}
	if f.IsEmpty() && !f.All {
		return selection{}, emptySelection()
	}
	return selection{filter: f, ids: ids, given: given}, nil
}

// emptySelection is the answer to a retry or cancel given neither ids, a
// filter nor --all: stalwart-cli's "No messages were found." (exit 1), and how
// to select something. Nothing is changed: an empty filter never means "all".
func emptySelection() error {
	return plainf("No messages were found.\nNothing was selected: give message ids ('-' reads them from standard input), a filter such as --sender, or --all.")
}

// changeWords are the messages of a mutating command.
type changeWords struct {
	done   string // "Successfully rescheduled %d message(s)."
	unable string // " Unable to reschedule id(s): %s."
	would  string // "Dry run: would reschedule %d message(s); nothing was changed."
	none   string // "nothing was rescheduled"
	// A dry run of a change scoped to some recipients (a recipient or
	// domain filter) says so: scoped takes the parts changed, the scope's
	// text and the messages; kept the messages whose other recipients
	// stay; gone is said when none of them keeps any.
	scoped, kept, gone string
}

var (
	retryWords = changeWords{
		done:   "Successfully rescheduled %d message(s).",
		unable: " Unable to reschedule id(s): %s.",
		would:  "Dry run: would reschedule %d message(s); nothing was changed.",
		none:   "nothing was rescheduled",
		scoped: "Dry run: would reschedule %d domain(s) with recipients %s in %d message(s)",
		kept:   "; the other domains of %d of them keep their times",
		gone:   "; they have no other domain pending",
	}
	cancelWords = changeWords{
		done:   "Cancelled delivery of %d message(s).",
		unable: " Unable to cancel delivery for id(s): %s.",
		would:  "Dry run: would cancel delivery of %d message(s); nothing was changed.",
		none:   "nothing was cancelled",
		scoped: "Dry run: would cancel %d recipient(s) %s in %d message(s)",
		kept:   "; the other recipients of %d of them stay",
		gone:   "; nothing else is pending in them, so they go",
	}
)

func runRetry(ctx context.Context, env *Env, inv *Invocation) error {
	format := formatOf(inv)
	sel, err := selectionOf(env, inv)
	if err != nil {
		return err
	}
	at, err := timeFlag(env, inv, "time")
	if err != nil {
		return err
	}
	spread, err := durationFlag(inv, "spread")
	if err != nil {
		return err
	}
	extend, err := durationFlag(inv, "extend-expiry")
	if err != nil {
		return err
	}
	bar := startProgress(env, "Rescheduling", 0, false)
	res, err := env.Queue.Retry(ctx, queue.RetryRequest{
		Filter: sel.filter, At: at, Spread: spread, ExtendExpiry: extend, DryRun: inv.Set["dry-run"] == "true",
	})
	bar.Done()
	if errors.Is(err, queue.ErrEmptyFilter) {
		return emptySelection()
	}
	if err != nil {
		return err
	}
	if err := reportChange(ctx, env, format, sel, res, retryWords); err != nil {
		return err
	}
	reportRetryTimes(env, res, spread)
	return nil
}

// durationFlag reads a duration flag (90m, 2h, 1d, 1h30m); 0 when absent.
func durationFlag(inv *Invocation, name string) (time.Duration, error) {
	v, ok := inv.Set[name]
	if !ok {
		return 0, nil
	}
	d, err := parseDuration(v)
	if err != nil || d <= 0 {
		return 0, usageFor(inv.Cmd, fmt.Sprintf("invalid value '%s' for '--%s <DURATION>': want a positive duration such as 90m, 2h or 1d", v, name))
	}
	return d, nil
}

// reportRetryTimes says when a spread release runs, and warns of domains
// retried past their expiry.
func reportRetryTimes(env *Env, res queue.Result, spread time.Duration) {
	if res.Count == 0 {
		return
	}
	verb, be := "come", "are"
	if res.DryRun {
		verb, be = "would come", "would be"
	}
	if spread > 0 {
		fmt.Fprintf(env.Stderr, "The domains %s due evenly from %s to %s.\n", verb, res.First.Format(time.RFC3339), res.Last.Format(time.RFC3339))
	}
	if res.PastExpiry > 0 {
		fmt.Fprintf(env.Stderr, "warning: %d domain(s) retried %s due after their expiry: they expire then, untried. --extend-expiry DURATION moves their expiry to DURATION after the new due.\n", res.PastExpiry, be)
	}
}

func runCancel(ctx context.Context, env *Env, inv *Invocation) error {
	format := formatOf(inv)
	sel, err := selectionOf(env, inv)
	if err != nil {
		return err
	}
	if err := confirmChange(ctx, env, inv, sel.filter, "Cancel"); err != nil {
		return err
	}
	// -r or -d names the recipients to cancel (the others stay); a message
	// left with nothing pending goes: the engine reads that from the filter.
	bar := startProgress(env, "Cancelling", 0, false)
	res, err := env.Queue.Cancel(ctx, queue.CancelRequest{
		Filter: sel.filter, DryRun: inv.Set["dry-run"] == "true",
	})
	bar.Done()
	if errors.Is(err, queue.ErrEmptyFilter) {
		return emptySelection()
	}
	if err != nil {
		return err
	}
	return reportChange(ctx, env, format, sel, res, cancelWords)
}

// reportChange prints what retry or cancel did, in stalwart-cli's words, or
// for a dry run what they would do: the rows, the count and the domains.
func reportChange(ctx context.Context, env *Env, format string, sel selection, res queue.Result, words changeWords) error {
	if res.Count == 0 && !sel.given {
		return errNoMessages
	}
	var failed []string
	if sel.given {
		changed := make(map[queue.ID]bool, len(res.IDs))
		for _, id := range res.IDs {
			changed[id] = true
		}
		for _, id := range sel.ids {
			if !changed[id] {
				failed = append(failed, id.String())
			}
		}
	}
	unable := ""
	if len(failed) > 0 {
		unable = fmt.Sprintf(words.unable, strings.Join(failed, ", "))
	}
	if res.DryRun {
		if err := showDryRun(ctx, env, format, res); err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "\n%s%s\n", wouldChange(res, words), unable)
		if len(res.Domains) > 0 {
			fmt.Fprintf(env.Stderr, "Per domain:\n%s", domainBreakdown(res.Domains))
		}
	} else {
		fmt.Fprintf(env.Stderr, "\n"+words.done+"%s\n", res.Count, unable)
	}
	if res.Count == 0 {
		return &reportedError{err: errors.New(words.none)}
	}
	return nil
}

// wouldChange is the sentence of a dry run: the messages it would change,
// and for a change scoped to some recipients, which, and what stays.
func wouldChange(res queue.Result, words changeWords) string {
	if res.Scope == "" || words.scoped == "" || res.Count == 0 {
		return fmt.Sprintf(words.would, res.Count)
	}
	s := fmt.Sprintf(words.scoped, res.Parts, res.Scope, res.Count)
	switch {
	case res.Kept > 0:
		s += fmt.Sprintf(words.kept, res.Kept)
	case words.gone != "":
		s += words.gone
	}
	return s + "; nothing was changed."
}

// showDryRun prints the messages a dry run would change: the first few as a
// table, all of them in the machine formats.
func showDryRun(ctx context.Context, env *Env, format string, res queue.Result) error {
	ids := res.IDs
	if format == "table" && len(ids) > dryRunRows {
		ids = ids[:dryRunRows]
	}
	w := newMessageWriter(env, format)
	for len(ids) > 0 {
		n := min(len(ids), machineChunk)
		msgs, err := env.Queue.List(ctx, queue.Filter{IDs: ids[:n]}, queue.Page{})
		if err != nil {
			return err
		}
		if err := w.write(msgs); err != nil {
			return err
		}
		ids = ids[n:]
	}
	if format == "table" && len(res.IDs) > dryRunRows {
		fmt.Fprintf(env.Stderr, "(the first %d of %d are shown)\n", dryRunRows, len(res.IDs))
	}
	return nil
}

func runSummary(ctx context.Context, env *Env, inv *Invocation) error {
	format := formatOf(inv)
	by := strings.ToLower(inv.Value("by"))
	if inv.Set["shape"] == "true" {
		return runShape(ctx, env, inv, by)
	}
	if _, ok := inv.Set["top"]; ok {
		return usageFor(inv.Cmd, "'--top <N>' goes with '--shape'")
	}
	if by == queue.ShapeSenderDomain {
		return usageFor(inv.Cmd, "'--by sender-domain' goes with '--shape'; without it, group by sender")
	}
	f, none, err := viewFilter(env, inv)
	if err != nil {
		return err
	}
	var rows []queue.SummaryRow
	if !none {
		if rows, err = env.Queue.Summary(ctx, f, by); err != nil {
			return err
		}
	}
	switch format {
	case "json":
		for _, r := range rows {
			if err := writeJSONLine(env.Stdout, summaryJSON{By: by, Key: r.Key, Count: r.Count, Size: r.Size, Oldest: rfc3339(r.Oldest), Newest: rfc3339(r.Newest)}); err != nil {
				return err
			}
		}
	case "csv":
		w := newCSV(env.Stdout, []string{"by", "key", "count", "size", "oldest", "newest"})
		for _, r := range rows {
			w.Write([]string{by, r.Key, strconv.Itoa(r.Count), strconv.FormatInt(r.Size, 10), rfc3339(r.Oldest), rfc3339(r.Newest)})
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return err
		}
	default:
		if len(rows) > 0 {
			if err := writeTable(env.Stderr, env.Stdout, SummaryTable(by, rows, env.Color)); err != nil {
				return err
			}
		}
		fmt.Fprintf(env.Stderr, "\n%d group(s) found.\n", len(rows))
		if note := summaryNote(by); note != "" && len(rows) > 0 {
			fmt.Fprintln(env.Stderr, note)
		}
	}
	return nil
}

// summaryNote says how the TOTAL row of a summary counts a message that is
// in several groups.
func summaryNote(by string) string {
	switch by {
	case "domain":
		return "A message with recipients in several domains counts once in each; TOTAL adds the rows up."
	case "status":
		return "A message with recipients in several states counts once in each; TOTAL adds the rows up."
	}
	return ""
}

// runShape prints qshape's grid.
func runShape(ctx context.Context, env *Env, inv *Invocation, by string) error {
	if by != queue.ShapeDomain && by != queue.ShapeSenderDomain {
		return usageFor(inv.Cmd, fmt.Sprintf("'--shape' groups by domain or sender-domain, not %s", by))
	}
	top, err := intFlag(inv, "top", 0, 1)
	if err != nil {
		return err
	}
	sh, ok := env.Queue.(queue.Shaper)
	if !ok {
		return noVerb(env, "summary --shape")
	}
	f, none, err := viewFilter(env, inv)
	if err != nil {
		return err
	}
	s := &queue.Shape{By: by, Total: queue.ShapeRow{Key: "TOTAL", Counts: make([]int, len(queue.AgeBuckets)+1)}}
	for i := range s.Total.Counts {
		s.Buckets = append(s.Buckets, queue.AgeLabel(i))
	}
	if !none { // ids were asked for and none came: an empty grid
		if s, err = sh.Shape(ctx, f, by); err != nil {
			return err
		}
	}
	s.Fold(top)
	switch formatOf(inv) {
	case "json":
		return writeJSONLine(env.Stdout, s)
	case "csv":
		w := newCSV(env.Stdout, append([]string{"by", "key", "count", "size"}, s.Buckets...))
		for _, r := range append([]queue.ShapeRow{s.Total}, s.Rows...) {
			rec := []string{by, r.Key, strconv.Itoa(r.Count), strconv.FormatInt(r.Size, 10)}
			for _, c := range r.Counts {
				rec = append(rec, strconv.Itoa(c))
			}
			w.Write(rec)
		}
		w.Flush()
		return w.Error()
	}
	if _, err := io.WriteString(env.Stdout, ShapeGrid(s, env.Color)); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "\n%d group(s) found; columns are ages in minutes, T their total.\n", len(s.Rows))
	if by == queue.ShapeDomain && len(s.Rows) > 0 {
		fmt.Fprintln(env.Stderr, summaryNote("domain"))
	}
	return nil
}

func runAudit(ctx context.Context, env *Env, inv *Invocation) error {
	format := formatOf(inv)
	since, err := timeFlag(env, inv, "since")
	if err != nil {
		return err
	}
	limit, err := intFlag(inv, "limit", 0, 0)
	if err != nil {
		return err
	}
	entries, err := env.Queue.Audit(ctx, queue.AuditQuery{Since: since, Verb: inv.Set["verb"], Limit: limit})
	if err != nil {
		return err
	}
	switch format {
	case "json":
		for _, e := range entries {
			if err := writeJSONLine(env.Stdout, auditJSON{Seq: e.Seq, At: rfc3339(e.At), User: e.User, Source: e.Source,
				Verb: e.Verb, Filter: e.Filter, Count: e.Count, IDs: hexIDs(e.IDs)}); err != nil {
				return err
			}
		}
	case "csv":
		w := newCSV(env.Stdout, []string{"seq", "at", "user", "source", "verb", "filter", "count", "ids"})
		for _, e := range entries {
			w.Write([]string{strconv.FormatInt(e.Seq, 10), rfc3339(e.At), e.User, e.Source, e.Verb, e.Filter,
				strconv.Itoa(e.Count), strings.Join(hexIDs(e.IDs), " ")})
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return err
		}
	default:
		if len(entries) > 0 {
			if err := writeTable(env.Stderr, env.Stdout, AuditTable(entries, env.Color, tableWidth(env))); err != nil {
				return err
			}
		}
		fmt.Fprintf(env.Stderr, "\n%d change(s) found.\n", len(entries))
	}
	return nil
}

func runRaw(ctx context.Context, env *Env, inv *Invocation) error {
	id, err := queue.ParseID(inv.Args[0])
	if err != nil {
		return plainf("Failed to parse id %q.", inv.Args[0])
	}
	raw, err := env.Queue.Raw(ctx, id)
	if errors.Is(err, queue.ErrNotFound) {
		return fmt.Errorf("message %s not found", id)
	}
	if err != nil {
		return fmt.Errorf("read message %s: %w", id, err)
	}
	if raw == nil {
		return fmt.Errorf("message %s has no stored text", id)
	}
	_, err = env.Stdout.Write(raw)
	return err
}

// readMessage reads an RFC 5322 message from a file, or from standard input
// for "-". An empty one is refused: there is nothing to queue.
func readMessage(env *Env, name string) ([]byte, error) {
	var b []byte
	var err error
	if name == "-" {
		if env.Stdin == nil {
			return nil, errors.New("no standard input to read from")
		}
		if b, err = io.ReadAll(env.Stdin); err != nil {
			return nil, fmt.Errorf("read standard input: %w", err)
		}
		name = "standard input"
	} else if b, err = os.ReadFile(name); err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("%s is empty: there is no message to queue", name)
	}
	return b, nil
}

// envelopeOf builds an envelope from -s, -r and --env-id; nil when neither
// -s nor -r is given.
func envelopeOf(inv *Invocation) (*queue.Envelope, error) {
	_, hasSender := inv.Set["sender"]
	rcpts := inv.Lists["rcpt"]
	if !hasSender && len(rcpts) == 0 {
		return nil, nil
	}
	if !hasSender {
		return nil, usageFor(inv.Cmd, "missing '--sender <SENDER>' for the given recipients (use '<>' for a bounce)")
	}
	if len(rcpts) == 0 {
		return nil, usageFor(inv.Cmd, "missing '--rcpt <RCPT>' for the given sender")
	}
	env := &queue.Envelope{Sender: inv.Set["sender"], EnvID: inv.Set["env-id"]}
	if env.Sender == "<>" {
		env.Sender = ""
	}
	for _, r := range rcpts {
		env.Recipients = append(env.Recipients, queue.EnvelopeRecipient{Address: r})
	}
	return env, nil
}

func runAdd(ctx context.Context, env *Env, inv *Invocation) error {
	e, err := envelopeOf(inv)
	if err != nil {
		return err
	}
	prio, err := intFlag(inv, "priority", 0, -32768)
	if err != nil {
		return err
	}
	if prio > 32767 {
		return usageFor(inv.Cmd, fmt.Sprintf("invalid value '%d' for '--priority': want a whole number from -32768 to 32767", prio))
	}
	raw, err := readMessage(env, inv.Args[0])
	if err != nil {
		return err
	}
	if e == nil {
		// No -s/-r: the envelope comes from the headers, as for import.
		h, err := queue.EnvelopeFromHeaders(raw)
		if err != nil {
			return fmt.Errorf("queue message: %w", err)
		}
		e = &h
		if v, ok := inv.Set["env-id"]; ok {
			e.EnvID = v
		}
	}
	e.Priority = prio
	m, err := env.Queue.Enqueue(ctx, *e, raw)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, m.ID)
	return nil
}

func runImport(ctx context.Context, env *Env, inv *Invocation) error {
	e, err := envelopeOf(inv)
	if err != nil {
		return err
	}
	// Every file in one transaction: all of them are imported, or none.
	total := 0
	run := func(fn func(queue.Txn) error) error { return env.Queue.Run(ctx, queue.RunWrite, fn) }
	if ir, ok := env.Queue.(queue.ImportRunner); ok { // into an empty queue, faster
		run = func(fn func(queue.Txn) error) error { return ir.RunImport(ctx, fn) }
	}
	err = run(func(tx queue.Txn) error {
		im, ok := tx.(queue.TxImporter)
		if !ok {
			return fmt.Errorf("the queue at %s cannot import messages: import into a local queue file", env.Queue.Location())
		}
		total = 0 // the backend may run this again from the start
		for _, name := range inv.Args {
			n, err := importFile(im, env, name, e)
			var pe *fs.PathError
			switch {
			case errors.As(err, &pe):
				return err // names the file already
			case err != nil:
				return fmt.Errorf("%s: %w", name, err)
			}
			total += n
		}
		return nil
	})
	if err != nil {
		if len(inv.Args) > 1 && !strings.Contains(err.Error(), "nothing was imported") {
			return fmt.Errorf("%w (nothing was imported)", err)
		}
		return err
	}
	fmt.Fprintf(env.Stderr, "Imported %d message(s).\n", total)
	return nil
}

// importFile imports, in tx, one .eml message or one JSON Lines file ("-" is
// JSON Lines on standard input).
func importFile(tx queue.TxImporter, env *Env, name string, e *queue.Envelope) (int, error) {
	if strings.EqualFold(filepath.Ext(name), ".eml") {
		raw, err := readMessage(env, name)
		if err != nil {
			return 0, err
		}
		if _, err := tx.ImportEML(raw, e); err != nil {
			return 0, err
		}
		return 1, nil
	}
	var r io.Reader = env.Stdin
	var size int64 // 0: not known
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
		r = f
	} else if r == nil {
		return 0, errors.New("no standard input to read from")
	}
	// The bar counts the bytes read.
	label := "standard input"
	if name != "-" {
		label = filepath.Base(name)
	}
	bar := startProgress(env, "Importing "+label, size, true)
	defer bar.Done()
	res, err := tx.ImportJSON(countingReader{r, bar})
	return res.Count, err
}

func runDemo(ctx context.Context, env *Env, inv *Invocation) error {
	n := 0
	if len(inv.Args) > 0 {
		v, err := strconv.Atoi(inv.Args[0])
		if err != nil || v < 0 {
			return usageFor(inv.Cmd, fmt.Sprintf("invalid value '%s' for '[N]': want a whole number of generated messages", inv.Args[0]))
		}
		n = v
	}
	seed, err := strconv.ParseInt(inv.Value("seed"), 10, 64)
	if err != nil {
		return usageFor(inv.Cmd, fmt.Sprintf("invalid value '%s' for '--seed <SEED>': want a whole number", inv.Value("seed")))
	}
	if rc, ok := env.Queue.(queue.RealMailChecker); ok && inv.Set["force"] != "true" {
		real, err := rc.HoldsRealMail(ctx)
		if err != nil {
			return err
		}
		if real {
			return plainf("Refusing to add demo messages to %s: it holds real mail, which fake messages would mix with (and a later cancel or bounce could take). Use a queue of its own (mqsh --demo, or -u demo.db), or --force.", env.Queue.Location())
		}
	}
	bar := startProgress(env, "Loading demo messages", 0, false)
	res, err := env.Queue.LoadDemo(ctx, n, seed)
	bar.Done()
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "Loaded %d demo message(s).\n", res.Count)
	if kept := n + len(queue.DocumentedIDs) - res.Count; kept > 0 {
		fmt.Fprintf(env.Stderr, "%d documented message(s) were already queued and were left as they are.\n", kept)
	}
	return nil
}
