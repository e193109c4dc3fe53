package queue

import "testing"

// List says which messages are held, as Get does.
func TestListHeld(t *testing.T) {
	q, _ := openTest(t)
	enqueueTest(t, q, envTo("s@a.example", "x@b.example"))
	h := enqueueTest(t, q, Envelope{Sender: "s@a.example", Recipients: []EnvelopeRecipient{{Address: "y@b.example"}}, Held: true})
	msgs, err := q.List(t.Context(), Filter{}, Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Held || !msgs[1].Held || msgs[1].ID != h.ID {
		t.Errorf("listed %+v", msgs)
	}
}
