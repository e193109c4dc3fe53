package remote

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"mqsh/queue"
)

// headerServer is the fake Stalwart with mqsh's server's habit: a full list
// page names its last id in the Mqsh-Last-Id header. It sends each page's
// headers and the first half of its body, then waits (up to a few seconds)
// for the next list request before sending the rest, and records whether
// that request came while the page was still being received. lie names the
// id of the message after the page's last instead.
type headerServer struct {
	fake *fakeStalwart
	lie  bool

	mu         sync.Mutex
	arrived    int           // list requests so far
	arrivedNow chan struct{} // closed and replaced at each arrival
	overlapped []bool        // per full page: the next request came during it
}

func (s *headerServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/queue/messages" {
		s.fake.ServeHTTP(w, r)
		return
	}
	s.mu.Lock()
	s.arrived++
	n := s.arrived
	close(s.arrivedNow)
	s.arrivedNow = make(chan struct{})
	s.mu.Unlock()

	rec := httptest.NewRecorder()
	s.fake.ServeHTTP(rec, r)
	var v struct {
		Data struct {
			Items []struct {
				ID uint64 `json:"id"`
			} `json:"items"`
		} `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	items := v.Data.Items
	full := limit > 0 && len(items) == limit
	if full {
		last := items[len(items)-1].ID
		if s.lie {
			ids := s.fake.ids()
			if i := slices.Index(ids, queue.ID(last)); i+1 < len(ids) {
				last = uint64(ids[i+1])
			}
		}
		w.Header().Set(lastIDHeader, strconv.FormatUint(last, 10))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rec.Code)
	body := rec.Body.Bytes()
	w.Write(body[:len(body)/2])
	w.(http.Flusher).Flush()
	if full {
		came := s.waitNext(n, 5*time.Second)
		s.mu.Lock()
		s.overlapped = append(s.overlapped, came)
		s.mu.Unlock()
	}
	w.Write(body[len(body)/2:])
}

// waitNext waits up to d for a list request after the n-th, and says
// whether one came.
func (s *headerServer) waitNext(n int, d time.Duration) bool {
	deadline := time.After(d)
	for {
		s.mu.Lock()
		came, wait := s.arrived > n, s.arrivedNow
		s.mu.Unlock()
		if came {
			return true
		}
		select {
		case <-wait:
		case <-deadline:
			return false
		}
	}
}

// TestListAsksAheadOnLastIDHeader: against a server that names a full
// page's last id in a header (mqsh's), the next page is asked for while the
// current one is still being received; the listing is the same. When the
// header names a wrong id, the page asked for ahead is dropped and the
// listing is still the same.
func TestListAsksAheadOnLastIDHeader(t *testing.T) {
	for _, lie := range []bool{false, true} {
		p := newPair(t, v015, 300, Options{PageSize: 100})
		hs := &headerServer{fake: p.fake, lie: lie, arrivedNow: make(chan struct{})}
		p.srv.Config.Handler = hs
		got := listAll(t, p.client)
		if want := listAll(t, p.local); !reflect.DeepEqual(idsOf(got), idsOf(want)) {
			t.Fatalf("lie=%v: listed %d messages, want the %d of the local listing", lie, len(got), len(want))
		}
		hs.mu.Lock()
		overlapped := hs.overlapped
		hs.mu.Unlock()
		if lie {
			continue // the pages asked for ahead were wrong, and dropped
		}
		if len(overlapped) != 3 {
			t.Fatalf("%d full pages, want 3", len(overlapped))
		}
		if slices.Contains(overlapped, false) {
			t.Errorf("the next page was not asked for while a page was being received: %v", overlapped)
		}
	}
}

// A whole listing through queue.EachBatch (what `queue list` writes out) is
// one walk: each page is asked for once, the next one while the current one
// is received, and the batches are the listing in order.
func TestBatchesAsksEachPageOnce(t *testing.T) {
	p := newPair(t, v015, 2494, Options{PageSize: 1000})
	hs := &headerServer{fake: p.fake, arrivedNow: make(chan struct{})}
	p.srv.Config.Handler = hs
	var got []queue.Message
	var sizes []int
	err := queue.EachBatch(ctx, p.client, queue.Filter{}, func(msgs []queue.Message) error {
		got = append(got, msgs...)
		sizes = append(sizes, len(msgs))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := listAll(t, p.local); !reflect.DeepEqual(idsOf(got), idsOf(want)) {
		t.Fatalf("listed %d messages, want the %d of the local listing", len(got), len(want))
	}
	if !reflect.DeepEqual(sizes, []int{1000, 1000, 500}) {
		t.Errorf("batches of %v, want 1000, 1000, 500", sizes)
	}
	log := p.fake.log()
	if len(log) != 3 {
		t.Errorf("%d requests for 3 pages: %q", len(log), log)
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if !reflect.DeepEqual(hs.overlapped, []bool{true, true}) {
		t.Errorf("full pages overlapped with the next request: %v, want [true true]", hs.overlapped)
	}
}
