package faults

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const writersAt = "2031-01-01T00:00:00Z" // where every writer retries its messages

// TestCampaignConcurrentWriters runs four writer processes at once on one
// queue file, each in rounds of a fresh mqsh process running a batch of mixed
// changes (an import, a retry by filter or by Lua, a cancel by ids, a cancel
// of recipients), while a fifth process keeps reading. Every process must
// succeed without "database is locked", and the queue must end holding
// exactly the messages each writer kept, in the state its changes left them,
// with one audit row per change.
func TestCampaignConcurrentWriters(t *testing.T) {
	if testing.Short() {
		t.Skip("starts mqsh processes")
	}
	concurrentWriters(t, false)
}

// TestCampaignConcurrentCreation is the same, except that the writers' first
// rounds create the queue file together while the reader is already trying
// to read it.
func TestCampaignConcurrentCreation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts mqsh processes")
	}
	for range envInt(t, "MQSH_FAULTS_CREATIONS", 8) {
		concurrentWriters(t, true)
		if t.Failed() {
			return
		}
	}
}

func concurrentWriters(t *testing.T, create bool) {
	const writers = 4
	rounds, per := envInt(t, "MQSH_FAULTS_ROUNDS", 6), 30
	if longRun() {
		rounds, per = envInt(t, "MQSH_FAULTS_ROUNDS", 25), 100
	}
	mqshBinary(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "q.db")
	// Unless the writers create the file, it starts with the documented
	// messages, which no writer touches.
	pre, preAudit := map[int64]bool{}, 0
	if !create {
		mustMqsh(t, db, "queue", "demo", "0")
		for line := range jsonLines(t, mustMqsh(t, db, "queue", "list", "-o", "json").stdout) {
			pre[line.id] = true
		}
		preAudit = mustInspect(t, db).nAudit
	}

	// Each writer's messages, by id, and the ids it keeps.
	want := map[int64]int{} // id -> writer
	var batches [writers][]string
	for w := range writers {
		for r := range rounds {
			var jsonl strings.Builder
			var cancel []string
			for i := range per {
				id := int64(w+1)<<40 | int64(r+1)<<20 | int64(i+1)
				jsonl.WriteString(writerMessage(id, w, i))
				if i%3 == 0 {
					cancel = append(cancel, strings.ToUpper(strconv.FormatInt(id, 16)))
				} else {
					want[id] = w
				}
			}
			file := filepath.Join(dir, fmt.Sprintf("w%dr%d.jsonl", w, r))
			if err := os.WriteFile(file, []byte(jsonl.String()), 0o600); err != nil {
				t.Fatal(err)
			}
			sender := fmt.Sprintf("w%d@writers.test", w)
			retry := fmt.Sprintf("queue retry -s %s -t %s", sender, writersAt)
			if r%2 == 1 {
				retry = fmt.Sprintf(`lua queue.retry({sender = "%s"}, {at = time.parse("%s")})`, sender, writersAt)
			}
			batch := strings.Join([]string{
				"queue import " + file,
				retry,
				"queue cancel " + strings.Join(cancel, " "),
				fmt.Sprintf("queue cancel -s %s -r @other.test", sender),
			}, "\n") + "\n"
			bf := filepath.Join(dir, fmt.Sprintf("w%dr%d.txt", w, r))
			if err := os.WriteFile(bf, []byte(batch), 0o600); err != nil {
				t.Fatal(err)
			}
			batches[w] = append(batches[w], bf)
		}
	}

	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	for w := range writers {
		wg.Go(func() {
			// A writer may say that it waits for another (on stderr); it
			// must not fail.
			for _, bf := range batches[w] {
				r := mqsh(t, db, "-f", bf)
				if r.err != nil || strings.Contains(r.stderr, "database is locked") {
					fail("writer %d, %s: %v\n%s", w, filepath.Base(bf), r.err, r.stderr)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	reads := 0
	var readers sync.WaitGroup
	readers.Go(func() {
		for ; reads < 200; reads++ {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			r := mqsh(t, db, "queue", "summary", "--by", "sender")
			// Before the first writer has created the file there is no queue.
			if r.err != nil && !strings.Contains(r.stderr, "no queue at") || strings.Contains(r.stderr, "database is locked") {
				fail("reader: %v\n%s", r.err, r.stderr)
				return
			}
		}
	})
	wg.Wait()
	close(done)
	readers.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if t.Failed() {
		return
	}
	t.Logf("%d writers x %d rounds (%d messages each) and %d reads in %v", writers, rounds, per, reads, time.Since(start).Round(time.Millisecond))

	st := mustInspect(t, db)
	if want, got := preAudit+writers*rounds*4, st.nAudit; got != want {
		t.Errorf("%d audit rows, want %d (one per change)", got, want)
	}
	out := mustMqsh(t, db, "queue", "list", "-o", "json").stdout
	got := map[int64]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m struct {
			ID         int64  `json:"id"`
			ReturnPath string `json:"return_path"`
			Domains    []struct {
				Name      string          `json:"name"`
				Status    json.RawMessage `json:"status"`
				NextRetry string          `json:"next_retry"`
			} `json:"domains"`
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("queue list -o json: %v: %.200s", err, line)
		}
		if pre[m.ID] {
			continue
		}
		got[m.ID] = true
		w, ok := want[m.ID]
		if !ok {
			t.Errorf("message %X is in the queue but its writer cancelled it (or never wrote it)", m.ID)
			continue
		}
		if m.ReturnPath != fmt.Sprintf("w%d@writers.test", w) || len(m.Domains) != 2 {
			t.Errorf("message %X: sender %q, %d domains; want writer %d's with 2", m.ID, m.ReturnPath, len(m.Domains), w)
			continue
		}
		for _, d := range m.Domains {
			switch d.Name {
			case fmt.Sprintf("w%d.test", w):
				if string(d.Status) != `"scheduled"` || d.NextRetry != writersAt {
					t.Errorf("message %X, %s: status %s due %s; want scheduled at %s", m.ID, d.Name, d.Status, d.NextRetry, writersAt)
				}
			case "other.test":
				if !strings.Contains(string(d.Status), "perm_fail") {
					t.Errorf("message %X, %s: status %s; want its recipient cancelled", m.ID, d.Name, d.Status)
				}
			default:
				t.Errorf("message %X: unexpected domain %s", m.ID, d.Name)
			}
		}
	}
	var lost []string
	for id := range want {
		if !got[id] {
			lost = append(lost, fmt.Sprintf("%X", id))
		}
	}
	slices.Sort(lost)
	if len(lost) > 0 {
		t.Errorf("%d messages lost, among them %s", len(lost), strings.Join(lost[:min(len(lost), 5)], " "))
	}
	if len(got) != len(want) {
		t.Errorf("%d messages in the queue, want %d", len(got), len(want))
	}
}

// writerMessage is one JSON line in Stalwart's message shape: a message of
// writer w with a recipient at the writer's own domain and one at other.test.
func writerMessage(id int64, w, i int) string {
	dom := func(name, rcpt string) string {
		return fmt.Sprintf(`{"name":%q,"status":"scheduled","recipients":[{"address":%q,"status":"scheduled"}],`+
			`"retry_num":0,"next_retry":"2026-01-01T00:00:00Z","next_notify":null,"expires":"2036-01-01T00:00:00Z"}`, name, rcpt)
	}
	return fmt.Sprintf(`{"id":%d,"return_path":"w%d@writers.test","domains":[%s,%s],"created":"2026-01-01T00:00:00Z","size":1024}`+"\n",
		id, w, dom(fmt.Sprintf("w%d.test", w), fmt.Sprintf("a%d@w%d.test", i, w)), dom("other.test", fmt.Sprintf("b%d@other.test", i)))
}
