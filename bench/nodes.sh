#!/bin/sh
# Delivery throughput of one and of three `mqsh serve` processes ("nodes")
# on one queue, a queue file and a PostgreSQL database of the test cluster,
# into an SMTP sink on loopback (BenchmarkServeNodes in
# serve_nodes_bench_test.go; every message must arrive exactly once).
# Usage: bench/nodes.sh [N]  (default 10000 messages)
set -eu
N=${1:-10000}
for engine in sqlite postgres; do
	for nodes in 1 3; do
		printf '%s, %d node(s), %d messages: ' "$engine" "$nodes" "$N"
		MQSH_BENCH_N=$N MQSH_BENCH_NODES=$nodes MQSH_BENCH_ENGINE=$engine \
			go test . -run '^$' -bench 'ServeNodes$' -benchtime 1x 2>&1 |
			awk '/^BenchmarkServeNodes/ { for (i = 1; i <= NF; i++) if ($i == "msgs/s" || $i == "s/run") printf "%s %s  ", $(i-1), $i; print "" } /FAIL|panic/ { print }'
	done
done
