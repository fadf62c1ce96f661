#!/usr/bin/env bash
# The main job (the README's first command): the whole of Verdict running locally.
#
# After the toolchain and a build: the model pipeline on the three shipped models (inspect, one
# inference each with its step commitments) and a Nova proof from the command line; then the live
# system on a fresh anvil chain (oracle/examples/demo.rs): the contracts deployed, the models
# registered with their on-chain verifying keys, an honest oracle, a watchtower and later a
# dishonest oracle as real processes, the AI price feed, a tic-tac-toe game against the NPC,
# digit classification over the HTTP API, a lie caught and slashed with the right answer proven
# on-chain, and a summary table. Exits non-zero with the reason on any failure; leaves no process
# behind. Logs and databases go to .demo/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
start=$(date +%s)

if [ -t 1 ]; then bold=$'\e[1m'; green=$'\e[32m'; dim=$'\e[2m'; reset=$'\e[0m'; else bold=; green=; dim=; reset=; fi
step() { printf '%s==> %s%s\n' "$bold" "$*" "$reset"; }
ok() { printf '%s    ok%s %s\n' "$green" "$reset" "$*"; }

step "toolchain"
scripts/setup.sh
export PATH="$root/.tools/bin:$PATH"

step "build (a first build compiles nova-snark and takes a few minutes)"
cargo build --locked --bin oracle --bin fraud-prover --example demo
oracle="$root/target/debug/oracle"
prover="$root/target/debug/fraud-prover"

declare -A input=(
  [price_feed]="$(sed -n 2p models/price_feed.calibration.csv)"
  [tictactoe]="0,0,0,0,-1,0,0,0,0"
  [digits]="$(sed -n 2p models/digits.test.csv | cut -d, -f1-64)"
)
declare -A what=(
  [price_feed]="next-period return (%) from 16 past returns"
  [tictactoe]="NPC move (cell 0-8) for a board where the player took the centre"
  [digits]="the digit in an 8x8 image"
)
for m in price_feed tictactoe digits; do
  step "model $m: ${what[$m]}"
  "$oracle" model inspect "models/$m.model.json" | sed -n '1,6p' | sed 's/^/    /'
  "$oracle" model run "models/$m.model.json" --input "${input[$m]}" --trace | sed 's/^/    /'
done

step "proofs: Nova folds + MicroSpartan over HyperKZG (insecure test setup: a demo, not a deployment)"
keys="$root/.demo/keys"
"$prover" prove --model models/digits.model.json --input "${input[digits]}" --request-id 1 \
  -o .demo/digits.proof.json --keys-dir "$keys" --insecure-test-setup | sed 's/^/    /'
"$prover" verify --model models/digits.model.json --proof .demo/digits.proof.json \
  --keys-dir "$keys" --insecure-test-setup | sed 's/^/    /'
ok "verified; a flipped byte or another request id is rejected (cargo test -p verdict-fraud-prover)"

# The live system: the driver prints its own steps, one line per on-chain event.
mkdir -p .demo
# halo2curves 0.9 (under nova-snark) prints a line `true`/`false` per bit of its G2 subgroup
# check whenever keys are read back: filtered out here, keeping the driver's colours.
colour=0
[ -t 1 ] && colour=1
VERDICT_DEMO_COLOR=$colour "$root/target/debug/examples/demo" "$root/target/debug" "$root/.demo" \
  | grep --line-buffered -v -x -e true -e false

ok "demo finished in $(( $(date +%s) - start ))s"
