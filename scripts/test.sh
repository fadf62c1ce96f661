#!/usr/bin/env bash
# The project's test command (the README's second command, and what CI runs): installs the pinned
# toolchain if needed, then runs the Solidity suite (forge) and the Rust suite (cargo), and ends
# with one summary line.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
# The PostgreSQL backend's tests start a real server (Debian's package, installed when missing).
scripts/install_postgres.sh
export PATH="$root/.tools/bin:$PATH"
if [ "${CI:-}" = "true" ]; then
  # More fuzz and invariant cases, and the committed gas snapshots (contracts/snapshots) must match.
  export FOUNDRY_PROFILE=ci FORGE_SNAPSHOT_CHECK=true
  # Formatting first (seconds): Rust and Solidity as `just fmt-check` checks them.
  echo "== formatting (cargo fmt --check, forge fmt --check)"
  if cargo fmt --version >/dev/null 2>&1; then
    cargo fmt --all --check || { echo "Rust formatting differs: run 'cargo fmt --all'" >&2; exit 1; }
  else
    echo "rustfmt is not installed (rustup component add rustfmt): Rust formatting not checked" >&2
  fi
  (cd contracts && forge fmt --check) || { echo "Solidity formatting differs: run 'forge fmt' in contracts/" >&2; exit 1; }
  echo "formatting ok"
fi
log=$(mktemp)
trap 'rm -f "$log" "$log.demo"' EXIT

echo "== forge test (contracts/, profile ${FOUNDRY_PROFILE:-default})"
(cd contracts && forge test) 2>&1 | tee -a "$log"
if [ "${CI:-}" = "true" ]; then
  echo "== forge snapshot --check (contracts/.gas-snapshot, unit tests)"
  (cd contracts && forge snapshot --check --no-match-test "testFuzz|invariant" >/dev/null 2>&1) \
    || { echo "gas changed: rerun 'forge snapshot --no-match-test \"testFuzz|invariant\"' in contracts/ and review" >&2; exit 1; }
  echo "gas snapshot unchanged"
fi
echo "== contract sizes (EIP-170: every deployable contract within 24,576 bytes)"
(cd contracts && forge build --sizes --skip test --skip script >/dev/null 2>&1) \
  || { echo "a deployable contract exceeds EIP-170 (forge build --sizes)" >&2; exit 1; }
echo "sizes ok"

echo "== cargo test (workspace)"
cargo test --workspace --locked 2>&1 | tee -a "$log"

echo "== demo (scripts/demo.sh, end to end on a local anvil)"
scripts/demo.sh >"$log.demo" 2>&1 || { cat "$log.demo"; echo "demo failed" >&2; exit 1; }
tail -n 3 "$log.demo"
echo "test result: ok. 1 passed; 0 failed (demo)" >>"$log"

# forge closes with "Ran N test suites ...: X tests passed, Y failed", cargo each binary with
# "test result: ok. X passed; Y failed".
python3 - "$log" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
runs = re.findall(r"Ran \d+ test suites? .*?: (\d+) tests passed, (\d+) failed", text)
runs += re.findall(r"test result: \w+\. (\d+) passed; (\d+) failed", text)
print(f"total: {sum(int(p) for p, _ in runs)} passed, {sum(int(f) for _, f in runs)} failed")
PY
