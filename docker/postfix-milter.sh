#!/bin/sh
# Entry point of the Postfix container in compose.yaml: adds
# contrib/postfix/main.cf, as shipped, to this Postfix's main.cf with the
# milter address of the authmilter container, then runs its arguments
# (postfix start-fg). The snippet is read by postconf -n, as Postfix reads
# main.cf, so comments and continued lines need no care here.
#
#   AUTHMILTER_SNIPPET  the snippet     (/etc/authmilter/postfix-main.cf)
#   AUTHMILTER_MILTER   milter address  (inet:authmilter:8893)
#   MAIL_CONFIG         Postfix's configuration directory, as for postconf
set -eu
snippet=${AUTHMILTER_SNIPPET:-/etc/authmilter/postfix-main.cf}
milter=${AUTHMILTER_MILTER:-inet:authmilter:8893}
tmp=$(mktemp -d)
cp "$snippet" "$tmp/main.cf"
: >"$tmp/master.cf"
postconf -c "$tmp" -n | grep -v '^config_directory =' |
  sed "s|inet:127\.0\.0\.1:8893|$milter|" >"$tmp/lines"
while IFS= read -r line; do
  postconf -e "$line"
done <"$tmp/lines"
rm -rf "$tmp"
exec "$@"
