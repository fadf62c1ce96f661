#!/usr/bin/env bash
# The project's test command (the README's second command, and what CI runs): installs the pinned
# toolchain if needed, then runs the Solidity suite (forge) and the Rust suite (cargo).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
export PATH="$root/.tools/bin:$PATH"
# CI runs more fuzz and invariant cases.
if [ "${CI:-}" = "true" ]; then export FOUNDRY_PROFILE=ci; fi

echo "== forge test (contracts/, profile ${FOUNDRY_PROFILE:-default})"
(cd contracts && forge test)

echo "== cargo test (workspace)"
cargo test --workspace --locked
