//! The tiled prover at model sizes users bring: `cargo run --release -p verdict-circuits --example
//! tiles -- MODEL step|whole [--keys DIR]`, where MODEL is a model file or the widths of a
//! synthetic MLP (`784-1024-512-10`). Prints one JSON line: the model's weights and tiles, the key
//! load (or setup) time, the proof's phases and the process's peak memory.
//!
//! `step` proves the middle tile alone (a one-step dispute); `whole` folds every tile. The keys
//! are the tile shape's, the same for every model: set up once under the insecure test source
//! (a benchmark, not a deployment), cached in `--keys` (default `.verdict/keys`).

use std::{path::PathBuf, time::Instant};

use verdict_circuits::{
    folding::KeySource,
    prover::{KeyOrigin, RequestId},
    tiled::{TileKeys, TiledModel},
    tiles::synthetic_mlp,
    Model,
};

fn peak_memory_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model_arg, mode, ..] = args.as_slice() else {
        return Err("usage: tiles MODEL step|whole [--keys DIR]".into());
    };
    let keys_dir = args
        .iter()
        .position(|a| a == "--keys")
        .and_then(|i| args.get(i + 1))
        .map_or_else(|| PathBuf::from(".verdict/keys"), PathBuf::from);
    let loading = Instant::now();
    let model = if model_arg.ends_with(".json") {
        Model::load(model_arg)?
    } else {
        let dims: Vec<usize> = model_arg.split('-').map(str::parse).collect::<Result<_, _>>()?;
        synthetic_mlp(&dims, 1)
    };
    let load_s = loading.elapsed().as_secs_f64();
    let tiling = Instant::now();
    let tiled = TiledModel::new(model)?;
    let tiling_s = tiling.elapsed().as_secs_f64();
    let model = tiled.model();
    let input: Vec<i8> = (0..model.input.len).map(|i| ((i * 37) % 255) as i8).map(|v| v.max(-127)).collect();
    let tracing = Instant::now();
    let run = tiled.run(&input)?;
    let trace_s = tracing.elapsed().as_secs_f64();

    let started = Instant::now();
    let (keys, origin) = TileKeys::load_or_setup(&KeySource::InsecureTest, Some(&keys_dir))?;
    let key_s = started.elapsed().as_secs_f64();
    let key_phase = match origin {
        KeyOrigin::Cached(_) => "load",
        KeyOrigin::Generated(_) => "setup",
    };

    let steps = tiled.steps();
    let range = match mode.as_str() {
        "step" => steps / 2..steps / 2 + 1,
        "whole" => 0..steps,
        other => return Err(format!("unknown mode {other}: step or whole").into()),
    };
    let proving = Instant::now();
    let (proof, timings) = tiled.prove(&keys, RequestId::from_u64(1), &run, range.clone(), |_| {})?;
    let prove_s = proving.elapsed().as_secs_f64();
    let verifying = Instant::now();
    tiled.verify(keys.verifier(), &proof)?;
    let verify_s = verifying.elapsed().as_secs_f64();
    let (constraints, variables, nonzeros) = keys.shape_size();
    println!(
        "{{\"model\":\"{}\",\"weights\":{},\"tiles\":{steps},\"mode\":\"{mode}\",\"steps\":{},\"load_s\":{load_s:.2},\"tiling_s\":{tiling_s:.2},\"trace_s\":{trace_s:.2},\
         \"keys\":\"{key_phase}\",\"key_s\":{key_s:.2},\"prove_s\":{prove_s:.2},\"witness_s\":{:.2},\"fold_s\":{:.2},\"cross_term_s\":{:.2},\"compress_s\":{:.2},\
         \"verify_s\":{verify_s:.3},\"total_s\":{:.2},\"peak_mb\":{:.0},\"constraints\":{constraints},\
         \"variables\":{variables},\"nonzeros\":{nonzeros},\"proof_bytes\":{}}}",
        model.name,
        model.parameter_count(),
        range.len(),
        timings.witness.as_secs_f64(),
        timings.fold.as_secs_f64(),
        timings.cross_term.as_secs_f64(),
        timings.compress.as_secs_f64(),
        key_s + prove_s,
        peak_memory_mb(),
        proof.proof.len(),
    );
    Ok(())
}
