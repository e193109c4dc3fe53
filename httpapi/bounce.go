package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"mqsh/queue"
)

// bounceAll answers POST /api/queue/bounce?FILTERS&reason=TEXT, mqsh's
// extension (Stalwart has no bounce): every match fails with a failure
// notice to its sender giving the reason, as `queue bounce` does, in one
// transaction before the answer; true when a message was bounced. A
// selection of nothing in particular is refused rather than taken as every
// message, and so is a missing or unusable reason.
func (s *Server) bounceAll(w http.ResponseWriter, r *http.Request, p *Principal) {
	reason, err := queue.CheckReason(r.URL.Query().Get("reason"))
	if err != nil {
		badParams(strings.Replace(err.Error(), "(--reason TEXT)", "(reason=TEXT)", 1)).write(w)
		return
	}
	sel, err := parseSelection(r.URL.Query(), s.b.Now())
	if err != nil {
		badParams(err.Error()).write(w)
		return
	}
	if sel.exact() && sel.filter.IsEmpty() {
		badParams("bounce: give a filter (rcpt=, domain=, sender=, to= ...): mqsh does not bounce every message at once").write(w)
		return
	}
	s.bulk(w, s.auditContext(r, p), func(tx queue.Txn, f queue.Filter) (queue.Result, error) {
		b, ok := tx.(queue.TxBouncer)
		if !ok {
			return queue.Result{}, errors.New("bounce is not available on this queue")
		}
		res, err := b.Bounce(queue.BounceRequest{Filter: f, Reason: reason})
		return res.Result, err
	})
}
