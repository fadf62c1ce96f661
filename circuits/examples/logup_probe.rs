//! What LogUp range checks would make of a tile step: a measurement for issue 16's redesign, not
//! a circuit of the product. `cargo run --release -p verdict-circuits --example logup_probe --
//! ROWSxCOLS [STEPS] [--shape] [--keys FILE]` prints one JSON line: the step shape's size, MicroSpartan's
//! N, the setup time (or with `--keys`, once FILE exists, the keys' load time), a fold's time and
//! a one-step proof's time, on this machine's prover.
//!
//! The step has the tile circuit's constraint mix (`circuits/src/tile.rs`) with each range check
//! replaced by lookups into the table `0..256` (LogUp, Haböck 2022):
//!
//! - looked up, one byte a lookup: the tile's weights and input column block (int8 digits), and
//!   per output row the bias, multiplier, incoming accumulator and pre-activation (four bytes
//!   each), the requantization remainder (eight) and the clamp's two comparisons (six each);
//! - a lookup of `f` costs one constraint, `(α − f) · h = 1`; the table side one a table entry,
//!   `(α − j) · g_j = m_j` with `m_j` the entry's multiplicity; and one constraint checks
//!   `Σ h = Σ g`;
//! - unchanged: the weights' products, the requantization and clamp products, the flags' bits,
//!   the 14 Poseidon permutations (the tile commitment over the packed weights, the state in and
//!   out, the input and output sponges) at this tile size's preimage lengths.
//!
//! The lookups are [`verdict_circuits::lookup::ByteLookups`] and the proof is a
//! [`verdict_circuits::challenged`] folding proof, as a tile of revision 6 would make: the
//! looked-up values and multiplicities are allocated first (the prefix `W₁`), their commitment is
//! absorbed before the transcript draws `α` (the step's first public input), the rest is committed
//! with the key's generators from the prefix on, and the proof's support check shows that it
//! stays there. Every value is honest, so the folded proof verifies. A fold's time is
//! `(STEPS-step proof − one-step proof) / (STEPS − 1)`.

use std::time::Instant;

use ff::{Field, PrimeField};
use nova_snark::frontend::{num::AllocatedNum, Circuit, ConstraintSystem, SynthesisError};
use verdict_circuits::{
    challenged::{ChallengedKeys, ChallengedStep},
    folding::{shape_size_of, snark_size, KeySource},
    lookup::ByteLookups,
    poseidon_circuit::{self, Num},
    Fr,
};

type R<T> = Result<T, SynthesisError>;

/// Lookups of each output row (bias, multiplier, accumulator in and pre-activation, four bytes
/// each; the remainder's eight; the clamp's two comparisons, six each).
const ROW_LOOKUPS: usize = 4 * 4 + 8 + 2 * 6;
/// The flags' bits (as the tile's, with a valid bit per row).
const FLAG_BITS: usize = 10 + 16 + 62 + 1;
/// The sponge width.
const WIDTH: usize = 9;

/// A deterministic stream of bytes (xorshift).
struct Rng(u64);

impl Rng {
    fn byte(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 & 0xff
    }
}

#[derive(Clone)]
struct Probe {
    rows: usize,
    cols: usize,
    /// The looked-up bytes, in allocation order.
    bytes: Vec<u64>,
    io: Vec<Fr>,
}

impl Probe {
    fn new(rows: usize, cols: usize, seed: u64) -> Self {
        let mut rng = Rng(seed | 1);
        let count = rows * cols + cols + rows * ROW_LOOKUPS + 16;
        let bytes = (0..count).map(|_| rng.byte()).collect();
        let io = vec![Fr::ZERO, Fr::from(seed + 1), Fr::from(seed + 2), Fr::from(seed + 3)];
        Self { rows, cols, bytes, io }
    }
}

impl ChallengedStep for Probe {
    fn prefix_len(&self) -> usize {
        ByteLookups::prefix_len(self.bytes.len())
    }

    fn with_challenge(&self, alpha: Fr) -> Self {
        let mut io = self.io.clone();
        io[0] = alpha;
        Self { io, ..self.clone() }
    }
}

fn alloc<CS: ConstraintSystem<Fr>>(cs: &mut CS, value: Fr) -> R<Num> {
    let v = cs.alloc(|| "value", || Ok(value))?;
    Ok(Num::var(v, Some(value)))
}

fn product<CS: ConstraintSystem<Fr>>(cs: &mut CS, a: &Num, b: &Num) -> R<Num> {
    let value = a.value.zip(b.value).map(|(x, y)| x * y);
    let p = cs.alloc(|| "product", || value.ok_or(SynthesisError::AssignmentMissing))?;
    cs.enforce(|| "a * b", |z| z + &a.lc, |z| z + &b.lc, |z| z + p);
    Ok(Num::var(p, value))
}

fn bit<CS: ConstraintSystem<Fr>>(cs: &mut CS, on: bool) -> R<Num> {
    let value = if on { Fr::ONE } else { Fr::ZERO };
    let b = cs.alloc(|| "bit", || Ok(value))?;
    cs.enforce(|| "boolean", |z| z + b, |z| z + CS::one() - b, |z| z);
    Ok(Num::var(b, Some(value)))
}

/// `Σ_k 256^k · limbs[k]`.
fn bytes_value(limbs: &[Num]) -> Num {
    let mut weight = Fr::ONE;
    let mut sum = Num::zero();
    for l in limbs {
        sum = sum.add_scaled(weight, l);
        weight *= Fr::from(256u64);
    }
    sum
}

/// Packs byte values `per` an element, each element one variable.
fn pack<CS: ConstraintSystem<Fr>>(cs: &mut CS, values: &[Num], per: usize) -> R<Vec<Num>> {
    values.chunks(per).map(|chunk| bytes_value(chunk).materialize(cs.namespace(|| "packed"))).collect()
}

impl Circuit<Fr> for Probe {
    fn synthesize<CS: ConstraintSystem<Fr>>(self, cs: &mut CS) -> R<()> {
        let io: Vec<Num> = self
            .io
            .iter()
            .map(|v| {
                Ok(Num::var(AllocatedNum::alloc_input(cs.namespace(|| "io"), || Ok(*v))?.get_variable(), Some(*v)))
            })
            .collect::<R<_>>()?;
        let alpha = io[0].clone();

        // W₁: the blind, the looked-up bytes, then the table's multiplicities.
        let values: Vec<Option<u8>> = self.bytes.iter().map(|b| Some(*b as u8)).collect();
        let lookups = ByteLookups::allocate(cs, &values)?;
        let looked = lookups.values().to_vec();
        lookups.enforce(cs.namespace(|| "lookups"), &alpha)?;

        // The flags.
        let flags: Vec<Num> = (0..FLAG_BITS + self.rows).map(|k| bit(cs, k % 3 == 0)).collect::<R<_>>()?;
        let word = bytes_value(&flags[..8]).materialize(cs.namespace(|| "word"))?;

        // The weights (digit − 128) times the input column block, on the accumulators.
        let (rows, cols) = (self.rows, self.cols);
        let offset = Fr::from(128u64);
        let weights: Vec<Num> = looked[..rows * cols].iter().map(|d| d.add_constant::<CS>(-offset)).collect();
        let inputs: Vec<Num> =
            looked[rows * cols..rows * cols + cols].iter().map(|d| d.add_constant::<CS>(-offset)).collect();
        let mut at = rows * cols + cols;
        let mut acc_out = Vec::with_capacity(rows);
        let mut row_values = Vec::with_capacity(rows);
        for r in 0..rows {
            let limbs = &looked[at..at + ROW_LOOKUPS];
            at += ROW_LOOKUPS;
            // Bias, multiplier, accumulator in, pre-activation: four bytes each.
            let values: Vec<Num> = limbs[..16].chunks(4).map(bytes_value).collect();
            let mut acc = values[2].clone();
            for c in 0..cols {
                let p = product(cs, &weights[r * cols + c], &inputs[c])?;
                acc = acc.add_scaled(Fr::ONE, &p);
            }
            let acc = acc.materialize(cs.namespace(|| "acc"))?;
            // The pre-activation, the requantization and the clamp: its products and equalities.
            let pre = acc.add_scaled(Fr::ONE, &values[0]).materialize(cs.namespace(|| "pre"))?;
            let pm = product(cs, &pre, &values[1])?;
            let remainder = bytes_value(&limbs[16..24]);
            let above = bytes_value(&limbs[24..30]);
            let below = bytes_value(&limbs[30..36]);
            let a = bit(cs, r % 2 == 0)?;
            let b = bit(cs, r % 3 == 0)?;
            let q = pm.add_scaled(-Fr::ONE, &remainder).materialize(cs.namespace(|| "quotient"))?;
            let aq = product(cs, &a, &q)?;
            let bq = product(cs, &b, &q)?;
            let _ = product(cs, &b, &flags[9])?;
            let ya = aq.add_scaled(Fr::ONE, &above).materialize(cs.namespace(|| "above"))?;
            let yb = bq.add_scaled(Fr::ONE, &below).materialize(cs.namespace(|| "below"))?;
            let sp = product(cs, &flags[r % FLAG_BITS], &pre)?;
            let cut = product(cs, &flags[9], &pre.add_scaled(-Fr::ONE, &sp))?;
            let y = ya.add_scaled(Fr::ONE, &yb).add_scaled(-Fr::ONE, &cut);
            let vy = product(cs, &flags[FLAG_BITS + r], &y)?;
            acc_out.push(product(cs, &flags[1], &acc)?);
            row_values.push((values, vy));
        }
        for k in 0..4 {
            // The dimensions' bytes (16 lookups).
            let _ = bytes_value(&looked[at + 4 * k..at + 4 * k + 4]);
        }

        // The tile commitment over the packed weights, biases and multipliers.
        // The tile index: a witness that the tile commitment binds (α takes its public input).
        let t = alloc(cs, Fr::from(self.rows as u64))?;
        let mut preimage = vec![t, io[3].clone(), word.clone(), word.clone(), word.clone(), word];
        preimage.extend(pack(cs, &looked[..rows * cols], 31)?);
        let biases: Vec<Num> = row_values.iter().map(|(v, _)| v[0].clone()).collect();
        let multipliers: Vec<Num> = row_values.iter().map(|(v, _)| v[1].clone()).collect();
        preimage.extend(pack_words(cs, &biases)?);
        preimage.extend(pack_words(cs, &multipliers)?);
        preimage.push(alloc(cs, Fr::from(7u64))?);
        let h = poseidon_circuit::hash(cs.namespace(|| "tile commitment"), &preimage)?;
        let _ = h.materialize(cs.namespace(|| "tile"))?;

        // The state in and out: x, the two sponges and the packed accumulators.
        let sponge: Vec<Num> = (0..WIDTH).map(|k| alloc(cs, Fr::from(k as u64 + 11))).collect::<R<_>>()?;
        let acc_in: Vec<Num> = row_values.iter().map(|(v, _)| v[2].clone()).collect();
        let mut state_in = vec![io[1].clone()];
        state_in.extend(sponge.iter().cloned());
        state_in.extend(sponge.iter().cloned());
        state_in.extend(pack_words(cs, &acc_in)?);
        let _ = poseidon_circuit::hash(cs.namespace(|| "state in"), &state_in)?;
        let read = poseidon_circuit::permute(cs.namespace(|| "read"), &sponge)?;
        let mut written = sponge.clone();
        written[1] = written[1]
            .add_scaled(Fr::ONE, &bytes_value(&row_values.iter().map(|(_, y)| y.clone()).collect::<Vec<_>>()));
        let write = poseidon_circuit::permute(cs.namespace(|| "write"), &written)?;
        let selected: Vec<Num> = read
            .iter()
            .zip(&write)
            .map(|(a, b)| {
                let d = a.add_scaled(-Fr::ONE, b);
                product(cs, &flags[2], &d)
            })
            .collect::<R<_>>()?;
        let mut state_out = vec![io[2].clone()];
        state_out.extend(selected.iter().cloned());
        state_out.extend(write.iter().cloned());
        state_out.extend(pack_words(cs, &acc_out)?);
        let _ = poseidon_circuit::hash(cs.namespace(|| "state out"), &state_out)?;
        Ok(())
    }
}

/// 32-bit words packed seven an element.
fn pack_words<CS: ConstraintSystem<Fr>>(cs: &mut CS, values: &[Num]) -> R<Vec<Num>> {
    let radix = Fr::from(1u64 << 32);
    values
        .chunks(7)
        .map(|chunk| {
            let mut weight = Fr::ONE;
            let mut sum = Num::zero();
            for v in chunk {
                sum = sum.add_scaled(weight, v);
                weight *= radix;
            }
            sum.materialize(cs.namespace(|| "words"))
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((rows, cols)) = args.first().and_then(|a| a.split_once('x')) else {
        return Err("usage: logup_probe ROWSxCOLS [STEPS]".into());
    };
    let (rows, cols): (usize, usize) = (rows.parse()?, cols.parse()?);
    let steps: usize = args.get(1).map_or(Ok(8), |s| s.parse())?;
    let circuits: Vec<Probe> = (0..steps as u64).map(|i| Probe::new(rows, cols, 100 + 7 * i)).collect();

    if args.iter().any(|a| a == "--shape") {
        let (constraints, variables, nonzeros) = shape_size_of(&circuits[0])?;
        let n = snark_size((constraints, variables, nonzeros));
        println!("{{\"tile\":\"{rows}x{cols}\",\"constraints\":{constraints},\"variables\":{variables},\"nonzeros\":{nonzeros},\"snark_n\":{n}}}");
        return Ok(());
    }
    // `--keys FILE`: keys loaded from FILE (written there by the first run), as a service's cold
    // start would; the load is timed.
    let cache = args.iter().position(|a| a == "--keys").and_then(|i| args.get(i + 1)).map(std::path::PathBuf::from);
    let started = Instant::now();
    let (keys, loaded) = match cache.as_ref().filter(|f| f.exists()) {
        Some(file) => (ChallengedKeys::from_bytes(&std::fs::read(file)?)?, true),
        None => (ChallengedKeys::setup(&circuits[0], &KeySource::InsecureTest)?, false),
    };
    let setup_s = started.elapsed().as_secs_f64();
    if let (Some(file), false) = (&cache, loaded) {
        std::fs::write(file, keys.to_bytes())?;
    }
    if let Some(dir) = args.iter().position(|a| a == "--fixture").and_then(|i| args.get(i + 1)) {
        return fixture(&keys, rows, cols, std::path::Path::new(dir));
    }
    let (constraints, variables, nonzeros) = shape_size_of(&circuits[0])?;
    let context = [Fr::from(1u64)];
    // The verifier's IO: the challenge left out (the transcript supplies it).
    let io = |c: &Probe| c.io[1..].to_vec();

    // One step: what a one-step dispute proves.
    let started = Instant::now();
    let one = keys.prove(&context, &circuits[..1])?;
    let one_s = started.elapsed().as_secs_f64();
    keys.verifier().verify(&context, &[io(&circuits[0])], &one)?;
    // STEPS steps, then their compression alone again (one step's), for a fold's time.
    let started = Instant::now();
    let many = keys.prove(&context, &circuits)?;
    let many_s = started.elapsed().as_secs_f64();
    let ios: Vec<Vec<Fr>> = circuits.iter().map(io).collect();
    keys.verifier().verify(&context, &ios, &many)?;
    let fold_ms = 1e3 * (many_s - one_s) / (steps as f64 - 1.0);
    println!(
        "{{\"tile\":\"{rows}x{cols}\",\"weights\":{},\"constraints\":{constraints},\"variables\":{variables},\"nonzeros\":{nonzeros},\
         \"snark_n\":{},\"{}\":{setup_s:.2},\"one_step_s\":{one_s:.2},\"fold_ms\":{fold_ms:.1},\"steps\":{steps}}}",
        rows * cols,
        snark_size((constraints, variables, nonzeros)),
        if loaded { "key_load_s" } else { "setup_s" },
    );
    Ok(())
}

/// `--fixture DIR`: the forge fixture of the on-chain verifier's challenged mode
/// (`contracts/test/NovaVerifier.t.sol`): the key blob and proofs of 1 and 3 steps of a segment
/// `[0, n)` of a model committed as `M`, request 7, step `j`'s IO `[α_j, z_j, z_{j+1}, M]`.
fn fixture(
    keys: &ChallengedKeys,
    rows: usize,
    cols: usize,
    dir: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    use verdict_circuits::evm::scalar_bytes;
    let hex = |x: &Fr| format!("0x{}", hex::encode(scalar_bytes(x)));
    let model = Fr::from_u128(0x5645_5244_4943_545f_4c4f_4755_505f_4d30);
    let key = keys.verifier().evm_key()?;
    std::fs::write(dir.join("logup_probe.key"), &key.blob)?;
    for n in [1usize, 3] {
        let z: Vec<Fr> = (0..=n as u64).map(|j| Fr::from(1000 + j)).collect();
        let circuits: Vec<Probe> = (0..n)
            .map(|j| {
                let mut c = Probe::new(rows, cols, 100 + 7 * j as u64);
                c.io = vec![Fr::ZERO, z[j], z[j + 1], model];
                c
            })
            .collect();
        let context = [model, Fr::ZERO, Fr::from(7u64), Fr::ZERO, Fr::from(n as u64)];
        let proof = keys.prove(&context, &circuits)?;
        let flat = proof.to_flat(&key.layout(n))?;
        let io: Vec<Vec<Fr>> = circuits.iter().map(|c| c.io[1..].to_vec()).collect();
        keys.verifier().verify_flat(&context, &io, &flat)?;
        let json = serde_json::json!({
            "model": hex(&model),
            "request_id": hex(&Fr::from(7u64)),
            "from": 0,
            "to": n,
            "steps": z.iter().map(hex).collect::<Vec<_>>(),
            "proof": format!("0x{}", hex::encode(&flat)),
        });
        std::fs::write(dir.join(format!("logup_probe_{n}.proof.json")), serde_json::to_string_pretty(&json)? + "\n")?;
    }
    println!("wrote {}: key {} bytes", dir.display(), key.blob.len());
    Ok(())
}
