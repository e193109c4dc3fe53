package repl

import (
	"context"
	"fmt"
	"os"

	"mqsh/queue"
)

// copyCommand declares `copy FROM TO`: every message of one queue into
// another, whatever their engines (a queue file, PostgreSQL), as it is.
func copyCommand() *Command {
	return &Command{
		Path:    []string{"copy"},
		Summary: "Copies every message of one queue into another (a file, PostgreSQL), texts and schedules included",
		NoQueue: true, // it opens the two it is given
		Args: []Arg{
			{Name: "FROM", Required: true, Kind: KindFile, Help: "The queue copied: a file path, sqlite: or postgres:// URL"},
			{Name: "TO", Required: true, Kind: KindFile, Help: "The queue copied into (created when it is a file that does not exist): a file path, sqlite: or postgres:// URL"},
		},
		Run: runCopy,
	}
}

// copyPage is how many messages are read from the source at a time.
const copyPage = 1000

// runCopy reads every message of FROM, with its text, from one snapshot,
// and adds them to TO in one unit of work: all of them, keeping their ids,
// schedules and statuses, or, at the first fault (an id TO has already),
// none. Progress goes to stderr.
func runCopy(ctx context.Context, env *Env, inv *Invocation) error {
	if len(inv.Args) != 2 {
		return usageFor(inv.Cmd, "give two queues: copy FROM TO")
	}
	open := func(loc string, create bool) (queue.Backend, func(), error) {
		e := &Env{Streams: env.Streams, Session: Session{Now: env.Now}}
		_, closer, err := OpenQueue(ctx, e, QueueFlags{URL: loc, URLSet: true}, os.Getenv)
		if err != nil {
			return nil, nil, err
		}
		if e.Queue == nil && e.OpenQueue != nil {
			if err := e.OpenQueue(ctx, create); err != nil {
				closer()
				return nil, nil, err
			}
		}
		return e.Queue, closer, nil
	}
	src, closeSrc, err := open(inv.Args[0], false)
	if err != nil {
		return fmt.Errorf("copy from %s: %w", inv.Args[0], err)
	}
	defer closeSrc()
	dst, closeDst, err := open(inv.Args[1], true)
	if err != nil {
		return fmt.Errorf("copy to %s: %w", inv.Args[1], err)
	}
	defer closeDst()
	if src.Location() == dst.Location() {
		return usageFor(inv.Cmd, fmt.Sprintf("%s is both FROM and TO: give two different queues", src.Location()))
	}
	if dst.ReadOnly() {
		return fmt.Errorf("copy to %s: the queue is read-only: nothing was copied", dst.Location())
	}

	var res queue.Result
	err = src.Run(ctx, queue.RunRead, func(stx queue.Txn) error {
		all := queue.Filter{All: true}
		total, err := stx.Count(all)
		if err != nil {
			return err
		}
		step := max(copyPage, total/20)
		return dst.Run(ctx, queue.RunWrite, func(dtx queue.Txn) error {
			mi, ok := dtx.(queue.MessageImporter)
			if !ok {
				return fmt.Errorf("%s cannot take whole messages (ids, schedules, texts): copy into a queue file or PostgreSQL", dst.Location())
			}
			var page []queue.Message
			var after queue.ID
			done, shown := 0, 0
			next := func() (*queue.Message, []byte, error) {
				if len(page) == 0 {
					p, err := stx.List(all, queue.Page{After: after, Limit: copyPage})
					if err != nil || len(p) == 0 {
						return nil, nil, err
					}
					page, after = p, p[len(p)-1].ID
				}
				id := page[0].ID
				page = page[1:]
				// Whole: a list leaves out what arrived with the message
				// (DSN RET and NOTIFY, the client, a hold).
				m, err := stx.Get(id)
				if err != nil {
					return nil, nil, fmt.Errorf("read message %s: %w", id, err)
				}
				raw, err := stx.Raw(id)
				if err != nil {
					return nil, nil, fmt.Errorf("read message %s: %w", id, err)
				}
				if done++; done-shown >= step {
					shown = done
					fmt.Fprintf(env.Stderr, "copy: %d of %d messages (%d%%)\n", done, total, done*100/max(total, 1))
				}
				return m, raw, nil
			}
			res, err = mi.ImportMessages(src.Location(), next)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", src.Location(), dst.Location(), err)
	}
	fmt.Fprintf(env.Stderr, "Copied %d message(s) from %s to %s.\n", res.Count, src.Location(), dst.Location())
	return nil
}
