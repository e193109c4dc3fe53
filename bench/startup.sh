#!/bin/sh
# Whole-process start-up of mqsh: `--version`, and `queue status ID` on the
# demo queue (the documented six and 1,000 generated messages), measured with
# hyperfine (apt-get install hyperfine), and prints for each command the
# median, the minimum and the CPU time (user + system) of 500 runs, which vary
# less than the mean on a shared machine. Usage: bench/startup.sh [MQSH_BINARY...]
# Without arguments it builds the working tree's mqsh.
set -eu
dir=$(mktemp -d /tmp/mqsh-startup.XXXXXX)
trap 'rm -rf "$dir"' EXIT
if [ $# -eq 0 ]; then
	go build -o "$dir/mqsh" .
	set -- "$dir/mqsh"
fi
"$1" -u "$dir/queue.db" queue demo 1000 >/dev/null 2>&1
cmds=""
for bin in "$@"; do
	cmds="$cmds|$bin --version|$bin -u $dir/queue.db queue status 2B91F716"
done
IFS='|'
# shellcheck disable=SC2086
hyperfine -N --warmup 50 --runs 500 --export-json "$dir/result.json" ${cmds#|} >/dev/null
python3 - "$dir/result.json" <<'PY'
import json, sys
print("| Command | Median | Min | CPU (user + sys) |")
print("|---|---:|---:|---:|")
for r in json.load(open(sys.argv[1]))["results"]:
    cmd = r["command"].replace(sys.argv[1].rsplit("/", 1)[0] + "/", "")
    print("| `%s` | %.1f ms | %.1f ms | %.1f ms |" % (cmd, r["median"] * 1e3, r["min"] * 1e3, (r["user"] + r["system"]) * 1e3))
PY
