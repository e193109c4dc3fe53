package remote

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-json"
)

// FuzzDecodeList: any answer to a listing is read or refused with an
// error, never a panic; what is read maps to messages with an id and
// domains named.
func FuzzDecodeList(f *testing.F) {
	for _, sh := range shapes {
		fk := newFake(sh, func() time.Time { return demoNow }, nil)
		clk := &testClock{t: demoNow}
		q := localQueue(f, 0, clk.Now)
		fk.msgs = newFake(sh, clk.Now, listAll(f, q)).msgs
		rec := httptest.NewRecorder()
		fk.list(rec, url.Values{"values": {"1"}})
		f.Add(rec.Body.Bytes())
	}
	f.Add([]byte(`{"data":{"items":[{"id":1,"recipients":[{"address":"a@b","status":{"temp_fail":"x","perm_fail":"y"}}]}],"total":1}}`))
	f.Add([]byte(`{"data":{"items":[{"id":2,"domains":[{"name":"B","status":"scheduled","recipients":[],"next_retry":null}]}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var env envelope[listData]
		if json.Unmarshal(b, &env) != nil || env.Data == nil {
			return
		}
		for i := range env.Data.Items {
			m, err := toMessage(&env.Data.Items[i], time.Now)
			if err != nil {
				continue
			}
			if m.ID == 0 || len(m.Domains) == 0 {
				t.Fatalf("read a message without id or domains: %+v", m)
			}
			for _, d := range m.Domains {
				for _, r := range d.Recipients {
					if d.Name != "" && !strings.Contains(r.Address, "@") && m.perRecipient {
						t.Fatalf("recipient %q without a domain kept", r.Address)
					}
				}
			}
		}
	})
}
