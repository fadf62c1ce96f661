#!/usr/bin/env bash
# The main job (the README's first command): a local run of Verdict with the shipped models.
#
# What runs today: the toolchain setup, a build, the model pipeline on the three shipped models
# (inspect, one inference each with its step commitments), a Nova folding proof of the digit
# classification (whole inference) and of one disputed step of the price feed, each checked by
# the verifier, and a local anvil chain with the protocol contracts deployed by the forge deploy
# script. Registering the models needs the on-chain verifier, and the live lifecycle on the
# chain (the `oracle serve` service is tested on anvil by `cargo test -p verdict-oracle`) joins
# the demo with it and the watchtower.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
start=$(date +%s)

if [ -t 1 ]; then bold=$'\e[1m'; green=$'\e[32m'; dim=$'\e[2m'; reset=$'\e[0m'; else bold=; green=; dim=; reset=; fi
step() { printf '%s==> %s%s\n' "$bold" "$*" "$reset"; }
ok() { printf '%s    ok%s %s\n' "$green" "$reset" "$*"; }

anvil_pid=
cleanup() { if [ -n "$anvil_pid" ]; then kill "$anvil_pid" 2>/dev/null || true; wait "$anvil_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT INT TERM

step "toolchain"
scripts/setup.sh
export PATH="$root/.tools/bin:$PATH"

step "build (a first build compiles nova-snark and takes a few minutes)"
cargo build --locked --bin oracle --bin fraud-prover
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
"$prover" prove --model models/price_feed.model.json --input "${input[price_feed]}" --request-id 2 \
  --segment 1..2 -o .demo/price_feed.segment.json --keys-dir "$keys" --insecure-test-setup \
  | sed 's/^/    /'
"$prover" verify --model models/price_feed.model.json --proof .demo/price_feed.segment.json \
  --keys-dir "$keys" --insecure-test-setup | sed 's/^/    /'
ok "both proofs verified; a flipped byte or another request id is rejected (cargo test -p verdict-fraud-prover)"

step "local chain: anvil, and the protocol deployed with forge"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
anvil --port "$port" --silent >/dev/null 2>&1 &
anvil_pid=$!
rpc="http://127.0.0.1:$port"
for _ in $(seq 50); do cast chain-id --rpc-url "$rpc" >/dev/null 2>&1 && break; sleep 0.1; done
ok "anvil on $rpc (pid $anvil_pid; stopped on exit)"
mkdir -p .demo contracts/deployments
# anvil's first well-known development key; never use it on a real chain.
dev_key=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
(cd contracts && VERDICT_DEPLOYMENT="$root/.demo/deployment.json" \
  forge script script/Deploy.s.sol --rpc-url "$rpc" --private-key "$dev_key" --broadcast --quiet) >/dev/null
ok "deployed: $(tr -d " \n" < .demo/deployment.json)"

ok "demo finished in $(( $(date +%s) - start ))s"
