#!/usr/bin/env bash
# compare.sh — authmilter against the Debian OpenDKIM → OpenDMARC pair,
# Debian's rspamd (SPF, DKIM and DMARC only: rspamd.conf) and the null
# milter (the harness's ceiling), on one corpus, in one run, at 8
# and 32 concurrent sessions, with the null milter verifying DKIM only (the
# floor of authmilter's DKIM verification cost) beside them; then a 50 MB message through authmilter (RSS
# growth) and a cold-cache run with 50 ms DNS answers (coalescing).
#
#   cmd/authmilter-bench/compare.sh [-n MESSAGES] [-s "8 32"] [-r REPEATS] [-w WORKDIR] [-a AUTHMILTER]
#
# Each (target, sessions) is run REPEATS times, interleaved; the summary
# takes the median msgs/s. -a runs a prebuilt authmilter binary (e.g. an
# older commit's) instead of building this tree's.
#
# Needs root (apt-get, a DNS forwarder on 127.0.0.77:53, unshare -m to give
# OpenDKIM/OpenDMARC a resolv.conf naming it). Everything is on loopback.
# Not part of `go test ./...`: it takes a few minutes.
set -euo pipefail

N=4000
SESSIONS="8 32"
REPEATS=1
WORK=/tmp/authmilter-compare
AMBIN=
while getopts "n:s:r:w:a:" o; do
	case $o in
	n) N=$OPTARG ;;
	s) SESSIONS=$OPTARG ;;
	r) REPEATS=$OPTARG ;;
	w) WORK=$OPTARG ;;
	a) AMBIN=$OPTARG ;;
	*) echo "usage: $0 [-n MESSAGES] [-s \"8 32\"] [-r REPEATS] [-w WORKDIR] [-a AUTHMILTER]" >&2; exit 2 ;;
	esac
done
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

if ! command -v opendkim >/dev/null || ! command -v opendmarc >/dev/null || ! command -v rspamd >/dev/null || [ ! -f /usr/share/publicsuffix/public_suffix_list.dat ]; then
	echo "== installing opendkim opendmarc rspamd publicsuffix"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq opendkim opendmarc publicsuffix >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rspamd >/dev/null
fi
# The packages start daemons of their own on some systems; ours use other ports.

build_all


for p in 18890 18891 18892 18893 18894 18895 18896 18897 18898; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		echo "port 127.0.0.1:$p is in use: stop what listens there first" >&2
		exit 1
	fi
done

rm -f "$WORK/dns.addr" "$WORK/dns-slow.addr" # never read a previous run's address
echo "== starting DNS, authmilter, OpenDKIM, OpenDMARC, null milter"
"$BIN/authmilter-bench" dns -corpus "$CORPUS" -addr-file "$WORK/dns.addr" -forward 127.0.0.77:53 >"$WORK/dns.log" 2>&1 &
PIDS+=($!)
DNS=$(dns_addr "$WORK/dns.addr" "$WORK/dns.log")

"$BIN/authmilter" -config "$HERE/authmilter.toml" -dns "$DNS" >"$WORK/authmilter.log" 2>&1 &
AM=$!
PIDS+=($AM)

echo "nameserver 127.0.0.77" >"$WORK/resolv.conf"
for f in opendkim opendmarc; do sed "s#@RUN@#$WORK#" "$HERE/$f.conf" >"$WORK/$f.conf"; done
unshare -m sh -c "mount --bind $WORK/resolv.conf /etc/resolv.conf && exec opendkim -f -x $WORK/opendkim.conf" >"$WORK/opendkim.log" 2>&1 &
DK=$!
PIDS+=($DK)
unshare -m sh -c "mount --bind $WORK/resolv.conf /etc/resolv.conf && exec opendmarc -f -c $WORK/opendmarc.conf" >"$WORK/opendmarc.log" 2>&1 &
DM=$!
PIDS+=($DM)

"$BIN/authmilter-bench" null -listen 127.0.0.1:18890 >"$WORK/null.log" 2>&1 &
NU=$!
PIDS+=($NU)
"$BIN/authmilter-bench" null -listen 127.0.0.1:18897 -dkim-dns "$DNS" >"$WORK/dkim-floor.log" 2>&1 &
FL=$!
PIDS+=($FL)
# rspamd: its proxies scan themselves (self_scan), one per core; it runs as
# _rspamd in a directory of its own. It compiles its TLD list at start.
mkdir -p "$WORK/rspamd"
sed -e "s#@RUN@#$WORK/rspamd#g" -e "s#@DNS@#$DNS#" -e "s#@PORT@#18898#" -e "s#@COUNT@#$(nproc)#" \
	"$HERE/rspamd.conf" >"$WORK/rspamd/rspamd.conf"
printf "config['regexp'] = {}\n" >"$WORK/rspamd/empty-rules.lua"
chown -R _rspamd:_rspamd "$WORK/rspamd"
rspamd -f -c "$WORK/rspamd/rspamd.conf" -u _rspamd -g _rspamd >"$WORK/rspamd.log" 2>&1 &
RS=$!
PIDS+=($RS)
for p in 18890 18891 18892 18893 18897; do wait_port 127.0.0.1 $p; done
for _ in $(seq 6); do (exec 3<>/dev/tcp/127.0.0.1/18898) 2>/dev/null && break; sleep 10; done
wait_port 127.0.0.1 18898
# Every rspamd process counts: main, proxies, hs_helper.
RSPIDS=$RS,$(pgrep -d, -P "$RS")
for p in "${PIDS[@]}"; do
	if ! kill -0 "$p" 2>/dev/null; then
		echo "a daemon exited at start; see $WORK/*.log" >&2
		exit 1
	fi
done

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"
RESULTS=$WORK/results.txt
: >"$RESULTS"
bench() { # label sessions target pids extra...
	local label=$1 c=$2 target=$3 pids=$4
	shift 4
	"$BIN/authmilter-bench" run -corpus "$CORPUS" -target "$target" -c "$c" -n "$N" -duration 40s \
		-label "$label" ${pids:+-pid "$pids"} "$@" | tee -a "$RESULTS"
}
# Warm every cache (authmilter's DNS cache, the pair's libunbound and
# resolver paths) once; later runs need no warmup.
"$BIN/authmilter-bench" run -corpus "$CORPUS" -target 127.0.0.1:18893 -c 8 -n 400 -label warm >/dev/null
"$BIN/authmilter-bench" run -corpus "$CORPUS" -target 127.0.0.1:18891,127.0.0.1:18892 -c 8 -n 400 -label warm >/dev/null
"$BIN/authmilter-bench" run -corpus "$CORPUS" -target 127.0.0.1:18897 -c 8 -n 400 -label warm >/dev/null
"$BIN/authmilter-bench" run -corpus "$CORPUS" -target 127.0.0.1:18898 -c 8 -n 400 -label warm >/dev/null
for c in $SESSIONS; do
	for _ in $(seq "$REPEATS"); do
		bench null "$c" 127.0.0.1:18890 "$NU"
		bench authmilter "$c" 127.0.0.1:18893 "$AM" -metrics http://127.0.0.1:18894/metrics
		bench opendkim+opendmarc "$c" 127.0.0.1:18891,127.0.0.1:18892 "$DK,$DM"
		bench dkim-floor "$c" 127.0.0.1:18897 "$FL"
		# rspamd quarantines (p=quarantine) by adding X-Spam: Yes.
		bench rspamd "$c" 127.0.0.1:18898 "$RSPIDS" -quarantine-header X-Spam
	done
done
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
# The floor prints what it verified when stopped: a floor that verified
# nothing (keys not found) measured a null milter, not DKIM.
kill "$FL" && wait "$FL" 2>/dev/null || true
FLOOR=$(grep '^dkim floor:' "$WORK/dkim-floor.log" || true)
echo "== ${FLOOR:-dkim floor: no counts in $WORK/dkim-floor.log}"
case "$FLOOR" in
*" 0 verified"* | "") echo "the DKIM-only floor verified no signature: its figures are not a floor" >&2; exit 1 ;;
esac

echo "== 50 MB message through authmilter, three times (RSS growth is noisy: the largest counts)"
for _ in 1 2 3; do
	"$BIN/authmilter-bench" stream -corpus "$CORPUS" -target 127.0.0.1:18893 -mb 50 -pid "$AM" | tee -a "$RESULTS"
done

echo "== cold cache: every DNS answer 50 ms late, a fresh authmilter"
"$BIN/authmilter-bench" dns -corpus "$CORPUS" -dns-delay 50ms -addr-file "$WORK/dns-slow.addr" >"$WORK/dns-slow.log" 2>&1 &
PIDS+=($!)
SLOWDNS=$(dns_addr "$WORK/dns-slow.addr" "$WORK/dns-slow.log")
cat >"$WORK/cold.toml" <<EOT
listen = "inet:127.0.0.1:18895"
authserv_id = "bench.authmilter"
[log]
level = "warn"
[metrics]
listen = "127.0.0.1:18896"
EOT
"$BIN/authmilter" -config "$WORK/cold.toml" -dns "$SLOWDNS" >"$WORK/authmilter-cold.log" 2>&1 &
COLD=$!
PIDS+=($COLD)
wait_port 127.0.0.1 18895
"$BIN/authmilter-bench" run -corpus "$CORPUS" -target 127.0.0.1:18895 -c 8 -n 800 -duration 60s \
	-label authmilter-cold -pid "$COLD" -metrics http://127.0.0.1:18896/metrics | tee -a "$RESULTS"

echo
echo "== summary"
awk '
function median(list,    a, n, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
# pairratios: the ratio of each run of x to the run of y of the same
# repetition (seconds apart, so most of the drift of the machine between
# repetitions cancels), as "median (min-max)" in percent.
function pairratios(x, y,    a, b, n, m, i, r, lo, hi) {
	n = split(x, a, " "); m = split(y, b, " ")
	if (n == 0 || n != m) return ""
	r = ""; lo = 1e9; hi = 0
	for (i = 1; i <= n; i++) { t = 100 * a[i] / b[i]; r = r " " t; if (t < lo) lo = t; if (t > hi) hi = t }
	return sprintf("%.0f%% (%.0f-%.0f%%)", median(r), lo, hi)
}
/^RESULT/ {
	for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = substr($i, length(kv[1]) + 2) }
	key = v["label"] "@" v["sessions"]
	rates[key] = rates[key] " " v["rate"]
	cpu[key] = cpu[key] " " (v["cpu_us_msg"] + v["gen_cpu_us_msg"])
	printf "%-20s %3s sessions %6.0f msgs/s  EOM p50 %6.2f p95 %6.2f p99 %7.2f ms  RSS max %5.1f MB  CPU/msg milter %5d us gen %4d us  expected %s/%s  %s\n",
		v["label"], v["sessions"], v["rate"], v["eom_p50_ms"], v["eom_p95_ms"], v["eom_p99_ms"], v["rss_max_kb"] / 1024, v["cpu_us_msg"], v["gen_cpu_us_msg"], v["expected"], v["msgs"], v["actions"]
	if (!(v["sessions"] in seen)) { seen[v["sessions"]] = 1; order[++n] = v["sessions"] }
}
/^DNS label=authmilter-cold/ { print "cold cache: " $0 }
/^STREAM/ { print "50 MB stream: " $0 }
END {
	for (i = 1; i <= n; i++) {
		s = order[i]
		a = median(rates["authmilter@" s]); p = median(rates["opendkim+opendmarc@" s]); z = median(rates["null@" s])
		if (a && p && z) printf "median msgs/s at %s sessions: null %.0f, authmilter %.0f, pair %.0f; authmilter / pair = %.1fx (target >= 5x), authmilter / null = %.0f%% (target >= 75%%)\n", s, z, a, p, a / p, 100 * a / z
		q = median(rates["rspamd@" s])
		if (a && q) printf "  rspamd at %s sessions: %.0f msgs/s; authmilter / rspamd = %.1fx (target >= 3x), run by run %s\n", s, q, a / q, pairratios(rates["authmilter@" s], rates["rspamd@" s])
		r = pairratios(rates["authmilter@" s], rates["null@" s])
		if (r != "") printf "  authmilter / null run by run (each against the null run just before it), median (range): %s\n", r
		f = median(rates["dkim-floor@" s])
		if (f && z) printf "  DKIM-only floor (null milter + auth/dkim verification, nothing else) at %s sessions: %.0f msgs/s, %.0f%% of null; run by run %s\n", s, f, 100 * f / z, pairratios(rates["dkim-floor@" s], rates["null@" s])
		a = median(cpu["authmilter@" s]); p = median(cpu["opendkim+opendmarc@" s]); z = median(cpu["null@" s]); q = median(cpu["rspamd@" s])
		if (a && q) printf "CPU per message (milter + generator, median) at %s sessions: rspamd %d us: rspamd / authmilter = %.1fx\n", s, q, q / a
		if (a && p && z) printf "CPU per message (milter + generator, median) at %s sessions: null %d us, authmilter %d us, pair %d us: CPU-bound capacity authmilter / pair = %.1fx, authmilter / null = %.0f%%\n", s, z, a, p, p / a, 100 * z / a
	}
}' "$RESULTS"
