package remote

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"mqsh/queue"
)

// serverParams maps what of a Filter the server can narrow by onto its list
// parameters, so that its answer holds every message the filter matches
// (the client then decides exactly, with queue.Filter's Matcher):
//
//   - a recipient or domain filter of one value: to=@domain, since the
//     server matches to= as a substring of recipient addresses whose domain
//     it has lower-cased (a recipient filter wins over a domain one: one
//     to= only; several values are finished on the client);
//   - due bounds in the future: before= and after= in whole seconds
//     (rounded outwards), since the server compares them with the next
//     delivery of pending recipients and ignores past times;
//   - ids: range-start and range-end around them.
//
// The sender is not sent as from=: that is case-sensitive on the return
// path as received, so it could drop a message mqsh's match includes.
//
// mqsh's own server (serve --http) also reads mqsh's filter keys as an
// extension, with the local semantics: sender, rcpt, domain, status,
// due-before, due-after, created-before, created-after and ids (decimal). Stalwart
// ignores parameters it does not know, so they are always sent: against
// mqsh the server's answer is then the exact selection.
func serverParams(f queue.Filter, now time.Time) url.Values {
	q := extensionParams(f)
	if to := toParam(f); to != "" {
		q.Set("to", to)
	}
	// Whole seconds, rounded outwards: before up, after down.
	if !f.DueBefore.IsZero() {
		if t := f.DueBefore.Add(time.Second - 1).Truncate(time.Second); t.Unix() > now.Unix() {
			q.Set("before", t.UTC().Format(time.RFC3339))
		}
	}
	if !f.DueAfter.IsZero() {
		if t := f.DueAfter.Truncate(time.Second); t.Unix() > now.Unix() {
			q.Set("after", t.UTC().Format(time.RFC3339))
		}
	}
	if len(f.IDs) > 0 {
		lo, hi := slices.Min(f.IDs), slices.Max(f.IDs)
		q.Set("range-start", strconv.FormatUint(uint64(lo), 10))
		if hi < ^queue.ID(0) {
			hi++ // whether the server's end is inclusive or not
		}
		q.Set("range-end", strconv.FormatUint(uint64(hi), 10))
	}
	return q
}

// maxIDParams is how many ids go into ids= at most; beyond, the URL would
// grow long, and the id range alone narrows.
const maxIDParams = 50

// extensionParams are mqsh's own filter keys, as mqsh's server reads them:
// the HTTP column of queue.FilterKeys, ids in decimal (at most maxIDParams
// of them).
func extensionParams(f queue.Filter) url.Values {
	q := url.Values{}
	for _, k := range queue.FilterKeys {
		if k.HTTP == "" || k == queue.KeyIDs && len(f.IDs) > maxIDParams {
			continue
		}
		if vs, ok := k.FormatHTTP(&f); ok {
			q[k.HTTP] = vs
		}
	}
	return q
}

// toParam is the to= that narrows a recipient or domain filter: "@domain"
// in lower case, or "" when the filter gives no literal domain. The server
// takes one to=: a field of several values (any of them) is not narrowed
// by it, and the client finishes the match.
func toParam(f queue.Filter) string {
	if len(f.Recipient) == 1 {
		if p, err := queue.ParseAddressPattern(f.Recipient[0], false); err == nil {
			if lit := p.Literal(); lit != "" {
				return "@" + lit[strings.LastIndexByte(lit, '@')+1:]
			}
		}
	}
	if len(f.Domain) == 1 {
		return "@" + queueDomain(f.Domain[0])
	}
	return ""
}

// exactOnServer reports whether the server's answer to serverParams(f) is
// exactly f's selection, so that its total counts f: only the empty filter.
func exactOnServer(f queue.Filter) bool { return f.IsEmpty() }

func listRoute(q url.Values) route {
	return route{method: "GET", path: "/api/queue/messages", query: q, permission: "message-queue-list"}
}

// queueDomain is a Domain filter's value as the engine compares it.
func queueDomain(s string) string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "@"))
}
