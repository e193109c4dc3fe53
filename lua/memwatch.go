package lua

// The memory watch: a script's memory limit, kept by sampling the heap
// (runtime/metrics) and by accounting for the strings the sandbox builds,
// without touching the process's runtime settings.

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"

	glua "github.com/yuin/gopher-lua"
)

// The heap figures the memory watch reads: the bytes of heap objects (live
// or not yet swept), and the live heap as of the last collection.
const (
	heapMetric = "/memory/classes/heap/objects:bytes"
	liveMetric = "/gc/heap/live:bytes"
)

// Sampling intervals of the memory watch: slow while the heap is quiet, fast
// while it grows by more than a sixteenth of the limit between two samples.
const (
	watchSlow = 10 * time.Millisecond
	watchFast = time.Millisecond
)

// sampling is false only in tests that look at what the Lua thread's own
// checks do when the sampling goroutine gets no CPU time.
var sampling = true

// memWatch stops a script (cancelling its context with ErrMemory) when the
// live heap grows more than limit bytes past the live heap at the start. The
// VM checks the context between instructions, so a runaway loop ends at the
// next instruction. The heap is sampled on another goroutine, and also by the
// Lua thread itself whenever the script has built another sixty-fourth of the
// limit in strings (see grow); only when the heap looks over the limit is a
// collection run to tell garbage from live data.
type memWatch struct {
	limit  int64
	cancel context.CancelCauseFunc
	done   chan struct{}
	late   *time.Timer // starts the sampling of a call that lasts (startWatch without collect)

	mu      sync.Mutex
	samples []metrics.Sample
	max     int64 // the heap may not grow past this after a collection
	trigger int64 // collect when the heap passes this
	made    int64 // string bytes built since the Lua thread last looked
}

// watchMemory starts watching; stop it with stop.
func watchMemory(ctx context.Context, limit int64, cancel context.CancelCauseFunc) *memWatch {
	return startWatch(ctx, limit, cancel, true)
}

// startWatch is watchMemory; with collect false it never collects at the
// start, but counts from the live heap of the last collection: a policy hook
// lasts milliseconds and runs thousands of times a second in a server whose
// heap is big for reasons of its own, so a collection per call would cost
// far more than the call.
func startWatch(ctx context.Context, limit int64, cancel context.CancelCauseFunc, collect bool) *memWatch {
	w := &memWatch{
		limit: limit, cancel: cancel, done: make(chan struct{}),
		samples: []metrics.Sample{{Name: heapMetric}, {Name: liveMetric}},
	}
	heap, base := w.read()
	if collect && heap > 64<<20 {
		// A big heap may be garbage, or data freed since the last collection
		// (after an earlier script's bomb, say): collect to know where it stands.
		runtime.GC()
		heap, base = w.read()
	}
	base = min(base, heap)
	w.max = base + limit
	w.trigger = w.max
	if !sampling {
		return w
	}
	if collect {
		go w.loop(ctx, heap)
	} else {
		// Most hook calls end within microseconds: start sampling only
		// for a call still running at the first sample's time, and save
		// the others a goroutine and a timer of their own.
		w.late = time.AfterFunc(watchSlow, func() { w.sample(ctx) })
	}
	return w
}

func (w *memWatch) stop() {
	if w.late != nil {
		w.late.Stop()
	}
	close(w.done)
}

// sample takes the first sample at once, then goes on as loop does.
func (w *memWatch) sample(ctx context.Context) {
	select {
	case <-w.done:
		return
	case <-ctx.Done():
		return
	default:
	}
	heap, over := w.check(0)
	if !over {
		w.loop(ctx, heap)
	}
}

// read returns the bytes of heap objects and the live heap. Call with mu held
// (or before the watch starts).
func (w *memWatch) read() (heap, live int64) {
	metrics.Read(w.samples)
	if w.samples[0].Value.Kind() == metrics.KindUint64 {
		heap = int64(w.samples[0].Value.Uint64())
	}
	if w.samples[1].Value.Kind() == metrics.KindUint64 {
		live = int64(w.samples[1].Value.Uint64())
	}
	return heap, live
}

func (w *memWatch) loop(ctx context.Context, last int64) {
	every := watchSlow
	timer := time.NewTimer(every)
	defer timer.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		heap, over := w.check(0)
		if over {
			return
		}
		if heap-last > w.limit/16 {
			every = watchFast
		} else {
			every = min(2*every, watchSlow)
		}
		last = heap
		timer.Reset(every)
	}
}

// check samples the heap, counting pending more bytes about to be allocated.
// Over the trigger it collects and looks again; still over the limit, it
// cancels the script and reports true.
func (w *memWatch) check(pending int64) (heap int64, over bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if heap, _ = w.read(); heap+pending <= w.trigger {
		return heap, false
	}
	// Garbage may account for the growth: collect, then look again.
	runtime.GC()
	heap, _ = w.read()
	if heap+pending > w.max {
		w.cancel(ErrMemory)
		return heap, true
	}
	// Under the limit: collect again after an eighth of a limit more, so
	// garbage never piles up far past the limit.
	w.trigger = max(heap+w.limit/8, w.max)
	return heap, false
}

// grow is called by the Lua thread before it builds a string of n bytes. Once
// a sixty-fourth of the limit has been built since it last looked, it checks
// the heap at once rather than waiting for the next sample, and reports true
// if the script must stop. This check alone must keep the heap near the
// limit, for on a busy machine the sampling goroutine may wait tens of
// milliseconds for its turn while the Lua thread runs; and the heap grows by
// more than the bytes counted here (string.format builds its result in
// buffers of its own, then copies it), so a check every eighth of the limit
// let the heap run a fifth of the limit past the trigger. A check reads two
// runtime metrics (half a microsecond) unless it must collect.
func (w *memWatch) grow(n int64) bool {
	w.mu.Lock()
	w.made += n
	due := w.made >= w.limit/64
	if due {
		w.made = 0
	}
	w.mu.Unlock()
	if !due {
		return false
	}
	_, over := w.check(n)
	return over
}

// build checks, before a string of n bytes is built, that it is within the
// string limit and that the heap has room for it; otherwise it raises.
func (s *Session) build(L *glua.LState, what string, n int64) {
	if limit := s.strLimit; n > limit {
		L.RaiseError("%s: the result would be %d bytes; the limit is %s per string", what, n, byteSize(limit))
	}
	if s.mem != nil && s.mem.grow(n) {
		L.RaiseError("%s: %v", what, ErrMemory)
	}
}

// byteSize writes n as "64 MiB" when it is a whole number of MiB, else in bytes.
func byteSize(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
