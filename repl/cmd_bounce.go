package repl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"mqsh/notices"
	"mqsh/queue"
)

var bounceWords = changeWords{
	done:   "Bounced %d message(s).",
	unable: " Unable to bounce id(s): %s.",
	would:  "Dry run: would bounce %d message(s); nothing was changed.",
	none:   "nothing was bounced",
	scoped: "Dry run: would bounce %d recipient(s) %s in %d message(s)",
	kept:   "; the other recipients of %d of them stay",
	gone:   "; nothing else is pending in them, so they go",
}

// runBounce is `queue bounce`: cancel with a failure notice to each sender.
func runBounce(ctx context.Context, env *Env, inv *Invocation) error {
	format := formatOf(inv)
	sel, err := selectionOf(env, inv)
	if err != nil {
		return err
	}
	reason := strings.TrimSpace(inv.Set["reason"])
	if reason == "" {
		return usageFor(inv.Cmd, "give '--reason <TEXT>': it is what the senders are told (cancel removes mail without telling them)")
	}
	b, ok := env.Queue.(queue.Bouncer)
	if !ok {
		return fmt.Errorf("bounce is not available on %s: cancel removes messages there without a notice", backendName(env.Queue))
	}
	if err := confirmChange(ctx, env, inv, sel.filter, "Bounce"); err != nil {
		return err
	}
	res, err := b.Bounce(ctx, queue.BounceRequest{Filter: sel.filter, Reason: reason, DryRun: inv.Set["dry-run"] == "true"})
	if errors.Is(err, queue.ErrEmptyFilter) {
		return emptySelection()
	}
	if err != nil {
		return err
	}
	if err := reportChange(ctx, env, format, sel, res.Result, bounceWords); err != nil {
		return err
	}
	fmt.Fprintln(env.Stderr, noticeSentence(res))
	return nil
}

// noticeSentence says which senders were (or would be) told.
func noticeSentence(res queue.BounceResult) string {
	verb := "were"
	if res.DryRun {
		verb = "would be"
	}
	s := fmt.Sprintf("%d failure notice(s) %s queued to the senders.", len(res.Notices), verb)
	if res.NoNotice > 0 {
		s += fmt.Sprintf(" %d message(s) from <> (bounces themselves) %s removed without one.", res.NoNotice, verb)
	}
	if res.NotWanted > 0 {
		s += fmt.Sprintf(" %d message(s) asked for no failure notice (NOTIFY).", res.NotWanted)
	}
	return s
}

// backendName names a backend in a sentence: "the Stalwart server at URL"
// for a remote one, else its location.
func backendName(b queue.Backend) string {
	loc := b.Location()
	if strings.HasPrefix(loc, "http://") || strings.HasPrefix(loc, "https://") {
		return "the Stalwart server at " + loc
	}
	return "the queue at " + loc
}

// noticeWriter writes the failure notices of `queue bounce`, as `mqsh
// serve` writes those of delivery: from MAILER-DAEMON at this host's name.
func noticeWriter(env *Env) queue.NoticeWriter {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return (&notices.Notifier{Hostname: host, Now: env.Now}).Text
}
