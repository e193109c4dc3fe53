package remote

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"mqsh/queue"
)

// A change is planned on the client, from a listing, exactly as the local
// engine would make it, then sent as one or a few requests per message:
// PATCH /api/queue/messages/{id}?filter=&at= to retry, DELETE with or
// without filter= to cancel. filter= is a substring match on the server
// (of recipient addresses from v0.13, of domain names before), so a filter
// is sent only when, among the message's recipients, it matches exactly
// those the change is for; otherwise each recipient is named in full, and
// a change that no filter can single out is refused with a sentence.

// op is one request of a plan.
type op struct {
	method string // PATCH or DELETE
	filter string // "" = the whole message (DELETE) or every pending recipient (PATCH)
	at     time.Time
}

// msgPlan is what a change does to one message.
type msgPlan struct {
	id      queue.ID
	ops     []op
	domains []string // the domains counted in Result.Domains for it
	parts   int      // with a scope: recipients (cancel) or domains (retry) changed
	kept    bool     // with a scope: other pending recipients stay
}

// plan is a planned change: its verb, the messages and their requests.
type plan struct {
	verb  string
	scope string // Result.Scope
	msgs  []msgPlan
}

// result is the Result the plan gives when every message changes.
func (p *plan) result(dryRun bool) queue.Result {
	res := queue.Result{DryRun: dryRun, Domains: map[string]int{}, Scope: p.scope}
	for _, m := range p.msgs {
		res.IDs = append(res.IDs, m.id)
		for _, d := range m.domains {
			res.Domains[d]++
		}
		res.Parts += m.parts
		if m.kept {
			res.Kept++
		}
	}
	res.Count = len(res.IDs)
	return res
}

// Retry reschedules the pending recipients of the selected messages (only
// the domains of the recipients the filter names, when it names some) to
// r.At, or now: see queue.RetryRequest. A
// past time means now to the server. Expiry is the server's to decide.
func (c *Client) Retry(ctx context.Context, r queue.RetryRequest) (queue.Result, error) {
	p, err := c.planRetry(ctx, r)
	if err != nil {
		return queue.Result{DryRun: r.DryRun}, err
	}
	if r.DryRun {
		return p.result(true), nil
	}
	return c.apply(ctx, p)
}

// Cancel removes the selected messages, or (when the filter names
// recipients) cancels those of their recipients: see queue.CancelRequest.
func (c *Client) Cancel(ctx context.Context, r queue.CancelRequest) (queue.Result, error) {
	p, err := c.planCancel(ctx, r)
	if err != nil {
		return queue.Result{DryRun: r.DryRun}, err
	}
	if r.DryRun {
		return p.result(true), nil
	}
	return c.apply(ctx, p)
}

// unit is a recipient (v0.13+) or a domain (before) as filter= sees it.
type unit struct {
	key    string // what filter= is matched against, lower case
	send   string // what to send to single it out
	domain string
}

func (c *Client) planRetry(ctx context.Context, r queue.RetryRequest) (*plan, error) {
	if err := queue.CheckSelection("retry", r.Filter); err != nil {
		return nil, err
	}
	if r.Spread != 0 || r.ExtendExpiry != 0 {
		// Stalwart's PATCH takes one time per request and sets expiry itself.
		return nil, fmt.Errorf("retry: --spread and --extend-expiry are not available on the Stalwart server at %s: its retry sets one time and decides expiry itself", c.Location())
	}
	in, whole, text, err := r.Filter.ScopeOf()
	if err != nil {
		return nil, fmt.Errorf("retry: %w", err)
	}
	if err := queue.CheckTime("at", r.At); err != nil {
		return nil, fmt.Errorf("retry: %w", err)
	}
	var at time.Time
	if !r.At.IsZero() {
		at = r.At.UTC().Truncate(time.Second)
	}
	p := &plan{verb: "retry"}
	if !whole {
		p.scope = text
	}
	err = c.scan(ctx, r.Filter, 0, func(m *remoteMessage) (bool, error) {
		var pending []unit
		var doms []string
		kept := false
		for _, d := range m.Domains {
			if !d.Status.Pending() {
				continue
			}
			take := whole || slices.ContainsFunc(d.Recipients, func(rc queue.Recipient) bool { return rc.Status.Pending() && in(d.Name, rc) })
			if take {
				doms = append(doms, d.Name)
			} else {
				kept = true
			}
			if m.perRecipient {
				for _, rc := range d.Recipients {
					if rc.Status.Pending() {
						pending = append(pending, unit{key: strings.ToLower(rc.Address), send: rc.Address, domain: d.Name})
					}
				}
			} else {
				pending = append(pending, unit{key: d.Name, send: d.Name, domain: d.Name})
			}
		}
		if len(doms) == 0 {
			return true, nil
		}
		mp := msgPlan{id: m.ID, domains: doms}
		if whole || !kept {
			// Every pending domain: a PATCH without filter= does it.
			mp.ops = []op{{method: "PATCH", at: at}}
		} else {
			want := func(u unit) bool { return slices.Contains(doms, u.domain) }
			broad := ""
			if len(doms) == 1 {
				broad = doms[0]
				if m.perRecipient {
					broad = "@" + doms[0]
				}
			}
			filters, err := singleOut(pending, want, broad)
			if err != nil {
				return false, fmt.Errorf("retry: message %s: cannot retry only the domains of the recipients %s on this server: %v", m.ID, text, err)
			}
			for _, f := range filters {
				mp.ops = append(mp.ops, op{method: "PATCH", filter: f, at: at})
			}
		}
		if !whole {
			mp.parts, mp.kept = len(doms), kept
		}
		p.msgs = append(p.msgs, mp)
		return true, nil
	})
	if err != nil {
		return nil, prefix("retry", err)
	}
	return p, nil
}

func (c *Client) planCancel(ctx context.Context, r queue.CancelRequest) (*plan, error) {
	if err := queue.CheckSelection("cancel", r.Filter); err != nil {
		return nil, err
	}
	in, whole, text, err := r.Filter.ScopeOf()
	if err != nil {
		return nil, fmt.Errorf("cancel: %w", err)
	}
	// The filter= most likely to single out the recipients at once.
	broad := toParam(r.Filter)
	if len(r.Filter.Recipient) == 1 {
		if pat, err := queue.ParseAddressPattern(r.Filter.Recipient[0], false); err == nil && pat.Literal() != "" {
			broad = pat.Literal()
		}
	}
	p := &plan{verb: "cancel"}
	if !whole {
		p.scope = text
	}
	err = c.scan(ctx, r.Filter, 0, func(m *remoteMessage) (bool, error) {
		if whole {
			mp := msgPlan{id: m.ID, ops: []op{{method: "DELETE"}}}
			for _, d := range m.Domains {
				mp.domains = append(mp.domains, d.Name)
			}
			p.msgs = append(p.msgs, mp)
			return true, nil
		}
		var all []unit
		var doms []string
		hit := map[string]bool{}
		allPending, targets, pendings := true, 0, 0
		for _, d := range m.Domains {
			for _, rc := range d.Recipients {
				u := unit{key: strings.ToLower(rc.Address), send: rc.Address, domain: d.Name}
				take := rc.Status.Pending() && in(d.Name, rc)
				if rc.Status.Pending() {
					pendings++
					if !take {
						allPending = false
					}
				}
				if take {
					targets++
					hit[u.key] = true
					if !slices.Contains(doms, d.Name) {
						doms = append(doms, d.Name)
					}
				}
				all = append(all, u)
			}
		}
		if targets == 0 {
			return true, nil
		}
		mp := msgPlan{id: m.ID, domains: doms, parts: targets, kept: !allPending}
		if allPending && targets == pendings {
			// Every pending recipient is cancelled: the local engine then
			// removes the message, which is what a plain DELETE does.
			mp.ops = []op{{method: "DELETE"}}
		} else {
			filters, err := singleOut(all, func(u unit) bool { return hit[u.key] }, broad)
			if err != nil {
				return false, fmt.Errorf("cancel: message %s: cannot cancel only the recipients %s on this server: %v", m.ID, text, err)
			}
			for _, f := range filters {
				mp.ops = append(mp.ops, op{method: "DELETE", filter: f})
			}
		}
		p.msgs = append(p.msgs, mp)
		return true, nil
	})
	if err != nil {
		return nil, prefix("cancel", err)
	}
	return p, nil
}

// singleOut chooses the filter= values that, as substrings, match exactly
// the units wanted among units: broad alone when it does, else each wanted
// unit in full (once per distinct value); an error names a unit that no
// value can single out.
func singleOut(units []unit, want func(unit) bool, broad string) ([]string, error) {
	matches := func(f string) (hitsWanted bool, ok bool) {
		for _, u := range units {
			if strings.Contains(u.key, strings.ToLower(f)) {
				if !want(u) {
					return false, false
				}
				hitsWanted = true
			}
		}
		return hitsWanted, true
	}
	if broad != "" {
		covers := true
		for _, u := range units {
			if want(u) && !strings.Contains(u.key, strings.ToLower(broad)) {
				covers = false
			}
		}
		if _, ok := matches(broad); ok && covers {
			return []string{broad}, nil
		}
	}
	var out []string
	for _, u := range units {
		if !want(u) || slices.Contains(out, u.send) {
			continue
		}
		if _, ok := matches(u.send); !ok {
			return nil, fmt.Errorf("the server matches filter=%q as a substring, which also takes in another recipient", u.send)
		}
		out = append(out, u.send)
	}
	return out, nil
}

func prefix(verb string, err error) error {
	if strings.HasPrefix(err.Error(), verb+":") {
		return err
	}
	return fmt.Errorf("%s: %w", verb, err)
}

// applyWorkers is how many messages are changed at once.
const applyWorkers = 4

// apply sends a plan's requests and returns what changed: a message counts
// when the server said true to one of its requests (false means nothing
// pending matched any more; 404, that the message is gone). An error stops
// the sending; the sentence says how many messages had changed by then.
func (c *Client) apply(ctx context.Context, p *plan) (queue.Result, error) {
	var (
		mu       sync.Mutex
		changed  = map[queue.ID]bool{}
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan int)
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range applyWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				mp := &p.msgs[i]
				did, err := c.send(ctx, mp)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				if did {
					changed[mp.id] = true
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for i := range p.msgs {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	done := &plan{verb: p.verb, scope: p.scope}
	for _, mp := range p.msgs {
		if changed[mp.id] {
			done.msgs = append(done.msgs, mp)
		}
	}
	sort.Slice(done.msgs, func(i, j int) bool { return done.msgs[i].id < done.msgs[j].id })
	res := done.result(false)
	if firstErr != nil {
		return res, fmt.Errorf("%s: %w (%d of %d messages were changed before it)", p.verb, firstErr, res.Count, len(p.msgs))
	}
	if err := ctx.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return res, fmt.Errorf("%s: %w", p.verb, err)
	}
	return res, nil
}

// send makes the requests of one message; did is whether the server changed it.
func (c *Client) send(ctx context.Context, mp *msgPlan) (did bool, err error) {
	for _, o := range mp.ops {
		q := url.Values{}
		if o.filter != "" {
			q.Set("filter", o.filter)
		}
		if !o.at.IsZero() {
			q.Set("at", o.at.Format(time.RFC3339))
		}
		perm := "message-queue-update"
		if o.method == "DELETE" {
			perm = "message-queue-delete"
		}
		ok, found, err := call[bool](ctx, c, route{method: o.method, path: messagePath(mp.id), query: q, permission: perm})
		if err != nil {
			return did, fmt.Errorf("message %s: %w", mp.id, err)
		}
		if !found {
			return did, nil // gone meanwhile
		}
		did = did || ok
	}
	return did, nil
}

// Paused reports whether delivery is stopped on the server.
func (c *Client) Paused(ctx context.Context) (bool, error) {
	running, found, err := call[bool](ctx, c, route{method: "GET", path: "/api/queue/status", permission: "message-queue-get"})
	if err != nil {
		return false, fmt.Errorf("queue status: %w", err)
	}
	if !found {
		return false, c.noQueueAPI()
	}
	return !running, nil
}

// SetPaused stops (true) or starts (false) delivery on the server and
// reports whether that changed anything (the server answers the previous
// state).
func (c *Client) SetPaused(ctx context.Context, paused bool) (bool, error) {
	action := "start"
	if paused {
		action = "stop"
	}
	wasRunning, found, err := call[bool](ctx, c, route{method: "PATCH", path: "/api/queue/status/" + action, permission: "message-queue-update"})
	if err != nil {
		return false, fmt.Errorf("queue %s: %w", action, err)
	}
	if !found {
		return false, c.noQueueAPI()
	}
	return wasRunning == paused, nil
}
