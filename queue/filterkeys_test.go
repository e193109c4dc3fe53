package queue

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// keySample is a value of each kind as people type it, and the field it
// must give.
func keySample(t *testing.T, k *FilterKey, now time.Time) (text string, want any) {
	switch k.Field.(type) {
	case Field[[]string]:
		return `*bill "x"@Example.NET`, []string{`*bill "x"@Example.NET`}
	case Field[time.Time]:
		return "+2h", now.Add(2 * time.Hour)
	case Field[int64]:
		return "1.5k", int64(1536)
	case Field[[]Status]:
		return "tempfail,Perm_Fail,tempfail", []Status{TempFail, PermFail}
	case Field[[]ID]:
		return "52B91F716, 2B91F716", []ID{0x52B91F716, 0x2B91F716}
	case Field[bool]:
		return "true", true
	case Field[*bool]:
		no := false
		return "False", &no
	}
	t.Fatalf("key %s binds a %T, which this test does not know", k.Name, k.Field)
	return "", nil
}

// fieldOf returns the value of the field k binds in f.
func fieldOf(k *FilterKey, f *Filter) any {
	switch fl := k.Field.(type) {
	case Field[[]string]:
		return *fl(f)
	case Field[time.Time]:
		return *fl(f)
	case Field[int64]:
		return *fl(f)
	case Field[[]Status]:
		return *fl(f)
	case Field[[]ID]:
		return *fl(f)
	case Field[bool]:
		return *fl(f)
	case Field[*bool]:
		return *fl(f)
	}
	return nil
}

// TestFilterKeysBindEveryField: every field of Filter but IDsFrom is bound by
// exactly one key, of a kind the table knows, and no two keys share a name,
// an alias, an audit word, a flag or a short flag. A field added to Filter
// without its row, or a row pointing at the wrong field, fails here.
func TestFilterKeysBindEveryField(t *testing.T) {
	var f Filter
	v := reflect.ValueOf(&f).Elem()
	bound := map[string]string{} // field -> key
	for _, k := range FilterKeys {
		p := reflect.ValueOf(fieldPointer(t, k, &f)).Pointer()
		name := ""
		for i := 0; i < v.NumField(); i++ {
			if v.Field(i).Addr().Pointer() == p {
				name = v.Type().Field(i).Name
			}
		}
		if name == "" {
			t.Errorf("key %s binds no field of Filter", k.Name)
			continue
		}
		if other, dup := bound[name]; dup {
			t.Errorf("Filter.%s is bound by both %s and %s", name, other, k.Name)
		}
		bound[name] = k.Name
	}
	for i := 0; i < v.NumField(); i++ {
		if name := v.Type().Field(i).Name; bound[name] == "" && name != "IDsFrom" {
			t.Errorf("Filter.%s has no row in FilterKeys", name)
		}
	}

	seen := map[string]string{}
	unique := func(what, s, key string) {
		if s == "" {
			return
		}
		if other, dup := seen[what+" "+s]; dup {
			t.Errorf("%s %q is used by both %s and %s", what, s, other, key)
		}
		seen[what+" "+s] = key
	}
	for _, k := range FilterKeys {
		if k.Name == "" || k.Audit == "" {
			t.Errorf("key %+v lacks a name or an audit word", k)
		}
		for _, n := range append([]string{k.Name}, k.Aliases...) {
			unique("lua key", n, k.Name)
			if FilterKeyNamed(n) != k {
				t.Errorf("FilterKeyNamed(%q) is not %s", n, k.Name)
			}
		}
		unique("audit word", k.Audit, k.Name)
		unique("flag", k.Flag, k.Name)
		unique("short flag", k.Short, k.Name)
		unique("http parameter", k.HTTP, k.Name)
		if k.Flag != "" && k.Help == "" {
			t.Errorf("flag --%s has no help", k.Flag)
		}
		_, isBool := k.Field.(Field[bool])
		if isBool != !strings.ContainsAny(k.Audit, "=<>") {
			t.Errorf("audit word %q of %s: a switch is a bare word, any other key ends in =, < or >", k.Audit, k.Name)
		}
	}
	if FilterKeyNamed("colour") != nil {
		t.Error("FilterKeyNamed found a key that is not in the table")
	}
}

func fieldPointer(t *testing.T, k *FilterKey, f *Filter) any {
	switch fl := k.Field.(type) {
	case Field[[]string]:
		return fl(f)
	case Field[time.Time]:
		return fl(f)
	case Field[int64]:
		return fl(f)
	case Field[[]Status]:
		return fl(f)
	case Field[[]ID]:
		return fl(f)
	case Field[bool]:
		return fl(f)
	case Field[*bool]:
		return fl(f)
	}
	t.Fatalf("key %s binds a %T", k.Name, k.Field)
	return nil
}

// TestFilterKeysRoundTrip: for every key, its text as typed sets its field
// and no other; the audit text says it with the key's audit word; ParseFilter
// reads back the same Filter; and only All leaves the filter empty.
func TestFilterKeysRoundTrip(t *testing.T) {
	now := time.Date(2024, 5, 1, 10, 30, 0, 0, time.UTC)
	for _, k := range FilterKeys {
		t.Run(k.Name, func(t *testing.T) {
			text, want := keySample(t, k, now)
			var f Filter
			if err := k.Parse(&f, text, now); err != nil {
				t.Fatalf("Parse(%q): %v", text, err)
			}
			if got := fieldOf(k, &f); !reflect.DeepEqual(got, want) {
				t.Fatalf("Parse(%q) set %#v, want %#v", text, got, want)
			}
			for _, o := range FilterKeys {
				if o.IsSet(&f) != (o == k) {
					t.Errorf("after Parse of %s, %s is set: %v", k.Name, o.Name, o.IsSet(&f))
				}
			}
			audit := f.String()
			if !strings.HasPrefix(audit, k.Audit) || strings.Contains(audit, " ") && !strings.Contains(audit, `"`) {
				t.Errorf("audit text %q is not one word starting with %q", audit, k.Audit)
			}
			back, err := ParseFilter(audit)
			if err != nil {
				t.Fatalf("ParseFilter(%q): %v", audit, err)
			}
			if !reflect.DeepEqual(back, f) {
				t.Errorf("ParseFilter(%q) = %+v, want %+v", audit, back, f)
			}
			_, isAll := k.Field.(Field[bool])
			if f.IsEmpty() != isAll {
				t.Errorf("IsEmpty with only %s set = %v", k.Name, f.IsEmpty())
			}
			// A key of several values takes another, written as a word of
			// its own, and read back in order.
			if _, several := k.Field.(Field[[]string]); several {
				if err := k.Parse(&f, "b@y", now); err != nil {
					t.Fatal(err)
				}
				audit := f.String()
				if want := audit[:strings.LastIndex(audit, " ")] + " " + k.Audit + "b@y"; audit != want || len(*k.Field.(Field[[]string])(&f)) != 2 {
					t.Errorf("two values: audit text %q, want %q", audit, want)
				}
				if back, err := ParseFilter(audit); err != nil || !reflect.DeepEqual(back, f) {
					t.Errorf("ParseFilter(%q) = %+v, %v, want %+v", audit, back, err, f)
				}
			}
		})
	}
	// Bad values are refused by every kind, with the reason.
	for k, bad := range map[*FilterKey]string{KeyDueBefore: "tomorrow", KeyStatus: "lost", KeyIDs: "xyz", KeyAll: "maybe", KeyLarger: "10q"} {
		var f Filter
		if err := k.Parse(&f, bad, now); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s: Parse(%q) = %v, want an error naming the value", k.Name, bad, err)
		}
	}
}

// TestFilterWords: ParseFilter's error lists the words from the table.
func TestFilterWords(t *testing.T) {
	_, err := ParseFilter("colour=red")
	want := `invalid filter word "colour=red": want key=value (ids, sender, rcpt, domain, status, held, subject, message-id, header, client-ip, user), due>T, due<T, created>T, created<T, size>N, size<N or all`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant %s", err, want)
	}
}

// TestFilterKeysHTTP: every key but all has its HTTP API parameter (the
// names mqsh's server has always read), and what FormatHTTP writes,
// ParseHTTP reads back to the same field: ids in decimal, as Stalwart's API
// writes them, times in RFC 3339. An empty value is refused, naming nothing
// but the problem (the server names the parameter).
func TestFilterKeysHTTP(t *testing.T) {
	now := time.Date(2024, 5, 1, 10, 30, 0, 0, time.UTC)
	want := map[string]string{"ids": "ids", "sender": "sender", "rcpt": "rcpt", "domain": "domain",
		"after": "due-after", "before": "due-before", "created_after": "created-after", "created_before": "created-before",
		"status": "status", "held": "held", "subject": "subject", "message_id": "message-id", "header": "header",
		"larger": "larger", "smaller": "smaller", "client_ip": "client-ip", "user": "user", "all": ""}
	for _, k := range FilterKeys {
		if k.HTTP != want[k.Name] {
			t.Errorf("key %s: HTTP parameter %q, want %q", k.Name, k.HTTP, want[k.Name])
		}
		if k.HTTP == "" {
			continue
		}
		text, val := keySample(t, k, now)
		var f Filter
		if err := k.Parse(&f, text, now); err != nil {
			t.Fatal(err)
		}
		_, several := k.Field.(Field[[]string])
		if several { // two values: a parameter each
			if err := k.Parse(&f, "second", now); err != nil {
				t.Fatal(err)
			}
			val = append(val.([]string), "second")
		}
		ps, ok := k.FormatHTTP(&f)
		if !ok || len(ps) != map[bool]int{true: 2, false: 1}[several] || ps[0] == "" {
			t.Fatalf("%s: FormatHTTP of a set field = %q, %v", k.Name, ps, ok)
		}
		var back Filter
		for _, p := range ps {
			if err := k.ParseHTTP(&back, p, now.Add(time.Hour)); err != nil {
				t.Fatalf("%s: ParseHTTP(%q): %v", k.Name, p, err)
			}
		}
		if got := fieldOf(k, &back); !reflect.DeepEqual(got, val) {
			t.Errorf("%s: ParseHTTP(%q) set %#v, want %#v", k.Name, ps, got, val)
		}
		if _, ok := k.FormatHTTP(&Filter{}); ok {
			t.Errorf("%s: FormatHTTP of an empty filter says it is set", k.Name)
		}
		if err := k.ParseHTTP(&back, " ", now); err == nil || err.Error() != "needs a value" {
			t.Errorf("%s: ParseHTTP of a blank value: %v", k.Name, err)
		}
	}
	var f Filter
	if err := KeyIDs.ParseHTTP(&f, "22205822742, 7", now); err != nil || !reflect.DeepEqual(f.IDs, []ID{0x52B91F716, 7}) {
		t.Errorf("ids=22205822742, 7: %v %v", f.IDs, err)
	}
	if err := KeyIDs.ParseHTTP(&f, "0", now); err == nil || !strings.HasPrefix(err.Error(), `invalid id "0"`) {
		t.Errorf("ids=0: %v", err)
	}
	if p, _ := KeyIDs.FormatHTTP(&Filter{IDs: []ID{0x52B91F716, 7}}); !reflect.DeepEqual(p, []string{"22205822742,7"}) {
		t.Errorf("FormatHTTP of ids = %q", p)
	}
}
