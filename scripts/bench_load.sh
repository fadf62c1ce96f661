#!/usr/bin/env bash
# The operator API's load benchmark (issue 15's targets: >= 500 POST/s at p99 < 50 ms, every
# request proposed within 2 blocks, none lost or duplicated over >= 2,000 requests): a real
# `oracle serve` on a fresh anvil (1-second blocks, block gas limit raised to 2e9 so that a
# second's requests and proposals fit one block), driven over loopback by the load client in
# oracle/examples/load.rs. Prints one table. Logs, the service's database and each POST's send
# time and latency (post-latency.csv) in .demo/load/.
#   scripts/bench_load.sh [--requests N] [--rate R] [--concurrency C]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh >/dev/null
# Release builds: a benchmark measures the service as it is deployed (tests build the dev profile).
cargo build --locked --quiet --release --bin oracle --example load
mkdir -p .demo/load
exec target/release/examples/load "$root/target/release" "$root/.demo/load" "$@"
