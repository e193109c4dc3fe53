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
