package queue

import "testing"

// TestPlainStatus: the fast path of statusText reads what the decoder reads,
// and leaves to it what it cannot read as plainly.
func TestPlainStatus(t *testing.T) {
	for _, raw := range []string{
		`"scheduled"`, `"temp_fail"`, `""`, `"sch\u0065duled"`, `"héllo"`, `"a\"b"`, `"unterminated`,
		`{"temp_fail":"Code: 451, Enhanced code: 4.5.3, Message: Try later"}`,
		`{ "perm_fail" : null }`, `{"completed":"x" }`, `{"scheduled":{}}`, `{"temp_fail":"a\nb"}`,
		`{"temp_fail":"x","perm_fail":"y"}`, `{"a":"x","a":"y"}`, `{}`, `{"k":"v"}x`, `{"k" "v"}`, `{"k":nul}`,
		`{"t\u0065mp_fail":"x"}`, `{"temp_fail":"\u00e9"}`, `{"temp_fail":"tab	in"}`, `[]`, `12`, `null`,
	} {
		key, details, isObj, ok := plainStatus([]byte(raw))
		if !ok {
			continue
		}
		k2, d2, o2, ok2 := decodedStatus([]byte(raw))
		if !ok2 || key != k2 || details != d2 || isObj != o2 {
			t.Errorf("%s: fast path %q %q %v, decoder %q %q %v %v", raw, key, details, isObj, k2, d2, o2, ok2)
		}
	}
	for _, raw := range []string{`"scheduled"`, `{"temp_fail":"x"}`, `{ "perm_fail" : null }`} {
		if _, _, _, ok := plainStatus([]byte(raw)); !ok {
			t.Errorf("%s: not on the fast path", raw)
		}
	}
}

// TestStatusNames: the states read by their names in any case and spacing,
// in a JSON status as a string or an object's key, and an unknown name
// refused.
func TestStatusNames(t *testing.T) {
	for name, want := range map[string]Status{
		"scheduled": Scheduled, "Delivered": Completed, "completed": Completed,
		"temp_fail": TempFail, "TempFail": TempFail, "Temporary Failure": TempFail,
		"perm_fail": PermFail, " permfail ": PermFail, "PERMANENT FAILURE": PermFail,
	} {
		if got, err := ParseStatus(name); err != nil || got != want {
			t.Errorf("ParseStatus(%q) = %v, %v; want %v", name, got, err, want)
		}
		for _, raw := range []string{`"` + name + `"`, `{"` + name + `":"x"}`} {
			if got, _, err := parseJSONStatus([]byte(raw)); err != nil || got != want {
				t.Errorf("status %s = %v, %v; want %v", raw, got, err, want)
			}
		}
	}
	if _, err := ParseStatus("bounced"); err == nil {
		t.Error("ParseStatus(bounced): no error")
	}
}

// TestIsEnhanced: an enhanced status code is three dot-separated runs of one
// to three digits, and nothing else is.
func TestIsEnhanced(t *testing.T) {
	for s, want := range map[string]bool{
		"4.7.0": true, "5.1.1": true, "2.0.0": true, "0.0.0": true, "123.456.789": true, "5.10.100": true,
		"": false, ".": false, "..": false, "4.7": false, "4.7.": false, ".4.7": false, "4..7": false, "4.7.0.1": false,
		"4.7.0 ": false, " 4.7.0": false, "1234.1.1": false, "4.1234.1": false, "4.7.1234": false, "4.7.x": false, "4,7,0": false,
		"٤.٧.٠": false,
	} {
		if got := isEnhanced(s); got != want {
			t.Errorf("isEnhanced(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestRecipientReplyGivenOrRead: a recipient's code, enhanced code and
// message come from its own fields when given (empty ones included), and
// from its status's text otherwise, field by field.
func TestRecipientReplyGivenOrRead(t *testing.T) {
	status := []byte(`{"temp_fail":"Code: 451, Enhanced code: 4.5.3, Message: Try later"}`)
	code, enh, msg := 421, "", "given"
	for _, c := range []struct {
		jr   jsonInRecipient
		want Recipient
	}{
		{jsonInRecipient{Address: "a@b", Status: status}, Recipient{Address: "a@b", Status: TempFail, Code: 451, Enhanced: "4.5.3", Message: "Try later"}},
		{jsonInRecipient{Address: "a@b", Status: status, Code: &code, Enhanced: &enh, Message: &msg}, Recipient{Address: "a@b", Status: TempFail, Code: 421, Message: "given"}},
		{jsonInRecipient{Address: "a@b", Status: status, Code: &code, Message: &msg}, Recipient{Address: "a@b", Status: TempFail, Code: 421, Enhanced: "4.5.3", Message: "given"}},
		{jsonInRecipient{Address: "a@b", Status: status, Enhanced: &enh}, Recipient{Address: "a@b", Status: TempFail, Code: 451, Message: "Try later"}},
	} {
		for _, want := range []bool{false, true} {
			got, details, err := recipientFrom(&c.jr, want)
			if err != nil || got != c.want {
				t.Errorf("%+v (details wanted %v): got %+v, %v; want %+v", c.jr, want, got, err, c.want)
			}
			if want && details != "Code: 451, Enhanced code: 4.5.3, Message: Try later" {
				t.Errorf("details %q", details)
			}
		}
	}
}
