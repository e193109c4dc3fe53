package httpapi

// mqsh's extension routes of the incident toolbox (issue 10), beside those
// of holds (hold.go) and bounce (bounce.go):
//
//	GET    /api/queue/messages/{id}/explain  why a message is where it is
//
// A backend without the verb (a remote Stalwart server) answers 501 with a
// sentence saying so.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"mqsh/queue"
)

// toolboxRoute finds an extension route of the toolbox; ok is false when
// the path is none of them.
func (s *Server) toolboxRoute(r *http.Request) (rt route, ok bool) {
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, "/api/queue/messages/") && strings.HasSuffix(path, "/explain") && r.Method == http.MethodGet:
		id, err := parseDecimalID(strings.TrimSuffix(path[len("/api/queue/messages/"):], "/explain"))
		if err != nil {
			return route{}, false
		}
		return route{name: "/api/queue/messages/{id}/explain", h: func(w http.ResponseWriter, r *http.Request, _ *Principal) { s.explain(w, r, id) }}, true
	}
	return route{}, false
}

// notAvailable is the 501 of a verb the queue's backend does not have.
func notAvailable(err error) problem {
	return problem{Type: "about:blank", Status: http.StatusNotImplemented, Title: "Not Implemented", Detail: err.Error()}
}

// noVerb is the error of a verb the backend lacks, as the command line words it.
func (s *Server) noVerb(verb string) error {
	return fmt.Errorf("%s is not available on the queue at %s: it is a verb of mqsh's own queue files", verb, s.b.Location())
}

// writeJSONData answers {"data": v}.
func (s *Server) writeJSONData(w http.ResponseWriter, r *http.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.fail(w, r, fmt.Errorf("encode the answer: %w", err))
		return
	}
	writeData(w, b)
}

// explain answers GET /api/queue/messages/{id}/explain: the explanation as
// `queue explain -o json` prints it; 404 when the queue neither holds the
// message nor remembers an attempt to deliver it.
func (s *Server) explain(w http.ResponseWriter, r *http.Request, id queue.ID) {
	ex, ok := s.b.(queue.Explainer)
	if !ok {
		notAvailable(s.noVerb("explain")).write(w)
		return
	}
	e, err := ex.Explain(r.Context(), id)
	if err != nil {
		if !errors.Is(err, queue.ErrNotFound) {
			err = fmt.Errorf("explain message %d: %w", id, err)
		}
		s.fail(w, r, err)
		return
	}
	s.writeJSONData(w, r, e)
}
