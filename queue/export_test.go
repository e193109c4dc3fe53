package queue

import (
	"bytes"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An export imported into an empty queue exports again byte for byte:
// statuses, times, retries, RET, client, hold, NOTIFY and texts included.
func TestExportImportRoundTrip(t *testing.T) {
	q, _, all := trashQueue(t, 30)
	if _, err := q.LoadDemo(t.Context(), 50, 3); err != nil {
		t.Fatal(err)
	}
	// Some history: a recipient cancelled, a retry.
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: all[:5], Recipient: []string{"@gmail.com"}}}); err != nil {
		t.Fatal(err)
	}
	var first bytes.Buffer
	n, err := q.Export(t.Context(), Filter{}, &first)
	if err != nil || n != 86 {
		t.Fatalf("export: %d %v", n, err)
	}
	if !strings.Contains(first.String(), `"message":"`) || !strings.Contains(first.String(), `"client":{"ip":"192.0.2.9"`) ||
		!strings.Contains(first.String(), `"notify":"FAILURE"`) || !strings.Contains(first.String(), `"held":true`) {
		t.Fatalf("the export lacks texts or arrival details:\n%.2000s", first.String())
	}
	q2, err := Open(filepath.Join(t.TempDir(), "copy.db"), Options{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	res, err := q2.ImportJSON(t.Context(), bytes.NewReader(first.Bytes()))
	if err != nil || res.Count != 86 {
		t.Fatalf("import: %+v %v", res, err)
	}
	var second bytes.Buffer
	if _, err := q2.Export(t.Context(), Filter{}, &second); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Errorf("the second export differs from the first")
	}
	for _, id := range all[:3] {
		a, _ := q.Raw(t.Context(), id)
		b, _ := q2.Raw(t.Context(), id)
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s: text %q, imported %q", id, a, b)
		}
	}
	checkDue(t, q2)
	// A filter narrows the export; list -o json keeps leaving texts out.
	var some bytes.Buffer
	if n, err := q.Export(t.Context(), Filter{Sender: []string{"bulk@spam.example"}}, &some); err != nil || n != 10 {
		t.Errorf("export by sender: %d %v", n, err)
	}
	b, _ := mustGet(t, q, all[0]).MarshalJSON()
	raw, _ := q.Raw(t.Context(), all[0])
	if bytes.Contains(b, []byte(base64.StdEncoding.EncodeToString(raw))) {
		t.Error("MarshalJSON writes the text")
	}
}

// A bad NOTIFY in an imported line is refused with its line, nothing imported.
func TestImportRefusesBadArrival(t *testing.T) {
	q, _ := openTest(t)
	line := `{"id":5,"return_path":"a@b.example","domains":[{"name":"c.example","status":"scheduled","recipients":[{"address":"x@c.example","status":"scheduled","notify":"SOMETIMES"}]}],"created":"2024-05-01T12:00:00Z","size":5}`
	_, err := q.ImportJSON(t.Context(), strings.NewReader(line+"\n"))
	if err == nil || !strings.Contains(err.Error(), "line 1") || !strings.Contains(err.Error(), "invalid NOTIFY") {
		t.Errorf("import of a bad NOTIFY: %v", err)
	}
	if mustCount(t, q, Filter{}) != 0 {
		t.Error("something was imported")
	}
}
