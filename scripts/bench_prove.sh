#!/usr/bin/env bash
# Verdict vs EZKL, side by side: installs EZKL into .venv-bench (once), builds the prover, runs
# scripts/bench_prove.py with the arguments given (e.g. --models digits, --skip-ezkl).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x .venv-bench/bin/python ]] || ! .venv-bench/bin/python -c 'import ezkl, sklearn, onnxruntime' 2>/dev/null; then
    echo "installing ezkl 23.0.5 and the training script's packages into .venv-bench ..." >&2
    python3 -m venv .venv-bench
    .venv-bench/bin/pip install --quiet ezkl==23.0.5 -r scripts/requirements.txt
fi
bash scripts/setup.sh >/dev/null
cargo build --quiet -p verdict-fraud-prover -p verdict-oracle
cargo build --quiet --release -p verdict-circuits --example tiles
exec .venv-bench/bin/python scripts/bench_prove.py "$@"
