//! R1CS gadgets for integer inference, written with `nova_snark::frontend` (the bellpepper API).
//!
//! Every gadget takes its witness from a *hint* computed natively (the reference engine's
//! integers); the constraints only check it. A dishonest hint therefore cannot change a result:
//! it leaves the constraint system unsatisfied, which the tests show for each gadget.
//!
//! Values are signed integers embedded in BN254's scalar field (`-v` as `r - v`); every gadget
//! range-checks what it produces, so no value can wrap around the modulus.

use ff::{Field, PrimeField};
use nova_snark::frontend::{ConstraintSystem, LinearCombination, SynthesisError, Variable};

use crate::{
    engine::requantize as native_requantize,
    model::{Activation, Layer, TableFunction, INT8_MAX},
    Fr,
};

/// A signed integer in the circuit: a linear combination and its native value.
#[derive(Clone, Debug)]
pub struct Int {
    /// The value as a linear combination of variables.
    pub lc: LinearCombination<Fr>,
    /// The native value (the prover's claim; the constraints decide whether it holds).
    pub value: i128,
    /// Set when the value is a circuit constant (then products with it are linear).
    pub constant: bool,
}

/// The field element of a signed integer.
pub fn fr(v: i128) -> Fr {
    let magnitude = Fr::from_u128(v.unsigned_abs());
    if v < 0 {
        -magnitude
    } else {
        magnitude
    }
}

impl Int {
    /// A fresh witness variable holding `value`.
    pub fn alloc<CS: ConstraintSystem<Fr>>(mut cs: CS, value: i128) -> Result<Self, SynthesisError> {
        let v = cs.alloc(|| "value", || Ok(fr(value)))?;
        Ok(Self { lc: LinearCombination::zero() + v, value, constant: false })
    }

    /// A public input variable holding `value`.
    pub fn alloc_input<CS: ConstraintSystem<Fr>>(mut cs: CS, value: i128) -> Result<Self, SynthesisError> {
        let v = cs.alloc_input(|| "input", || Ok(fr(value)))?;
        Ok(Self { lc: LinearCombination::zero() + v, value, constant: false })
    }

    /// A constant of the circuit.
    pub fn constant<CS: ConstraintSystem<Fr>>(value: i128) -> Self {
        Self { lc: LinearCombination::zero() + (fr(value), CS::one()), value, constant: true }
    }

    fn scaled(&self, k: i128) -> LinearCombination<Fr> {
        let mut lc = LinearCombination::zero();
        for (var, coeff) in self.lc.iter() {
            lc = lc + (*coeff * fr(k), var);
        }
        lc
    }
}

/// Enforces `0 ≤ x < 2^bits` by decomposing `x` into `bits` boolean variables. `value` is the
/// claimed value of `x`; a value outside the range cannot satisfy the constraints.
pub fn unsigned_bits<CS: ConstraintSystem<Fr>>(
    mut cs: CS,
    x: &LinearCombination<Fr>,
    value: i128,
    bits: u32,
) -> Result<Vec<Variable>, SynthesisError> {
    assert!(bits <= 120, "range checks stay far below the field size");
    let mut out = Vec::with_capacity(bits as usize);
    let mut sum = LinearCombination::zero();
    let mut weight = Fr::ONE;
    for i in 0..bits {
        // For an out-of-range claim these are the bits of the truncated value: the sum check fails.
        let bit = (value.rem_euclid(1i128 << 120) >> i) & 1 == 1;
        let b = cs.alloc(|| format!("bit {i}"), || Ok(if bit { Fr::ONE } else { Fr::ZERO }))?;
        cs.enforce(|| format!("bit {i} is boolean"), |lc| lc + b, |lc| lc + CS::one() - b, |lc| lc);
        sum = sum + (weight, b);
        weight = weight.double();
        out.push(b);
    }
    cs.enforce(|| "bits sum to the value", |lc| lc + &sum, |lc| lc + CS::one(), |lc| lc + x);
    Ok(out)
}

fn bits_for(span: i128) -> u32 {
    128 - (span.max(1) as u128).leading_zeros()
}

/// Enforces `lo ≤ x ≤ hi` (two decompositions of `x - lo` and `hi - x`).
pub fn in_range<CS: ConstraintSystem<Fr>>(mut cs: CS, x: &Int, lo: i128, hi: i128) -> Result<(), SynthesisError> {
    let bits = bits_for(hi - lo);
    let below = x.lc.clone() - (fr(lo), CS::one());
    unsigned_bits(cs.namespace(|| "x - lo"), &below, x.value - lo, bits)?;
    let above = LinearCombination::zero() + (fr(hi), CS::one()) - &x.lc;
    unsigned_bits(cs.namespace(|| "hi - x"), &above, hi - x.value, bits)?;
    Ok(())
}

/// Enforces `-127 ≤ x ≤ 127` (symmetric int8) in 10 constraints: 8 bits of `x + 127` give
/// `[-127, 128]`, and an inverse of `x - 128` excludes 128.
pub fn int8<CS: ConstraintSystem<Fr>>(mut cs: CS, x: &Int) -> Result<(), SynthesisError> {
    let max = i128::from(INT8_MAX);
    let shifted = x.lc.clone() + (fr(max), CS::one());
    unsigned_bits(cs.namespace(|| "x + 127"), &shifted, x.value + max, 8)?;
    let gap = x.lc.clone() - (fr(max + 1), CS::one());
    let inverse = Option::from(fr(x.value - max - 1).invert()).unwrap_or(Fr::ZERO);
    let inv = cs.alloc(|| "inverse of x - 128", || Ok(inverse))?;
    cs.enforce(|| "x != 128", |lc| lc + &gap, |lc| lc + inv, |lc| lc + CS::one());
    Ok(())
}

/// `a · b`: linear when either is a constant, one constraint otherwise. `claimed` is the
/// prover's product (the honest one is `a.value · b.value`).
pub fn mul<CS: ConstraintSystem<Fr>>(mut cs: CS, a: &Int, b: &Int, claimed: i128) -> Result<Int, SynthesisError> {
    if a.constant {
        return Ok(Int { lc: b.scaled(a.value), value: a.value * b.value, constant: b.constant });
    }
    if b.constant {
        return Ok(Int { lc: a.scaled(b.value), value: a.value * b.value, constant: false });
    }
    let p = Int::alloc(cs.namespace(|| "product"), claimed)?;
    cs.enforce(|| "a * b = p", |lc| lc + &a.lc, |lc| lc + &b.lc, |lc| lc + &p.lc);
    Ok(p)
}

/// The witness of one output of a layer, computed natively from the engine's integers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeuronHint {
    /// `w_i · x_i` for each input.
    pub products: Vec<i128>,
    /// Whether the accumulator is non-negative (ReLU's sign).
    pub nonneg: bool,
    /// `floor((acc · m + 2^(s-1)) / 2^s)` before the clamp (hidden layers).
    pub quotient: i128,
    /// The remainder of that division.
    pub remainder: i128,
    /// The quotient is above 127.
    pub above: bool,
    /// The quotient is below the clamp's floor.
    pub below: bool,
}

impl NeuronHint {
    /// The honest witness for output `o` of `layer` on input `x`, for a circuit built with
    /// `bounds` (which decide whether ReLU is folded into the clamp, see [`dense_layer`]).
    pub fn honest(layer: &Layer, o: usize, x: &[i32], bounds: &LayerBounds) -> Self {
        let products: Vec<i128> = layer.row(o).iter().zip(x).map(|(w, v)| i128::from(*w) * i128::from(*v)).collect();
        let acc = products.iter().sum::<i128>() + i128::from(layer.bias[o]);
        let relu = layer.activation == Activation::Relu && !bounds.fuses_relu(layer);
        let activated = if relu { acc.max(0) } else { acc };
        let (quotient, remainder) = match &layer.requant {
            Some(r) => {
                let m = i128::from(r.multipliers[o]);
                let q = i128::from(native_requantize(activated as i64, m as i64, r.shift));
                (q, activated * m + (1i128 << (r.shift - 1)) - (q << r.shift))
            }
            None => (0, 0),
        };
        let lo = if layer.activation == Activation::Relu { 0 } else { -i128::from(INT8_MAX) };
        Self {
            products,
            nonneg: acc >= 0,
            quotient,
            remainder,
            above: quotient > i128::from(INT8_MAX),
            below: quotient < lo,
        }
    }
}

/// ReLU: `max(acc, 0)`, for `|acc| < 2^bits` (`bits ≤ 31`); see [`sign`].
pub fn relu<CS: ConstraintSystem<Fr>>(cs: CS, acc: &Int, nonneg: bool, bits: u32) -> Result<Int, SynthesisError> {
    Ok(sign(cs, acc, nonneg, bits)?.1)
}

/// The sign bit `s = [acc ≥ 0]` and `s · acc = max(acc, 0)`, for `|acc| < 2^bits` (`bits ≤ 31`):
/// the claimed bit `nonneg` is checked, with it set `acc ∈ [0, 2^bits)`, cleared `-acc - 1 ∈ [0,
/// 2^bits)`. `bits + 3` constraints.
pub fn sign<CS: ConstraintSystem<Fr>>(
    mut cs: CS,
    acc: &Int,
    nonneg: bool,
    bits: u32,
) -> Result<(Int, Int), SynthesisError> {
    assert!(bits <= 31, "accumulators are int32");
    let s = Int::alloc(cs.namespace(|| "sign"), i128::from(nonneg))?;
    cs.enforce(|| "sign is boolean", |lc| lc + &s.lc, |lc| lc + CS::one() - &s.lc, |lc| lc);
    let t = mul(cs.namespace(|| "sign * acc"), &s, acc, if nonneg { acc.value } else { 0 })?;
    // y = s·acc + (1 - s)·(-acc - 1) = 2t - acc - 1 + s
    let y = t.scaled(2) - &acc.lc - (Fr::ONE, CS::one()) + &s.lc;
    let y_value = if nonneg { acc.value } else { -acc.value - 1 };
    unsigned_bits(cs.namespace(|| "|acc| < 2^bits"), &y, y_value, bits)?;
    Ok((s, t))
}

/// The largest `|q|` [`requantize`] admits for `shift`: `2^(62 - shift) + 1`.
pub fn quotient_bound(shift: u32) -> i128 {
    (1i128 << (62 - shift.min(62))) + 1
}

/// `q = floor((acc · m + 2^(shift-1)) / 2^shift)` for `|acc| < 2^31`, `0 ≤ m < 2^31`: checks
/// `acc · m + 2^(shift-1) = q · 2^shift + r` with `0 ≤ r < 2^shift` and `q` in its range.
pub fn requantize<CS: ConstraintSystem<Fr>>(
    mut cs: CS,
    acc: &Int,
    m: &Int,
    shift: u32,
    quotient: i128,
    remainder: i128,
) -> Result<Int, SynthesisError> {
    let q = requantize_identity(cs.namespace(|| "identity"), acc, m, shift, quotient, remainder)?;
    let bound = quotient_bound(shift);
    in_range(cs.namespace(|| "q range"), &q, -bound, bound)?;
    Ok(q)
}

/// [`requantize`] without the range check of `q`: for a caller that bounds `q` itself (the
/// clamp that follows in [`dense_layer`] does, with decompositions far below the field size, so
/// the identity holds over the integers and `q` is unique).
fn requantize_identity<CS: ConstraintSystem<Fr>>(
    mut cs: CS,
    acc: &Int,
    m: &Int,
    shift: u32,
    quotient: i128,
    remainder: i128,
) -> Result<Int, SynthesisError> {
    let product = mul(cs.namespace(|| "acc * m"), acc, m, acc.value * m.value)?;
    let q = Int::alloc(cs.namespace(|| "quotient"), quotient)?;
    let r = Int::alloc(cs.namespace(|| "remainder"), remainder)?;
    let half = Fr::from_u128(1u128 << (shift - 1));
    let unit = q.scaled(1i128 << shift);
    cs.enforce(
        || "acc*m + half = q*2^s + r",
        |lc| lc + &product.lc + (half, CS::one()) - &unit - &r.lc,
        |lc| lc + CS::one(),
        |lc| lc,
    );
    unsigned_bits(cs.namespace(|| "0 <= r < 2^s"), &r.lc, remainder, shift)?;
    Ok(q)
}

/// `clamp(x, lo, hi)` with the claimed comparison bits checked, for `x` that the caller has
/// bounded so that `|x| + max(|lo|, |hi|) < 2^bits` (`bits ≤ 64`). Each comparison is one
/// `bits`-bit decomposition, so a tight bound makes the clamp cheap.
pub fn clamp<CS: ConstraintSystem<Fr>>(
    mut cs: CS,
    x: &Int,
    lo: i128,
    hi: i128,
    above: bool,
    below: bool,
    bits: u32,
) -> Result<Int, SynthesisError> {
    assert!(bits <= 64, "the clamp's comparisons are at most 64 bits");
    let a = Int::alloc(cs.namespace(|| "above"), i128::from(above))?;
    let b = Int::alloc(cs.namespace(|| "below"), i128::from(below))?;
    cs.enforce(|| "above is boolean", |lc| lc + &a.lc, |lc| lc + CS::one() - &a.lc, |lc| lc);
    cs.enforce(|| "below is boolean", |lc| lc + &b.lc, |lc| lc + CS::one() - &b.lc, |lc| lc);
    let ax = mul(cs.namespace(|| "above * x"), &a, x, if above { x.value } else { 0 })?;
    let bx = mul(cs.namespace(|| "below * x"), &b, x, if below { x.value } else { 0 })?;
    // above: x - hi - 1 >= 0, else hi - x >= 0; y_a = a(2x - 2hi - 1) + hi - x.
    let y_a = ax.scaled(2) - &a.scaled(2 * hi + 1) + (fr(hi), CS::one()) - &x.lc;
    let y_a_value = if above { x.value - hi - 1 } else { hi - x.value };
    unsigned_bits(cs.namespace(|| "above check"), &y_a, y_a_value, bits)?;
    // below: lo - 1 - x >= 0, else x - lo >= 0; y_b = b(2lo - 1 - 2x) + x - lo.
    let y_b = b.scaled(2 * lo - 1) - &bx.scaled(2) + &x.lc - (fr(lo), CS::one());
    let y_b_value = if below { lo - 1 - x.value } else { x.value - lo };
    unsigned_bits(cs.namespace(|| "below check"), &y_b, y_b_value, bits)?;
    let value = if above {
        hi
    } else if below {
        lo
    } else {
        x.value
    };
    // out = a·hi + b·lo + x - ax - bx
    let lc = a.scaled(hi) + &b.scaled(lo) + &x.lc - &ax.lc - &bx.lc;
    Ok(Int { lc, value, constant: false })
}

/// The range checks of a layer's accumulators and quotients: as many bits as the values can
/// need, so that each decomposition is as short as it can be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerBounds {
    /// `|acc| < 2^acc_bits` for every accumulator.
    pub acc_bits: u32,
    /// `|acc| ≤ acc_max`.
    pub acc_max: i128,
    /// The clamp's decomposition width (covers `|q| + 127`).
    pub clamp_bits: u32,
    /// The bounds follow from constant weights: every accumulator of int8 inputs is within
    /// `acc_max` by construction, so [`dense_layer`] checks no accumulator range itself, and
    /// folds ReLU into the clamp where the multipliers are non-negative.
    pub exact: bool,
    /// The caller range-checks the multipliers as non-negative (private weights, see
    /// [`LayerBounds::private`]): ReLU folds into the clamp whatever their values.
    pub nonneg_multipliers: bool,
}

impl LayerBounds {
    /// From the layer's structure only (int32 accumulators, the shift): what a private model's
    /// circuit uses, so that its shape says nothing about the weights.
    pub fn generic(layer: &Layer) -> Self {
        let acc_max = (1i128 << 31) - 1;
        let q_max = layer.requant.as_ref().map_or(0, |r| quotient_bound(r.shift));
        Self {
            acc_bits: 31,
            acc_max,
            clamp_bits: bits_for(q_max + i128::from(INT8_MAX) + 1),
            exact: false,
            nonneg_multipliers: false,
        }
    }

    /// [`LayerBounds::generic`] for a caller that range-checks the multipliers as unsigned
    /// (31 bits): the private step circuit. A model with a negative multiplier cannot be proven
    /// this way; quantization never makes one (a multiplier is a ratio of positive scales).
    pub fn private(layer: &Layer) -> Self {
        Self { nonneg_multipliers: true, ..Self::generic(layer) }
    }

    /// From the weights: the largest accumulator any int8 input can reach, and the quotient it
    /// requantizes to. For public models (the weights are public anyway).
    pub fn tight(layer: &Layer) -> Self {
        let acc_max = (0..layer.out_dim).map(|o| i128::from(layer.accumulator_bound(o))).max().unwrap_or(0);
        let q_max = layer.requant.as_ref().map_or(0, |r| {
            let m = r.multipliers.iter().copied().max().unwrap_or(0);
            ((acc_max * i128::from(m) + (1i128 << (r.shift - 1))) >> r.shift) + 1
        });
        Self {
            acc_bits: bits_for(acc_max + 1).min(31),
            acc_max,
            clamp_bits: bits_for(q_max + i128::from(INT8_MAX) + 1),
            exact: true,
            nonneg_multipliers: false,
        }
    }

    /// Whether [`dense_layer`] folds this ReLU into the clamp: with requantization and
    /// non-negative multipliers (constants, with exact bounds, or range-checked by the caller),
    /// `clamp(rq(max(acc, 0)), 0, 127) = clamp(rq(acc), 0, 127)` (a negative `acc` rounds to a
    /// quotient ≤ 0, which the clamp's floor of 0 maps to 0). The private circuit's decision reads
    /// no parameter value, so its shape says nothing about them.
    pub fn fuses_relu(&self, layer: &Layer) -> bool {
        layer.activation == Activation::Relu
            && layer
                .requant
                .as_ref()
                .is_some_and(|r| self.nonneg_multipliers || (self.exact && r.multipliers.iter().all(|m| *m >= 0)))
    }
}

/// A layer's parameters as circuit values (witness or constants).
#[derive(Clone, Copy, Debug)]
pub struct LayerParams<'a> {
    /// Row-major weights (`W[o][i]` at `o · in_dim + i`).
    pub weights: &'a [Int],
    /// One bias an output.
    pub bias: &'a [Int],
    /// One multiplier an output (hidden layers; empty for the last).
    pub multipliers: &'a [Int],
}

/// One dense layer: `acc = W·x + b`, ReLU, and for hidden layers requantization, clamp and the
/// layer's table if it has one ([`lookup`]).
/// `params` are circuit values (witness or constants), `x` the range-checked inputs.
/// Returns the outputs (int8 for hidden layers, int32 for the last).
pub fn dense_layer<CS: ConstraintSystem<Fr>>(
    mut cs: CS,
    layer: &Layer,
    params: LayerParams<'_>,
    x: &[Int],
    hints: &[NeuronHint],
    bounds: LayerBounds,
) -> Result<Vec<Int>, SynthesisError> {
    let mut out = Vec::with_capacity(layer.out_dim);
    for (o, hint) in hints.iter().enumerate().take(layer.out_dim) {
        let mut cs = cs.namespace(|| format!("output {o}"));
        let mut acc = Int { lc: params.bias[o].lc.clone(), value: params.bias[o].value, constant: false };
        let row = &params.weights[o * layer.in_dim..(o + 1) * layer.in_dim];
        for (i, (w, xi)) in row.iter().zip(x).enumerate() {
            let p = mul(cs.namespace(|| format!("w{i} * x{i}")), w, xi, hint.products[i])?;
            acc.lc = acc.lc + &p.lc;
            acc.value += p.value;
        }
        let constant = row.iter().all(|w| w.constant)
            && params.bias[o].constant
            && params.multipliers.get(o).is_none_or(|m| m.constant && m.value >= 0);
        // Exact bounds hold by construction only for constant parameters; anything else is
        // checked in full (and a hint made for the folded form then fails).
        let exact = bounds.exact && constant;
        let activated = match layer.activation {
            // Folded into the clamp below: the quotient of a negative acc is at most 0.
            Activation::Relu if (exact || bounds.nonneg_multipliers) && bounds.fuses_relu(layer) => acc,
            Activation::Relu => relu(cs.namespace(|| "relu"), &acc, hint.nonneg, bounds.acc_bits)?,
            // Constant weights on int8 inputs: |acc| ≤ acc_max < 2^31 already.
            Activation::None if exact => acc,
            Activation::None => {
                // The last layer's accumulator must still be an int32.
                in_range(cs.namespace(|| "int32"), &acc, -bounds.acc_max, bounds.acc_max)?;
                acc
            }
        };
        let y = match &layer.requant {
            None => activated,
            // A step table after a requantization of exactly 1 (constants): the table reads the
            // sign of q = acc (the clamp keeps it), so the output is acc's sign bit itself, at
            // a fraction of the requantization, clamp and lookup.
            Some(r) if exact && identity_step(layer, r, &params.multipliers[o]) => {
                sign(cs.namespace(|| "step"), &activated, hint.nonneg, bounds.acc_bits)?.0
            }
            Some(r) => {
                // The clamp's decompositions bound q (|q| < 2^bits + 127, far below the field).
                let q = requantize_identity(
                    cs.namespace(|| "requantize"),
                    &activated,
                    &params.multipliers[o],
                    r.shift,
                    hint.quotient,
                    hint.remainder,
                )?;
                let lo = if layer.activation == Activation::Relu { 0 } else { -i128::from(INT8_MAX) };
                let bits = bounds.clamp_bits;
                let y = clamp(cs.namespace(|| "clamp"), &q, lo, i128::from(INT8_MAX), hint.above, hint.below, bits)?;
                match &layer.table {
                    // The clamp bounds y to [-127, 127], as the lookup needs.
                    Some(t) => lookup(cs.namespace(|| "table"), &y, &t.values, &LookupHint::honest(y.value))?,
                    None => y,
                }
            }
        };
        out.push(y);
    }
    Ok(out)
}

/// Whether output `o` of `layer` is a step of its accumulator: a [`TableFunction::Step`] table
/// after a constant multiplier of exactly 1 (`m = 2^shift`).
fn identity_step(layer: &Layer, r: &crate::model::Requant, m: &Int) -> bool {
    layer.table.as_ref().is_some_and(|t| t.function == TableFunction::Step) && m.constant && m.value == 1i128 << r.shift
}

/// Range checks of the selected layer's values only (the private step circuit, whose `selectors`
/// are one-hot over the layers): slot `k` checks `Σ_l sel_l · v_l[k]` (the
/// selected layer's `v[k]`, or 0), as `bits`-bit signed (offset by `2^(bits-1)`) or unsigned.
/// A slot only one layer has is checked on its value directly (no product). The other layers'
/// values are free: their layers' results are discarded, and their commitments are not computed.
pub fn selected_range<CS: ConstraintSystem<Fr>>(
    cs: &mut CS,
    name: &str,
    selectors: &[(Variable, bool)],
    per_layer: &[&[Int]],
    bits: u32,
    signed: bool,
) -> std::result::Result<(), SynthesisError> {
    let slots = per_layer.iter().map(|v| v.len()).max().unwrap_or(0);
    let offset = if signed { 1i128 << (bits - 1) } else { 0 };
    for k in 0..slots {
        let mut cs = cs.namespace(|| format!("{name} {k}"));
        let holders: Vec<(usize, &Int)> =
            per_layer.iter().enumerate().filter_map(|(l, v)| v.get(k).map(|x| (l, x))).collect();
        let (lc, value) = if let [(_, x)] = holders.as_slice() {
            (x.lc.clone(), x.value)
        } else {
            let (mut lc, mut value) = (LinearCombination::zero(), 0i128);
            for (l, x) in holders {
                let (sel, on) = selectors[l];
                // p = sel · x: x when the layer is selected, else 0.
                let sel = Int { lc: LinearCombination::zero() + sel, value: i128::from(on), constant: false };
                let p = mul(cs.namespace(|| format!("layer {l}")), &sel, x, if on { x.value } else { 0 })?;
                lc = lc + &p.lc;
                if on {
                    value = x.value;
                }
            }
            (lc, value)
        };
        unsigned_bits(cs.namespace(|| "range"), &(lc + (fr(offset), CS::one())), value + offset, bits)?;
    }
    Ok(())
}

/// The witness of one table lookup: the one-hot vectors of the two nibbles of `u = q + 127`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupHint {
    /// `high[a] = 1` for `a = u >> 4`, 0 elsewhere (16 entries).
    pub high: Vec<i128>,
    /// `low[b] = 1` for `b = u & 15`, 0 elsewhere (16 entries).
    pub low: Vec<i128>,
}

impl LookupHint {
    /// The honest hint for `q ∈ [-127, 127]` (any other `q` gets the nibbles of `q + 127` mod 256,
    /// which the recomposition then rejects).
    pub fn honest(q: i128) -> Self {
        let u = (q + i128::from(INT8_MAX)).rem_euclid(256) as usize;
        let one_hot = |k: usize| (0..16).map(|i| i128::from(i == k)).collect();
        Self { high: one_hot(u >> 4), low: one_hot(u & 15) }
    }
}

/// `table[q + 127]` for `q ∈ [-127, 127]`, which the caller has range-checked (the clamp that
/// precedes a table layer's lookup does), against a constant table of 255 int8 values.
///
/// Two one-hot vectors `h`, `l` of 16 booleans each select the nibbles of `u = q + 127`
/// (`Σh = Σl = 1`, `16·Σ a·h_a + Σ b·l_b = u`), and the output is `Σ_a h_a · L_a(l)` with the
/// row `L_a(l) = Σ_b table[16a + b] · l_b` linear in `l`: one product a row, none for a row whose
/// entries are all equal (`L_a` is then the constant, as `Σl = 1`), which saturated rows of
/// Sigmoid and Tanh are. At most 32 + 3 + 16 = 51 constraints a lookup, whatever the table.
pub fn lookup<CS: ConstraintSystem<Fr>>(
    mut cs: CS,
    q: &Int,
    table: &[i8],
    hint: &LookupHint,
) -> Result<Int, SynthesisError> {
    assert_eq!(table.len(), 2 * INT8_MAX as usize + 1, "a table has one entry per int8 in [-127, 127]");
    assert!(hint.high.len() == 16 && hint.low.len() == 16, "a lookup hint has two vectors of 16");
    // u = 255 (q = 128) is excluded by the caller's range check; its entry repeats the last.
    let entry = |u: usize| i128::from(table[u.min(table.len() - 1)]);
    let mut one_hot = |name: &str, values: &[i128]| -> Result<Vec<Int>, SynthesisError> {
        let bits: Vec<Int> = values
            .iter()
            .enumerate()
            .map(|(i, v)| Int::alloc(cs.namespace(|| format!("{name} {i}")), *v))
            .collect::<Result<_, _>>()?;
        let mut sum = LinearCombination::zero();
        for (i, b) in bits.iter().enumerate() {
            cs.enforce(|| format!("{name} {i} is boolean"), |z| z + &b.lc, |z| z + CS::one() - &b.lc, |z| z);
            sum = sum + &b.lc;
        }
        cs.enforce(|| format!("one {name}"), |z| z + &sum, |z| z + CS::one(), |z| z + CS::one());
        Ok(bits)
    };
    let high = one_hot("high", &hint.high)?;
    let low = one_hot("low", &hint.low)?;
    let mut u = LinearCombination::zero();
    for (k, (h, l)) in high.iter().zip(&low).enumerate() {
        u = u + &h.scaled(16 * k as i128) + &l.scaled(k as i128);
    }
    cs.enforce(
        || "the nibbles are q + 127",
        |z| z + &u,
        |z| z + CS::one(),
        |z| z + &q.lc + (fr(i128::from(INT8_MAX)), CS::one()),
    );
    let (mut lc, mut value) = (LinearCombination::zero(), 0i128);
    for (a, h) in high.iter().enumerate() {
        let row: Vec<i128> = (0..16).map(|b| entry(16 * a + b)).collect();
        if row.iter().all(|v| *v == row[0]) {
            // L_a = row[0] · Σl = row[0]: the product is linear.
            lc = lc + &h.scaled(row[0]);
            value += h.value * row[0];
            continue;
        }
        let mut row_lc = LinearCombination::zero();
        for (l, v) in low.iter().zip(&row) {
            if *v != 0 {
                row_lc = row_lc + &l.scaled(*v);
            }
        }
        let row_value: i128 = low.iter().zip(&row).map(|(l, v)| l.value * v).sum();
        let p = Int::alloc(cs.namespace(|| format!("row {a}")), h.value * row_value)?;
        cs.enforce(|| format!("row {a} product"), |z| z + &h.lc, |z| z + &row_lc, |z| z + &p.lc);
        lc = lc + &p.lc;
        value += p.value;
    }
    Ok(Int { lc, value, constant: false })
}
