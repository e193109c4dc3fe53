package repl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"mqsh/queue"
)

// `queue explain ID`: why a message is where it is, in sentences. The
// engine gathers the facts (queue.Explainer); this file words them.

func explainCommand() *Command {
	return &Command{
		Path:    []string{"queue", "explain"},
		Summary: "Explains why a message is where it is, domain by domain",
		Flags: []Flag{{Long: "format", Short: "o", Value: "FORMAT", Kind: KindFormat, Default: "text",
			Values: []string{"text", "json"}, Help: "Output format: text or json"}},
		Args: []Arg{{Name: "IDS", Required: true, Repeat: true, Kind: KindID, Help: "Message ids in hex (a message no longer queued is told from its attempts)"}},
		Run:  runExplain,
	}
}

// noVerb is the error of a verb the queue's backend does not have (the
// Stalwart server's client lacks mqsh's own verbs).
func noVerb(env *Env, verb string) error {
	return fmt.Errorf("%s is not available on the queue at %s: it is a verb of mqsh's own queue files", verb, env.Queue.Location())
}

func runExplain(ctx context.Context, env *Env, inv *Invocation) error {
	ex, ok := env.Queue.(queue.Explainer)
	if !ok {
		return noVerb(env, "explain")
	}
	ids, _, _, err := idsOf(env, inv.Args)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return errNoMessages
	}
	var missing []string
	for i, id := range ids {
		e, err := ex.Explain(ctx, id)
		if errors.Is(err, queue.ErrNotFound) {
			missing = append(missing, id.String())
			fmt.Fprintf(env.Stderr, "Message %s is not queued and no delivery attempt of it is recorded.\n", id)
			continue
		}
		if err != nil {
			return fmt.Errorf("explain message %s: %w", id, err)
		}
		if formatOf(inv) == "json" {
			if err := writeJSONLine(env.Stdout, e); err != nil {
				return err
			}
			continue
		}
		if i > 0 {
			fmt.Fprintln(env.Stdout)
		}
		if _, err := io.WriteString(env.Stdout, ExplainText(e)); err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		return &reportedError{err: fmt.Errorf("message(s) not found: %s", strings.Join(missing, ", "))}
	}
	return nil
}

// ExplainText words an explanation as sentences, a paragraph per domain.
func ExplainText(e *queue.Explanation) string {
	var b strings.Builder
	now := e.Now
	when := func(t time.Time) string { return FormatDate(t) + " (" + relTime(t, now) + ")" }
	if !e.Queued {
		fmt.Fprintf(&b, "Message %s is no longer in the queue.\n", e.ID)
		if r := e.Removed; r != nil {
			done := map[string]string{"cancel": "cancelled", "bounce": "bounced"}[r.Verb]
			fmt.Fprintf(&b, "It was %s at %s by %s (%s), audit entry %d.\n", done, when(r.At), clean(r.User), clean(r.Source), r.Seq)
		}
		for _, d := range e.Domains {
			last := d.Attempts[len(d.Attempts)-1]
			fmt.Fprintf(&b, "\n%s: ", clean(d.Name))
			switch d.Status {
			case "delivered":
				fmt.Fprintf(&b, "delivered at %s%s, after %s; removed.\n", when(last.At), via(last.Host), counted(len(d.Attempts), "attempt"))
			case "permfail":
				fmt.Fprintf(&b, "failed permanently at %s%s, after %s; removed.\n", when(last.At), via(last.Host), counted(len(d.Attempts), "attempt"))
			default:
				fmt.Fprintf(&b, "last tried at %s%s, after %s, and not delivered.\n", when(last.At), via(last.Host), counted(len(d.Attempts), "attempt"))
			}
			fmt.Fprintf(&b, "  Last reply: %s\n", replyText(last.Reply))
			writeAttempts(&b, d.Attempts)
		}
		return b.String()
	}

	fmt.Fprintf(&b, "Message %s from %s, %s, created %s.\n", e.ID, clean(e.Sender), HumanSize(e.Size), when(e.Created))
	if e.Client.IP != "" || e.Client.User != "" {
		fmt.Fprintf(&b, "It came from %s", clean(e.Client.IP))
		if e.Client.User != "" {
			fmt.Fprintf(&b, " as user %s", clean(e.Client.User))
		}
		b.WriteString(".\n")
	}
	if e.Held {
		held, pending := 0, 0
		for _, d := range e.Domains {
			if d.Held {
				held++
			}
			if d.Status == "scheduled" || d.Status == "tempfail" {
				pending++
			}
		}
		if held >= pending {
			b.WriteString("It is held: none of its domains is delivered until released (the holds are below).\n")
		} else {
			b.WriteString("Part of it is held: the held domains below wait, the others are delivered as usual.\n")
		}
	}
	for _, h := range e.Holds {
		if h.Domain == "" { // a domain's hold is told with its domain below
			b.WriteString(holdText(h, now) + "\n")
		}
	}
	if e.Paused {
		b.WriteString("Delivery from this queue is paused: nothing is delivered until `queue resume`.\n")
	}
	for _, d := range e.Domains {
		fmt.Fprintf(&b, "\n%s: %s", clean(d.Name), domainState(d))
		if n := len(d.Attempts); n > 0 || d.RetryNum > 0 {
			fmt.Fprintf(&b, "; %s so far", counted(max(n, d.RetryNum), "attempt"))
			if d.RetryNum > n {
				fmt.Fprintf(&b, " (%d in this queue's history)", n)
			}
		}
		b.WriteString(".\n")
		if d.Details != "" {
			fmt.Fprintf(&b, "  Last reply: %s\n", replyText(d.Details))
		}
		writeAttempts(&b, d.Attempts)
		for _, h := range d.HoldNotes {
			b.WriteString("  " + holdText(h, now) + "\n")
		}
		if d.LeasedBy != "" {
			fmt.Fprintf(&b, "  Being tried now by %s (its lease runs until %s).\n", clean(d.LeasedBy), when(d.LeasedTo))
		}
		if !d.Due.IsZero() {
			switch {
			case e.Held || d.Held:
				fmt.Fprintf(&b, "  Due %s, but held: not tried until released.\n", when(d.Due))
			case e.Paused:
				fmt.Fprintf(&b, "  Due %s, but delivery is paused.\n", when(d.Due))
			case !d.Due.After(now):
				fmt.Fprintf(&b, "  Due since %s: the next delivery run tries it.\n", when(d.Due))
			default:
				fmt.Fprintf(&b, "  Next retry %s.\n", when(d.Due))
			}
		}
		if !d.NotifyAt.IsZero() {
			fmt.Fprintf(&b, "  Next delay notice to the sender %s.\n", when(d.NotifyAt))
		}
		if d.Status == "scheduled" || d.Status == "tempfail" {
			if d.Expires.After(now) {
				fmt.Fprintf(&b, "  Expires %s: then it fails and the sender gets a failure notice.\n", when(d.Expires))
			} else {
				fmt.Fprintf(&b, "  Expired %s: the next delivery run fails it.\n", when(d.Expires))
			}
		}
		for _, r := range d.Recipients {
			fmt.Fprintf(&b, "  Recipient %s: %s", clean(r.Address), r.Status)
			if r.Details != "" {
				fmt.Fprintf(&b, " (%s)", clean(r.Details))
			}
			b.WriteString(".\n")
		}
	}
	return b.String()
}

// domainState is a queued domain's state as a phrase.
func domainState(d queue.DomainExplanation) string {
	switch d.Status {
	case "delivered":
		return "delivered to every recipient"
	case "permfail":
		return "failed permanently"
	case "tempfail":
		return "failed temporarily, to be retried"
	}
	if d.RetryNum > 0 {
		return "scheduled for its next delivery attempt"
	}
	return "waiting for its first delivery attempt"
}

func writeAttempts(b *strings.Builder, as []queue.AttemptNote) {
	for i, a := range as {
		host := a.Host
		if host == "" {
			host = "no host reached"
		}
		fmt.Fprintf(b, "  Attempt %d at %s to %s: %s\n", i+1, FormatDate(a.At), clean(host), replyText(a.Reply))
	}
}

func holdText(h queue.HoldNote, now time.Time) string {
	var b strings.Builder
	if h.Rule > 0 {
		fmt.Fprintf(&b, "Held by hold rule %d", h.Rule)
	} else {
		b.WriteString("Held")
	}
	if h.Domain != "" {
		b.WriteString(" for " + clean(h.Domain))
	}
	if h.By != "" {
		b.WriteString(" by " + clean(h.By))
	}
	if !h.At.IsZero() {
		b.WriteString(" since " + FormatDate(h.At))
	}
	if !h.Until.IsZero() {
		b.WriteString(" until " + FormatDate(h.Until) + " (" + relTime(h.Until, now) + ")")
	}
	if h.Reason != "" {
		b.WriteString(": " + clean(h.Reason))
	}
	return b.String() + "."
}

func via(host string) string {
	if host == "" {
		return ""
	}
	return " via " + clean(host)
}

func replyText(s string) string {
	if s == "" {
		return "(none recorded)"
	}
	return clean(s)
}

// counted is n and the word, plural unless n is 1: "3 attempts".
func counted(n int, word string) string { return strconv.Itoa(n) + " " + word + plural(n) }

// relTime says how far t is from now: "in 5m", "3h 2m ago", "now".
func relTime(t, now time.Time) string {
	d := t.Sub(now)
	switch {
	case d > -time.Second && d < time.Second:
		return "now"
	case d > 0:
		return "in " + shortDuration(d)
	}
	return shortDuration(-d) + " ago"
}

// shortDuration is a duration in its two largest units: 4d 23h, 2h 5m, 5m 3s, 40s.
func shortDuration(d time.Duration) string {
	d = d.Round(time.Second)
	units := []struct {
		n    time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}}
	var parts []string
	for _, u := range units {
		if d >= u.n || (len(parts) > 0) {
			parts = append(parts, strconv.FormatInt(int64(d/u.n), 10)+u.name)
			d %= u.n
		}
		if len(parts) == 2 {
			break
		}
	}
	if len(parts) == 0 {
		return "0s"
	}
	if len(parts) == 2 && strings.HasPrefix(parts[1], "0") {
		parts = parts[:1]
	}
	return strings.Join(parts, " ")
}
