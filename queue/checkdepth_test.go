package queue

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// checkDepthByBytes is the plain form of checkDepth, a byte at a time: the
// fast one must say exactly what it says.
func checkDepthByBytes(b []byte) (depthErrAt int) {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			if depth++; depth > maxJSONDepth {
				return i + 1
			}
		case '}', ']':
			depth--
		}
	}
	return 0
}

func sameDepthVerdict(t *testing.T, s string) {
	t.Helper()
	err := checkDepth([]byte(s))
	at := checkDepthByBytes([]byte(s))
	switch {
	case at == 0 && err != nil:
		t.Errorf("%.80q: checkDepth refused it (%v), the plain reading accepts it", s, err)
	case at != 0 && (!errors.Is(err, errTooDeep) || !strings.Contains(err.Error(), "(at byte "+strconv.Itoa(at)+")")):
		t.Errorf("%.80q: checkDepth says %v, the plain reading refuses it at byte %d", s, err, at)
	}
}

// TestCheckDepthSkipsStrings: brackets inside strings, escaped quotes and
// runs of backslashes before a quote are read as a JSON decoder reads them.
func TestCheckDepthSkipsStrings(t *testing.T) {
	deep := strings.Repeat("[", maxJSONDepth+1)
	for _, s := range []string{
		deep,
		`{"x":"` + deep + `"}`,
		`{"x":"\"` + deep + `"}`,
		`{"x":"\\"` + deep,
		`{"x":"\\\"` + deep + `"}`,
		`{"x":"\\\\"` + deep,
		`{"x":"` + deep,
		`"\`,
		`"\\`,
		`{"a":"b","c":["d",{"e":"\u0022"}]}` + deep,
		strings.Repeat(`{"a":`, maxJSONDepth) + `"` + deep + `"`,
		strings.Repeat(`{"a":`, maxJSONDepth) + `"x\"` + `",` + "{",
		deepJSON(maxJSONDepth), deepJSON(maxJSONDepth + 1), deepJSON(3000),
	} {
		sameDepthVerdict(t, s)
	}
}

// FuzzCheckDepth: checkDepth agrees with the plain reading on any input.
func FuzzCheckDepth(f *testing.F) {
	for _, s := range []string{`{"x":"\\\"[["}`, deepJSON(maxJSONDepth + 1), `"\\\\"[`, `["\"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { sameDepthVerdict(t, s) })
}

// BenchmarkCheckDepth measures the depth check of the import on generated
// message lines; /plain is the byte-at-a-time reading, for comparison.
func BenchmarkCheckDepth(b *testing.B) {
	var lines [][]byte
	var size int64
	generateDemo(1000, 1, benchNow, DefaultSchedule, func(i int, m *Message, raw []byte) error {
		j, _ := m.MarshalJSON()
		lines = append(lines, j)
		size += int64(len(j))
		return nil
	})
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(size / int64(len(lines)))
		for i := 0; i < b.N; i++ {
			if err := checkDepth(lines[i%len(lines)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plain", func(b *testing.B) {
		b.SetBytes(size / int64(len(lines)))
		for i := 0; i < b.N; i++ {
			if checkDepthByBytes(lines[i%len(lines)]) != 0 {
				b.Fatal("too deep")
			}
		}
	})
}
