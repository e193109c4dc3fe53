package dsn

import "testing"

// TestWanted is the truth table of who gets which notice (RFC 3461 4.1).
func TestWanted(t *testing.T) {
	const (
		S = NotifySuccess
		F = NotifyFailure
		D = NotifyDelay
		N = NotifyNever
	)
	kinds := []Action{Failed, Delayed, Delivered, Relayed, Expanded}
	for _, tc := range []struct {
		sender string
		notify NotifyFlags
		want   [5]bool // failed, delayed, delivered, relayed, expanded
	}{
		{"a@b.example", 0, [5]bool{true, true, false, false, false}}, // no NOTIFY: failure and delay
		{"a@b.example", S, [5]bool{false, false, true, true, true}},
		{"a@b.example", F, [5]bool{true, false, false, false, false}},
		{"a@b.example", D, [5]bool{false, true, false, false, false}},
		{"a@b.example", S | F, [5]bool{true, false, true, true, true}},
		{"a@b.example", S | D, [5]bool{false, true, true, true, true}},
		{"a@b.example", F | D, [5]bool{true, true, false, false, false}},
		{"a@b.example", S | F | D, [5]bool{true, true, true, true, true}},
		{"a@b.example", N, [5]bool{}},
		{"a@b.example", N | S | F | D, [5]bool{}}, // NEVER wins over anything stored beside it
		{"a@b.example", N | F, [5]bool{}},
		{"", 0, [5]bool{}}, // a bounce never gets a notice
		{"", S | F | D, [5]bool{}},
		{"<>", F, [5]bool{}},
	} {
		for i, k := range kinds {
			if got := Wanted(tc.sender, tc.notify, k); got != tc.want[i] {
				t.Errorf("Wanted(%q, %04b, %s) = %v, want %v", tc.sender, tc.notify, k, got, tc.want[i])
			}
		}
	}
	if Wanted("a@b.example", NotifySuccess|NotifyFailure|NotifyDelay, Action("bounced")) {
		t.Error("an unknown action is wanted")
	}
}
