#!/bin/sh
# Two builds of mqsh compared, each as both client and server, on listing a
# remote queue of 100,006 demo messages whole with `queue list -o json`
# (output through a pipe): A and B take turns, run after run, so that other
# work on the machine weighs on both alike. Each builds's server is its own
# `mqsh serve --http` on loopback, both over one queue file. Prints per run
# the client's wall time, CPU time (user + sys) and peak memory, and the
# server's CPU time for that listing. Needs GNU time (/usr/bin/time).
# Usage: bench/remote-ab.sh MQSH_A MQSH_B [RUNS]  (default 8)
set -eu
A=$1 B=$2 runs=${3:-8}
dir=$(mktemp -d /tmp/mqsh-remote-ab.XXXXXX)
sa="" sb=""
cleanup() {
	for p in $sa $sb; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$dir"
}
trap cleanup EXIT
"$A" -u "$dir/queue.db" queue demo 100000 >/dev/null 2>&1
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pa=$(port) pb=$(port)
MQSH_ADMIN_SECRET=secret "$A" -u "$dir/queue.db" serve --http "127.0.0.1:$pa" --smtp none --paused --relay 127.0.0.1:1 2>"$dir/a.log" &
sa=$!
MQSH_ADMIN_SECRET=secret "$B" -u "$dir/queue.db" serve --http "127.0.0.1:$pb" --smtp none --paused --relay 127.0.0.1:1 2>"$dir/b.log" &
sb=$!
for p in $pa $pb; do
	i=0
	until "$A" -u "http://127.0.0.1:$p" -c secret status 2B91F716 >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 100 ] || { cat "$dir"/*.log; exit 1; }
		sleep 0.1
	done
done
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
tck=$(getconf CLK_TCK)
one() { # name mqsh port server-pid
	s0=$(cpu "$4")
	/usr/bin/time -f "%e %U %S %M" -o "$dir/t" "$2" -u "http://127.0.0.1:$3" -c secret queue list -o json 2>/dev/null | cat >/dev/null
	s1=$(cpu "$4")
	read -r e u s m <"$dir/t"
	awk -v n="$1" -v e="$e" -v u="$u" -v s="$s" -v m="$m" -v d="$((s1 - s0))" -v t="$tck" \
		'BEGIN { printf "%s wall %.2f s, client CPU %.2f s, client peak %d MB, server CPU %.2f s\n", n, e, u + s, m / 1024, d / t }'
}
one A "$A" "$pa" "$sa" >/dev/null # warm-up
one B "$B" "$pb" "$sb" >/dev/null
for _ in $(seq "$runs"); do
	one A "$A" "$pa" "$sa"
	one B "$B" "$pb" "$sb"
done
