package remote

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"mqsh/queue"
)

// Summary groups the messages matching f by "domain", "sender", "status" or
// "age", as the local engine does (see queue.Tx.Summary), computed on the
// client from one listing.
func (c *Client) Summary(ctx context.Context, f queue.Filter, by string) ([]queue.SummaryRow, error) {
	switch by {
	case "domain", "sender", "status", "age":
	default:
		return nil, fmt.Errorf("summary by %q: want domain, sender, status or age", by)
	}
	now := c.Now().Unix()
	groups := map[string]*queue.SummaryRow{}
	order := map[string]int{} // status and age: their place
	add := func(key string, m *queue.Message) {
		r := groups[key]
		if r == nil {
			r = &queue.SummaryRow{Key: key}
			groups[key] = r
		}
		r.Count++
		r.Size += m.Size
		if r.Oldest.IsZero() || m.Created.Before(r.Oldest) {
			r.Oldest = m.Created
		}
		if r.Newest.IsZero() || m.Created.After(r.Newest) {
			r.Newest = m.Created
		}
	}
	err := c.scan(ctx, f, 0, func(rm *remoteMessage) (bool, error) {
		m := &rm.Message
		switch by {
		case "domain":
			seen := map[string]bool{}
			for _, d := range m.Domains {
				if !seen[d.Name] {
					seen[d.Name] = true
					add(d.Name, m)
				}
			}
		case "sender":
			key := strings.ToLower(m.ReturnPath)
			if key == "" {
				key = "<>"
			}
			add(key, m)
		case "status":
			var seen [4]bool
			for _, d := range m.Domains {
				for _, r := range d.Recipients {
					if int(r.Status) < len(seen) && !seen[r.Status] {
						seen[r.Status] = true
						add(r.Status.Short(), m)
						order[r.Status.Short()] = int(r.Status)
					}
				}
			}
		case "age":
			i := len(queue.AgeBuckets)
			for k, d := range queue.AgeBuckets {
				if now-m.Created.Unix() < int64(d/time.Second) {
					i = k
					break
				}
			}
			add(queue.AgeLabel(i), m)
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	if by == "age" {
		out := make([]queue.SummaryRow, len(queue.AgeBuckets)+1)
		for i := range out {
			out[i].Key = queue.AgeLabel(i)
			if r := groups[out[i].Key]; r != nil {
				out[i] = *r
			}
		}
		return out, nil
	}
	var out []queue.SummaryRow // nil when nothing matched, as locally
	for _, r := range groups {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if by == "status" {
			return order[out[i].Key] < order[out[j].Key]
		}
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}
