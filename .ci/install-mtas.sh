#!/usr/bin/env bash
# Installs what the end-to-end tests need on a fresh Debian machine (as root):
# Postfix as a real package, Sendmail unpacked beside it (sendmail-bin
# conflicts with postfix: both provide mail-transport-agent), m4 and swaks, and
# xmllint (libxml2-utils) for the DMARC report schema tests in auth/report, and
# dkimpy (python3-dkim, and python3-authres for its ARC sealing), which checks
# the DKIM signer's output in auth/dkim and seals and verifies ARC end to end,
# and opendkim-tools, whose opendkim-testmsg checks our signatures end to end.
set -euo pipefail
SENDMAIL_ROOT=${SENDMAIL_ROOT:-/opt/authmilter-sendmail}
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get install -y -qq --no-install-recommends postfix m4 swaks python3-dkim python3-authres opendkim-tools procps libxml2-utils libwrap0 libdb5.3 libldap-2.5-0 liblockfile1 libnsl2 libsasl2-2 libssl3 >/dev/null
if [ ! -x "$SENDMAIL_ROOT/usr/libexec/sendmail/sendmail" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq sendmail-bin sendmail-base sendmail-cf)
  mkdir -p "$SENDMAIL_ROOT"
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$SENDMAIL_ROOT"; done
  rm -rf "$tmp"
fi
# The DMARC reports written in auth/report and sent in cmd/authmilter are read
# back by two consumers that are not ours: python3-xmlschema (xmlschema-validate,
# a second RFC 9990 schema validator beside xmllint) and Mail::DMARC
# (libmail-dmarc-perl), which parses them and must see the same counts.
apt-get install -y -qq --no-install-recommends python3-xmlschema libmail-dmarc-perl >/dev/null
# Sendmail needs smmsp user/group for its queue files.
getent group smmsp >/dev/null || groupadd -r smmsp
getent passwd smmsp >/dev/null || useradd -r -g smmsp -d /nonexistent -s /usr/sbin/nologin smmsp
echo "postfix: $(postconf -d mail_version 2>/dev/null)"
echo "sendmail: $SENDMAIL_ROOT/usr/libexec/sendmail/sendmail"
# Container test (cmd/authmilter/container_test.go):
# podman builds docker/Dockerfile and runs it with runc. About 25 s on a fresh
# machine; skipped when already there.
if ! command -v podman >/dev/null || ! command -v buildah >/dev/null || ! command -v runc >/dev/null; then
  apt-get install -y -qq --no-install-recommends podman buildah runc >/dev/null
fi
# systemd-analyze verifies contrib/systemd/authmilter.service (systemd_test.go).
command -v systemd-analyze >/dev/null || apt-get install -y -qq --no-install-recommends systemd >/dev/null
echo "podman: $(podman --version)"
