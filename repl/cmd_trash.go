package repl

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"mqsh/queue"
)

// The trash commands: what cancel removed, kept for the trash retention, to
// be listed, put back or purged with the queue's filter flags.

func trashCommands() []*Command {
	idsArg := Arg{Name: "IDS", Repeat: true, Kind: KindID, Help: "Message ids in hex; - reads them from standard input, one per line"}
	list := func(path ...string) *Command {
		return &Command{
			Path:    path,
			Summary: "Shows the messages in the trash (removed by cancel), newest removal last",
			Flags:   selectFlags(false, flagFormat),
			Args:    []Arg{idsArg},
			Run:     runTrashList,
		}
	}
	return []*Command{
		{
			Path:    []string{"queue", "trash"},
			Summary: "The trash: cancelled messages kept for a while (list, restore, purge, retention); alone, lists it",
			Args:    []Arg{{Name: "COMMAND", Repeat: true, Kind: KindCommand, Help: "list, restore, purge or retention"}},
			Run:     runTrashGroup,
		},
		list("queue", "trash", "list"),
		{
			Path:    []string{"queue", "trash", "restore"},
			Summary: "Puts messages from the trash back into the queue as they were",
			Flags:   selectFlags(true, keyFlag(queue.KeyAll), flagDryRun, flagFormat),
			Args:    []Arg{idsArg},
			Run:     runTrashRestore,
		},
		{
			Path:    []string{"queue", "trash", "purge"},
			Summary: "Deletes messages in the trash for good: the expired ones unless a filter or --all is given",
			Flags:   selectFlags(true, keyFlag(queue.KeyAll), flagDryRun, flagYes, flagFormat),
			Args:    []Arg{idsArg},
			Run:     runTrashPurge,
		},
		{
			Path:    []string{"queue", "trash", "retention"},
			Summary: "Shows or sets how long the trash keeps removed messages (0 turns the trash off)",
			Args:    []Arg{{Name: "DURATION", Kind: KindText, Help: "The new retention (7d, 48h, 30m, or seconds; 0 for no trash)"}},
			Run:     runTrashRetention,
		},
	}
}

// runTrashGroup lists the trash when no subcommand is named.
func runTrashGroup(ctx context.Context, env *Env, inv *Invocation) error {
	if len(inv.Args) == 0 {
		return runTrashList(ctx, env, inv)
	}
	return usageFor(inv.Cmd, fmt.Sprintf("unknown command '%s': want list, restore, purge or retention", inv.Args[0]))
}

// trasher returns the queue's trash, or the sentence saying it has none.
func trasher(env *Env) (queue.Trasher, error) {
	t, ok := env.Queue.(queue.Trasher)
	if !ok {
		return nil, queue.NoTrash(env.Queue)
	}
	return t, nil
}

func runTrashList(ctx context.Context, env *Env, inv *Invocation) error {
	t, err := trasher(env)
	if err != nil {
		return err
	}
	f, none, err := viewFilter(env, inv)
	if err != nil {
		return err
	}
	var msgs []queue.TrashedMessage
	if !none {
		if msgs, err = t.TrashList(ctx, f, queue.Page{}); err != nil {
			return err
		}
	}
	format := cmp.Or(formatOf(inv), "table")
	if err := writeTrashed(env, format, msgs); err != nil {
		return err
	}
	if format == "table" {
		fmt.Fprintf(env.Stderr, "\n%d message(s) in the trash.\n", len(msgs))
	}
	return nil
}

// trashJSON is one trashed message in JSON Lines: when, by which change,
// and the message as `list -o json` writes it.
type trashJSON struct {
	ID      string       `json:"id"`
	Trashed string       `json:"trashed"`
	Seq     int64        `json:"seq"`
	Verb    string       `json:"verb"`
	Message jsonRawValue `json:"message"`
}

// jsonRawValue is JSON already encoded.
type jsonRawValue []byte

func (v jsonRawValue) MarshalJSON() ([]byte, error) { return v, nil }

// writeTrashed prints trashed messages: a table (id, removed when and by
// which change, sender, recipients), JSON Lines, CSV or bare ids.
func writeTrashed(env *Env, format string, msgs []queue.TrashedMessage) error {
	switch format {
	case "json":
		for i := range msgs {
			b, err := msgs[i].AppendJSON(nil)
			if err != nil {
				return err
			}
			m := &msgs[i]
			if err := writeJSONLine(env.Stdout, trashJSON{ID: m.ID.String(), Trashed: rfc3339(m.TrashedAt), Seq: m.Seq, Verb: m.Verb, Message: b}); err != nil {
				return err
			}
		}
	case "ids":
		var b strings.Builder
		for i := range msgs {
			b.WriteString(msgs[i].ID.String())
			b.WriteByte('\n')
		}
		_, err := fmt.Fprint(env.Stdout, b.String())
		return err
	case "csv":
		w := newCSV(env.Stdout, []string{"id", "trashed", "seq", "verb", "sender", "recipients", "size"})
		for i := range msgs {
			m := &msgs[i]
			w.Write([]string{m.ID.String(), rfc3339(m.TrashedAt), strconv.FormatInt(m.Seq, 10), m.Verb, sender(&m.Message), strings.Join(addresses(&m.Message), " "), strconv.FormatInt(m.Size, 10)})
		}
		w.Flush()
		return w.Error()
	default:
		if len(msgs) > 0 {
			return writeTable(env.Stderr, env.Stdout, TrashTable(msgs, env.Color, tableWidth(env)))
		}
	}
	return nil
}

// addresses lists a message's recipients.
func addresses(m *queue.Message) []string {
	var out []string
	for _, d := range m.Domains {
		for _, r := range d.Recipients {
			out = append(out, r.Address)
		}
	}
	return out
}

// TrashTable renders trashed messages: ID, Removed (when), By (audit seq and
// verb), Sender, Recipients, Size.
func TrashTable(msgs []queue.TrashedMessage, color bool, width int) string {
	p := painter{on: color}
	header := []string{p.bold("ID"), p.bold("Removed"), p.bold("By"), p.bold("Sender"), p.bold("Recipients"), p.bold("Size")}
	cells := make([][]string, 0, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		rcpts := addresses(&m.Message)
		for k := range rcpts {
			rcpts[k] = clean(rcpts[k])
		}
		cells = append(cells, []string{m.ID.String(), FormatDate(m.TrashedAt), fmt.Sprintf("#%d %s", m.Seq, clean(m.Verb)),
			clean(sender(&m.Message)), strings.Join(rcpts, "\n"), FormatSize(m.Size)})
	}
	fitColumns(header, cells, width, 4, 3)
	rows := make([]tableRow, len(cells))
	for i, c := range cells {
		rows[i] = tableRow{cells: c}
	}
	return renderTable(rows, header)
}

var (
	restoreWords = changeWords{
		done:   "Restored %d message(s) from the trash.",
		unable: " Not in the trash: %s.",
		would:  "Dry run: would restore %d message(s) from the trash; nothing was changed.",
		none:   "nothing was restored",
	}
	purgeWords = changeWords{
		done:   "Purged %d message(s) from the trash for good.",
		unable: " Not in the trash: %s.",
		would:  "Dry run: would purge %d message(s) from the trash; nothing was changed.",
		none:   "nothing was purged",
	}
)

func runTrashRestore(ctx context.Context, env *Env, inv *Invocation) error {
	t, err := trasher(env)
	if err != nil {
		return err
	}
	sel, err := selectionOf(env, inv)
	if err != nil {
		return err
	}
	res, err := t.TrashRestore(ctx, queue.TrashRequest{Filter: sel.filter, DryRun: inv.Set["dry-run"] == "true"})
	if errors.Is(err, queue.ErrEmptyFilter) {
		return emptySelection()
	}
	if err != nil {
		return err
	}
	return reportTrash(ctx, env, formatOf(inv), sel, res, restoreWords)
}

func runTrashPurge(ctx context.Context, env *Env, inv *Invocation) error {
	t, err := trasher(env)
	if err != nil {
		return err
	}
	// Without a selection, purge takes the expired messages.
	f, err := filterOf(env, inv)
	if err != nil {
		return err
	}
	ids, _, given, err := idsOf(env, inv.Args)
	if err != nil {
		return err
	}
	if given && len(ids) == 0 {
		return errNoMessages
	}
	f.IDs = ids
	sel := selection{filter: f, ids: ids, given: given}
	if !f.IsEmpty() || f.All { // the expired ones alone are purged without a question
		count := func() (int, error) {
			msgs, err := t.TrashList(ctx, f, queue.Page{})
			return len(msgs), err
		}
		if err := confirmCount(env, inv, f, "Purge from the trash for good", count); err != nil {
			return err
		}
	}
	res, err := t.TrashPurge(ctx, queue.TrashRequest{Filter: f, DryRun: inv.Set["dry-run"] == "true"})
	if err != nil {
		return err
	}
	if res.Count == 0 && !given {
		what := "matching"
		if f.IsEmpty() && !f.All {
			what = "expired"
		}
		fmt.Fprintf(env.Stderr, "\nNo %s message(s) in the trash: nothing was purged.\n", what)
		return nil
	}
	return reportTrash(ctx, env, formatOf(inv), sel, res, purgeWords)
}

// reportTrash prints what restore or purge did: the ids in the machine
// formats of a dry run, then the count and the domains.
func reportTrash(ctx context.Context, env *Env, format string, sel selection, res queue.Result, words changeWords) error {
	if res.DryRun && format == "ids" {
		for _, id := range res.IDs {
			fmt.Fprintln(env.Stdout, id)
		}
	}
	if res.DryRun && format != "ids" {
		fmt.Fprintf(env.Stderr, "\n"+words.would+"\n", res.Count)
		if len(res.Domains) > 0 {
			fmt.Fprintf(env.Stderr, "Per domain:\n%s", domainBreakdown(res.Domains))
		}
		return nil
	}
	if res.DryRun {
		return nil
	}
	return reportChange(ctx, env, "table", sel, queue.Result{Count: res.Count, IDs: res.IDs}, words)
}

func runTrashRetention(ctx context.Context, env *Env, inv *Invocation) error {
	q, ok := env.Queue.(queue.Trasher)
	if !ok {
		return queue.NoTrash(env.Queue)
	}
	if len(inv.Args) == 0 {
		d, err := q.TrashRetention(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, retentionText(d))
		return nil
	}
	d, err := parseDuration(inv.Args[0])
	if err != nil || d < 0 {
		return usageFor(inv.Cmd, fmt.Sprintf("invalid value '%s' for '[DURATION]': want a duration such as 7d, 48h or 30m, or 0 for no trash", inv.Args[0]))
	}
	if err := q.SetTrashRetention(ctx, d); err != nil {
		return err
	}
	if d == 0 {
		fmt.Fprintln(env.Stderr, "The trash is off: cancelled messages are deleted at once, and cancels can no longer be undone.")
		return nil
	}
	fmt.Fprintf(env.Stderr, "The trash now keeps removed messages for %s.\n", retentionText(d))
	return nil
}

// retentionText says what a retention means.
func retentionText(d time.Duration) string {
	if d == 0 {
		return "0 (no trash: cancelled messages are deleted at once)"
	}
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
