//! What LogUp range checks would make of a tile step: a measurement for issue 16's redesign, not
//! a circuit of the product. `cargo run --release -p verdict-circuits --example logup_probe --
//! ROWSxCOLS [STEPS] [--shape]` prints one JSON line: the step shape's size, MicroSpartan's N, the setup
//! time, a fold's time and a one-step proof's time, on this machine's prover (the project's
//! folding and nova-snark's MicroSpartan, as `tiles` measures the tile circuit).
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
//! The challenge `α` is a public input here. In the design it would come from the transcript
//! after a commitment to the looked-up values and multiplicities alone (allocated first, `W₁`),
//! which the verifier folds apart from the rest (one more `ecMul` a step on-chain) and whose
//! support the final proof must show to lie in `W₁`'s positions. The prover's work for the two
//! commitments is the one commitment's that this probe makes. Every value is honest, so the folded
//! proof verifies.

use std::time::Instant;

use ff::{Field, PrimeField};
use nova_snark::frontend::{num::AllocatedNum, Circuit, ConstraintSystem, LinearCombination, SynthesisError};
use verdict_circuits::{
    folding::{shape_size_of, snark_size, FoldingKeys},
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
    alpha: Fr,
    /// The looked-up bytes, in allocation order.
    bytes: Vec<u64>,
    io: Vec<Fr>,
}

impl Probe {
    fn new(rows: usize, cols: usize, seed: u64, alpha: Fr) -> Self {
        let mut rng = Rng(seed | 1);
        let count = rows * cols + cols + rows * ROW_LOOKUPS + 16;
        let bytes = (0..count).map(|_| rng.byte()).collect();
        let io = vec![Fr::from(seed), Fr::from(seed + 1), Fr::from(seed + 2), Fr::from(seed + 3), alpha];
        Self { rows, cols, alpha, bytes, io }
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
        let alpha = io[4].clone();

        // W₁: the looked-up bytes, then the table's multiplicities.
        let looked: Vec<Num> = self.bytes.iter().map(|b| alloc(cs, Fr::from(*b))).collect::<R<_>>()?;
        let mut counts = [0u64; 256];
        for b in &self.bytes {
            counts[*b as usize] += 1;
        }
        let multiplicities: Vec<Num> = counts.iter().map(|m| alloc(cs, Fr::from(*m))).collect::<R<_>>()?;

        // The lookups and the table: Σ 1/(α − f) = Σ m_j/(α − j).
        // One term a lookup and a table entry (built in place: a sum of thousands of terms).
        let mut sum = LinearCombination::zero();
        for f in &looked {
            let h = self.alpha - f.value.unwrap_or(Fr::ZERO);
            let h = h.invert().unwrap_or(Fr::ZERO);
            let hv = cs.alloc(|| "h", || Ok(h))?;
            cs.enforce(|| "(α − f) h = 1", |z| z + &alpha.lc - &f.lc, |z| z + hv, |z| z + CS::one());
            sum = sum + hv;
        }
        for (j, m) in multiplicities.iter().enumerate() {
            let g = m.value.unwrap_or(Fr::ZERO) * (self.alpha - Fr::from(j as u64)).invert().unwrap_or(Fr::ZERO);
            let gv = cs.alloc(|| "g", || Ok(g))?;
            let table = Fr::from(j as u64);
            cs.enforce(|| "(α − j) g = m", |z| z + &alpha.lc - (table, CS::one()), |z| z + gv, |z| z + &m.lc);
            sum = sum - gv;
        }
        cs.enforce(|| "Σ h = Σ g", |z| z + &sum, |z| z + CS::one(), |z| z);

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
        let mut preimage = vec![io[0].clone(), io[3].clone(), word.clone(), word.clone(), word.clone(), word];
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
    let alpha = Fr::from_u128(0x5eed_1234_5678_9abc_def0_1122_3344_5566);
    let circuits: Vec<Probe> = (0..steps as u64).map(|i| Probe::new(rows, cols, 100 + 7 * i, alpha)).collect();

    if args.iter().any(|a| a == "--shape") {
        let (constraints, variables, nonzeros) = shape_size_of(&circuits[0])?;
        let n = snark_size((constraints, variables, nonzeros));
        println!("{{\"tile\":\"{rows}x{cols}\",\"constraints\":{constraints},\"variables\":{variables},\"nonzeros\":{nonzeros},\"snark_n\":{n}}}");
        return Ok(());
    }
    let started = Instant::now();
    let keys = FoldingKeys::insecure_test_setup(&circuits[0])?;
    let setup_s = started.elapsed().as_secs_f64();
    let (constraints, variables, nonzeros) = shape_size_of(&circuits[0])?;
    let context = [Fr::from(1u64)];

    // One step: what a one-step dispute proves.
    let started = Instant::now();
    let (one, one_timings) = keys.prove_with_progress(&context, &circuits[..1], |_| {})?;
    let one_s = started.elapsed().as_secs_f64();
    keys.verify(&context, &[circuits[0].io.clone()], &one)?;
    // STEPS steps: a fold's time.
    let (many, timings) = keys.prove_with_progress(&context, &circuits, |_| {})?;
    let io: Vec<Vec<Fr>> = circuits.iter().map(|c| c.io.clone()).collect();
    keys.verify(&context, &io, &many)?;
    let fold_ms = 1e3 * (timings.fold + timings.witness).as_secs_f64() / steps as f64;
    let witness_ms = 1e3 * timings.witness.as_secs_f64() / steps as f64;
    println!(
        "{{\"tile\":\"{rows}x{cols}\",\"weights\":{},\"constraints\":{constraints},\"variables\":{variables},\"nonzeros\":{nonzeros},\
         \"snark_n\":{},\"setup_s\":{setup_s:.1},\"one_step_s\":{one_s:.2},\"one_step_compress_s\":{:.2},\"fold_ms\":{fold_ms:.1},\"of_which_witness_ms\":{witness_ms:.1},\"steps\":{steps}}}",
        rows * cols,
        snark_size((constraints, variables, nonzeros)),
        one_timings.compress.as_secs_f64(),
    );
    Ok(())
}
