package faults

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A bulk operation of the campaign: the mqsh arguments after -u QUEUE, or
// the lines of a batch file, each line its own transaction.
type operation struct {
	name  string
	args  []string
	batch []string
	fresh bool   // runs on a queue file that does not exist yet
	base  string // runs on a copy of this queue rather than the campaign's base

	// The fingerprints a kill may leave: before and after the whole
	// operation, and for a batch also after each of its lines.
	states []state
	took   time.Duration // how long a whole run takes
}

func (op *operation) before() state { return op.states[0] }
func (op *operation) full() state   { return op.states[len(op.states)-1] }

// hotJournals counts the kills that left a rollback journal to roll back.
var hotJournals int

// outcome counts, per operation.
type tally struct{ nothing, between, full, finished int }

// TestCampaignKillBulkOperations kills bulk operations with SIGKILL at random
// moments and checks, after each kill, that the queue file is intact, that
// the operation's change is either wholly there or wholly absent, that the
// audit log records the change exactly when it is there, and that mqsh can
// use the file again.
func TestCampaignKillBulkOperations(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills mqsh processes")
	}
	kills := envInt(t, "MQSH_FAULTS", 36)
	budget, messages := 10*time.Second, 2500
	if longRun() {
		budget, messages = 30*time.Minute, 4000
	}
	if s := os.Getenv("MQSH_FAULTS_TIME"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("MQSH_FAULTS_TIME=%q: %v", s, err)
		}
		budget = d
	}
	n := envInt(t, "MQSH_FAULTS_MESSAGES", messages)
	seed := uint64(time.Now().UnixNano())
	if os.Getenv("MQSH_FAULTS_SEED") != "" {
		seed = uint64(envInt(t, "MQSH_FAULTS_SEED", 0))
	}
	t.Logf("kills %d, budget %v, %d generated messages, MQSH_FAULTS_SEED=%d", kills, budget, n, seed)
	rng := rand.New(rand.NewPCG(seed, 11))

	setupStart := time.Now()
	mqshBinary(t)
	dir := t.TempDir()
	base := filepath.Join(dir, "base.db")
	mustMqsh(t, base, "queue", "demo", fmt.Sprint(n), "--seed", "1")
	src := importFile(t, dir, base, n/2)
	// Half of the demo messages were created before this moment.
	cut := time.Now().Add(-2 * 24 * time.Hour).UTC().Format(time.RFC3339)
	// The same queue after a bulk cancel, its messages filed for removal
	// and not yet moved to the trash (queue/removals.go).
	filed := filepath.Join(dir, "filed.db")
	copyQueue(t, base, filed)
	mustMqsh(t, filed, "queue", "cancel", "--created-before", cut)

	ops := []*operation{
		{name: "retry by status", args: []string{"queue", "retry", "--status", "tempfail", "-t", "2030-01-01T00:00:00Z"}},
		{name: "cancel by creation time", args: []string{"queue", "cancel", "--created-before", cut}},
		{name: "cancel recipients by domain", args: []string{"queue", "cancel", "-r", "@gmail.com"}},
		{name: "lua one-liner", args: []string{"lua", `for m in queue.each{domain="outlook.com"} do queue.retry(m.id, {at=time.parse("2030-02-01T00:00:00Z")}) end queue.cancel{sender="<>"}`}},
		{name: "run reschedule-domain", args: []string{"run", "reschedule-domain", "gmail.com", "2030-01-01T00:00:00Z", "30m"}},
		{name: "import into the queue", args: []string{"queue", "import", src}},
		{name: "import into a new queue", args: []string{"queue", "import", src}, fresh: true},
		{name: "trash purge of a filed cancel", args: []string{"queue", "trash", "purge", "--all", "--yes"}, base: filed},
		{name: "undo of a filed cancel", args: []string{"queue", "undo"}, base: filed},
		{name: "batch of four commands", batch: []string{
			"queue retry -d gmail.com -t 2030-03-01T00:00:00Z",
			"queue cancel -s '<>'",
			"run reschedule-domain outlook.com 2030-04-01T00:00:00Z 10m",
			"queue import " + src,
		}},
	}
	if re := os.Getenv("MQSH_FAULTS_OPS"); re != "" {
		keep, err := regexp.Compile(re)
		if err != nil {
			t.Fatalf("MQSH_FAULTS_OPS=%q: %v", re, err)
		}
		ops = slices.DeleteFunc(ops, func(op *operation) bool { return !keep.MatchString(op.name) })
		if len(ops) == 0 {
			t.Fatalf("MQSH_FAULTS_OPS=%q matches no operation", re)
		}
	}
	work := filepath.Join(dir, "work.db")
	fresh := filepath.Join(dir, "new.db")
	baseState := mustInspect(t, base)
	for _, op := range ops {
		var before state // a new file: nothing at all
		switch {
		case op.base != "":
			before = mustInspect(t, op.base)
		case !op.fresh:
			before = baseState
		}
		op.states = []state{before}
		steps := 1
		batch := filepath.Join(dir, "batch.txt")
		if op.batch != nil {
			// A batch may stop between lines: each prefix is a state. The
			// prefixes run from the same file name, which the audit log
			// records.
			steps = len(op.batch)
			op.args = []string{"-f", batch}
		}
		for k := range steps {
			target := prepare(t, op, base, work, fresh)
			if op.batch != nil {
				writeBatch(t, batch, op.batch[:k+1])
			}
			r := mustMqsh(t, target, op.args...)
			op.took = r.took
			st := mustInspect(t, target)
			for _, o := range op.states {
				if st.data == o.data || st.audit == o.audit {
					t.Fatalf("%s: step %d leaves the queue as an earlier step does, so a kill could not tell them apart", op.name, k+1)
				}
			}
			op.states = append(op.states, st)
		}
		if longRun() {
			// The comparison with the full result relies on the operation
			// doing the same thing every time; check that once.
			target := prepare(t, op, base, work, fresh)
			r := mustMqsh(t, target, op.args...)
			op.took = max(op.took, r.took)
			if again := mustInspect(t, target); !again.same(op.full()) {
				t.Fatalf("%s: two whole runs differ:\n%v\n%v", op.name, op.full(), again)
			}
		}
		t.Logf("%-28s whole run %v: %v", op.name, op.took.Round(time.Millisecond), op.full())
	}

	tallies := make([]tally, len(ops))
	killStart := time.Now()
	deadline := killStart.Add(budget)
	done := 0
	for ; done < kills && time.Now().Before(deadline); done++ {
		i := done % len(ops)
		op := ops[i]
		target := prepare(t, op, base, work, fresh)
		// Kill anywhere from the start of the process to a little after
		// the moment a whole run ends.
		delay := time.Duration(rng.Int64N(int64(op.took*5/4) + 1))
		finished, out := startAndKill(t, target, op.args, delay)
		// Runs get faster or slower with the cache and the machine's load:
		// keep the kill window so that about one run in six finishes
		// before its kill, and the others are killed all through the run.
		if finished {
			tallies[i].finished++
			op.took = op.took * 9 / 10
		} else {
			op.took = op.took * 102 / 100
		}
		what := fmt.Sprintf("kill %d (%s, after %v)", done+1, op.name, delay.Round(time.Microsecond))
		at := checkAfterKill(t, what, op, target, finished, out)
		switch {
		case finished:
		case at == 0:
			tallies[i].nothing++
		case at == len(op.states)-1:
			tallies[i].full++
		default:
			tallies[i].between++
		}
		if longRun() && (done+1)%50 == 0 {
			t.Logf("%d runs, %v", done+1, time.Since(killStart).Round(time.Second))
		}
		if t.Failed() {
			t.Fatalf("stopping the campaign at the first failure; replay with MQSH_FAULTS_SEED=%d", seed)
		}
		// After a kill mqsh must be able to open the queue and, where the
		// change did not happen, make it in full.
		if at == 0 && (op.fresh || done%3 == 0) {
			r := mqsh(t, target, op.args...)
			if r.err != nil {
				t.Fatalf("%s: running it again after the kill: %v\n%s", what, r.err, r.stderr)
			}
			if st := mustInspect(t, target); !st.same(op.full()) {
				t.Fatalf("%s: running it again after the kill gives\n%v, want\n%v", what, st, op.full())
			}
		}
	}
	killed := 0
	for i, op := range ops {
		tl := tallies[i]
		killed += tl.nothing + tl.between + tl.full
		between := ""
		if len(op.states) > 2 {
			between = fmt.Sprintf(", between its lines %3d", tl.between)
		}
		t.Logf("%-28s killed with nothing changed %3d%s, killed after the change %3d, finished before the kill %3d",
			op.name, tl.nothing, between, tl.full, tl.finished)
	}
	t.Logf("setup %v, kills %v", killStart.Sub(setupStart).Round(time.Millisecond), time.Since(killStart).Round(time.Millisecond))
	t.Logf("%d runs, %d killed while running, %d hot journals rolled back; 0 damaged files, 0 half-applied changes, 0 audit mismatches",
		done, killed, hotJournals)
	if done < min(kills, len(ops)) {
		t.Errorf("only %d runs in the time budget %v; each operation needs at least one", done, budget)
	}
	if killed < done/3 {
		t.Errorf("only %d of %d runs were killed while running: the kill moments miss the operations", killed, done)
	}
}

// writeBatch writes a batch file of the given lines.
func writeBatch(t *testing.T, path string, lines []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// prepare lays out the queue file an operation runs on and returns its path.
func prepare(t *testing.T, op *operation, base, work, fresh string) string {
	t.Helper()
	if op.fresh {
		for _, sfx := range []string{"", "-wal", "-shm", "-journal"} {
			os.Remove(fresh + sfx)
		}
		return fresh
	}
	if op.base != "" {
		base = op.base
	}
	copyQueue(t, base, work)
	return work
}

// startAndKill starts mqsh on db, sends SIGKILL after delay, and reports
// whether the process had already exited by itself (and then its output).
func startAndKill(t *testing.T, db string, args []string, delay time.Duration) (finished bool, out string) {
	t.Helper()
	cmd := exec.Command(mqshBinary(t), append([]string{"-u", db}, args...)...)
	cmd.Env = mqshEnv()
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("mqsh %s failed by itself: %v\n%s", strings.Join(args, " "), err, b.String())
		}
		return true, b.String()
	case <-time.After(delay):
	}
	cmd.Process.Signal(syscall.SIGKILL)
	select {
	case err := <-exited:
		return err == nil, b.String()
	case <-time.After(opTimeout):
		t.Fatalf("mqsh %s did not end after SIGKILL", strings.Join(args, " "))
	}
	return false, ""
}

// checkAfterKill checks the queue file after a kill and says which of the
// operation's states it is in: 0 for nothing changed, the last for the whole
// change (and -1 when it is none of them, a failure).
func checkAfterKill(t *testing.T, what string, op *operation, db string, finished bool, out string) int {
	t.Helper()
	last := len(op.states) - 1
	nothing := func() int {
		if finished {
			t.Errorf("%s: the process finished but its change is missing\n%s", what, out)
		}
		return 0
	}
	if op.fresh {
		fi, err := os.Stat(db)
		if os.IsNotExist(err) {
			return nothing()
		}
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() == 0 {
			// An empty file is an empty SQLite database: nothing changed.
			return nothing()
		}
	}
	st, rolledBack, err := inspectAfterCrash(db)
	if rolledBack {
		hotJournals++
	}
	if err != nil {
		t.Errorf("%s: the queue file is damaged: %v", what, err)
		return -1
	}
	dataAt, auditAt := -1, -1
	for k, o := range op.states {
		if st.data == o.data {
			dataAt = k
		}
		if st.audit == o.audit {
			auditAt = k
		}
	}
	if op.fresh && st.nAudit == 0 && sumRows(st) == 0 {
		dataAt, auditAt = 0, 0 // a new file with an empty queue in it
	}
	switch {
	case dataAt >= 0 && dataAt == auditAt:
		if dataAt == 0 {
			return nothing()
		}
		if finished && dataAt != last {
			t.Errorf("%s: the process finished after %d of its %d steps\n%s", what, dataAt, last, out)
		}
		return dataAt
	case dataAt >= 0 && auditAt >= 0:
		t.Errorf("%s: the queue is as after step %d of %d but the audit log as after step %d: %v", what, dataAt, last, auditAt, st)
	case dataAt >= 0:
		t.Errorf("%s: the queue is as after step %d of %d but the audit log matches no step: %v", what, dataAt, last, st)
	case auditAt >= 0:
		t.Errorf("%s: the audit log is as after step %d of %d but the queue matches no step: %v", what, auditAt, last, st)
	default:
		t.Errorf("%s: half-applied change:\n got    %v\n before %v\n full   %v", what, st, op.before(), op.full())
	}
	return -1
}

func sumRows(st state) int {
	n := 0
	for _, c := range st.rows {
		n += c
	}
	return n
}

// importFile writes a JSON Lines file of about n messages, generated with
// another seed, leaving out the ids base already holds (the documented six
// are in every demo queue).
func importFile(t *testing.T, dir, base string, n int) string {
	t.Helper()
	have := map[int64]bool{}
	for line := range jsonLines(t, mustMqsh(t, base, "queue", "list", "-o", "json").stdout) {
		have[line.id] = true
	}
	other := filepath.Join(dir, "other.db")
	mustMqsh(t, other, "queue", "demo", fmt.Sprint(n), "--seed", "2")
	var b strings.Builder
	kept := 0
	for line := range jsonLines(t, mustMqsh(t, other, "queue", "list", "-o", "json").stdout) {
		if !have[line.id] {
			b.WriteString(line.text + "\n")
			kept++
		}
	}
	if kept < n/2 {
		t.Fatalf("only %d of %d generated messages have new ids", kept, n)
	}
	path := filepath.Join(dir, "import.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type jsonLine struct {
	id   int64
	text string
}

// jsonLines yields the id and text of each line of `queue list -o json`.
func jsonLines(t *testing.T, out string) func(func(jsonLine) bool) {
	return func(yield func(jsonLine) bool) {
		sc := bufio.NewScanner(strings.NewReader(out))
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			var m struct {
				ID int64 `json:"id"`
			}
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("queue list -o json: %v: %.200s", err, sc.Text())
			}
			if !yield(jsonLine{m.ID, sc.Text()}) {
				return
			}
		}
	}
}
