#!/usr/bin/env bash
# Retrains the shipped models and re-imports them: creates .venv with the pinned Python packages
# (scripts/requirements.txt), runs scripts/train_models.py (ONNX, calibration and reference
# files under models/), then quantizes each with `oracle model import`. Only for retraining:
# running or testing Verdict needs no Python.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet -r scripts/requirements.txt
.venv/bin/python scripts/train_models.py
cargo build --locked --quiet --bin oracle
for m in price_feed tictactoe digits digits_cnn digits_1m digits_lenet credit credit_gbdt; do
  target/debug/oracle model import "models/$m.onnx" --calibration "models/$m.calibration.csv" -o "models/$m.model.json"
done
