package remote

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"mqsh/queue"
)

// Suggest returns up to limit (default 20) values of a kind starting with
// prefix, sorted, for tab completion, from what this client listed
// recently: asking the server on every Tab would list the queue each time.
// Before anything was listed it lists one page.
func (c *Client) Suggest(ctx context.Context, kind, prefix string, limit int) ([]string, error) {
	switch kind {
	case queue.SuggestID, queue.SuggestSender, queue.SuggestRecipient, queue.SuggestDomain:
	default:
		return nil, fmt.Errorf("suggest %q: want id, sender, recipient or domain", kind)
	}
	if limit <= 0 {
		limit = 20
	}
	if c.seen.empty() {
		err := c.scan(ctx, queue.Filter{}, 0, func(*remoteMessage) (bool, error) { return false, nil })
		if err != nil {
			return nil, fmt.Errorf("suggest: %w", err)
		}
	}
	return c.seen.suggest(kind, prefix, limit), nil
}

// suggestMax bounds each kind of value kept for Suggest; the oldest go first.
const suggestMax = 20000

// suggestSet keeps the ids, senders, recipients and domains of the messages
// listed last, at most suggestMax of each.
type suggestSet struct {
	mu    sync.Mutex
	kinds map[string]*ring
}

type ring struct {
	vals map[string]int // value -> generation it was last seen
	gen  int
}

func newSuggestSet() *suggestSet {
	s := &suggestSet{kinds: map[string]*ring{}}
	for _, k := range []string{queue.SuggestID, queue.SuggestSender, queue.SuggestRecipient, queue.SuggestDomain} {
		s.kinds[k] = &ring{vals: map[string]int{}}
	}
	return s
}

func (r *ring) put(v string) {
	r.gen++
	r.vals[v] = r.gen
	if len(r.vals) > suggestMax {
		// Drop the older half.
		cut := r.gen - suggestMax/2
		for k, g := range r.vals {
			if g <= cut {
				delete(r.vals, k)
			}
		}
	}
}

func (s *suggestSet) add(msgs []remoteMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range msgs {
		m := &msgs[i].Message
		s.kinds[queue.SuggestID].put(m.ID.String())
		s.kinds[queue.SuggestSender].put(strings.ToLower(m.ReturnPath))
		for _, d := range m.Domains {
			s.kinds[queue.SuggestDomain].put(d.Name)
			for _, r := range d.Recipients {
				s.kinds[queue.SuggestRecipient].put(strings.ToLower(r.Address))
			}
		}
	}
}

func (s *suggestSet) empty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.kinds[queue.SuggestID].vals) == 0
}

// suggest answers as the local engine does: ids by upper-case hex prefix,
// senders in lower case ("<>" for bounces), recipients in lower case ("@"
// prefixes suggest "@domain"), domains.
func (s *suggestSet) suggest(kind, prefix string, limit int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var src map[string]int
	p := strings.ToLower(prefix)
	at := ""
	switch kind {
	case queue.SuggestID:
		src, p = s.kinds[kind].vals, strings.ToUpper(strings.TrimSpace(prefix))
	case queue.SuggestRecipient:
		if strings.HasPrefix(p, "@") {
			src, p, at = s.kinds[queue.SuggestDomain].vals, p[1:], "@"
		} else {
			src = s.kinds[kind].vals
		}
	case queue.SuggestDomain:
		src, p = s.kinds[kind].vals, strings.TrimPrefix(p, "@")
	default:
		src = s.kinds[kind].vals
	}
	var out []string
	for v := range src {
		if kind == queue.SuggestSender && v == "" {
			if strings.HasPrefix("<>", p) {
				out = append(out, "<>")
			}
			continue
		}
		if strings.HasPrefix(v, p) {
			out = append(out, at+v)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if kind == queue.SuggestID && len(out[i]) != len(out[j]) {
			return len(out[i]) < len(out[j])
		}
		return out[i] < out[j]
	})
	if len(out) > limit {
		out = out[:limit]
	}
	sort.Strings(out)
	return out
}
