# lib.sh — what compare.sh and smtp.sh share; sourced, not run. Needs HERE
# (this directory), WORK (the work directory) and AMBIN (a prebuilt
# authmilter, or ""); sets ROOT, BIN and CORPUS.

ROOT=$(cd "$HERE/../.." && pwd)
BIN=$WORK/bin
mkdir -p "$BIN"

# build_all builds authmilter and authmilter-bench into $BIN (or copies
# $AMBIN) and writes the corpus once.
build_all() {
	echo "== building"
	(cd "$ROOT" && go build -o "$BIN/authmilter" ./cmd/authmilter && go build -o "$BIN/authmilter-bench" ./cmd/authmilter-bench)
	if [ -n "$AMBIN" ]; then cp "$AMBIN" "$BIN/authmilter"; fi
	if [ ! -f "$WORK/corpus/manifest.json" ]; then
		"$BIN/authmilter-bench" gen -dir "$WORK/corpus" -messages 400
	fi
	CORPUS=$WORK/corpus
}

# wait_port HOST PORT: until something listens there (20 s), or stop.
wait_port() {
	for _ in $(seq 200); do
		if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "nothing listens on $1:$2" >&2
	exit 1
}

# dns_addr FILE LOG: the address a bench DNS server wrote, or stop: an
# empty -dns would send the daemon to the system's resolvers.
dns_addr() {
	for _ in $(seq 50); do [ -s "$1" ] && break; sleep 0.1; done
	if [ ! -s "$1" ]; then
		echo "the bench DNS server did not start; see $2" >&2
		exit 1
	fi
	cat "$1"
}
