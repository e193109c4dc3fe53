package pgqueue

import (
	"fmt"
	"io"

	"mqsh/queue"
)

// The JSON import's reader: queue.LineDecoder cuts the input into chunks of
// whole lines, which decoders on several goroutines turn into batches of
// COPY rows while the batch before goes to the server; the batches are
// written in input order, so that the first error by line is the one
// reported.

// chunkBytes is about the most bytes of a chunk; it holds at most
// copyBatch lines (one full batch of messages, when each line holds one).
const chunkBytes = 32 << 20

// readBatches decodes JSON Lines into batches and has ins write each, in
// input order, counting the messages of each domain; it returns how many
// lines were read.
func (tx *Tx) readBatches(r io.Reader, domains map[string]int, ins *inserter) (int, error) {
	var seen queue.SeenIDs
	dec := queue.LineDecoder[*batch]{Clock: tx.q.clock, Expire: tx.q.sched.Expire, Lines: copyBatch, Bytes: chunkBytes,
		New:   func() *batch { return &batch{domains: map[string]int{}} },
		Reset: (*batch).reset,
		Add: func(b *batch, line int, m *queue.Message) error {
			if err := b.encode(m, m.Text(), line); err != nil { // a line of queue export carries its text
				return err
			}
			for _, d := range m.Domains {
				b.domains[d.Name]++
			}
			return nil
		}}
	return dec.Run(r, func(b *batch, more bool, err error) error {
		for k, id := range b.ids {
			if e := seen.Add(queue.ID(id), b.lines[k]); e != nil {
				// An id queued already on a line before this one is
				// the first error.
				if err := ins.refuseQueued(b.ids[:k], b.lines[:k]); err != nil {
					return err
				}
				return fmt.Errorf("line %d: %w", b.lines[k], e)
			}
		}
		for name, n := range b.domains {
			domains[name] += n
		}
		b.full = more && err == nil
		if err := ins.write(b); err != nil {
			return err
		}
		return err
	})
}
