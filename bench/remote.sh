#!/bin/sh
# Whole-process figures of mqsh as a client of a remote queue, against
# `mqsh serve --http` on loopback over a queue of 100,000 demo messages (the
# documented six and 100,000 generated): a `queue list -s ADDR` of about 1,000
# matches (-o ids), `queue status ID`, and listing all 100,000 with -o json.
# Measured with hyperfine (apt-get install hyperfine); prints for each
# command the median, the minimum and the CPU time (user + system) of the
# client process, and the server's CPU time per whole listing. Usage: bench/remote.sh [RUNS]  (default 30; the JSON
# listing runs a fifth as often, at least 3). Builds the working tree's mqsh.
set -eu
runs=${1:-30}
dir=$(mktemp -d /tmp/mqsh-remote.XXXXXX)
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
go build -o "$dir/mqsh" .
mqsh=$dir/mqsh
"$mqsh" -u "$dir/queue.db" queue demo 100000 >/dev/null 2>&1
# The sender whose count is nearest 1,000.
addr=$("$mqsh" -u "$dir/queue.db" summary --by sender -o csv 2>/dev/null |
	awk -F, 'NR > 1 && $2 != "<>" { d = $3 - 1000; if (d < 0) d = -d; if (best == "" || d < bd) { best = $2; bd = d; n = $3 } } END { print best " " n }')
n=${addr#* }
addr=${addr% *}
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
MQSH_ADMIN_SECRET=secret "$mqsh" -u "$dir/queue.db" serve --http "127.0.0.1:$port" --smtp none --paused --relay 127.0.0.1:1 2>"$dir/serve.log" &
pid=$!
url=http://127.0.0.1:$port
i=0
until "$mqsh" -u "$url" -c secret status 2B91F716 >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 100 ] || { cat "$dir/serve.log"; exit 1; }
	sleep 0.1
done
echo "queue: 100,006 messages; sender $addr has $n; server $url" >&2
remote="$mqsh -u $url -c secret"
jruns=$((runs / 5))
[ $jruns -ge 3 ] || jruns=3
hyperfine -N --warmup 3 --runs "$runs" --export-json "$dir/a.json" \
	--output=pipe "$remote queue list -s $addr -o ids" "$remote queue status 2B91F716" >/dev/null
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
before=$(cpu)
hyperfine -N --warmup 1 --runs "$jruns" --export-json "$dir/b.json" \
	--output=pipe "$remote queue list -o json" >/dev/null
after=$(cpu)
echo "server CPU (user + sys) per listing of all with -o json: $(( (after - before) * 1000 / $(getconf CLK_TCK) / (jruns + 1) )) ms" >&2
python3 - "$dir" "$dir/a.json" "$dir/b.json" <<'PY'
import json, sys
print("| Command | Median | Min | CPU (user + sys) of the client |")
print("|---|---:|---:|---:|")
for f in sys.argv[2:]:
    for r in json.load(open(f))["results"]:
        cmd = r["command"].replace(sys.argv[1] + "/", "")
        print("| `%s` | %.0f ms | %.0f ms | %.0f ms |" % (cmd, r["median"] * 1e3, r["min"] * 1e3, (r["user"] + r["system"]) * 1e3))
PY
