#!/bin/sh
# Whole-process timings on a queue of 100,000 generated messages, a quarter of
# them (25,000) from one sender:
#   - queue cancel -s bulk@sender.example   (25,000 messages, one transaction)
#   - queue cancel --all                    (the other 75,000)
#   - queue list -o json > /dev/null        (100,000 messages)
#   - queue list > /dev/null                (the table, stdout not a terminal)
# Each is run RUNS times (default 5) on a fresh copy of the queue; the output
# is one line per run: wall seconds, user CPU seconds, system CPU seconds.
#
#   sh bench/bulk.sh            # from the repository root
#   sh bench/bulk.sh OLD NEW    # A/B: each run times each binary in turn
#   ONLY=cancel sh bench/bulk.sh OLD NEW   # the two cancels, not the listings
#   ONLY=list sh bench/bulk.sh  # the two list lines alone
#
# Files go to $MQSH_BENCH_DIR/bulk (default /tmp/mqsh-bench/bulk); the queue
# is built once and reused.
set -eu
runs=${RUNS:-5}
dir=${MQSH_BENCH_DIR:-/tmp/mqsh-bench}/bulk
mkdir -p "$dir"
go build -o "$dir/mqsh" .
[ "$#" -gt 0 ] || set -- "$dir/mqsh"
if [ ! -f "$dir/base.db" ]; then
	go run ./bench/demojson -n 100000 -o "$dir/100k.jsonl"
	# Every fourth message from one sender: 25,000 to cancel by sender.
	awk 'NR % 4 == 0 { sub(/"return_path":"[^"]*"/, "\"return_path\":\"bulk@sender.example\"") } 1' \
		"$dir/100k.jsonl" >"$dir/100k-bulk.jsonl"
	rm -f "$dir/build.db"*
	"$dir/mqsh" -u "$dir/build.db" queue import "$dir/100k-bulk.jsonl"
	mv "$dir/build.db" "$dir/base.db"
fi
export MQSH_NOHISTORY=1
t() { # label, command...: one timing line
	label=$1
	shift
	/usr/bin/time -f "$label %e s wall, %U s user, %S s sys" "$@" >/dev/null 2>"$dir/err" || { cat "$dir/err"; exit 1; }
	tail -n 1 "$dir/err"
}
i=0
while [ "$i" -lt "$runs" ]; do
	i=$((i + 1))
	for bin in "$@"; do
		[ "$#" -eq 1 ] || echo "$bin:"
		if [ "${ONLY:-}" != list ]; then
			rm -f "$dir/run.db"*
			cp "$dir/base.db" "$dir/run.db"
			t "cancel 25,000 by sender:" "$bin" -u "$dir/run.db" queue cancel -s bulk@sender.example
			t "cancel the other 75,000: " "$bin" -u "$dir/run.db" queue cancel --all --yes
		fi
		[ "${ONLY:-}" != cancel ] || continue
		t "list -o json of 100,000: " "$bin" -u "$dir/base.db" queue list -o json
		t "list (table) of 100,000: " "$bin" -u "$dir/base.db" queue list
	done
done
