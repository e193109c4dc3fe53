package queue

import "testing"

// Demo messages are not real mail; anything else added is, while it stays.
func TestHoldsRealMail(t *testing.T) {
	q, _ := openTest(t)
	ctx := t.Context()
	check := func(want bool, when string) {
		t.Helper()
		if got, err := q.HoldsRealMail(ctx); err != nil || got != want {
			t.Errorf("%s: HoldsRealMail = %v, %v; want %v", when, got, err, want)
		}
	}
	check(false, "empty")
	if _, err := q.LoadDemo(ctx, 20, 1); err != nil {
		t.Fatal(err)
	}
	check(false, "demo only")
	if _, err := q.Enqueue(ctx, Envelope{Sender: "a@example.org", Recipients: []EnvelopeRecipient{{Address: "b@example.com"}}}, []byte("Subject: x\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	check(true, "after an enqueue")
	if _, err := q.Cancel(ctx, CancelRequest{Filter: Filter{All: true}}); err != nil {
		t.Fatal(err)
	}
	check(false, "emptied")
}
