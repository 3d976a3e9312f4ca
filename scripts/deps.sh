#!/bin/sh
# Install exactly the Debian packages rkl needs, quietly, only if missing.
# Each package is here on purpose:
#   build-essential cmake pkg-config  - the build
#   libssl-dev openssl                - OpenSSL 3: host crypto backend; openssl CLI in end-to-end checks
#   libbearssl-dev                    - heap-free crypto backend for the PIN pad library
#   libp11-kit-dev                    - PKCS#11 headers (p11-kit/pkcs11.h)
#   softhsm2 opensc                   - the default PKCS#11 HSM, and pkcs11-tool for inspection
#   libsqlite3-dev sqlite3            - the KMS store
#   libpq-dev                         - the KMS store's PostgreSQL backend (src/store/pg.c)
#   postgresql-15                     - a throwaway PostgreSQL server for the store tests (scripts/pg.sh)
#   libevent-dev                      - the KMS's non-blocking network I/O
#   libcmocka-dev                     - unit tests
#   clang libclang-rt-14-dev          - libFuzzer targets
#   procps                            - ps/pkill used by end-to-end tests
#   spin                              - Promela model checker: docs/models/patent.pml (tests/models)
#   curl                              - scrapes rkl-kmsd's metrics endpoint in tests/e2e/metrics.sh
#   dpkg-dev lintian                  - make deb (scripts/deb.sh: dpkg-shlibdeps computes the packages'
#                                       Depends) and its check (tests/deb: lintian must be clean); debhelper
#                                       is not needed: the packages are split from `cmake --install`
#   haproxy                           - the TCP load balancer in front of several rkl-kmsd nodes
#                                       (scripts/haproxy.sh; e2e_cluster, make demo-cluster)
set -eu
PKGS="build-essential cmake pkg-config libssl-dev openssl libbearssl-dev libp11-kit-dev
softhsm2 opensc libsqlite3-dev sqlite3 libpq-dev postgresql-15 libevent-dev libcmocka-dev clang libclang-rt-14-dev procps spin curl dpkg-dev lintian haproxy"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
