package lua

// queue.hold, queue.release and queue.rules: adapters over the engine's
// holds (queue.TxHolder). A backend without holds (a remote Stalwart
// server) raises, saying so.

import (
	glua "github.com/yuin/gopher-lua"

	"mqsh/queue"
)

// holdOptions are the keys of queue.hold's options; they may also be given
// in the filter table itself: queue.hold{domain="gmail.com", for_="2h"}.
// ("for" is a Lua keyword: for_ or ["for"].)
var holdOptions = []string{"reason", "for_", "for", "until", "rule"}

// txHolder returns the transaction's holder, or raises.
func (s *Session) txHolder(L *glua.LState, what string) queue.TxHolder {
	tx := s.currentTx(L)
	h, ok := tx.(queue.TxHolder)
	if !ok {
		L.RaiseError("%s: %v", what, queue.NoHolds(s.q))
	}
	return h
}

// splitOptions moves the keys named in opts out of a filter table into a
// new options table (nil when it has none), leaving a copy of the rest.
func splitOptions(L *glua.LState, v glua.LValue, opts []string) (glua.LValue, *glua.LTable) {
	tb, ok := v.(*glua.LTable)
	if !ok || isMessage(tb) || isList(tb) {
		return v, nil
	}
	var o *glua.LTable
	rest := L.NewTable()
	tb.ForEach(func(k, val glua.LValue) {
		if ks, ok := k.(glua.LString); ok {
			for _, name := range opts {
				if string(ks) == name {
					if o == nil {
						o = L.NewTable()
					}
					o.RawSetString(name, val)
					return
				}
			}
		}
		rest.RawSet(k, val)
	})
	if o == nil {
		return v, nil
	}
	return rest, o
}

// queue.hold(selector [, {reason=, for_=, until=, rule=}]) -> messages held,
// and the id of the hold rule added (nil when none). The options may also be
// keys of a filter table. for_ is a duration ("2h") or seconds; until a
// time.
func (s *Session) qHold(L *glua.LState) int {
	const what = "queue.hold"
	sel, inline := splitOptions(L, L.CheckAny(1), holdOptions)
	f, ok := s.toSelector(L, what, sel)
	o := optionTable(L, 2, what, holdOptions...)
	if o != nil && inline != nil {
		L.RaiseError("%s: give the options either in the filter table or as the second argument, not both", what)
	}
	if o == nil {
		o = inline
	}
	req := queue.HoldRequest{Filter: f}
	if o != nil {
		if v := o.RawGetString("reason"); v != glua.LNil {
			req.Reason = s.filterString(L, what, "reason", v)
		}
		for _, key := range []string{"for_", "for"} {
			if v := o.RawGetString(key); v != glua.LNil {
				req.Until = s.now().Add(toDuration(L, what+": "+key, v))
			}
		}
		if v := o.RawGetString("until"); v != glua.LNil {
			if !req.Until.IsZero() {
				L.RaiseError("%s: give either for_ or until, not both: both say when the hold ends", what)
			}
			req.Until = s.toTime(L, what+": until", v)
		}
		if v := o.RawGetString("rule"); v != glua.LNil {
			b, isBool := v.(glua.LBool)
			if !isBool {
				L.RaiseError("%s: rule must be true or false, not %s", what, v.Type())
			}
			req.Rule = bool(b)
		}
	}
	if !ok && !req.Rule {
		L.Push(glua.LNumber(0))
		return 1
	}
	h := s.txHolder(L, what)
	s.writes++
	res, err := h.Hold(req)
	if err != nil {
		s.raiseVerb(L, what, err)
	}
	L.Push(glua.LNumber(res.Count))
	if res.Rule != 0 {
		L.Push(glua.LNumber(res.Rule))
		return 2
	}
	return 1
}

// queue.release(selector) -> messages released.
func (s *Session) qRelease(L *glua.LState) int {
	const what = "queue.release"
	f, ok := s.toSelector(L, what, L.CheckAny(1))
	if !ok {
		L.Push(glua.LNumber(0))
		return 1
	}
	h := s.txHolder(L, what)
	s.writes++
	res, err := h.ReleaseHold(queue.ReleaseRequest{Filter: f})
	if err != nil {
		s.raiseVerb(L, what, err)
	}
	L.Push(glua.LNumber(res.Count))
	return 1
}

// queue.rules() -> { {id, filter, reason, by, created, until, hits, ended}, ... }
// by id; filter in the audit text's words, times in Unix seconds.
func (s *Session) qRules(L *glua.LState) int {
	rules, err := s.txHolder(L, "queue.rules").HoldRules()
	if err != nil {
		raiseDB(L, "queue.rules", err)
	}
	L.Push(rulesTable(L, rules, s.now()))
	return 1
}
