package queue

import (
	"strings"
	"testing"
)

// A control character in a pattern or address is refused by every verb that
// builds a selection: SQLite cuts a GLOB or LIKE pattern at a NUL, so
// "*\x00@nobody.invalid" would otherwise select every message.
func TestControlCharactersRefused(t *testing.T) {
	q := filterFixture(t)
	before := snapshot(t, q)
	audits := auditCount(t, q)
	bad := []string{"*\x00@nobody.invalid", "bill\x00@example.net", "*@gmail.com\x00", "a\tb@example.net", "bill@exam\rple.net", "x\x7f@y.test", "x\u0085@y.test"}
	for _, v := range bad {
		for _, f := range []Filter{{Sender: v}, {Recipient: v}, {Domain: strings.TrimPrefix(v, "*@")}} {
			if err := f.Validate(); err == nil || !strings.Contains(err.Error(), "control character") {
				t.Errorf("validate %+v: err = %v, want a control character error", f, err)
			}
			if _, err := q.List(t.Context(), f, Page{}); err == nil || !strings.Contains(err.Error(), "control character") {
				t.Errorf("list %+v: err = %v", f, err)
			}
			if _, err := q.Count(t.Context(), f); err == nil {
				t.Errorf("count %+v: no error", f)
			}
			if _, err := q.Cancel(t.Context(), CancelRequest{Filter: f}); err == nil || !strings.Contains(err.Error(), "control character") {
				t.Errorf("cancel %+v: err = %v", f, err)
			}
			if _, err := q.Retry(t.Context(), RetryRequest{Filter: f}); err == nil {
				t.Errorf("retry %+v: no error", f)
			}
			if _, err := q.Summary(t.Context(), f, "domain"); err == nil {
				t.Errorf("summary %+v: no error", f)
			}
		}
		if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{All: true}, Recipient: v}); err == nil || !strings.Contains(err.Error(), "control character") {
			t.Errorf("cancel -r %q: err = %v", v, err)
		}
		if _, err := q.Retry(t.Context(), RetryRequest{Filter: Filter{All: true}, Domain: strings.TrimPrefix(v, "*@")}); err == nil || !strings.Contains(err.Error(), "control character") {
			t.Errorf("retry domain %q: err = %v", v, err)
		}
		env := Envelope{Sender: "a@b.example", Recipients: []EnvelopeRecipient{{Address: strings.TrimPrefix(v, "*")}}}
		if _, err := q.Enqueue(t.Context(), env, nil); err == nil || !strings.Contains(err.Error(), "control character") {
			t.Errorf("enqueue to %q: err = %v", v, err)
		}
		env = Envelope{Sender: strings.TrimPrefix(v, "*"), Recipients: []EnvelopeRecipient{{Address: "a@b.example"}}}
		if _, err := q.Enqueue(t.Context(), env, nil); err == nil || !strings.Contains(err.Error(), "control character") {
			t.Errorf("enqueue from %q: err = %v", v, err)
		}
	}
	// The JSON import refuses them in addresses and domain names too.
	for _, line := range []string{
		`{"id":77,"return_path":"a\u0000@b.example","domains":[{"name":"c.example","recipients":[{"address":"d@c.example"}]}]}`,
		`{"id":77,"return_path":"a@b.example","domains":[{"name":"c.example","recipients":[{"address":"d\u0000@c.example"}]}]}`,
		`{"id":77,"return_path":"a@b.example","domains":[{"name":"c.exa\u0001mple","recipients":[{"address":"d@c.example"}]}]}`,
	} {
		if _, err := q.ImportJSON(t.Context(), strings.NewReader(line+"\n")); err == nil || !strings.Contains(err.Error(), "control character") {
			t.Errorf("import %s: err = %v", line, err)
		}
	}
	if after := snapshot(t, q); after != before || auditCount(t, q) != audits {
		t.Errorf("refused input changed the queue:\n%s\nwant\n%s", after, before)
	}
	// The message names the character and its place.
	_, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{Sender: "*\x00@nobody.invalid"}})
	if want := `cancel: sender filter: "*\x00@nobody.invalid": control character U+0000 at byte 1: patterns and addresses must be printable text`; err == nil || err.Error() != want {
		t.Errorf("cancel error:\n got %v\nwant %s", err, want)
	}
}
