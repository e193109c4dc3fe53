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

// `queue top`: a live view of the queue and its delivery rates, redrawn
// every few seconds on a terminal until q or Ctrl-C; one frame elsewhere.

func topCommand() *Command {
	return &Command{
		Path:    []string{"queue", "top"},
		Summary: "A live view of the queue: its size, largest domains and delivery rates, until q",
		Flags: []Flag{
			{Long: "interval", Value: "DURATION", Kind: KindText, Default: "2s", Help: "How often the view is redrawn on a terminal"},
			{Long: "top", Short: "n", Value: "N", Kind: KindNumber, Default: "10", Help: "How many of the largest domains to show"},
		},
		Run: runTop,
	}
}

func runTop(ctx context.Context, env *Env, inv *Invocation) error {
	interval, err := parseDuration(inv.Value("interval"))
	if err != nil || interval < 100*time.Millisecond {
		return usageFor(inv.Cmd, fmt.Sprintf("invalid value '%s' for '--interval': want a duration of at least 100ms, such as 2s or 1m", inv.Value("interval")))
	}
	top, err := intFlag(inv, "top", 10, 1)
	if err != nil {
		return err
	}
	w, ok := env.Queue.(queue.Watcher)
	if !ok {
		return noVerb(env, "top")
	}
	frame := func() (string, error) {
		s, err := w.Snapshot(ctx, top, time.Minute)
		if err != nil {
			return "", err
		}
		return TopFrame(env.Queue.Location(), s, env.Color), nil
	}
	if !env.Terminal || env.ReadKey == nil {
		// Off a terminal: one frame, for a log or a test.
		f, err := frame()
		if err != nil {
			return err
		}
		_, err = io.WriteString(env.Stdout, f)
		return err
	}

	// Keys are read on their own goroutine, which ends at q or Ctrl-C: the
	// only ways out besides the command's context.
	keys := make(chan error, 1)
	go func() {
		for {
			k, err := env.ReadKey()
			if err != nil || k == 'q' || k == 'Q' {
				keys <- err
				return
			}
		}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		f, err := frame()
		if err != nil {
			return err
		}
		f += fmt.Sprintf("\nRedrawn every %s; q or Ctrl-C quits.\n", interval)
		// The key reader holds the terminal in raw mode: lines need their
		// carriage return.
		if _, err := io.WriteString(env.Stdout, "\x1b[H\x1b[2J"+strings.ReplaceAll(f, "\n", "\r\n")); err != nil {
			return err
		}
		select {
		case err := <-keys:
			if err != nil && !errors.Is(err, ErrInterrupt) {
				return err
			}
			return nil
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// TopFrame renders one picture of the queue for `queue top`.
func TopFrame(location string, s *queue.Snapshot, color bool) string {
	p := painter{on: color}
	var b strings.Builder
	fmt.Fprintf(&b, "%s at %s", p.bold("mqsh top: "+clean(location)), FormatDate(s.At))
	if s.Paused {
		b.WriteString(" (delivery paused)")
	}
	b.WriteString("\n\n")
	fmt.Fprintf(&b, "Queued:    %s, %s held\n", counted(s.Messages, "message"), strconv.Itoa(s.Held))
	var states []string
	for _, st := range []queue.Status{queue.Scheduled, queue.TempFail, queue.PermFail, queue.Completed} {
		states = append(states, fmt.Sprintf("%d %s", s.Domains[st.Short()], p.status(st, st.Short())))
	}
	fmt.Fprintf(&b, "Domains:   %s\n", strings.Join(states, ", "))
	r := s.Rates
	fmt.Fprintf(&b, "Per minute (last %s): %s arrived, %s delivered, %s deferred, %s bounced\n",
		shortDuration(r.Until.Sub(r.Since)), rate(r, r.Arrived), rate(r, r.Delivered), rate(r, r.Deferred), rate(r, r.Bounced))
	if len(s.Top) == 0 {
		return b.String()
	}
	w := len("Domain")
	for _, d := range s.Top {
		w = max(w, len(clean(d.Name)))
	}
	fmt.Fprintf(&b, "\n%s\n", p.bold(fmt.Sprintf("%-*s  %8s", w, "Domain", "Messages")))
	for _, d := range s.Top {
		fmt.Fprintf(&b, "%-*s  %8d\n", w, clean(d.Name), d.Messages)
	}
	return b.String()
}

// rate is n events of the window as a rate per minute, without a needless
// decimal.
func rate(r queue.Rates, n int) string {
	v := r.PerMinute(n)
	if v == float64(int64(v)) {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}
