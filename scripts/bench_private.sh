#!/usr/bin/env bash
# The privacy modes (public; a private input; a private model; both private), for every shipped
# model: the time of the whole-inference proof that answers a blind challenge, and the gas of the
# whole dispute path on anvil (request, propose, blind challenge, openDispute, proveSegment of the
# whole inference), with the real contracts (fraud-prover/examples/private_modes.rs).
#   scripts/bench_private.sh [--models price_feed,credit_gbdt,...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh >/dev/null
cargo build --locked --quiet --release -p verdict-fraud-prover --example private_modes
# halo2curves 0.9 prints a line `true`/`false` per bit of its G2 subgroup check when keys are
# read back from the cache; those lines are not the benchmark's.
target/release/examples/private_modes "$@" | grep -v -x -e true -e false
