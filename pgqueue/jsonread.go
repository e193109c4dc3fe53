package pgqueue

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"mqsh/queue"
)

// The JSON import's reader: the input is cut into chunks of whole lines,
// which decoders on several goroutines turn into batches of COPY rows while
// the batch before goes to the server; the batches are written in input
// order, so that the first error by line is the one reported.

// Limits of a chunk: copyBatch lines (one full batch of messages, when each
// line holds one), or chunkBytes. A line longer than lineCap is not read
// whole: its start is handed on, for queue.ReadJSONLines to refuse it by
// its line number.
const (
	chunkBytes = 32 << 20
	lineCap    = 64 << 20
)

// chunk is a run of whole lines of the input and the number of its first
// line; its result comes back on done.
type chunk struct {
	data  []byte
	start int
	lines int   // lines in data, a last one without its newline included
	more  bool  // the input goes on after it
	rerr  error // the read error that ended the input after data, if any
	done  chan chunkResult
}

// chunkResult is a decoded chunk: its rows, the lines it held, the messages
// of each recipient domain, and the error that ended it (after the rows of
// the lines before).
type chunkResult struct {
	b       *batch
	lines   int
	domains map[string]int
	err     error
}

// readBatches decodes JSON Lines into batches and has ins write each, in
// input order, counting the messages of each domain; it returns how many
// lines were read.
func (tx *Tx) readBatches(r io.Reader, domains map[string]int, ins *inserter) (int, error) {
	stop := make(chan struct{})
	jobs := make(chan *chunk)
	workers := min(runtime.GOMAXPROCS(0), 4)
	order := make(chan *chunk, workers)
	// Batches written and chunks decoded come back for reuse, so that
	// their buffers need not grow anew for every chunk.
	spare := make(chan *batch, workers+2)
	bufs := make(chan []byte, workers+2)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(jobs)
		defer close(order)
		cutChunks(r, bufs, func(c *chunk) bool {
			select {
			case order <- c:
			case <-stop:
				return false
			}
			select {
			case jobs <- c:
				return true
			case <-stop:
				c.done <- chunkResult{err: errors.New("import stopped")}
				return false
			}
		})
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range jobs {
				c.done <- tx.decodeChunk(c, spare, bufs)
			}
		}()
	}
	defer func() {
		close(stop)
		for range order { // the chunker is done with r
		}
		wg.Wait()
	}()
	var seen queue.SeenIDs
	lines := 0
	for c := range order {
		res := <-c.done
		lines += res.lines
		b := res.b
		for k, id := range b.ids {
			if err := seen.Add(queue.ID(id), b.lines[k]); err != nil {
				// An id queued already on a line before this one is
				// the first error.
				if err := ins.refuseQueued(b.ids[:k], b.lines[:k]); err != nil {
					return 0, err
				}
				return 0, fmt.Errorf("line %d: %w", b.lines[k], err)
			}
		}
		for name, n := range res.domains {
			domains[name] += n
		}
		b.full = c.more && res.err == nil
		if err := ins.write(b); err != nil {
			return 0, err
		}
		b.reset()
		select {
		case spare <- b:
		default:
		}
		if res.err != nil {
			return 0, res.err
		}
		if c.rerr != nil {
			return 0, fmt.Errorf("line %d: %w", c.start+c.lines, c.rerr)
		}
	}
	return lines, nil
}

// cutChunks reads r into chunks of whole lines (in buffers from bufs, when
// there are any) and hands each to send (in order) until r ends, a read
// fails (the chunk then ends there, and says why) or send says to stop.
func cutChunks(r io.Reader, bufs <-chan []byte, send func(*chunk) bool) {
	br := bufio.NewReaderSize(r, 1<<20)
	start := 1
	for {
		c := &chunk{start: start, done: make(chan chunkResult, 1)}
		select {
		case c.data = <-bufs:
		default:
		}
		var rerr error
		for c.lines < copyBatch && len(c.data) < chunkBytes {
			n := len(c.data)
			for {
				frag, err := br.ReadSlice('\n')
				c.data = append(c.data, frag...)
				if err == bufio.ErrBufferFull && len(c.data)-n <= lineCap {
					continue
				}
				rerr = err
				break
			}
			if len(c.data) > n {
				c.lines++
			}
			if rerr != nil {
				break
			}
		}
		if rerr == nil {
			_, rerr = br.Peek(1) // whether the input goes on
		}
		c.more = rerr == nil
		if rerr != nil && rerr != io.EOF && rerr != bufio.ErrBufferFull {
			c.rerr = rerr
		}
		if !send(c) || !c.more {
			return
		}
		start += c.lines
	}
}

// decodeChunk decodes the lines of c into a batch. An error is told by its
// line in the whole input: the chunk is read again behind as many empty
// lines as come before it (only then), so that it says what
// queue.ReadJSONLines says of that line.
func (tx *Tx) decodeChunk(c *chunk, spare <-chan *batch, bufs chan<- []byte) chunkResult {
	res := chunkResult{b: &batch{}, domains: map[string]int{}}
	select {
	case res.b = <-spare:
	default:
	}
	read := func(r io.Reader, first int, b *batch, domains map[string]int) (int, error) {
		return queue.ReadJSONLines(r, tx.q.clock, tx.q.sched.Expire, func(line int, msgs []*queue.Message) error {
			for _, m := range msgs {
				if err := b.encode(m, m.Text(), first+line-1); err != nil { // a line of queue export carries its text
					return err
				}
				for _, d := range m.Domains {
					domains[d.Name]++
				}
			}
			return nil
		})
	}
	res.lines, res.err = read(bytes.NewReader(c.data), c.start, res.b, res.domains)
	if res.err != nil && c.start > 1 {
		before := bytes.NewReader(bytes.Repeat([]byte{'\n'}, c.start-1))
		_, res.err = read(io.MultiReader(before, bytes.NewReader(c.data)), 1, &batch{}, map[string]int{})
	}
	select {
	case bufs <- c.data[:0]:
	default:
	}
	return res
}
