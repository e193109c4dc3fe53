package repl

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"mqsh/queue"
)

// queue hold, queue release and queue rules: holds per recipient domain and
// the hold rules that catch mail arriving later (queue/hold.go, rules.go).
// They need a queue engine that keeps holds (queue.Holder).

func holdCommands() []*Command {
	idsArg := Arg{Name: "IDS", Repeat: true, Kind: KindID, Help: "Message ids in hex; - reads them from standard input, one per line (hex ids or JSON messages)"}
	return []*Command{
		{
			Path:    []string{"queue", "hold"},
			Summary: "Holds delivery of the matching domains until released or a set time",
			Flags: changeFlags("Hold only the domains of matching recipients", "Hold only this recipient domain",
				Flag{Long: "reason", Value: "TEXT", Kind: KindText, Help: "Why, shown with the hold"},
				Flag{Long: "for", Value: "DURATION", Kind: KindText, Help: "Release by itself after this long (90m, 8h, 2d)"},
				Flag{Long: "until", Value: "TIME", Kind: KindTime, Help: "Release by itself at this time"},
				Flag{Long: "rule", Help: "Also hold matching mail that arrives later (by sender, recipient and domain), until the hold ends"},
				flagDryRun,
				flagFormat,
			),
			Args: []Arg{idsArg},
			Run:  runHold,
		},
		{
			Path:    []string{"queue", "release"},
			Summary: "Releases held domains, to be delivered when due",
			Flags: changeFlags("Release only the domains of matching recipients", "Release only this recipient domain",
				flagDryRun,
				flagFormat,
			),
			Args: []Arg{idsArg},
			Run:  runRelease,
		},
		{
			Path:    []string{"queue", "rules"},
			Summary: "Lists the hold rules: filter, reason, end and hits",
			Flags:   []Flag{flagReportFormat},
			Run:     runRules,
		},
		{
			Path:    []string{"queue", "rules", "rm"},
			Summary: "Removes a hold rule (the holds it made stay until released or ended)",
			Args:    []Arg{{Name: "N", Required: true, Kind: KindNumber, Help: "The rule's id, as queue rules lists it"}},
			Run:     runRulesRm,
		},
	}
}

var (
	holdWords = changeWords{
		done:   "Held %d message(s).",
		unable: " Unable to hold id(s): %s.",
		would:  "Dry run: would hold %d message(s); nothing was changed.",
		none:   "nothing was held",
	}
	releaseWords = changeWords{
		done:   "Released %d message(s).",
		unable: " Unable to release id(s): %s (not held there).",
		would:  "Dry run: would release %d message(s); nothing was changed.",
		none:   "nothing was released",
	}
)

// holder is the queue's Holder, or the error saying the queue has no holds.
func holder(env *Env) (queue.Holder, error) {
	h, ok := env.Queue.(queue.Holder)
	if !ok {
		return nil, queue.NoHolds(env.Queue)
	}
	return h, nil
}

// holdEnd reads --for and --until: when the hold ends; zero = until released.
func holdEnd(env *Env, inv *Invocation) (time.Time, error) {
	d, hasFor := inv.Set["for"]
	_, hasUntil := inv.Set["until"]
	if hasFor && hasUntil {
		return time.Time{}, usageFor(inv.Cmd, "give either '--for <DURATION>' or '--until <TIME>', not both: both say when the hold ends")
	}
	if hasFor {
		dur, err := queue.ParseDuration(d)
		if err == nil && dur <= 0 {
			err = errors.New("want a duration to come, such as 90m, 8h or 2d")
		}
		if err != nil {
			return time.Time{}, usageFor(inv.Cmd, fmt.Sprintf("invalid value '%s' for '--for <DURATION>': %v", d, err))
		}
		return now(env).Add(dur), nil
	}
	return timeFlag(env, inv, "until")
}

func runHold(ctx context.Context, env *Env, inv *Invocation) error {
	h, err := holder(env)
	if err != nil {
		return err
	}
	sel, err := selectionOf(env, inv)
	if err != nil {
		return err
	}
	until, err := holdEnd(env, inv)
	if err != nil {
		return err
	}
	rule := inv.Set["rule"] == "true"
	res, err := h.Hold(ctx, queue.HoldRequest{
		Filter: sel.filter, Reason: inv.Set["reason"], Until: until, Rule: rule, DryRun: inv.Set["dry-run"] == "true",
	})
	if errors.Is(err, queue.ErrEmptyFilter) {
		return emptySelection()
	}
	if err != nil {
		return err
	}
	if !rule {
		return reportChange(ctx, env, formatOf(inv), sel, res.Result, holdWords)
	}
	// A rule is made even when nothing queued matches yet.
	if res.Count > 0 {
		if err := reportChange(ctx, env, formatOf(inv), sel, res.Result, holdWords); err != nil {
			return err
		}
	} else if res.DryRun {
		fmt.Fprintf(env.Stderr, "\n"+holdWords.would+"\n", 0)
	} else {
		fmt.Fprintf(env.Stderr, "\n"+holdWords.done+"\n", 0)
	}
	end := "until removed"
	if !until.IsZero() {
		end = "until " + FormatDate(until)
	}
	if res.DryRun {
		fmt.Fprintf(env.Stderr, "Would add a hold rule for mail arriving later: %s, %s.\n", ruleText(sel.filter), end)
	} else {
		fmt.Fprintf(env.Stderr, "Added hold rule %d for mail arriving later: %s, %s.\n", res.Rule, ruleText(sel.filter), end)
	}
	return nil
}

// ruleText is what a hold rule selects, in the audit text's words.
func ruleText(f queue.Filter) string {
	return queue.Filter{Sender: f.Sender, Recipient: f.Recipient, Domain: f.Domain}.String()
}

func runRelease(ctx context.Context, env *Env, inv *Invocation) error {
	h, err := holder(env)
	if err != nil {
		return err
	}
	sel, err := selectionOf(env, inv)
	if err != nil {
		return err
	}
	res, err := h.ReleaseHold(ctx, queue.ReleaseRequest{Filter: sel.filter, DryRun: inv.Set["dry-run"] == "true"})
	if errors.Is(err, queue.ErrEmptyFilter) {
		return emptySelection()
	}
	if err != nil {
		return err
	}
	return reportChange(ctx, env, formatOf(inv), sel, res, releaseWords)
}

func runRules(ctx context.Context, env *Env, inv *Invocation) error {
	h, err := holder(env)
	if err != nil {
		return err
	}
	rules, err := h.HoldRules(ctx)
	if err != nil {
		return err
	}
	t := now(env)
	switch formatOf(inv) {
	case "json":
		for i := range rules {
			if err := writeJSONLine(env.Stdout, rules[i].JSON(t)); err != nil {
				return err
			}
		}
	case "csv":
		w := newCSV(env.Stdout, []string{"id", "filter", "reason", "by", "created", "until", "ended", "hits"})
		for _, r := range rules {
			w.Write([]string{strconv.FormatInt(r.ID, 10), r.Filter.String(), r.Reason, r.By, rfc3339(r.Created), rfc3339(r.Until),
				strconv.FormatBool(r.Ended(t)), strconv.Itoa(r.Hits)})
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return err
		}
	default:
		if len(rules) > 0 {
			if err := writeTable(env.Stderr, env.Stdout, RulesTable(rules, t, env.Color)); err != nil {
				return err
			}
		}
		fmt.Fprintf(env.Stderr, "\n%d hold rule(s) found.\n", len(rules))
	}
	return nil
}

// RulesTable renders hold rules: id, filter, reason, when each ends (or
// ended), its hits and who made it.
func RulesTable(rules []queue.HoldRule, at time.Time, color bool) string {
	p := painter{on: color}
	header := []string{p.bold("ID"), p.bold("Filter"), p.bold("Reason"), p.bold("Expires"), p.bold("Hits"), p.bold("By")}
	var rows []tableRow
	for _, r := range rules {
		exp := "Never"
		if !r.Until.IsZero() {
			exp = FormatDate(r.Until)
			if r.Ended(at) {
				exp += " (ended)"
			}
		}
		rows = append(rows, tableRow{cells: []string{strconv.FormatInt(r.ID, 10), clean(r.Filter.String()), clean(r.Reason), exp, strconv.Itoa(r.Hits), clean(r.By)}})
	}
	return renderTable(rows, header)
}

func runRulesRm(ctx context.Context, env *Env, inv *Invocation) error {
	h, err := holder(env)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(strings.TrimSpace(inv.Args[0]), 10, 64)
	if err != nil || id <= 0 {
		return usageFor(inv.Cmd, fmt.Sprintf("invalid value '%s' for '<N>': want a rule's id, a whole number as queue rules lists it", inv.Args[0]))
	}
	if err := h.RemoveHoldRule(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "Removed hold rule %d.\n", id)
	return nil
}
