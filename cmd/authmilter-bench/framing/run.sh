#!/usr/bin/env bash
# run.sh — the milter libraries' framing on the load benchmark: the same null
# milter (main.go) on authmilter's patched go-milter and on d--j/go-milter,
# and the benchmark's hand-written null milter as the floor, run interleaved
# at each session count. Prints each run's line and the medians.
#
#   cmd/authmilter-bench/framing/run.sh [-n MESSAGES] [-s "8 32"] [-r REPEATS]
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
N=3000 SESSIONS="8 32" REPEATS=3
while getopts n:s:r: o; do
	case $o in
	n) N=$OPTARG ;; s) SESSIONS=$OPTARG ;; r) REPEATS=$OPTARG ;;
	*) exit 2 ;;
	esac
done
WORK=$(mktemp -d /tmp/framing.XXXXXX)
AMBIN=""
# shellcheck source=../lib.sh
. "$HERE/lib.sh"
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
build_all
(cd "$HERE/framing" && go build -o "$BIN/framing" .)
"$BIN/authmilter-bench" null -listen 127.0.0.1:18890 >"$WORK/null.log" 2>&1 &
NU=$!; PIDS+=("$NU")
"$BIN/framing" -lib emersion -listen 127.0.0.1:18895 >"$WORK/emersion.log" 2>&1 &
EM=$!; PIDS+=("$EM")
"$BIN/framing" -lib d--j -listen 127.0.0.1:18896 >"$WORK/dj.log" 2>&1 &
DJ=$!; PIDS+=("$DJ")
for p in 18890 18895 18896; do wait_port 127.0.0.1 "$p"; done
RESULTS=$WORK/results
run() { # label sessions target pid
	"$BIN/authmilter-bench" run -corpus "$CORPUS" -target "$3" -c "$2" -n "$N" -duration 40s \
		-label "$1" -pid "$4" | tee -a "$RESULTS"
}
for t in 127.0.0.1:18890 127.0.0.1:18895 127.0.0.1:18896; do
	"$BIN/authmilter-bench" run -corpus "$CORPUS" -target "$t" -c 8 -n 400 -label warm >/dev/null
done
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for c in $SESSIONS; do
	for _ in $(seq "$REPEATS"); do
		run null "$c" 127.0.0.1:18890 "$NU"
		run go-milter-patched "$c" 127.0.0.1:18895 "$EM"
		run d--j/go-milter "$c" 127.0.0.1:18896 "$DJ"
	done
done
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
