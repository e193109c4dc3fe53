#!/bin/sh
# What SQLite itself takes to remove the 25,000 messages of one sender from
# bench/bulk.sh's queue of 100,000, written as plain SQL in the sqlite3 shell
# (no mqsh): the floor under `queue cancel -s bulk@sender.example`. Four
# layouts, each on a fresh copy of the queue, each RUNS times (default 3):
#   as is                  the trash copy, then the deletes, commit, checkpoint
#   no trash copy          the deletes alone
#   no secondary indexes   every index of messages, domains and recipients
#                          dropped but the sender's (the selection's)
#   neither                no trash copy and no secondary indexes
# A message here is 4 rows (message, domains, recipients; bodies are not in
# the JSON-built queue), so even the last line deletes about 104,000 rows.
#
#   sh bench/bulk.sh            # builds $MQSH_BENCH_DIR/bulk/base.db first
#   sh bench/cancel-floor.sh
#
# Needs the sqlite3 shell (Debian: apt-get install sqlite3).
set -eu
command -v sqlite3 >/dev/null || { echo "cancel-floor: the sqlite3 shell is not installed (apt-get install sqlite3)" >&2; exit 1; }
runs=${RUNS:-3}
dir=${MQSH_BENCH_DIR:-/tmp/mqsh-bench}/bulk
[ -f "$dir/base.db" ] || { echo "cancel-floor: $dir/base.db is missing: run sh bench/bulk.sh first" >&2; exit 1; }
sql=$dir/floor.sql
trashsql=$dir/floor-trash.sql
cols() { sqlite3 "$dir/base.db" "SELECT group_concat(name, ',') FROM pragma_table_info('$1')"; }
m=$(cols messages)
d=$(cols domains)
r=$(cols recipients)
sel="SELECT id FROM mqsh_sel"
{
	echo "PRAGMA synchronous = FULL; BEGIN IMMEDIATE;"
	echo "CREATE TEMP TABLE mqsh_sel(id INTEGER PRIMARY KEY);"
	echo "INSERT INTO mqsh_sel SELECT id FROM messages WHERE rp_lc = 'bulk@sender.example';"
} >"$trashsql"
cp "$trashsql" "$sql"
# A column a later schema step added to a live table is added to its trash
# table when first needed (queue/trash.go): do the same, or the copy fails.
for t in messages domains recipients; do
	sqlite3 "$dir/base.db" "SELECT 'ALTER TABLE trash_$t ADD COLUMN ' || name || ' ' || type || ';' FROM pragma_table_info('$t') WHERE name NOT IN (SELECT name FROM pragma_table_info('trash_$t'))"
done >>"$trashsql"
{
	echo "INSERT INTO trash_messages($m, trashed_at, trash_seq, trash_verb) SELECT $m, 0, 1, 'cancel' FROM messages WHERE id IN ($sel);"
	echo "INSERT INTO trash_domains(trash_seq, $d) SELECT 1, $d FROM domains WHERE msg_id IN ($sel);"
	echo "INSERT INTO trash_recipients(trash_seq, $r) SELECT 1, $r FROM recipients WHERE msg_id IN ($sel);"
} >>"$trashsql"
for f in "$trashsql" "$sql"; do
	{
		echo "DELETE FROM recipients WHERE msg_id IN ($sel);"
		echo "DELETE FROM domains WHERE msg_id IN ($sel);"
		echo "DELETE FROM messages WHERE id IN ($sel);"
		echo "COMMIT; PRAGMA wal_checkpoint(TRUNCATE);"
	} >>"$f"
done
drops=$(sqlite3 "$dir/base.db" "SELECT group_concat('DROP INDEX ' || name, '; ') FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ('messages', 'domains', 'recipients') AND name != 'messages_sender'")
one() { # label, pre-SQL, script
	rm -f "$dir/floor.db"*
	cp "$dir/base.db" "$dir/floor.db"
	sqlite3 "$dir/floor.db" "$2; PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
	/usr/bin/time -f "$1 %e s wall, %U s user, %S s sys" sqlite3 -bail "$dir/floor.db" <"$3" 2>"$dir/floor.err" >/dev/null || { cat "$dir/floor.err" >&2; exit 1; }
	tail -n 1 "$dir/floor.err"
}
i=0
while [ "$i" -lt "$runs" ]; do
	i=$((i + 1))
	one "as is:                " "SELECT 1" "$trashsql"
	one "no trash copy:        " "SELECT 1" "$sql"
	one "no secondary indexes: " "$drops" "$trashsql"
	one "neither:              " "$drops" "$sql"
done
rm -f "$dir/floor.db"*
