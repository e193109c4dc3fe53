package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The fields each stalwart-cli generation requires of a message (serde:
// absent non-Option fields fail; Option fields read with deserialize_with
// must be present, null allowed). Pointers tell absent from zero.

// cli012 mirrors v0.12's crates/cli/src/modules/queue.rs.
type cli012 struct {
	ReturnPath *string `json:"return_path"`
	Domains    *[]struct {
		Name       *string          `json:"name"`
		Status     *json.RawMessage `json:"status"`
		Recipients *[]struct {
			Address *string          `json:"address"`
			Status  *json.RawMessage `json:"status"`
		} `json:"recipients"`
		RetryNum *uint32 `json:"retry_num"`
		Expires  *string `json:"expires"`
		// next_retry and next_notify: Options read with deserialize_with,
		// so present, null allowed (checked on the raw object).
	} `json:"domains"`
	RawDomains []map[string]json.RawMessage `json:"-"`
	Created    *string                      `json:"created"`
	Size       *uint64                      `json:"size"`
}

// cli015 mirrors v0.15's message (recipients[], every field required but
// priority, env_id, next_retry, next_notify, expires and orcpt).
type cli015 struct {
	ID         *uint64 `json:"id"`
	ReturnPath *string `json:"return_path"`
	Created    *string `json:"created"`
	Size       *uint64 `json:"size"`
	BlobHash   *string `json:"blob_hash"`
	Recipients *[]struct {
		Address  *string          `json:"address"`
		Queue    *string          `json:"queue"`
		Status   *json.RawMessage `json:"status"`
		RetryNum *uint32          `json:"retry_num"`
	} `json:"recipients"`
}

func checkTime(what string, s *string) error {
	if s == nil {
		return fmt.Errorf("%s missing", what)
	}
	if _, err := time.Parse(time.RFC3339, *s); err != nil {
		return fmt.Errorf("%s: %v", what, err)
	}
	return nil
}

// checkStatus: "scheduled" or one key of completed, temp_fail, perm_fail
// with a string.
func checkStatus(raw *json.RawMessage) error {
	if raw == nil {
		return fmt.Errorf("status missing")
	}
	var s string
	if json.Unmarshal(*raw, &s) == nil {
		if s != "scheduled" {
			return fmt.Errorf("status %q", s)
		}
		return nil
	}
	var m map[string]string
	if err := json.Unmarshal(*raw, &m); err != nil || len(m) != 1 {
		return fmt.Errorf("status %s", *raw)
	}
	for k := range m {
		if k != "completed" && k != "temp_fail" && k != "perm_fail" {
			return fmt.Errorf("status key %q", k)
		}
	}
	return nil
}

func (m *cli012) check() error {
	if m.ReturnPath == nil || m.Domains == nil || m.Size == nil {
		return fmt.Errorf("message field missing: %+v", m)
	}
	if err := checkTime("created", m.Created); err != nil {
		return err
	}
	for i, d := range *m.Domains {
		if d.Name == nil || d.Recipients == nil || d.RetryNum == nil {
			return fmt.Errorf("domain field missing")
		}
		for _, k := range []string{"next_retry", "next_notify"} {
			if _, ok := m.RawDomains[i][k]; !ok {
				return fmt.Errorf("domain %s missing", k)
			}
		}
		if err := checkTime("expires", d.Expires); err != nil {
			return err
		}
		if err := checkStatus(d.Status); err != nil {
			return err
		}
		for _, r := range *d.Recipients {
			if r.Address == nil {
				return fmt.Errorf("recipient address missing")
			}
			if err := checkStatus(r.Status); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *cli015) check() error {
	if m.ID == nil || m.ReturnPath == nil || m.Size == nil || m.BlobHash == nil || m.Recipients == nil {
		return fmt.Errorf("message field missing: %+v", m)
	}
	if err := checkTime("created", m.Created); err != nil {
		return err
	}
	for _, r := range *m.Recipients {
		if r.Address == nil || r.Queue == nil || r.RetryNum == nil {
			return fmt.Errorf("recipient field missing")
		}
		if err := checkStatus(r.Status); err != nil {
			return err
		}
	}
	return nil
}

// TestJSONForBothCLIGenerations: every message the API serves, whole or
// in a list, carries what v0.12's and v0.15's stalwart-cli require.
func TestJSONForBothCLIGenerations(t *testing.T) {
	e := startServer(t)
	e.load(stalwartSix()...)
	var r listResult
	e.data("GET", "/api/queue/messages?values=1", &r)
	if len(r.Items) != 6 {
		t.Fatalf("%d items", len(r.Items))
	}
	for i, raw := range r.Items {
		var one json.RawMessage
		e.data("GET", fmt.Sprintf("/api/queue/messages/%d", idA+uint64ID(i)), &one)
		for _, b := range []json.RawMessage{raw, one} {
			var old cli012
			if err := json.Unmarshal(b, &old); err != nil {
				t.Fatal(err)
			}
			var raw struct {
				Domains []map[string]json.RawMessage `json:"domains"`
			}
			json.Unmarshal(b, &raw)
			old.RawDomains = raw.Domains
			if err := old.check(); err != nil {
				t.Errorf("v0.12 CLI: %v in %s", err, b)
			}
			var cur cli015
			if err := json.Unmarshal(b, &cur); err != nil {
				t.Fatal(err)
			}
			if err := cur.check(); err != nil {
				t.Errorf("v0.15 CLI: %v in %s", err, b)
			}
		}
	}
}

// pythonCheck is the same check in Python, as a script written for
// Stalwart would read the answer: the fields each CLI generation requires.
const pythonCheck = `
import json, sys
data = json.load(sys.stdin)["data"]
assert data["total"] == len(data["items"]) > 0
for m in data["items"]:
    for k in ("id", "return_path", "created", "size", "blob_hash", "domains", "recipients"):
        assert k in m, k
    for d in m["domains"]:
        for k in ("name", "status", "recipients", "retry_num", "next_retry", "next_notify", "expires"):
            assert k in d, k
        for r in d["recipients"]:
            assert "address" in r and "status" in r
    for r in m["recipients"]:
        for k in ("address", "queue", "status", "retry_num"):
            assert k in r, k
print("ok", len(data["items"]))
`

func TestJSONWithPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	e := startServer(t)
	e.load(stalwartSix()...)
	_, _, b := e.do("GET", "/api/queue/messages?values=1", asAdmin)
	cmd := exec.Command(py, "-c", pythonCheck)
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok 6" {
		t.Errorf("python check: %v\n%s", err, out)
	}
}
