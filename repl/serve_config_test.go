package repl

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mqsh/httpapi"
)

// TestServeSettings: the [serve] table of the configuration file sets every
// setting; flags given win over it; the principals beside it are left to
// the HTTP API; unknown keys and bad values are named.
func TestServeSettings(t *testing.T) {
	// Stalwart's schedule unless told otherwise.
	s0, err := loadServeSettings("", &Invocation{Cmd: serveCommand(), Set: map[string]string{}, Lists: map[string][]string{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s0.schedule(); ok {
		t.Errorf("a schedule without settings: %+v", s0)
	}

	dir := t.TempDir()
	cfg := filepath.Join(dir, "mqsh.toml")
	os.WriteFile(cfg, []byte(`
[serve]
smtp = ["127.0.0.1:2526", "127.0.0.1:2527"]
hostname = "mx.example.org"
relay = "192.0.2.1:25"
max-message-size = "10M"
cache-size = "32M"
max-recipients = 50
concurrency = 4
connect-timeout = "10s"
lease = 60
retry = ["1m", "90s", 600]
notify = []
expire = "2d"
relay-network = ["192.0.2.0/24"]
paused = true
[serve.users]
bob = "$2a$04$ufwJqqOMPDK3qFRvwbFwM.n6UoQZlv5dl6JYbyFrlOqzlFB/7Pixy"

[[principal]]
name = "admin"
role = "admin"
secret = "$2a$04$ufwJqqOMPDK3qFRvwbFwM.n6UoQZlv5dl6JYbyFrlOqzlFB/7Pixy"
`), 0o600)
	cmd := serveCommand()
	inv := &Invocation{Cmd: cmd, Set: map[string]string{"config": cfg, "concurrency": "8", "hostname": "mx2.example.org"}, Lists: map[string][]string{}}
	s, err := loadServeSettings(cfg, inv)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(s.SMTP, " ") != "127.0.0.1:2526 127.0.0.1:2527" || s.Relay != "192.0.2.1:25" || !s.Paused ||
		s.MaxMessageSize != 10<<20 || s.MaxRecipients != 50 || time.Duration(s.ConnectTimeout) != 10*time.Second ||
		time.Duration(s.Lease) != time.Minute || s.Users["bob"] == "" || s.CacheSize != 32<<20 {
		t.Errorf("from the file: %+v", s)
	}
	sched, ok := s.schedule()
	if !ok || fmt.Sprint(sched.Retry) != "[1m0s 1m30s 10m0s]" || len(sched.Notify) != 0 || sched.Expire != 48*time.Hour {
		t.Errorf("schedule from the file: %+v", sched)
	}
	inv = &Invocation{Cmd: cmd, Set: map[string]string{"retry": "5s, 1m", "notify": "1h,1d", "expire": "3d"}, Lists: map[string][]string{}}
	if s, err = loadServeSettings(cfg, inv); err != nil {
		t.Fatal(err)
	}
	if sched, _ := s.schedule(); fmt.Sprint(sched.Retry, sched.Notify, sched.Expire) != "[5s 1m0s] [1h0m0s 24h0m0s] 72h0m0s" {
		t.Errorf("schedule from the flags: %+v", sched)
	}
	inv = &Invocation{Cmd: cmd, Set: map[string]string{"config": cfg, "concurrency": "8", "hostname": "mx2.example.org"}, Lists: map[string][]string{}}
	if s, err = loadServeSettings(cfg, inv); err != nil {
		t.Fatal(err)
	}
	if s.Concurrency != 8 || s.Hostname != "mx2.example.org" {
		t.Errorf("flags did not win: concurrency %d, hostname %q", s.Concurrency, s.Hostname)
	}
	if ps, err := httpapi.LoadConfig(cfg); err != nil || len(ps) != 1 || ps[0].Name != "admin" {
		t.Errorf("the HTTP API's principals from the same file: %v, %v", ps, err)
	}
	nets, err := s.relayNetworks()
	if err != nil || len(nets) != 1 || nets[0].String() != "192.0.2.0/24" {
		t.Errorf("relay networks %v, %v", nets, err)
	}

	for _, c := range []struct{ text, want string }{
		{"[serve]\nconcurency = 4\n", "unknown key serve.concurency"},
		{"[serve]\nmax-message-size = \"lots\"\n", `"lots" is not a size`},
		{"[serve]\ndata-timeout = \"soon\"\n", `"soon" is not a duration`},
		{"[serve]\nrelay-network = [\"10.1.2.300/8\"]\n", `invalid relay network "10.1.2.300/8"`},
		{"[serve]\ntls-cert = \"a.pem\"\n", "give --tls-cert and --tls-key together"},
		{"[serve]\nretry = [\"2m\", \"often\"]\n", `"often" is not a duration`},
		{"[serve]\nretry = []\n", "no retry interval"},
		{"[serve]\nretry = [\"500ms\"]\n", "invalid retry interval 500ms: want 1s or more"},
		{"[serve]\nnotify = [\"3d\", \"1d\"]\n", "invalid notify times: 24h0m0s comes after 72h0m0s"},
		{"[serve]\nexpire = 0.5\n", "is not a duration"},
		{"[serve]\ncache-size = \"512k\"\n", "invalid cache-size 524288: want 1M or more"},
		{"[serve]\nnode = \"mx 1\"\n", `invalid --node "mx 1": want a name of up to 64 characters without spaces`},
	} {
		os.WriteFile(cfg, []byte(c.text), 0o600)
		_, err := loadServeSettings(cfg, &Invocation{Cmd: cmd, Set: map[string]string{}, Lists: map[string][]string{}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.text, err, c.want)
		}
	}
}
