package queue

import (
	"testing"
)

// TestMatchInvalidFilter: a filter every verb refuses matches nothing.
func TestMatchInvalidFilter(t *testing.T) {
	m := msg(1, "", testNow, "a@example.org")
	for _, f := range []Filter{{Sender: []string{"@"}}, {Recipient: []string{"<>"}}, {Domain: []string{"@"}}} {
		if _, err := f.Matcher(); err == nil {
			t.Errorf("%v: Matcher accepted an invalid filter", f)
		}
		if f.Match(&m) {
			t.Errorf("%v: an invalid filter matched", f)
		}
	}
}

func TestAddressPattern(t *testing.T) {
	for _, c := range []struct {
		pat, literal string
		match, miss  []string
	}{
		{"<Bill@Example.NET>", "bill@example.net", []string{"bill@example.net", "BILL@example.NET"}, []string{"bill@example.org", "xbill@example.net"}},
		{"Example.ORG", "", []string{"ann@example.org", "Example.Org@elsewhere.example"}, []string{"ann@sub.example.org", "example.org", "example.orgx@b.example"}},
		{"jennifer.kowalski", "", []string{"Jennifer.Kowalski@example.com", "jennifer.kowalski@x"}, []string{"jennifer@kowalski", "jennifer.kowalski2@x", "x@jennifer.kowalski.example"}},
		{"@example.org", "@example.org", []string{"ANN@EXAMPLE.ORG"}, []string{"ann@example.net"}},
		{"a[1]*", "", []string{"a[1]@x.example", "A[1]b@x"}, []string{"a1@x.example", "b[1]@x"}},
		{"*.example", "", []string{"a@b.example"}, []string{"a@b.example.org"}},
		{"?ob@*", "", []string{"bob@x", "rob@y"}, []string{"ob@x", "boob@x"}},
	} {
		p, err := ParseAddressPattern(c.pat, false)
		if err != nil {
			t.Fatalf("%q: %v", c.pat, err)
		}
		if p.Literal() != c.literal {
			t.Errorf("%q: literal %q, want %q", c.pat, p.Literal(), c.literal)
		}
		for _, a := range c.match {
			if !p.Match(a) {
				t.Errorf("%q does not match %q", c.pat, a)
			}
		}
		for _, a := range c.miss {
			if p.Match(a) {
				t.Errorf("%q matches %q", c.pat, a)
			}
		}
	}
	if _, err := ParseAddressPattern("<>", false); err == nil {
		t.Error("<> accepted as a recipient")
	}
	if p, err := ParseAddressPattern("<>", true); err != nil || !p.Match("") || p.Match("a@b") || p.Literal() != "" {
		t.Errorf("<> as a sender: %v", err)
	}
}
