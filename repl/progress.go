package repl

import (
	"io"
	"sync"
	"time"

	"github.com/jedib0t/go-pretty/v6/progress"
)

// Progress bars for work that takes a while (import, bulk changes, demo
// loads, scripts): drawn with go-pretty's progress package on stderr, only
// when stdout and stderr are both a terminal, and only once the work has
// lasted progressDelay. In a pipe, a file, or with -o json to a pipe, not a
// byte of them is written.

// progressDelay is how long work runs before its bar appears (tests
// shorten it).
var progressDelay = time.Second

// progressBar is one bar. A nil *progressBar does nothing, so callers need
// not ask whether one is shown.
type progressBar struct {
	mu      sync.Mutex
	pw      progress.Writer
	tracker *progress.Tracker
	timer   *time.Timer // shows the bar after progressDelay; nil when shown at once
	shown   bool
	ended   bool
	done    chan struct{} // closed when the renderer has returned
}

// startProgress starts a bar named msg for total units of work (bytes when
// bytes is set; 0 = not known: the bar only moves). It is drawn after
// progressDelay, unless done first; nil when the streams are not terminals.
func startProgress(env *Env, msg string, total int64, bytes bool) *progressBar {
	if !env.Terminal || !env.StderrTerminal {
		return nil
	}
	units := progress.UnitsDefault
	if bytes {
		units = progress.UnitsBytes
	}
	p := &progressBar{tracker: &progress.Tracker{Message: msg, Total: total, Units: units}, done: make(chan struct{})}
	pw := progress.NewWriter()
	pw.SetOutputWriter(env.Stderr)
	pw.SetUpdateFrequency(100 * time.Millisecond)
	pw.SetTrackerLength(30)
	pw.SetMessageLength(32)
	pw.ShowETA(total > 0)
	pw.SetAutoStop(false)
	if env.Width != nil {
		if w := env.Width(); w > 0 {
			pw.SetTerminalWidth(w)
		}
	}
	pw.Style().Visibility.Value = true
	p.pw = pw
	if progressDelay <= 0 {
		p.show()
	} else {
		p.timer = time.AfterFunc(progressDelay, p.show)
	}
	return p
}

// show draws the bar, unless the work has ended meanwhile.
func (p *progressBar) show() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended {
		return
	}
	p.shown = true
	p.pw.AppendTracker(p.tracker)
	go func() { p.pw.Render(); close(p.done) }()
}

// Add counts n more units done.
func (p *progressBar) Add(n int64) {
	if p != nil {
		p.tracker.Increment(n)
	}
}

// Done ends the bar: a bar shown is drawn one last time, complete, and
// Done returns once it is; a bar not shown yet never will be. Calling it
// again does nothing.
func (p *progressBar) Done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.ended {
		p.mu.Unlock()
		return
	}
	p.ended = true
	if p.timer != nil {
		p.timer.Stop()
	}
	shown := p.shown
	p.mu.Unlock()
	if !shown {
		return
	}
	p.tracker.MarkAsDone()
	// Let the renderer draw the bar complete before it stops.
	for end := time.Now().Add(time.Second); p.pw.LengthActive() > 0 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	p.pw.Stop()
	<-p.done
}

// countingReader counts what is read through it on a bar.
type countingReader struct {
	r   io.Reader
	bar *progressBar
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.bar.Add(int64(n))
	return n, err
}

// quietWriter ends a bar before the first write through it, so that what a
// script prints is never drawn over.
type quietWriter struct {
	w   io.Writer
	bar *progressBar
}

func (q quietWriter) Write(b []byte) (int, error) {
	q.bar.Done()
	return q.w.Write(b)
}
