package httpapi

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

// TestFilterKeysCoverFilter: each key sets exactly one field of
// queue.Filter, and every field but All and IDsFrom has a key, so a new
// filter field without its row fails here.
func TestFilterKeysCoverFilter(t *testing.T) {
	p := apiParser(testNow)
	sample := map[string]string{
		"sender": "bill@example.net", "rcpt": "*@example.org", "domain": "example.org", "status": "tempfail,permfail",
		"due-before": "2026-02-01T00:00:00Z", "due-after": "+1h", "created-before": "2026-01-01", "created-after": "-1d", "ids": "5,6",
	}
	set := map[string]string{} // field -> key
	ft := reflect.TypeOf(queue.Filter{})
	for _, k := range FilterKeys {
		v, ok := sample[k.Name]
		if !ok {
			t.Fatalf("no sample value for key %s", k.Name)
		}
		var f queue.Filter
		if err := k.Set(&f, v, p); err != nil {
			t.Fatalf("%s=%s: %v", k.Name, v, err)
		}
		fv := reflect.ValueOf(f)
		var changed []string
		for i := range ft.NumField() {
			if !fv.Field(i).IsZero() {
				changed = append(changed, ft.Field(i).Name)
			}
		}
		if len(changed) != 1 {
			t.Errorf("key %s sets %v, want one field", k.Name, changed)
			continue
		}
		if prev, dup := set[changed[0]]; dup {
			t.Errorf("keys %s and %s both set %s", prev, k.Name, changed[0])
		}
		set[changed[0]] = k.Name
		if got, ok := LookupFilterKey(k.Name); !ok || got.Name != k.Name {
			t.Errorf("LookupFilterKey(%s)", k.Name)
		}
	}
	for i := range ft.NumField() {
		name := ft.Field(i).Name
		if _, ok := set[name]; !ok && name != "All" && name != "IDsFrom" {
			t.Errorf("queue.Filter.%s has no filter key", name)
		}
	}
	if _, ok := LookupFilterKey("recipient"); ok {
		t.Error("LookupFilterKey found a key not in the table")
	}
}

// TestFilterKeyValues: the values each kind of key reads, and its errors.
func TestFilterKeyValues(t *testing.T) {
	p := apiParser(testNow)
	var f queue.Filter
	for _, kv := range [][2]string{{"due-after", "+2h"}, {"created-before", "2026-01-01"}, {"status", "delivered,completed,permfail"}, {"ids", "22205822742, 7"}} {
		k, _ := LookupFilterKey(kv[0])
		if err := k.Set(&f, kv[1], p); err != nil {
			t.Fatal(err)
		}
	}
	if !f.DueAfter.Equal(testNow.Add(2*time.Hour)) || !f.CreatedBefore.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) ||
		!reflect.DeepEqual(f.Status, []queue.Status{queue.Completed, queue.PermFail}) || !reflect.DeepEqual(f.IDs, []queue.ID{0x52B91F716, 7}) {
		t.Errorf("filter %+v", f)
	}
	k, _ := LookupFilterKey("ids")
	if err := k.Set(&f, "0", p); err == nil || !strings.HasPrefix(err.Error(), "ids: invalid id \"0\"") {
		t.Errorf("ids=0: %v", err)
	}
}
