package repl

import (
	"context"
	"fmt"
	"time"

	"mqsh/queue"
)

// The audit log's trim and retention: `queue audit` shows the log; these
// keep it from growing without bound on a server that runs for months.

func auditCommands() []*Command {
	return []*Command{
		{
			Path:    []string{"queue", "audit", "trim"},
			Summary: "Deletes audit rows older than a time, keeping what undo still needs; the trim is itself audited",
			Flags: []Flag{
				{Long: "older-than", Value: "DURATION", Kind: KindText, Help: "Trim the rows older than this (90d, 12w, 48h)"},
				{Long: "before", Value: "TIME", Kind: KindTime, Help: "Trim the rows recorded before a certain datetime"},
				{Long: "dry-run", Help: "Show how many rows would go, and delete nothing"},
				{Long: "yes", Short: "y", Help: "Do not ask for confirmation (asked at a terminal when more rows than --confirm-over would go)"},
			},
			Run: runAuditTrim,
		},
		{
			Path:    []string{"queue", "audit", "retention"},
			Summary: "Shows or sets how long the audit log keeps its rows (off, the default, keeps them all)",
			Args:    []Arg{{Name: "DURATION", Kind: KindText, Help: "The new retention (90d, 12w, 2160h), or off to keep every row"}},
			Run:     runAuditRetention,
		},
	}
}

// auditTrimmer returns the queue's audit trim, or the sentence saying it
// has none.
func auditTrimmer(env *Env) (queue.AuditTrimmer, error) {
	t, ok := env.Queue.(queue.AuditTrimmer)
	if !ok {
		return nil, queue.NoAuditTrim(env.Queue)
	}
	return t, nil
}

func runAuditTrim(ctx context.Context, env *Env, inv *Invocation) error {
	older, hasOlder := inv.Set["older-than"]
	_, hasBefore := inv.Set["before"]
	var before time.Time
	switch {
	case hasOlder && hasBefore:
		return usageFor(inv.Cmd, "give --older-than or --before, not both")
	case hasOlder:
		d, err := parseDuration(older)
		if err != nil || d < 0 {
			return usageFor(inv.Cmd, fmt.Sprintf("invalid value '%s' for '--older-than': want a duration such as 90d, 12w or 48h", older))
		}
		before = now(env).Add(-d)
	case hasBefore:
		var err error
		if before, err = timeFlag(env, inv, "before"); err != nil {
			return err
		}
	default:
		return usageFor(inv.Cmd, "say which rows to trim: --older-than DURATION (such as 90d) or --before TIME")
	}
	t, err := auditTrimmer(env)
	if err != nil {
		return err
	}
	dry := inv.Set["dry-run"] == "true"
	if !dry {
		if err := confirmTrim(ctx, env, inv, t, before); err != nil {
			return err
		}
	}
	res, err := t.AuditTrim(ctx, queue.AuditTrimRequest{Before: before, DryRun: dry})
	if err != nil {
		return err
	}
	kept := ""
	if res.KeptFrom != 0 {
		kept = fmt.Sprintf(" Kept #%d and every later row: undo may still take that change back (the trash retention keeps it).", res.KeptFrom)
	}
	switch {
	case res.Count == 0 && res.KeptFrom != 0:
		fmt.Fprintf(env.Stderr, "Nothing was trimmed:%s\n", kept)
	case res.Count == 0:
		fmt.Fprintf(env.Stderr, "No audit rows before %s: nothing was trimmed.\n", FormatDate(before))
	case res.DryRun:
		fmt.Fprintf(env.Stderr, "Dry run: would trim %d audit row(s), up to #%d (%s); nothing was changed.%s\n", res.Count, res.Last, FormatDate(res.LastAt), kept)
	default:
		fmt.Fprintf(env.Stderr, "Trimmed %d audit row(s), up to #%d (%s).%s\n", res.Count, res.Last, FormatDate(res.LastAt), kept)
	}
	return nil
}

// confirmTrim asks, as the guard rails of cancel do, before a trim of more
// than Session.ConfirmOver rows at a terminal; --yes, batch mode or no
// terminal skip the question.
func confirmTrim(ctx context.Context, env *Env, inv *Invocation, t queue.AuditTrimmer, before time.Time) error {
	if inv.Set["yes"] == "true" || env.Batch || env.ReadKey == nil {
		return nil
	}
	res, err := t.AuditTrim(ctx, queue.AuditTrimRequest{Before: before, DryRun: true})
	if err != nil || res.Count <= env.ConfirmOver {
		return err
	}
	return askYes(env, fmt.Sprintf("Trim %s audit rows, up to #%d (%s)?", thousands(res.Count), res.Last, FormatDate(res.LastAt)))
}

func runAuditRetention(ctx context.Context, env *Env, inv *Invocation) error {
	t, err := auditTrimmer(env)
	if err != nil {
		return err
	}
	if len(inv.Args) == 0 {
		d, err := t.AuditRetention(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, auditRetentionText(d))
		return nil
	}
	var d time.Duration
	if v := inv.Args[0]; v != "off" && v != "0" {
		d, err = parseDuration(v)
		if err != nil || d < time.Second {
			return usageFor(inv.Cmd, fmt.Sprintf("invalid value '%s' for '[DURATION]': want a duration such as 90d, 12w or 2160h, or off to keep every row", v))
		}
	}
	if err := t.SetAuditRetention(ctx, d); err != nil {
		return err
	}
	if d == 0 {
		fmt.Fprintln(env.Stderr, "The audit retention is off: every audit row is kept.")
		return nil
	}
	fmt.Fprintf(env.Stderr, "The audit log now keeps rows for %s: serve and every audited change trim older ones, bit by bit (what undo still needs stays).\n", auditRetentionText(d))
	return nil
}

// auditRetentionText says what an audit retention means.
func auditRetentionText(d time.Duration) string {
	if d == 0 {
		return "off (every audit row is kept)"
	}
	return retentionText(d)
}
