#!/usr/bin/env bash
# Remakes the forge fixture of the on-chain verifier (contracts/data/nova/): the price-feed
# model's key blob and a whole-inference proof, under the insecure test setup. Needed when the
# step circuit changes (contracts/tests/it/nova.rs fails until then).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo build --locked --quiet --bin fraud-prover
prover=target/debug/fraud-prover
keys="$root/.verdict/keys"
input="$(sed -n 2p models/price_feed.calibration.csv)"
"$prover" export-verifier --model models/price_feed.model.json -o contracts/data/nova/price_feed.key \
  --keys-dir "$keys" --insecure-test-setup
"$prover" prove --model models/price_feed.model.json --input "$input" --request-id 7 \
  -o contracts/data/nova/price_feed.proof.json --keys-dir "$keys" --insecure-test-setup
(cd contracts && ../.tools/bin/forge snapshot --no-match-test "testFuzz|invariant" >/dev/null)
