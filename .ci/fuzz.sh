#!/bin/sh
# fuzz.sh — run every Go fuzz target of authmilter for a while and print the totals.
#
#   .ci/fuzz.sh [MINUTES]          # default 10 minutes per target
#   JOBS=2 PARALLEL=1 .ci/fuzz.sh 10
#   TARGETS='./milter:FuzzSession ./auth:FuzzFeed' .ci/fuzz.sh 5
#
# Targets are found with grep (func FuzzXxx in *_test.go) unless TARGETS
# lists PKG:NAME pairs. JOBS targets run at the same time, each with
# -parallel PARALLEL workers (the machine is shared: keep JOBS*PARALLEL at
# or below the cores you can spare). Logs go to $OUT (default
# /tmp/authmilter-fuzz); a crash leaves its input under the package's
# testdata/fuzz/NAME, which then becomes a regression seed.
set -eu
MIN=${1:-10}
JOBS=${JOBS:-2}
PARALLEL=${PARALLEL:-1}
OUT=${OUT:-/tmp/authmilter-fuzz}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"

if [ -z "${TARGETS:-}" ]; then
	# third_party/ holds the patched libraries: separate modules, fuzzed in
	# their own directories (their PATCH.md says how).
	TARGETS=$(grep -l '^func Fuzz' $(find . -name '*_test.go' -not -path './.git/*' -not -path '*/third_party/*') |
		while read -r f; do
			d=$(dirname "$f")
			grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed "s|^func |$d:|"
		done | sort -u)
fi

run() {
	pkg=${1%%:*}
	name=${1##*:}
	log="$OUT/$(echo "$pkg" | tr '/.' '__')_$name.log"
	if go test -run '^$' -fuzz "^$name\$" -fuzztime "${MIN}m" -parallel "$PARALLEL" "$pkg" >"$log" 2>&1; then
		status=ok
	else
		status=FAIL
	fi
	last=$(grep '^fuzz: elapsed.*execs:' "$log" | tail -1)
	execs=$(echo "$last" | sed -n 's/.*execs: \([0-9]*\).*/\1/p')
	corpus=$(echo "$last" | sed -n 's/.*(total: \([0-9]*\)).*/\1/p')
	printf '%-6s %-22s %-16s execs=%-12s corpus=%s\n' "$status" "$name" "$pkg" "${execs:-?}" "${corpus:-?}"
}

echo "fuzz.sh: ${MIN} min per target, $JOBS at a time, -parallel $PARALLEL, $(go version | cut -d' ' -f3), $(date -u +%Y-%m-%dT%H:%MZ)"
set -- $TARGETS
while [ $# -gt 0 ]; do
	i=0
	while [ $i -lt "$JOBS" ] && [ $# -gt 0 ]; do
		run "$1" &
		shift
		i=$((i + 1))
	done
	wait
done | tee "$OUT/summary.txt"
total=$(sed -n 's/.*execs=\([0-9]*\).*/\1/p' "$OUT/summary.txt" | awk '{s+=$1} END {print s+0}')
fails=$(grep -c '^FAIL' "$OUT/summary.txt" || true)
echo "total: $(wc -l <"$OUT/summary.txt") targets, $total execs, $fails failed (logs in $OUT)"
[ "$fails" -eq 0 ]
