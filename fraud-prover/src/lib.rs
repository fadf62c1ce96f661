#![doc = include_str!("../README.md")]

mod cli;
mod error;
/// The watchtower's persistent state.
pub mod store;
/// The watchtower (`fraud-prover watch`).
pub mod watch;
pub mod worker;

use std::io::{IsTerminal, Write};

pub use cli::{Cli, Command, ExportArgs, ProveArgs, SetupArgs, VerifyArgs};
pub use error::{Error, Result};
use serde_json::json;
use verdict_circuits::{
    folding::{KeySource, Progress},
    parse_input,
    prover::{KeyOrigin, ModelProver, RequestId, SegmentProof},
    step::{Blinding, WeightMode},
    Commitment, Model,
};

/// Runs a one-shot command and returns its output text (each returns what it prints, so that
/// tests can check it without a process; progress goes to stderr). `watch` is a service:
/// [`watch::watch`].
pub fn run(cli: &Cli) -> crate::Result<String> {
    match &cli.command {
        Command::Prove(args) => prove(args),
        Command::Verify(args) => verify(args),
        Command::ExportVerifier(args) => export_verifier(args),
        Command::Watch(_) => Err(Error::usage("watch runs a service: call verdict_fraud_prover::watch::watch")),
        Command::Worker(_) => Err(Error::usage("worker runs a service: call verdict_fraud_prover::worker::work")),
        Command::Blinding { model, output } => {
            let model = Model::load(model)?;
            let blinding = Blinding::random(&model);
            blinding.save(output)?;
            Ok(format!(
                "blinding   {} (secret: with it, the weights open the commitment)\ncommitment {}",
                output.display(),
                blinding.model_commitment(&model)?
            ))
        }
    }
}

/// The key source the flags ask for; no silent default.
fn source(setup: &SetupArgs) -> crate::Result<KeySource> {
    setup.source().ok_or_else(|| {
        Error::usage(
            "no key setup: pass --ptau-dir with powers-of-tau files, or --insecure-test-setup for tests and demos only",
        )
    })
}

/// Parses `a..b`.
fn parse_segment(s: &str, steps: usize) -> crate::Result<std::ops::Range<usize>> {
    let bad = || Error::usage(format!("invalid segment {s:?}: expected a..b with 0 <= a < b <= {steps}"));
    let (a, b) = s.split_once("..").ok_or_else(bad)?;
    let (a, b): (usize, usize) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
    if a >= b || b > steps {
        return Err(bad());
    }
    Ok(a..b)
}

/// Draws progress on stderr: one redrawn bar on a terminal, one line an event otherwise.
fn progress_printer() -> impl FnMut(Progress) {
    let tty = std::io::stderr().is_terminal();
    move |p| {
        let mut err = std::io::stderr().lock();
        let line = match p {
            Progress::Folded { step, of } => {
                let done = step + 1;
                let bar: String = (0..20).map(|i| if i * of < 20 * done { '#' } else { '.' }).collect();
                format!("folding  [{bar}] {done}/{of} steps")
            }
            Progress::Compressing => "compressing: random fold + MicroSpartan over HyperKZG".to_string(),
        };
        let _ = if tty { write!(err, "\r\x1b[2K{line}") } else { writeln!(err, "{line}") };
        if tty && p == Progress::Compressing {
            let _ = writeln!(err);
        }
    }
}

fn describe_keys(origin: &KeyOrigin) -> String {
    match origin {
        KeyOrigin::Cached(p) => format!("cached ({})", p.display()),
        KeyOrigin::Generated(Some(p)) => format!("generated, cached to {}", p.display()),
        KeyOrigin::Generated(None) => "generated".into(),
    }
}

fn prove(args: &ProveArgs) -> crate::Result<String> {
    if args.tiles {
        return prove_tiles(args);
    }
    let model = Model::load(&args.model)?;
    let input = parse_input(&args.input)?.for_model(&model, args.quantized)?;
    let segment = match &args.segment {
        Some(s) => parse_segment(s, model.steps())?,
        None => 0..model.steps(),
    };
    let request_id: RequestId = args.request_id.parse()?;
    let mode = match &args.private {
        Some(path) => WeightMode::Private(Blinding::load(path)?),
        None => WeightMode::Public,
    };
    let source = source(&args.setup)?;
    let started = std::time::Instant::now();
    let (prover, origin) = ModelProver::setup(model, mode, &source, Some(&args.setup.keys_dir))?;
    let setup = started.elapsed();
    let trace = prover.model().run(&input)?;
    let salt = salt(args)?;
    let (proof, timings) = prover.prove_salted(request_id, &trace, salt, segment.clone(), progress_printer())?;
    proof.save(&args.output)?;
    let done = Proved {
        proof: &proof,
        unit: "step",
        steps: prover.model().steps(),
        constraints: prover.num_constraints(),
        shape: prover.shape_size(),
        setup,
        origin: &origin,
        timings,
        insecure: prover.is_insecure(),
    };
    Ok(done.report(args))
}

/// What a proof run did, for its report.
struct Proved<'a> {
    proof: &'a SegmentProof,
    /// "step" or "tile".
    unit: &'a str,
    steps: usize,
    constraints: usize,
    shape: Option<(usize, usize, usize)>,
    setup: std::time::Duration,
    origin: &'a KeyOrigin,
    timings: verdict_circuits::folding::FoldTimings,
    insecure: bool,
}

impl Proved<'_> {
    /// The report `prove` prints: one JSON document with `--json`, else lines.
    fn report(&self, args: &ProveArgs) -> String {
        let (proof, t) = (self.proof, &self.timings);
        if args.json {
            return json!({
                "proof": args.output,
                "model": proof.model,
                "mode": proof.mode,
                "request_id": proof.request_id,
                "segment": [proof.from, proof.to],
                format!("{}s", self.unit): self.steps,
                format!("constraints_per_{}", self.unit): self.constraints,
                "shape": self.shape.map(|(c, v, n)| json!({"constraints": c, "variables": v, "nonzeros": n})),
                "setup_ms": self.setup.as_millis(),
                "keys": describe_keys(self.origin),
                "witness_ms": t.witness.as_millis(),
                "fold_ms": t.fold.as_millis(),
                "compress_ms": t.compress.as_millis(),
                "proof_bytes": proof.proof.len(),
                "insecure_setup": self.insecure,
            })
            .to_string();
        }
        format!(
            "proof      {}\nmodel      {} ({})\nrequest    {}\nsegment    {}..{} of {} {}s\nconstraints {} a {}\nkeys       {} in {:.2?}\nwitness    {:.2?}\nfold       {:.2?}\ncompress   {:.2?}\nsize       {} bytes",
            args.output.display(),
            proof.model,
            proof.mode,
            proof.request_id,
            proof.from,
            proof.to,
            self.steps,
            self.unit,
            self.constraints,
            self.unit,
            describe_keys(self.origin),
            self.setup,
            t.witness,
            t.fold,
            t.compress,
            proof.proof.len(),
        )
    }
}

/// `--salt`, or zero.
fn salt(args: &ProveArgs) -> crate::Result<verdict_circuits::Fr> {
    match &args.salt {
        Some(s) => verdict_circuits::parse_salt(s)
            .ok_or_else(|| Error::usage(format!("--salt {s}: expected 0x-hex of 32 bytes below the field modulus"))),
        None => Ok(verdict_circuits::Fr::from(0u64)),
    }
}

/// `prove --tiles`: a segment of the tiled trace, under the tile keys.
fn prove_tiles(args: &ProveArgs) -> crate::Result<String> {
    use verdict_circuits::tiled::{TileKeys, TiledModel};
    let model = Model::load(&args.model)?;
    let input = parse_input(&args.input)?.for_model(&model, args.quantized)?;
    let tiled = match &args.private {
        Some(path) => TiledModel::private(model, &Blinding::load(path)?)?,
        None => TiledModel::new(model)?,
    };
    let segment = match &args.segment {
        Some(s) => parse_segment(s, tiled.steps())?,
        None => 0..tiled.steps(),
    };
    let request_id: RequestId = args.request_id.parse()?;
    let source = source(&args.setup)?;
    let started = std::time::Instant::now();
    let (keys, origin) = TileKeys::load_or_setup(&source, Some(&args.setup.keys_dir))?;
    let setup = started.elapsed();
    let run = tiled.run_salted(&input, salt(args)?)?;
    let (proof, timings) = tiled.prove(&keys, request_id, &run, segment.clone(), progress_printer())?;
    proof.save(&args.output)?;
    let shape = keys.shape_size();
    let done = Proved {
        proof: &proof,
        unit: "tile",
        steps: tiled.steps(),
        constraints: shape.0,
        shape: Some(shape),
        setup,
        origin: &origin,
        timings,
        insecure: source == verdict_circuits::folding::KeySource::InsecureTest,
    };
    Ok(done.report(args))
}

/// `verify` of a tiled proof: against the tiled commitment `--commitment`, or a public model
/// file's own.
fn verify_tiles(args: &VerifyArgs, model: Model, proof: &SegmentProof) -> crate::Result<String> {
    use verdict_circuits::{
        tiled::{verify_tiled, TileKeys, TiledModel},
        tiles::TilePlan,
    };
    let tiled = TiledModel::new(model)?;
    // A private model's tiles are one block each (their count depends on its dimensions only).
    let steps = if proof.mode == "tiled" { tiled.steps() } else { TilePlan::dense(tiled.model())?.len() };
    let commitment: Commitment = match (&args.commitment, proof.mode.as_str()) {
        (Some(c), _) => c.parse().map_err(|e| Error::usage(format!("--commitment: {e}")))?,
        (None, "tiled") => tiled.commitment(),
        (None, _) => {
            return Err(Error::usage(
                "a private model's proof is checked against its registered tiled commitment: pass --commitment",
            ))
        }
    };
    let source = source(&args.setup)?;
    let (keys, _) = TileKeys::load_or_setup(&source, Some(&args.setup.keys_dir))?;
    verify_tiled(keys.verifier(), commitment, steps, proof)?;
    Ok(format!("ok: tiles {}..{} of request {} under model {commitment}", proof.from, proof.to, proof.request_id))
}

fn verify(args: &VerifyArgs) -> crate::Result<String> {
    let model = Model::load(&args.model)?;
    let proof = SegmentProof::load(&args.proof)?;
    if proof.mode.starts_with("tiled") {
        return verify_tiles(args, model, &proof);
    }
    let private = match proof.mode.as_str() {
        "public" => false,
        "private" => true,
        other => return Err(Error::usage(format!("rejected: unknown weight mode {other:?}"))),
    };
    let commitment: Commitment = match (&args.commitment, private) {
        (Some(c), _) => c.parse().map_err(|e| Error::usage(format!("--commitment: {e}")))?,
        (None, false) => model.commitment(),
        (None, true) => {
            return Err(Error::usage(
                "a private model's proof is checked against its registered commitment: pass --commitment",
            ));
        }
    };
    let source = source(&args.setup)?;
    let (verifier, _) = ModelProver::verifier(model, private, commitment, &source, Some(&args.setup.keys_dir))?;
    verifier.verify(&proof)?;
    Ok(format!("ok: steps {}..{} of request {} under model {commitment}", proof.from, proof.to, proof.request_id))
}

fn export_verifier(args: &ExportArgs) -> crate::Result<String> {
    let model = Model::load(&args.model)?;
    let source = source(&args.setup)?;
    let (key, tiled) = if args.tiles {
        use verdict_circuits::tiled::{TileKeys, TiledModel};
        let tiled = TiledModel::new(model)?;
        let (keys, _) = TileKeys::load_or_setup(&source, Some(&args.setup.keys_dir))?;
        (
            keys.verifier().evm_key().map_err(verdict_circuits::prover::ProofError::from)?,
            Some((tiled.steps(), tiled.commitment())),
        )
    } else {
        // The key depends on the shape only: for a private model, any commitment gives the same key.
        let commitment = model.commitment();
        let (verifier, _) =
            ModelProver::verifier(model, args.private, commitment, &source, Some(&args.setup.keys_dir))?;
        (verifier.evm_key()?, None)
    };
    std::fs::write(&args.output, &key.blob)
        .map_err(|source| Error::Io { what: format!("writing {}", args.output.display()), source })?;
    let digest = format!("0x{}", hex::encode(key.digest()));
    if args.json {
        return Ok(json!({
            "digest": digest,
            "key": format!("0x{}", hex::encode(&key.blob)),
            "outer_rounds": key.outer,
            "inner_rounds": key.inner,
            "proof_bytes_one_step": key.layout(1).len(),
            "proof_bytes_per_step": key.layout(2).len() - key.layout(1).len(),
            "tiles": tiled.map(|(steps, _)| steps),
            "tiled_commitment": tiled.map(|(_, c)| c),
        })
        .to_string());
    }
    let mut text = format!(
        "key      {} ({} bytes)\ndigest   {digest} (register the model with this vkDigest)\nproofs   {} bytes for one step, +{} a step",
        args.output.display(),
        key.blob.len(),
        key.layout(1).len(),
        key.layout(2).len() - key.layout(1).len()
    );
    if let Some((steps, commitment)) = tiled {
        text.push_str(&format!(
            "\ntiles    {steps} (register with {steps} steps and commitment {commitment}; the tile-count proofs \
             carry 32 bytes a tile and a range proof besides)"
        ));
    }
    Ok(text)
}
