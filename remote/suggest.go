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

// suggestMax is about how many messages of the latest listings Suggest
// draws from; the oldest pages go first. Every page kept is marked by each
// garbage collection of a long listing: 20,000 cost a listing of 100,000
// a tenth of its CPU time and twice its memory.
const suggestMax = 2000

// suggestSet keeps the pages of messages listed last (no copy: each page
// is kept as listed), at most about suggestMax messages.
type suggestSet struct {
	mu    sync.Mutex
	pages [][]remoteMessage
	n     int
}

func newSuggestSet() *suggestSet { return &suggestSet{} }

func (s *suggestSet) add(msgs []remoteMessage) {
	if len(msgs) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pages = append(s.pages, msgs)
	s.n += len(msgs)
	for len(s.pages) > 1 && s.n-len(s.pages[0]) >= suggestMax {
		s.n -= len(s.pages[0])
		s.pages = s.pages[1:]
	}
}

func (s *suggestSet) empty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n == 0
}

// values returns the distinct values of a kind in the kept pages.
func (s *suggestSet) values(kind string) map[string]bool {
	out := map[string]bool{}
	for _, page := range s.pages {
		for i := range page {
			m := &page[i].Message
			switch kind {
			case queue.SuggestID:
				out[m.ID.String()] = true
			case queue.SuggestSender:
				out[strings.ToLower(m.ReturnPath)] = true
			}
			for _, d := range m.Domains {
				switch kind {
				case queue.SuggestDomain:
					out[d.Name] = true
				case queue.SuggestRecipient:
					for _, r := range d.Recipients {
						out[strings.ToLower(r.Address)] = true
					}
				}
			}
		}
	}
	return out
}

// suggest answers as the local engine does: ids by upper-case hex prefix,
// senders in lower case ("<>" for bounces), recipients in lower case ("@"
// prefixes suggest "@domain"), domains.
func (s *suggestSet) suggest(kind, prefix string, limit int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var src map[string]bool
	p := strings.ToLower(prefix)
	at := ""
	switch kind {
	case queue.SuggestID:
		src, p = s.values(kind), strings.ToUpper(strings.TrimSpace(prefix))
	case queue.SuggestRecipient:
		if strings.HasPrefix(p, "@") {
			src, p, at = s.values(queue.SuggestDomain), p[1:], "@"
		} else {
			src = s.values(kind)
		}
	case queue.SuggestDomain:
		src, p = s.values(kind), strings.TrimPrefix(p, "@")
	default:
		src = s.values(kind)
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
