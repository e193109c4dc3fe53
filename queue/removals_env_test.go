package queue

import (
	"os"
	"strconv"
	"testing"
)

// MQSH_REMOVE_LATER=0 runs the package's tests with every removal of one
// message or more filed and swept afterwards (removals.go), so that each
// reader's test also checks that it skips messages filed for removal:
//
//	MQSH_REMOVE_LATER=0 go test ./queue
//
// (TestEngine runs the engine suite both ways in every run.)
func init() {
	if v, ok := os.LookupEnv("MQSH_REMOVE_LATER"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			panic("MQSH_REMOVE_LATER: " + err.Error())
		}
		removeLater = n
	}
}

// FileEveryRemoval makes q file every removal and sweep it afterwards, as
// a removal of more than removeLater messages is.
func FileEveryRemoval(q *Queue) { q.removeLater = 0 }

// needsImmediateRemoval skips a test that looks at the tables right after a
// cancel when the run files every removal (MQSH_REMOVE_LATER=0).
func needsImmediateRemoval(t *testing.T) {
	t.Helper()
	if removeLater == 0 {
		t.Skip("looks at the tables right after a cancel; MQSH_REMOVE_LATER=0 files every removal for later")
	}
}
