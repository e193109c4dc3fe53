#!/bin/sh
# Memory of `mqsh serve` on a queue of 1,000,000 messages while it works:
# it delivers to a relay on loopback that refuses connections (127.0.0.1:1),
# so nothing leaves the machine, every domain it claims is retried (its rows
# rewritten) and expired mail bounces. Prints RssAnon, RssFile and VmHWM of
# the server from /proc after 10, 20 and 30 s, and the time of a filtered
# `queue list -s ADDR -o ids` run meanwhile (3 runs); with LONG=1 also after
# 60 and 90 s; at the end the number of recipient attempts the server logged
# (the work it did).
# Usage: bench/serve-memory.sh [MQSH_BINARY...]; without arguments it builds
# the working tree's mqsh. N (default 1000000) sets the queue size; the
# generated queue is kept in DIR (default /tmp/mqsh-servemem) for the next run,
# and each binary works on a fresh copy of it. SERVE_ARGS adds serve flags
# (such as --cache-size 256M). The first binary builds the queue: a binary of
# an older schema step (in its own DIR) makes the others migrate it when they
# open it, as a server does after an upgrade; the last sample ("end", taken
# just before the server is stopped) gives the peak (VmHWM) of the whole run.
set -eu
N=${N:-1000000}
DIR=${DIR:-/tmp/mqsh-servemem}
mkdir -p "$DIR"
if [ $# -eq 0 ]; then
	go build -o "$DIR/mqsh" .
	set -- "$DIR/mqsh"
fi
if [ ! -f "$DIR/q$N.db" ]; then
	"$1" -u "$DIR/q$N.db.tmp" queue demo "$N" >/dev/null
	mv "$DIR/q$N.db.tmp" "$DIR/q$N.db"
fi
sample() {
	awk -v t="$2" '/^(RssAnon|RssFile|VmHWM):/ { sub(":", "", $1); printf "%s %s %d MB", (n++ ? "," : t " s:"), $1, $2 / 1024 } END { print "" }' "/proc/$1/status"
}
for bin in "$@"; do
	echo "== $bin"
	cp "$DIR/q$N.db" "$DIR/work.db"
	rm -f "$DIR/work.db-wal" "$DIR/work.db-shm"
	"$bin" -u "$DIR/work.db" serve --smtp none --relay 127.0.0.1:1 --hostname bench.test --log "$DIR/serve.log" ${SERVE_ARGS:-} 2>"$DIR/serve.err" &
	pid=$!
	sleep 10
	sample $pid 10
	sleep 5
	for i in 1 2 3; do
		/usr/bin/time -f "list -s: %e s wall, %M KB peak" "$bin" -u "$DIR/work.db" queue list -s billing@tyrell.ca -o ids >/dev/null
	done
	sleep 5
	sample $pid 20
	sleep 10
	sample $pid 30
	if [ -n "${LONG:-}" ]; then
		sleep 30
		sample $pid 60
		sleep 30
		sample $pid 90
	fi
	sample $pid end
	kill -TERM $pid
	wait $pid || true
	echo "recipient attempts logged: $(grep -c ' to=<' "$DIR/serve.log")"
	rm -f "$DIR/work.db" "$DIR/work.db-wal" "$DIR/work.db-shm" "$DIR/serve.log"
done
