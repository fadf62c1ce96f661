#!/usr/bin/env bash
# Gas of the on-chain Nova verifier on anvil: whole-inference and one-step proofs of every shipped
# model in both weight modes, gas per extra folded step, calldata size (contracts/examples/nova_gas.rs).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh >/dev/null
exec cargo run --locked --quiet -p verdict-contracts --example nova_gas
