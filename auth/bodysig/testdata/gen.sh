#!/bin/sh
# Regenerates the signed test messages in this directory with a throwaway
# CA, certificates and OpenPGP keys. Tests read only the committed output;
# OpenSSL (3.0) and GnuPG (2.2) are needed only to run this script.
# Every message ends up with CRLF line ends, as a milter receives it.
set -eu
cd "$(dirname "$0")"
out=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

crlf() { perl -pe 's/\r?\n/\r\n/'; }
# tamper FILE FROM TO: replace the first FROM in the body with TO.
tamper() { F="$2" T="$3" perl -0pe 's/\Q$ENV{F}\E/$ENV{T}/' "$1"; }

cat > ca.cnf <<'CNF'
[req]
distinguished_name=dn
[dn]
[ca_ext]
basicConstraints=critical,CA:true
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
[ee_ext]
basicConstraints=critical,CA:false
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=emailProtection
subjectAltName=email:${ENV::EMAIL}
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[noeku_ext]
basicConstraints=critical,CA:false
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=email:${ENV::EMAIL}
[ca]
default_ca=ca_default
[ca_default]
database=index.txt
new_certs_dir=.
serial=serial
default_md=sha256
policy=any
unique_subject=no
[any]
commonName=supplied
CNF
export EMAIL=unused@example.test

# The CA the tests trust, and another one they do not.
for ca in ca other; do
	openssl req -x509 -new -newkey rsa:2048 -nodes -keyout $ca.key -out $ca.crt -days 7300 \
		-subj "/CN=Test S-MIME CA $ca" -config ca.cnf -extensions ca_ext 2>/dev/null
done
cp ca.crt "$out/ca.pem"

# cert NAME EMAIL CA EXT [BITS]: an end-entity certificate valid for 20 years.
cert() {
	EMAIL=$2 openssl req -new -newkey rsa:${5:-2048} -nodes -keyout $1.key -out $1.csr \
		-subj "/CN=$1/emailAddress=$2" -config ca.cnf 2>/dev/null
	EMAIL=$2 openssl x509 -req -in $1.csr -CA $3.crt -CAkey $3.key -CAcreateserial -out $1.crt \
		-days 7300 -extfile ca.cnf -extensions $4 2>/dev/null
}
cert alice alice@example.test ca ee_ext
cert noeku alice@example.test ca noeku_ext
cert mallory mallory@example.test ca ee_ext
cert stranger alice@example.test other ee_ext
cert weak alice@example.test ca ee_ext 1024
# An expired certificate: valid during 2020 only.
touch index.txt
echo 1000 > serial
EMAIL=alice@example.test openssl req -new -newkey rsa:2048 -nodes -keyout expired.key -out expired.csr \
	-subj "/CN=expired/emailAddress=alice@example.test" -config ca.cnf 2>/dev/null
EMAIL=alice@example.test openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -in expired.csr \
	-out expired.crt -startdate 20200101000000Z -enddate 20210101000000Z -extensions ee_ext \
	-notext 2>/dev/null

printf 'Hello Bob,\r\nthis is signed.\r\n' > body.txt
H='-from alice@example.test -to bob@example.test'
# smime NAME CERT [openssl args]: a signed message from alice.
smime() {
	n=$1 c=$2
	shift 2
	openssl smime -sign -in body.txt -text -signer $c.crt -inkey $c.key -certfile ca.crt $H \
		-subject "$n" "$@" | crlf > "$out/$n.eml"
}
smime smime-detached alice
smime smime-opaque alice -nodetach
smime smime-noeku noeku
smime smime-wrong-address mallory
smime smime-untrusted stranger
smime smime-expired expired
smime smime-weak-key weak
openssl cms -sign -in body.txt -text -signer alice.crt -inkey alice.key -certfile ca.crt $H \
	-subject cms-detached | crlf > "$out/cms-detached.eml"
tamper "$out/smime-detached.eml" 'this is signed' 'this is forged' > "$out/smime-detached-tampered.eml"

# A 100 KB message, for the benchmarks.
perl -e 'for my $i (1..1400) { printf "Line %04d of a long signed message, some text to make it about 100 KB.\r\n", $i }' > big.txt
openssl smime -sign -in big.txt -text -signer alice.crt -inkey alice.key -certfile ca.crt $H \
	-subject smime-100k | crlf > "$out/smime-100k.eml"

# The opaque message with its embedded content changed (the DER stays valid).
perl -0ne 'print((split /\r\n\r\n/, $_, 2)[1])' "$out/smime-opaque.eml" | openssl base64 -d |
	perl -0pe 's/this is signed/this is forged/' | openssl base64 | crlf > opaque-body.txt
perl -0ne 'print((split /\r\n\r\n/, $_, 2)[0], "\r\n\r\n")' "$out/smime-opaque.eml" > opaque-head.txt
cat opaque-head.txt opaque-body.txt > "$out/smime-opaque-tampered.eml"

# A garbage signature part.
perl -0pe 's/(filename="smime.p7s"\r\n\r\n)[A-Za-z0-9+\/]{8}/${1}AAAAAAAA/' "$out/smime-detached.eml" \
	> "$out/smime-garbage.eml"

# The signed entity as part 1 of a multipart/mixed with a footer outside it,
# as a mailing list adds one.
openssl smime -sign -in body.txt -text -signer alice.crt -inkey alice.key -certfile ca.crt | crlf > entity.txt
{
	printf 'From: alice@example.test\r\nTo: list@example.test\r\nSubject: smime-in-mixed\r\n'
	printf 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="footer-b"\r\n\r\n'
	printf 'preamble\r\n--footer-b\r\n'
	cat entity.txt
	printf '\r\n--footer-b\r\nContent-Type: text/plain\r\n\r\n-- \r\nlist footer\r\n--footer-b--\r\n'
} > "$out/smime-in-mixed.eml"

# An encrypted message.
openssl smime -encrypt -aes256 -in body.txt $H -subject smime-encrypted alice.crt | crlf \
	> "$out/smime-encrypted.eml"

# OpenPGP: alice (in the keyring), carol (in the keyring, revoked), dave
# (not in the keyring).
export GNUPGHOME=$work/gnupg
mkdir -m700 "$GNUPGHOME"
for u in alice carol dave; do
	gpg --batch --passphrase '' --quick-gen-key "$u <$u@example.test>" ed25519 sign never 2>/dev/null
done

# pgpmime NAME SIGNER FROM: a PGP/MIME message.
pgpmime() {
	printf 'Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\nHello Bob,\r\nthis is PGP/MIME signed.\r\n' > part.txt
	gpg --batch --detach-sign --armor --digest-algo SHA256 --local-user $2@example.test -o part.sig part.txt 2>/dev/null
	{
		printf 'From: %s\r\nTo: bob@example.test\r\nSubject: %s\r\nMIME-Version: 1.0\r\n' "$3" "$1"
		printf 'Content-Type: multipart/signed; micalg=pgp-sha256;\r\n protocol="application/pgp-signature"; boundary="pgp-b"\r\n\r\n'
		printf 'This is an OpenPGP/MIME signed message (RFC 3156).\r\n--pgp-b\r\n'
		cat part.txt
		printf '\r\n--pgp-b\r\nContent-Type: application/pgp-signature; name="signature.asc"\r\n\r\n'
		crlf < part.sig
		printf '\r\n--pgp-b--\r\n'
	} > "$out/$1.eml"
	rm -f part.sig
}
# inline NAME SIGNER FROM: an inline clear-signed message.
inline() {
	{
		printf 'From: %s\r\nTo: bob@example.test\r\nSubject: %s\r\nMIME-Version: 1.0\r\n' "$3" "$1"
		printf 'Content-Type: text/plain; charset=us-ascii\r\n\r\n'
		printf 'Hello Bob,\n- a dashed line\nthis is clearsigned.  \n' |
			gpg --batch --clearsign --digest-algo SHA256 --local-user $2@example.test 2>/dev/null | crlf
	} > "$out/$1.eml"
}
pgpmime pgpmime alice alice@example.test
pgpmime pgpmime-wrong-uid alice bob@example.test
pgpmime pgpmime-unknown-key dave dave@example.test
pgpmime pgpmime-revoked carol carol@example.test
inline inline alice alice@example.test
tamper "$out/pgpmime.eml" 'this is PGP/MIME signed' 'this is PGP/MIME forged' > "$out/pgpmime-tampered.eml"
tamper "$out/inline.eml" 'this is clearsigned' 'this is clearforged' > "$out/inline-tampered.eml"

# Revoke carol, then export the keyring the tests trust.
fpr=$(gpg --with-colons --fingerprint carol@example.test | awk -F: '/^fpr/{print $10; exit}')
sed 's/^:-----/-----/' "$GNUPGHOME/openpgp-revocs.d/$fpr.rev" | gpg --batch --import 2>/dev/null
gpg --armor --export alice@example.test carol@example.test > "$out/keyring.asc"

# An OpenPGP-encrypted message.
{
	printf 'From: alice@example.test\r\nTo: bob@example.test\r\nSubject: pgp-encrypted\r\nMIME-Version: 1.0\r\n'
	printf 'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="enc-b"\r\n\r\n'
	printf -- '--enc-b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n'
	printf -- '--enc-b\r\nContent-Type: application/octet-stream\r\n\r\n'
	printf 'secret\r\n' | gpg --batch --armor --trust-model always --encrypt -r alice@example.test 2>/dev/null | crlf
	printf -- '--enc-b--\r\n'
} > "$out/pgp-encrypted.eml"

# A message without any signature.
printf 'From: alice@example.test\r\nTo: bob@example.test\r\nSubject: plain\r\n\r\nHello Bob.\r\n' > "$out/plain.eml"
