#!/usr/bin/env bash
# reports.sh — what DMARC aggregate reporting costs a message: the same
# corpus through three authmilter daemons, interleaved round by round:
#
#   reports-off         no [reports] (authmilter.toml as compare.sh runs it)
#   reports-sqlite      [reports] on, the SQLite store
#   reports-pg-stopped  [reports] on, a private PostgreSQL store that is
#                       stopped (pg_ctl stop -m fast) once a third of the
#                       run's messages were offered for reports, and
#                       started again after the run
#
# Both report daemons flush every second (reports.flush_interval = "1s",
# not the 10 s default), so a short run still writes to the store, and
# the stopped database is met by several flushes: counts wait in memory
# (up to reports.max_keys distinct rows; -k sets it for both report
# daemons, e.g. -k 20 to make the stopped database fill the spool), then go
# to the spool, and are written once the database is back (the next
# round). They send nothing (smtp = ""). The summary prints msgs/s and the
# EOM latency p50/p99 (medians of the rounds) per daemon, what the report
# metrics counted in each run (messages offered to the aggregator, i.e.
# those with a DMARC record, and dropped at end of message; messages
# counted into the store, i.e. those whose record has rua, spooled,
# recovered from the spool and dropped; store errors), and the counts lost
# with the database stopped: both report daemons got the same messages, so
# at the end they must have stored as many.
#
#   cmd/authmilter-bench/reports.sh [-n MESSAGES] [-c SESSIONS] [-r ROUNDS] [-k MAX_KEYS] [-w WORKDIR] [-a AUTHMILTER]
#
# Needs root (PostgreSQL runs as the postgres user; installed with apt-get
# when absent, as .ci/run does) and curl. Everything is on loopback. Not
# part of `go test ./...`.
set -euo pipefail

N=4000
SESSIONS=8
ROUNDS=3
WORK=/tmp/authmilter-reports
AMBIN=
MAXKEYS=
while getopts "n:c:r:k:w:a:" o; do
	case $o in
	n) N=$OPTARG ;;
	c) SESSIONS=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	k) MAXKEYS=$OPTARG ;;
	w) WORK=$OPTARG ;;
	a) AMBIN=$OPTARG ;;
	*) echo "usage: $0 [-n MESSAGES] [-c SESSIONS] [-r ROUNDS] [-k MAX_KEYS] [-w WORKDIR] [-a AUTHMILTER]" >&2; exit 2 ;;
	esac
done
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

PIDS=()
PGBIN=
PGDATA=$WORK/pg/data
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ -n "$PGBIN" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

for p in 18893 18894 18895 18896 18897 18898; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		echo "port 127.0.0.1:$p is in use: stop what listens there first" >&2
		exit 1
	fi
done
command -v curl >/dev/null || { echo "needs curl" >&2; exit 1; }

build_all

echo "== PostgreSQL (private cluster in $WORK/pg, 127.0.0.1 only)"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
rm -rf "$WORK/pg"
mkdir -p "$WORK/pg"
chown postgres:postgres "$WORK/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres >/dev/null
PGPORT=
for p in $(seq 25452 25461); do
	(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
	PGPORT=$p
	break
done
[ -n "$PGPORT" ] || { echo "no free port for PostgreSQL" >&2; exit 1; }
pg_start() {
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -l "$WORK/pg/log" -w \
		-o "-p $PGPORT -k $WORK/pg -c listen_addresses=127.0.0.1" start >/dev/null
}
pg_stop() {
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
}
pg_start
runuser -u postgres -- "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" authmilter_bench
DSN="postgres://postgres@127.0.0.1:$PGPORT/authmilter_bench?sslmode=disable"

rm -f "$WORK/dns.addr"
"$BIN/authmilter-bench" dns -corpus "$CORPUS" -addr-file "$WORK/dns.addr" >"$WORK/dns.log" 2>&1 &
PIDS+=($!)
DNS=$(dns_addr "$WORK/dns.addr" "$WORK/dns.log")

# conf NAME MILTER_PORT METRICS_PORT STORE: authmilter.toml on other ports,
# with [reports] when STORE is not empty.
conf() {
	local f=$WORK/$1.toml
	rm -f "$WORK/$1.spool" "$WORK/$1.db"*
	sed -e "s/18893/$2/" -e "s/18894/$3/" "$HERE/authmilter.toml" >"$f"
	if [ -n "$4" ]; then
		cat >>"$f" <<EOT

[reports]
enabled = true
store = "$4"
spool = "$WORK/$1.spool"
org_name = "Bench"
email = "dmarc@bench.test"
smtp = ""
send_interval = "0s"
flush_interval = "1s"
EOT
		if [ -n "$MAXKEYS" ]; then echo "max_keys = $MAXKEYS" >>"$f"; fi
	fi
	echo "$f"
}
declare -A PORT MPORT PID
start() { # NAME MILTER_PORT METRICS_PORT STORE
	"$BIN/authmilter" -config "$(conf "$@")" -dns "$DNS" >"$WORK/$1.log" 2>&1 &
	PID[$1]=$!
	PIDS+=($!)
	PORT[$1]=$2
	MPORT[$1]=$3
}
start reports-off 18893 18894 ""
start reports-sqlite 18895 18896 "sqlite:$WORK/reports-sqlite.db"
start reports-pg-stopped 18897 18898 "$DSN"
LABELS="reports-off reports-sqlite reports-pg-stopped"
for l in $LABELS; do wait_port 127.0.0.1 "${PORT[$l]}"; done

# metric LABEL NAME{LABELS}: a sample's value on that daemon (0 if absent).
metric() {
	curl -sf "http://127.0.0.1:${MPORT[$1]}/metrics" | awk -v n="$2" '$1 == n { v = $2 } END { printf "%d\n", v + 0 }'
}
REPMETRICS='authmilter_dmarc_report_events_total{result="queued"}
authmilter_dmarc_report_events_total{result="dropped_queue_full"}
authmilter_dmarc_report_messages_total{result="stored"}
authmilter_dmarc_report_messages_total{result="spooled"}
authmilter_dmarc_report_messages_total{result="recovered"}
authmilter_dmarc_report_messages_total{result="dropped"}
authmilter_dmarc_report_store_errors_total'
snapshot() { # LABEL: the report metrics, one per line
	while read -r m; do metric "$1" "$m"; done <<<"$REPMETRICS"
}

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for l in $LABELS; do
	"$BIN/authmilter-bench" run -corpus "$CORPUS" -target "127.0.0.1:${PORT[$l]}" -c "$SESSIONS" -n 400 -label warm >/dev/null
done
RESULTS=$WORK/results.txt
: >"$RESULTS"
for round in $(seq "$ROUNDS"); do
	for l in $LABELS; do
		before=$(snapshot "$l")
		"$BIN/authmilter-bench" run -corpus "$CORPUS" -target "127.0.0.1:${PORT[$l]}" -c "$SESSIONS" -n "$N" \
			-duration 120s -label "$l" -pid "${PID[$l]}" >"$WORK/run.out" 2>&1 &
		run=$!
		stopped=
		# Watch every run alike (the watching costs CPU on a small machine),
		# and stop the database once a third of the messages were offered.
		q0=$(metric "$l" 'authmilter_dmarc_report_events_total{result="queued"}')
		while kill -0 "$run" 2>/dev/null; do
			q=$(metric "$l" 'authmilter_dmarc_report_events_total{result="queued"}')
			if [ "$l" = reports-pg-stopped ] && [ -z "$stopped" ] && [ $((q - q0)) -ge $((N / 3)) ]; then
				pg_stop
				stopped="database stopped after $((q - q0)) offered messages"
			fi
			sleep 0.2
		done
		wait "$run"
		tee -a "$RESULTS" <"$WORK/run.out"
		sleep 2 # a flush after the last message
		after=$(snapshot "$l")
		paste <(echo "$before") <(echo "$after") | awk -v l="$l" -v r="$round" -v s="$stopped" '
			{ d[NR] = $2 - $1 }
			END { printf "REPORTS label=%s round=%d queued=%d dropped_queue_full=%d stored=%d spooled=%d recovered=%d dropped=%d store_errors=%d%s\n",
				l, r, d[1], d[2], d[3], d[4], d[5], d[6], d[7], (s != "" ? "  (" s ")" : "") }' | tee -a "$RESULTS"
		if [ -n "$stopped" ]; then
			pg_start
		fi
	done
done
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
# Both report daemons got the same messages: once the restarted database
# has taken what waited in memory and in the spool, as many are in each
# store (written directly, or recovered from the spool).
in_store() {
	echo $(($(metric "$1" 'authmilter_dmarc_report_messages_total{result="stored"}') + $(metric "$1" 'authmilter_dmarc_report_messages_total{result="recovered"}')))
}
for _ in $(seq 30); do
	[ "$(in_store reports-pg-stopped)" = "$(in_store reports-sqlite)" ] && break
	sleep 1
done
for l in reports-sqlite reports-pg-stopped; do
	echo "== $l in total: $(paste -d= <(sed -e 's/authmilter_dmarc_report_//' -e 's/_total//' <<<"$REPMETRICS") <(snapshot "$l") | tr '\n' ' ')"
done
lost=$(($(in_store reports-sqlite) - $(in_store reports-pg-stopped)))
echo "== counts lost with the database stopped (in the SQLite store minus in the PostgreSQL store): $lost" | tee -a "$RESULTS"

echo
echo "== summary (medians of $ROUNDS rounds, $SESSIONS sessions, $N messages each)"
awk '
function median(list,    a, n, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
/^== counts lost/ { lostline = $0 }
/^RESULT/ {
	for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = substr($i, length(kv[1]) + 2) }
	l = v["label"]
	if (!(l in rate)) order[++n] = l
	rate[l] = rate[l] " " v["rate"]; p50[l] = p50[l] " " v["eom_p50_ms"]; p99[l] = p99[l] " " v["eom_p99_ms"]
	errs[l] += v["errors"]
}
/^REPORTS/ {
	for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] != "label" && kv[1] != "round") tot[$2, kv[1]] += kv[2] }
}
END {
	base = median(rate["reports-off"])
	for (i = 1; i <= n; i++) {
		l = order[i]; r = median(rate[l])
		printf "%-20s %6.0f msgs/s (%3.0f%% of reports-off)  EOM p50 %6.2f ms  p99 %7.2f ms  errors %d\n", l, r, base ? 100 * r / base : 0, median(p50[l]), median(p99[l]), errs[l]
		k = "label=" l
		if (tot[k, "queued"] + tot[k, "dropped_queue_full"] > 0)
			printf "%-20s offered %d, dropped at end of message %d; counted into the store %d, spooled %d, recovered %d, dropped %d; store errors %d\n", "",
				tot[k, "queued"], tot[k, "dropped_queue_full"], tot[k, "stored"], tot[k, "spooled"], tot[k, "recovered"], tot[k, "dropped"], tot[k, "store_errors"]
	}
	print substr(lostline, 4)
}' "$RESULTS"
