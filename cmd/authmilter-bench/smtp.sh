#!/usr/bin/env bash
# smtp.sh — what authmilter adds to an SMTP transaction through real MTAs:
# a private Postfix with two loopback listeners, one without a milter and
# one with authmilter as contrib/postfix/main.cf ships it (no tricks on the
# MTA side), and two private Sendmail daemons likewise (contrib/sendmail/
# authmilter.mc as shipped). The same corpus goes through both listeners,
# interleaved, at each session count; the summary prints the latency from
# MAIL FROM to the reply after DATA (p50/p95/p99) with and without the
# milter, the difference, and msgs/s.
#
#   cmd/authmilter-bench/smtp.sh [-n MESSAGES] [-s "1 8"] [-r ROUNDS] [-w WORKDIR] [-a AUTHMILTER] [-m "postfix sendmail"] [-z null|reply-all]
#
# -z puts the benchmark's null milter where authmilter would be (negotiating
# what authmilter negotiates, or, with reply-all, replying to every command):
# the floor any milter adds through these MTAs on this machine.
#
# Needs root, Postfix (apt) and Sendmail unpacked by .ci/install-mtas.sh.
# Postfix is given each corpus client address with XCLIENT, so authmilter
# evaluates the corpus as it would mail from those hosts; Sendmail has no
# XCLIENT, so there the client is 127.0.0.1 (evaluated: authmilter trusts
# only 127.0.0.2 in that run) and the replies are not compared with the
# corpus. Everything is on loopback. Not part of `go test ./...`.
set -euo pipefail

N=300
SESSIONS="1 8"
ROUNDS=3
WORK=/tmp/authmilter-smtp
AMBIN=
MTAS="postfix sendmail"
NULL=
while getopts "n:s:r:w:a:m:z:" o; do
	case $o in
	n) N=$OPTARG ;;
	s) SESSIONS=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	w) WORK=$OPTARG ;;
	a) AMBIN=$OPTARG ;;
	m) MTAS=$OPTARG ;;
	z) NULL=$OPTARG ;;
	*) echo "usage: $0 [-n MESSAGES] [-s \"1 8\"] [-r ROUNDS] [-w WORKDIR] [-a AUTHMILTER] [-m \"postfix sendmail\"] [-z null|reply-all]" >&2; exit 2 ;;
	esac
done
HERE=$(cd "$(dirname "$0")" && pwd)
SENDMAIL_ROOT=${SENDMAIL_ROOT:-/opt/authmilter-sendmail}
. "$HERE/lib.sh"

PIDS=()
PF=
cleanup() {
	[ -n "$PF" ] && /usr/sbin/postfix -c "$PF" stop >/dev/null 2>&1 || true
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

for p in 18893 18894 18895 18925 18926 18927 18928; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		echo "port 127.0.0.1:$p is in use: stop what listens there first" >&2
		exit 1
	fi
done

build_all


rm -f "$WORK/dns.addr"
"$BIN/authmilter-bench" dns -corpus "$CORPUS" -addr-file "$WORK/dns.addr" >"$WORK/dns.log" 2>&1 &
PIDS+=($!)
DNS=$(dns_addr "$WORK/dns.addr" "$WORK/dns.log")

# authmilter for Postfix (clients arrive by XCLIENT from the corpus' ranges)
# and for Sendmail (clients are 127.0.0.1: only 127.0.0.2 is trusted).
case $NULL in
"")
	"$BIN/authmilter" -config "$HERE/authmilter.toml" -dns "$DNS" >"$WORK/authmilter.log" 2>&1 &
	PIDS+=($!)
	sed -e 's/18893/18895/' -e 's#^trusted_networks.*#trusted_networks = ["127.0.0.2/32"]#' -e '/^\[metrics\]/,$d' \
		"$HERE/authmilter.toml" >"$WORK/authmilter-sendmail.toml"
	"$BIN/authmilter" -config "$WORK/authmilter-sendmail.toml" -dns "$DNS" >"$WORK/authmilter-sendmail.log" 2>&1 &
	PIDS+=($!) ;;
null | reply-all)
	echo "== the null milter ($NULL) in authmilter's place: replies are not the corpus' expected ones"
	flag=-quickack; [ "$NULL" = reply-all ] && flag="-quickack -reply-all"
	"$BIN/authmilter-bench" null -listen 127.0.0.1:18893 $flag >"$WORK/authmilter.log" 2>&1 &
	PIDS+=($!)
	"$BIN/authmilter-bench" null -listen 127.0.0.1:18895 $flag >"$WORK/authmilter-sendmail.log" 2>&1 &
	PIDS+=($!) ;;
*) echo "-z takes null or reply-all" >&2; exit 2 ;;
esac
wait_port 127.0.0.1 18893
wait_port 127.0.0.1 18895

start_postfix() {
	PF=$WORK/postfix/conf
	local q=$WORK/postfix/queue d=$WORK/postfix/data
	rm -rf "$WORK/postfix"
	mkdir -p "$PF" "$q" "$d"
	chown postfix "$d"
	cat >"$PF/main.cf" <<EOT
compatibility_level = 3.6
queue_directory = $q
data_directory = $d
mail_owner = postfix
myhostname = mx.bench.test
mydomain = bench.test
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination =
smtpd_peername_lookup = no
smtpd_authorized_xclient_hosts = 127.0.0.0/8
relay_domains = inbox.example
smtpd_relay_restrictions = reject_unauth_destination
local_header_rewrite_clients =
default_transport = discard:bench
relay_transport = discard:bench
message_size_limit = 60000000
in_flow_delay = 0s
maillog_file = $WORK/postfix/maillog
maillog_file_prefixes = /tmp
alias_maps =
alias_database =
smtputf8_enable = no
biff = no
EOT
	printf '\n# contrib/postfix/main.cf as shipped, milter address replaced:\n' >>"$PF/main.cf"
	sed 's#inet:127.0.0.1:8893#inet:127.0.0.1:18893#' "$ROOT/contrib/postfix/main.cf" >>"$PF/main.cf"
	{
		echo "127.0.0.1:18925 inet n - n - - smtpd -o smtpd_milters="
		echo "127.0.0.1:18926 inet n - n - - smtpd"
		cat <<'EOT'
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
proxymap  unix  -       -       n       -       -       proxymap
postlog   unix-dgram n  -       n       -       1       postlogd
EOT
	} >"$PF/master.cf"
	/usr/sbin/postfix -c "$PF" check
	/usr/sbin/postfix -c "$PF" start
	wait_port 127.0.0.1 18925
	wait_port 127.0.0.1 18926
}

# start_sendmail NAME PORT WITH_FILTER
start_sendmail() {
	local name=$1 port=$2 filter=$3 root=$WORK/sendmail-$1
	rm -rf "$root"
	mkdir -p "$root/queue"
	printf 'hosts files\n' >"$root/service.switch"
	printf '127.0.0.1 localhost mx.bench.test\n' >"$root/hosts"
	{
		printf 'divert(-1)\ndivert(0)dnl\nOSTYPE(`linux'"'"')dnl\n'
		printf 'define(`confDOMAIN_NAME'"'"', `mx.bench.test'"'"')dnl\n'
		printf 'define(`QUEUE_DIR'"'"', `%s/queue'"'"')dnl\n' "$root"
		printf 'define(`confPID_FILE'"'"', `%s/sendmail.pid'"'"')dnl\n' "$root"
		printf 'define(`STATUS_FILE'"'"', `%s/statistics'"'"')dnl\n' "$root"
		printf 'define(`confSERVICE_SWITCH_FILE'"'"', `%s/service.switch'"'"')dnl\n' "$root"
		printf 'define(`confHOSTS_FILE'"'"', `%s/hosts'"'"')dnl\n' "$root"
		printf 'define(`confDONT_BLAME_SENDMAIL'"'"', `GroupWritableDirPathSafe,TrustStickyBit'"'"')dnl\n'
		printf 'define(`confALIAS_FILE'"'"', `'"'"')dnl\n'
		printf 'define(`confTO_IDENT'"'"', `0s'"'"')dnl\n'
		printf 'define(`confDELIVERY_MODE'"'"', `queueonly'"'"')dnl\n'
		printf 'define(`confMAX_MESSAGE_SIZE'"'"', `60000000'"'"')dnl\n'
		printf 'define(`confREFUSE_LA'"'"', `1000'"'"')dnl\ndefine(`confQUEUE_LA'"'"', `1000'"'"')dnl\n'
		printf 'define(`confMAX_DAEMON_CHILDREN'"'"', `0'"'"')dnl\ndefine(`confCONNECTION_RATE_THROTTLE'"'"', `0'"'"')dnl\n'
		printf 'FEATURE(`no_default_msa'"'"')dnl\nFEATURE(`nocanonify'"'"')dnl\nFEATURE(`accept_unresolvable_domains'"'"')dnl\n'
		printf 'FEATURE(`accept_unqualified_senders'"'"')dnl\nFEATURE(`promiscuous_relay'"'"')dnl\n'
		printf 'DAEMON_OPTIONS(`Port=%d, Addr=127.0.0.1, Name=MTA'"'"')dnl\n' "$port"
		if [ "$filter" = 1 ]; then
			sed 's#inet:8893@127.0.0.1#inet:18895@127.0.0.1#' "$ROOT/contrib/sendmail/authmilter.mc"
		fi
		printf 'MAILER(`local'"'"')dnl\nMAILER(`smtp'"'"')dnl\n'
	} >"$root/bench.mc"
	local cf=$SENDMAIL_ROOT/usr/share/sendmail/cf/
	m4 -D_CF_DIR_="$cf" "$cf/m4/cf.m4" "$root/bench.mc" >"$root/sendmail.cf" 2>"$root/m4.log"
	# Its own UTS namespace with a qualified name: Sendmail sleeps 60 s at
	# start on an unqualified one. Mail stays queued (queueonly), never sent.
	(cd "$root" && exec unshare --uts sh -c "hostname mx.bench.test && exec $SENDMAIL_ROOT/usr/libexec/sendmail/sendmail -C $root/sendmail.cf -bD -L sm-bench-$name") >"$root/log" 2>&1 &
	PIDS+=($!)
	wait_port 127.0.0.1 "$port"
}

echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
RESULTS=$WORK/results.txt
: >"$RESULTS"
for mta in $MTAS; do
	case $mta in
	postfix)
		start_postfix
		plain=127.0.0.1:18925 milter=127.0.0.1:18926 xclient=true ;;
	sendmail)
		start_sendmail plain 18927 0
		start_sendmail milter 18928 1
		plain=127.0.0.1:18927 milter=127.0.0.1:18928 xclient=false ;;
	*) echo "unknown MTA $mta" >&2; exit 2 ;;
	esac
	# Warm authmilter's DNS cache and the MTA.
	"$BIN/authmilter-bench" smtp -corpus "$CORPUS" -plain "$plain" -milter "$milter" -xclient=$xclient -c 8 -n 400 -r 1 >/dev/null
	for c in $SESSIONS; do
		echo "== $mta, $c sessions"
		"$BIN/authmilter-bench" smtp -corpus "$CORPUS" -plain "$plain" -milter "$milter" -xclient=$xclient \
			-c "$c" -n "$N" -r "$ROUNDS" | sed "s/^/$mta /" | tee -a "$RESULTS"
	done
done
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== summary (milliseconds added by the milter, medians of the rounds)"
grep ' ADDED ' "$RESULTS"
