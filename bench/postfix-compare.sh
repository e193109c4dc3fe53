#!/usr/bin/env bash
# postfix-compare.sh: mqsh beside Postfix on the same queue, whole process.
#
#   sudo bench/postfix-compare.sh [N]        # N messages of about 1 KiB (default 100000)
#
# Fills Postfix's queue and an mqsh queue with the same N messages (four
# senders, one recipient each, about 1 KiB), then times, one command against
# the other: listing everything as JSON, showing one message, removing the
# quarter of the queue sent by one sender, and removing the rest. Prints a
# table with the ratio.
#
# Runs as root. Installs postfix with apt-get when it is missing, without its
# own configuration. Postfix is configured so that nothing can leave the
# machine: it listens on 127.0.0.1 only, has no relay host, every transport is
# the discard transport (which drops mail, connecting nowhere) and is deferred
# as well, and every message it accepts is put on hold. An /etc/postfix/main.cf that this script did not write is left
# alone: the script stops instead. Postfix is stopped at the end unless
# KEEP_POSTFIX=1.
#
# Environment: MQSH (an mqsh binary; default: built from this tree),
# WORK (scratch folder; default /tmp/mqsh-postfix-compare), REPEAT (runs of
# the read commands, median taken; default 5).
set -euo pipefail

N=${1:-100000}
WORK=${WORK:-/tmp/mqsh-postfix-compare}
REPEAT=${REPEAT:-5}
SENDERS=4
HERE=$(cd "$(dirname "$0")/.." && pwd)
MARK="# written by mqsh bench/postfix-compare.sh"

die() { echo "postfix-compare: $*" >&2; exit 1; }
say() { echo "postfix-compare: $*" >&2; }

[ "$(id -u)" = 0 ] || die "run as root: it installs and configures postfix"
case $N in '' | *[!0-9]*) die "N must be a whole number, got '$N'" ;; esac
[ "$N" -ge $((SENDERS * 4)) ] || die "N must be at least $((SENDERS * 4))"
[ $((N % SENDERS)) = 0 ] || die "N must be a multiple of $SENDERS"

install_postfix() {
	command -v postsuper >/dev/null 2>&1 && return 0
	say "installing postfix (apt-get, no configuration, no service started)"
	local policy=/usr/sbin/policy-rc.d made_policy=
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		made_policy=1
	fi
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postfix >&2 ||
		{ apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postfix >&2; }
	if [ -n "$made_policy" ]; then rm -f "$policy"; fi
}

# configure_postfix writes a main.cf under which Postfix can deliver nowhere.
configure_postfix() {
	local cf=/etc/postfix/main.cf
	if [ -e "$cf" ] && ! grep -qxF "$MARK" "$cf"; then
		die "$cf exists and was not written by this script; not touching a real mail server (move it away to run the benchmark)"
	fi
	# The discard transport drops mail and opens no connection; it is
	# deferred besides, and every message is held, so nothing moves at all.
	# (The error transport would do too, but smtpd then refuses recipients.)
	local off="discard:mqsh benchmark, delivery disabled"
	cat >"$cf" <<EOF
$MARK
# A Postfix that accepts mail on 127.0.0.1 and puts it on hold. It delivers
# nowhere: every transport is the discard transport and is deferred too.
compatibility_level = 3.6
myhostname = mqsh-bench.invalid
mydomain = invalid
myorigin = \$myhostname
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
relay_domains =
default_transport = $off
relay_transport = $off
local_transport = $off
virtual_transport = $off
defer_transports = smtp, relay, local, virtual, lmtp, discard, error
soft_bounce = yes
alias_maps =
alias_database =
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = check_client_access static:HOLD, permit_mynetworks, reject
header_checks = static:HOLD
smtpd_client_connection_count_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
in_flow_delay = 0
disable_vrfy_command = yes
# No name lookups either: clients are not looked up, and the (deferred)
# smtp client would use /etc/hosts only.
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
smtp_host_lookup = native
biff = no
maillog_file = /var/log/postfix-mqsh-bench.log
EOF
	postfix check >&2 || die "postfix check failed"
}

stop_postfix() { postfix stop >/dev/null 2>&1 || true; }

start_postfix() {
	if postfix status >/dev/null 2>&1; then postfix reload >&2; else postfix start >&2; fi
	for _ in $(seq 50); do
		(exec 3<>/dev/tcp/127.0.0.1/25) 2>/dev/null && break
		sleep 0.2
	done
	(exec 3<>/dev/tcp/127.0.0.1/25) 2>/dev/null || die "postfix does not answer on 127.0.0.1:25"
	if command -v ss >/dev/null 2>&1; then
		local wide
		wide=$(ss -ltnH 'sport = :25' | awk '$4 !~ /^127\./' || true)
		[ -z "$wide" ] || die "postfix listens beyond loopback: $wide"
	fi
}

held() { find /var/spool/postfix/hold -type f | wc -l; }
queued() { find /var/spool/postfix/{incoming,active,deferred,hold,maildrop} -type f 2>/dev/null | wc -l; }

# ms runs a command with its output thrown away and prints how many
# milliseconds it took; a failing command stops the script.
ms() {
	local s e
	s=$(date +%s%N)
	"$@" >/dev/null 2>&1 || die "failed: $*"
	e=$(date +%s%N)
	echo $(((e - s) / 1000000))
}

# median_ms runs a command REPEAT times and prints the median in milliseconds.
median_ms() {
	local i
	for i in $(seq "$REPEAT"); do ms "$@"; done | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

install_postfix
mkdir -p "$WORK"
if [ -z "${MQSH:-}" ]; then
	say "building mqsh"
	(cd "$HERE" && go build -o "$WORK/mqsh" .) || die "go build failed"
	MQSH=$WORK/mqsh
fi
Q=$WORK/queue.db

configure_postfix
trap '[ "${KEEP_POSTFIX:-}" = 1 ] || stop_postfix' EXIT
start_postfix
if [ "$(queued)" != 0 ]; then
	say "emptying postfix's queue from an earlier run"
	postsuper -d ALL >/dev/null 2>&1
fi

say "filling postfix's queue with $N messages (smtp-source to 127.0.0.1, held on arrival)"
per=$((N / SENDERS))
start=$(date +%s)
for s in $(seq 0 $((SENDERS - 1))); do
	smtp-source -s 16 -m "$per" -l 1024 -f "s$s@senders.test" -t "user$s@dest$s.test" \
		-M mqsh-bench.invalid 127.0.0.1:25 || die "smtp-source failed"
done
for _ in $(seq 100); do [ "$(held)" -ge "$N" ] && break; sleep 0.2; done
[ "$(held)" = "$N" ] || die "postfix holds $(held) messages, want $N (see /var/log/postfix-mqsh-bench.log)"
[ "$(queued)" = "$N" ] || die "postfix has messages outside the hold queue"
say "postfix: $N messages held in $(($(date +%s) - start)) s"

say "filling the mqsh queue with the same $N messages (.eml files, one import per 5,000)"
rm -rf "$WORK/eml" "$Q" "$Q-wal" "$Q-shm"
mkdir -p "$WORK/eml"
start=$(date +%s)
# The same shape as smtp-source's: sender sK, one recipient userK@destK.test,
# a body of 1024 bytes.
awk -v n="$N" -v senders="$SENDERS" -v dir="$WORK/eml" 'BEGIN {
	line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	body = ""; for (i = 0; i < 16; i++) body = body line "\n"
	per = n / senders
	for (i = 0; i < n; i++) {
		s = int(i / per)
		f = sprintf("%s/m%07d.eml", dir, i)
		printf "Return-Path: <s%d@senders.test>\nFrom: <s%d@senders.test>\nTo: <user%d@dest%d.test>\nSubject: mqsh bench %d\nMessage-ID: <%d@mqsh-bench.invalid>\n\n%s", s, s, s, s, i, i, body > f
		close(f)
	}
}'
(cd "$WORK/eml" && find . -name '*.eml' | sort | xargs -n 5000 "$MQSH" -u "$Q" queue import >/dev/null 2>&1) ||
	die "mqsh queue import failed"
rm -rf "$WORK/eml"
have=$("$MQSH" -u "$Q" queue list -o ids 2>/dev/null | wc -l)
[ "$have" = "$N" ] || die "mqsh holds $have messages, want $N"
say "mqsh: $N messages queued in $(($(date +%s) - start)) s"

# One message from the middle of each queue.
pid=$(postqueue -j | sed -n "$((N / 2))p" | sed -E 's/.*"queue_id": *"([^"]+)".*/\1/')
mid=$("$MQSH" -u "$Q" queue list -o ids 2>/dev/null | sed -n "$((N / 2))p")
[ -n "$pid" ] && [ -n "$mid" ] || die "could not pick a message to show"
# (Output is kept before grep looks at it: grep -q stopping early would fail
# the pipe under pipefail.)
shown=$(postcat -q "$pid" 2>&1 || true)
grep -q "s[0-9]@senders.test" <<<"$shown" || die "postcat -q $pid does not show the message"
shown=$("$MQSH" -u "$Q" queue status "$mid" 2>&1 || true)
grep -q "s[0-9]@senders.test" <<<"$shown" || die "mqsh queue status $mid does not show the message"
say "message sizes: postfix $(postqueue -j | sed -n 1p | sed -E 's/.*"message_size": *([0-9]+).*/\1/') bytes," \
	"mqsh $("$MQSH" -u "$Q" queue list -o json 2>/dev/null | sed -n 1p | sed -E 's/.*"size":([0-9]+).*/\1/') bytes"

declare -a rows
row() { rows+=("$(printf '%s\t%s\t%s' "$1" "$2" "$3")"); }

say "timing (whole process, milliseconds; reads are the median of $REPEAT runs)"
row "list all as JSON ($N)" "$(median_ms postqueue -j)" "$(median_ms "$MQSH" -u "$Q" queue list -o json)"
row "show one message" "$(median_ms postcat -q "$pid")" "$(median_ms "$MQSH" -u "$Q" queue status "$mid")"

# Removing one sender's messages: Postfix has no selection by sender, so the
# ids come from postqueue -j, filtered, into postsuper -d -. All of it counts.
pf_remove_sender() {
	postqueue -j | grep -E '"sender": *"s0@senders.test"' |
		sed -E 's/.*"queue_id": *"([^"]+)".*/\1/' | postsuper -d -
}
row "remove $per by sender" "$(ms pf_remove_sender)" "$(ms "$MQSH" -u "$Q" queue cancel -s s0@senders.test)"
left=$((N - per))
[ "$(queued)" = "$left" ] || die "postfix holds $(queued) after removing one sender, want $left"
have=$("$MQSH" -u "$Q" queue list -o ids 2>/dev/null | wc -l)
[ "$have" = "$left" ] || die "mqsh holds $have after removing one sender, want $left"

row "remove the other $left" "$(ms postsuper -d ALL)" "$(ms "$MQSH" -u "$Q" queue cancel --all --yes)"
[ "$(queued)" = 0 ] || die "postfix still holds $(queued) messages"
have=$("$MQSH" -u "$Q" queue list -o ids 2>/dev/null | wc -l)
[ "$have" = 0 ] || die "mqsh still holds $have messages"

echo
printf '| %-30s | %12s | %10s | %14s |\n' "Command (N = $N)" "Postfix ms" "mqsh ms" "Postfix / mqsh"
printf '|%s|%s|%s|%s|\n' "--------------------------------" "-------------:" "-----------:" "---------------:"
for r in "${rows[@]}"; do
	IFS=$'\t' read -r what p m <<<"$r"
	ratio=$(awk -v p="$p" -v m="$m" 'BEGIN { if (m == 0) m = 1; printf "%.1fx", p / m }')
	printf '| %-30s | %12s | %10s | %14s |\n' "$what" "$p" "$m" "$ratio"
done
echo
echo "Commands: postqueue -j vs mqsh queue list -o json; postcat -q ID vs mqsh queue status ID;"
echo "postqueue -j | grep sender | postsuper -d - vs mqsh queue cancel -s SENDER; postsuper -d ALL vs mqsh queue cancel --all."
echo "Machine: $(nproc) cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
