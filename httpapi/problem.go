package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Errors are answered as Stalwart answers them: application/problem+json
// (RFC 7807) with its titles and, for 401, 403 and 404, its very texts, so a
// client written for Stalwart reads them unchanged.

// problem is one error answer.
type problem struct {
	Type   string `json:"type"`
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
}

// Stalwart's texts.
const (
	detailUnauthorized = "You have to authenticate first."
	detailForbidden    = "You do not have enough permissions to access this resource."
	detailNotFound     = "The requested resource does not exist on this server."
)

var (
	errUnauthorized = problem{Type: "about:blank", Status: http.StatusUnauthorized, Title: "Unauthorized", Detail: detailUnauthorized}
	errForbidden    = problem{Type: "about:blank", Status: http.StatusForbidden, Title: "Forbidden", Detail: detailForbidden}
	errNotFound     = problem{Type: "about:blank", Status: http.StatusNotFound, Title: "Not Found", Detail: detailNotFound}
)

// badParams is a 400 naming what was wrong with the request's parameters.
func badParams(detail string) problem {
	return problem{Type: "about:blank", Status: http.StatusBadRequest, Title: "Invalid parameters", Detail: detail}
}

// internal is a 500 carrying the error's text (lower-case, with what to do).
func internal(err error) problem {
	return problem{Type: "about:blank", Status: http.StatusInternalServerError, Title: "Internal Server Error", Detail: err.Error()}
}

// tooLarge is a 413 for a request body over the limit.
func tooLarge(limit int64) problem {
	return problem{Type: "about:blank", Status: http.StatusRequestEntityTooLarge, Title: "Payload Too Large",
		Detail: "The request body is larger than " + strconv.FormatInt(limit, 10) + " bytes."}
}

// write sends the problem as the whole answer.
func (p problem) write(w http.ResponseWriter) {
	b, _ := json.Marshal(p)
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if p.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="mqsh", charset="UTF-8"`)
	}
	w.WriteHeader(p.Status)
	w.Write(b)
}
