package queue

import "testing"

// TestDurableCoversRun: after SetDurable(true), a unit of work run with
// Run(RunWrite) (as the SMTP server's group commits are) commits with
// synchronous = FULL, not only the transactions of the write connection;
// SetDurable(false) brings NORMAL back.
func TestDurableCoversRun(t *testing.T) {
	q, _ := openTest(t)
	mode := func() int {
		t.Helper()
		var m int
		if err := q.Run(t.Context(), RunWrite, func(tx Txn) error {
			return tx.(*Tx).tx.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&m)
		}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := mode(); m != 1 {
		t.Fatalf("synchronous %d before SetDurable, want 1 (NORMAL)", m)
	}
	if err := q.SetDurable(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	if m := mode(); m != 2 {
		t.Errorf("synchronous %d in Run(RunWrite) after SetDurable(true), want 2 (FULL)", m)
	}
	if err := q.SetDurable(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if m := mode(); m != 1 {
		t.Errorf("synchronous %d after SetDurable(false), want 1 (NORMAL)", m)
	}
}
