#!/bin/sh
# A throwaway PostgreSQL 15 server for the tests and demos (issue 13), from
# Debian's postgresql-15 binaries, in a temporary directory, listening only
# on a Unix socket in that directory (no TCP port, so no clash with anything).
#
#   scripts/pg.sh start STATEFILE   start one; STATEFILE gets its conninfo
#   scripts/pg.sh stop STATEFILE    stop it and remove its directory
#
# STATEFILE holds one line, a libpq connection string (host=DIR dbname=rkl
# user=rkl); the directory is the host= value.  PostgreSQL refuses to run as
# root: run as root (CI), the server runs as the unprivileged user nobody
# (runuser), in a directory nobody owns.  Any failure exits non-zero with a
# message: a test needing PostgreSQL must fail, not skip.
set -eu

BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
die() { echo "pg.sh: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: pg.sh start|stop STATEFILE"
cmd=$1 state=$2

as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u nobody -- "$@"
	else
		"$@"
	fi
}

stop() {
	[ -f "$state" ] || return 0
	dir=$(sed -n 's/^host=\([^ ]*\) .*/\1/p' "$state")
	case "$dir" in /tmp/rkl-pg.*) ;; *) die "refusing to remove '$dir'" ;; esac
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_owner "$BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
	rm -f "$state"
}

case $cmd in
start)
	[ -x "$BIN/initdb" ] || die "$BIN/initdb missing: install postgresql-15 (scripts/deps.sh)"
	stop	# a server left by an interrupted run
	dir=$(mktemp -d /tmp/rkl-pg.XXXXXX)
	if [ "$(id -u)" -eq 0 ]; then
		chown nobody "$dir" || die "chown nobody $dir failed"
	fi
	chmod 700 "$dir"
	# fsync stays on: the durability rules are tested against a real commit.
	as_owner "$BIN/initdb" -N -D "$dir/data" -U rkl -A trust -E UTF8 --locale=C.UTF-8 \
	    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; rm -rf "$dir"; die "initdb failed"; }
	as_owner "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
	    -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c max_connections=200 -c shared_buffers=32MB" \
	    start >/dev/null || { cat "$dir/server.log" >&2; rm -rf "$dir"; die "server did not start"; }
	"$BIN/psql" -X -q -h "$dir" -U rkl -d postgres -c "CREATE DATABASE rkl" >/dev/null ||
	    { stop; die "CREATE DATABASE failed"; }
	echo "host=$dir dbname=rkl user=rkl" >"$state"
	;;
stop)
	stop
	;;
*)
	die "usage: pg.sh start|stop STATEFILE"
	;;
esac
