#!/usr/bin/env bash
# Makes the certificates of the TLS tests with the openssl CLI, in DIR:
#
#   make_test_pki.sh DIR
#
#   ca.pem ca.key                 "sluice test CA" (self-signed)
#   other-ca.pem other-ca.key     "sluice other CA": trusted by nobody
#   server.pem server.key         CN=sluiced-test, SAN IP:127.0.0.1 DNS:localhost,
#                                 serial 1001, by ca
#   server2.pem server2.key       CN=sluiced-test-reloaded, the same SANs,
#                                 serial 1002, by ca (the certificate a reload swaps in)
#   server-other.pem .key         CN=sluiced-other, SAN IP:127.0.0.1, serial 1003,
#                                 by other-ca (a broker the clients must not trust)
#   client.pem client.key         CN=worker-1,O=sluice-test (clientAuth), serial 2001, by ca
#   stranger.pem stranger.key     CN=stranger (clientAuth), serial 3001, by other-ca
#
# EC P-256 keys (fast to make), unencrypted PKCS#8 PEM; certificates valid
# for 30 days from now. Independent of the system's openssl.cnf (its own
# config below). Exits non-zero, saying which step failed, on any error.
set -euo pipefail
dir=${1:?usage: make_test_pki.sh DIR}
mkdir -p "$dir"
cd "$dir"

cat >req.cnf <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
CNF
cat >ca.ext <<'CNF'
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CNF
cat >server.ext <<'CNF'
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
CNF
cat >client.ext <<'CNF'
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
CNF

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }

# ca NAME SUBJECT
ca() {
  key "$1"
  openssl req -new -config req.cnf -key "$1.key" -subj "$2" -out "$1.csr"
  openssl x509 -req -in "$1.csr" -signkey "$1.key" -days 30 -sha256 -extfile ca.ext \
    -set_serial 1 -out "$1.pem" 2>/dev/null
}

# leaf NAME SUBJECT SERIAL CA EXTFILE
leaf() {
  key "$1"
  openssl req -new -config req.cnf -key "$1.key" -subj "$2" -out "$1.csr"
  openssl x509 -req -in "$1.csr" -CA "$4.pem" -CAkey "$4.key" -set_serial "$3" -days 30 \
    -sha256 -extfile "$5" -out "$1.pem" 2>/dev/null
}

ca ca "/CN=sluice test CA"
ca other-ca "/CN=sluice other CA"
leaf server "/CN=sluiced-test" 0x1001 ca server.ext
leaf server2 "/CN=sluiced-test-reloaded" 0x1002 ca server.ext
leaf server-other "/CN=sluiced-other" 0x1003 other-ca server.ext
leaf client "/O=sluice-test/CN=worker-1" 0x2001 ca client.ext
leaf stranger "/CN=stranger" 0x3001 other-ca client.ext
rm -f ./*.csr
