#!/usr/bin/env bash
# Makes sure PostgreSQL's server binaries are here for the tests (the testkit starts its own
# server from them: contracts/testkit/src/postgres.rs): Debian's `postgresql` package when no
# `initdb` is found. Idempotent; needs root (or sudo) only when it installs.
set -euo pipefail
say() { printf 'postgres: %s\n' "$*"; }
if [ -n "${VERDICT_PG_BIN:-}" ] && [ -x "$VERDICT_PG_BIN/initdb" ]; then
  say "using $VERDICT_PG_BIN"; exit 0
fi
if command -v initdb >/dev/null || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  say "server binaries present ($(compgen -G '/usr/lib/postgresql/*/bin/initdb' | head -n 1 || command -v initdb))"
  exit 0
fi
command -v apt-get >/dev/null || { echo "postgres: no PostgreSQL and no apt-get: install PostgreSQL's server, or set VERDICT_PG_BIN" >&2; exit 1; }
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
say "installing Debian's postgresql package"
# The package's own cluster is not used (the tests start theirs): keep its service from starting
# (policy-rc.d 101, Debian's switch for that), whether or not an init system runs here.
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  policy=/usr/sbin/policy-rc.d
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
fi
trap '[ -z "$policy" ] || $sudo rm -f "$policy"' EXIT
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || { echo "postgres: installed, but no initdb found" >&2; exit 1; }
id postgres >/dev/null 2>&1 || { echo "postgres: the package made no postgres user" >&2; exit 1; }
say "installed $(compgen -G '/usr/lib/postgresql/*/bin/initdb' | head -n 1)"
