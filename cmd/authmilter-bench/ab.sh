#!/usr/bin/env bash
# ab.sh — one build of authmilter against another on the load benchmark:
# the same corpus, DNS server and configuration (authmilter.toml), both
# daemons running, runs interleaved (base, then this tree) so that a change
# in the machine's speed touches both alike. Prints each run and the
# medians of msgs/s, EOM p50/p99 and CPU per message.
#
#   cmd/authmilter-bench/ab.sh -b BASE_REVISION [-n MESSAGES] [-s "8 32"] [-r REPEATS] [-w WORKDIR]
#
# BASE_REVISION is any git revision of this repository (e.g. a commit from
# this morning); the other side is the working tree.
set -euo pipefail
N=3000 SESSIONS=8 REPEATS=3 WORK=/tmp/authmilter-ab BASE=
while getopts "b:n:s:r:w:" o; do
	case $o in
	b) BASE=$OPTARG ;; n) N=$OPTARG ;; s) SESSIONS=$OPTARG ;; r) REPEATS=$OPTARG ;; w) WORK=$OPTARG ;;
	*) echo "usage: $0 -b BASE_REVISION [-n MESSAGES] [-s \"8 32\"] [-r REPEATS] [-w WORKDIR]" >&2; exit 2 ;;
	esac
done
[ -n "$BASE" ] || { echo "-b BASE_REVISION is required" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
AMBIN=
mkdir -p "$WORK"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	git -C "$ROOT" worktree remove --force "$WORK/base-src" 2>/dev/null || true
}
trap cleanup EXIT
build_all
echo "== building $BASE"
git -C "$ROOT" worktree remove --force "$WORK/base-src" 2>/dev/null || true
git -C "$ROOT" worktree add -q --detach "$WORK/base-src" "$BASE"
(cd "$WORK/base-src" && go build -o "$BIN/authmilter-base" ./cmd/authmilter)
BASEREV=$(git -C "$ROOT" rev-parse --short "$BASE")
HEADREV=$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet || echo +)

rm -f "$WORK/dns.addr"
"$BIN/authmilter-bench" dns -corpus "$CORPUS" -addr-file "$WORK/dns.addr" >"$WORK/dns.log" 2>&1 &
PIDS+=($!)
DNS=$(dns_addr "$WORK/dns.addr" "$WORK/dns.log")
sed -e '/^\[metrics\]/,$d' "$HERE/authmilter.toml" >"$WORK/base.toml"
sed -e 's/18893/18899/' -e '/^\[metrics\]/,$d' "$HERE/authmilter.toml" >"$WORK/head.toml"
"$BIN/authmilter-base" -config "$WORK/base.toml" -dns "$DNS" >"$WORK/base.log" 2>&1 &
B=$!; PIDS+=($B)
"$BIN/authmilter" -config "$WORK/head.toml" -dns "$DNS" >"$WORK/head.log" 2>&1 &
H=$!; PIDS+=($H)
wait_port 127.0.0.1 18893
wait_port 127.0.0.1 18899
RESULTS=$WORK/results.txt
: >"$RESULTS"
for t in 127.0.0.1:18893 127.0.0.1:18899; do
	"$BIN/authmilter-bench" run -corpus "$CORPUS" -target "$t" -c 8 -n 400 -label warm >/dev/null
done
echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); base $BASEREV, head $HEADREV"
for c in $SESSIONS; do
	for _ in $(seq "$REPEATS"); do
		"$BIN/authmilter-bench" run -corpus "$CORPUS" -target 127.0.0.1:18893 -c "$c" -n "$N" -duration 40s \
			-label "base-$BASEREV" -pid "$B" | tee -a "$RESULTS"
		"$BIN/authmilter-bench" run -corpus "$CORPUS" -target 127.0.0.1:18899 -c "$c" -n "$N" -duration 40s \
			-label "head-$HEADREV" -pid "$H" | tee -a "$RESULTS"
	done
done
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== medians"
grep '^RESULT ' "$RESULTS" | awk '
function med(s,   a, n, i, j, t) { n = split(s, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }; return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
  k = v["label"] " " v["sessions"]; keys[k] = 1
  rate[k] = rate[k] " " v["rate"]; p50[k] = p50[k] " " v["eom_p50_ms"]; p99[k] = p99[k] " " v["eom_p99_ms"]; cpu[k] = cpu[k] " " v["cpu_us_msg"]
  if (v["expected"] != v["msgs"]) bad[k] = bad[k] " " v["expected"] "/" v["msgs"] }
END { for (k in keys) printf "%s sessions: %.0f msgs/s, EOM p50 %.2f ms, p99 %.2f ms, %d us CPU/msg%s\n", k, med(rate[k]), med(p50[k]), med(p99[k]), med(cpu[k]), (bad[k] ? ", expected actions" bad[k] : "") }' | sort
