# Verdict's task runner. `just` lists the recipes. Install `just` with `scripts/setup.sh --with-just`
# (into .tools/bin); the README's two commands do not need it.

export PATH := justfile_directory() + "/.tools/bin:" + env_var("PATH")

# List the recipes.
default:
    @just --list

# Install the pinned toolchain (anvil, forge, cast, solc-js) into .tools.
setup:
    scripts/setup.sh

# The main job: a local demo with the shipped models.
demo:
    scripts/demo.sh

# Every test: forge and cargo (the README's test command).
test:
    scripts/test.sh

# What CI runs.
ci:
    CI=true .ci/run

# Benchmarks: proving, Verdict vs EZKL side by side (installs EZKL into .venv-bench); the
# on-chain verifier's gas; the privacy modes' proving time and dispute gas; the watchtower's latency on anvil; the operator API under load;
# reference inference (criterion).
bench *args:
    scripts/bench_prove.sh {{args}}
    scripts/bench_gas.sh
    scripts/bench_private.sh
    scripts/bench_watch.sh
    scripts/bench_load.sh
    cargo bench -p verdict-circuits --bench inference

# Check formatting (Rust and Solidity).
fmt-check:
    cargo fmt --all --check
    cd contracts && forge fmt --check

# Format Rust and Solidity.
fmt:
    cargo fmt --all
    cd contracts && forge fmt

# Lints (clippy, warnings as errors).
lint:
    cargo clippy --workspace --all-targets -- -D warnings

# Lints with fixes applied.
fix:
    cargo clippy --workspace --all-targets --fix --allow-dirty -- -D warnings

# Retrain the shipped models (Python venv in .venv) and re-import them with the Rust importer.
models:
    scripts/build_models.sh
