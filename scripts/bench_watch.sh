#!/usr/bin/env bash
# The watchtower's latency on anvil (1-second blocks, test windows): for each shipped model, one
# lie by `oracle serve --dishonest`; time from the proposal to the watchtower's challenge
# transaction and from the challenge to the correct answer being final (oracle/examples/demo.rs
# --latency). Logs in .demo/latency/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh >/dev/null
cargo build --locked --quiet --bin oracle --bin fraud-prover --example demo
mkdir -p .demo/latency
exec target/debug/examples/demo "$root/target/debug" "$root/.demo/latency" --latency
