//! The tile step circuit: one fixed-size step of any model's tiled trace
//! ([`verdict_model::tiles`]). Its shape is the same for every model, so one set of keys serves
//! them all, and a disputed step costs the same whatever the model's size.
//!
//! Public IO: `[α, z_t, z_{t+1}, T_t]`, where `α` is the challenge of the step's byte lookups
//! ([`crate::lookup`]), drawn by the folding after the looked-up bytes are committed
//! ([`crate::challenged`]); the tile's position `t` is a witness, bound by `T_t`, which the
//! verifier takes from the model commitment at position `t`. Witness: the tile's flags and
//! dimensions, its weights, biases and multipliers (all opened from `T_t`), the state before the
//! tile (opened from `z_t`, or `z_t` is the layer input commitment at tile 0), the input column
//! block and the requantization hints. The circuit recomputes the state after the tile and its
//! commitment `z_{t+1}` (the output commitment after the last tile).
//!
//! Every value that a commitment opens is range-checked as its packing needs (int8 digits of the
//! weights and inputs, 32-bit digits of biases, multipliers and accumulators), each byte by a
//! lookup into `0..256`, so an opening is unique; the flags are booleans, the slots one-hot and
//! the shift and the valid rows thermometers, so the tile commitment cannot encode a step the
//! engine would not take. An upper half (rows 16..31 of its row block) has at most 15 rows, so
//! its digits stay within the row block's element.
//!
//! Across tiles, the state's read position binds the order: a tile starts a half's input
//! sponge exactly when none is open (`first_col = 1 - open`; the model's first tile opens none,
//! and starts its layer's output sponge), its lanes are one run from the state's next lane (lane
//! 4 after a fresh header) that contains its own slot, and the sponge permutes exactly when the
//! run reaches lane 7 or the half ends. So each lane of the layer input is read once, in
//! order, and the element a tile multiplies is the input's, even under tile commitments that a
//! private model's owner chose.

use ff::{Field, PrimeField};
use nova_snark::frontend::{num::AllocatedNum, Circuit, ConstraintSystem, SynthesisError, Variable};

use crate::{
    challenged::ChallengedStep,
    gadgets::fr,
    lookup::ByteLookups,
    poseidon_circuit::{self, Num},
    tiles::{
        apply, input_chunk, read_elements, tag_bytes, tile_commitment, tile_preimage, tile_word, TileParams, TileSpec,
        TileState, FLAG_BITS, LANES_BIT, SPONGE_WIDTH, TAG_TILE, TILE_COLS, TILE_ROWS,
    },
    Fr, Model,
};

/// The tile circuit's revision (part of the key cache's names).
/// 2: the tile count in the word, and as z_L's step index. 3: a private input's salt. 4: a tile
/// reads the zero-weight column blocks after its own (its lanes, in the tile commitment). 5: the
/// state's read position (`open`, `next`): lanes start where the last tile's ended, and may
/// begin before the tile's own block.
/// 6: byte range checks by lookups (the step draws its challenge `α` as public input 0, `t`
/// becomes a witness); 16-row tiles, each a half of a 31-row block.
/// 7: the tile commitment's preimage in 24 elements (three permutations, was four over 29): the
/// lanes in the word, the two sponge tags' 32 looked-up bytes as one element and a digit, the
/// position (4 looked-up bytes) and the domain tag as 32-bit digits after the multipliers.
/// 8: the state and the tile commitment by the wide hash (width 25, one permutation each, was
/// three), and the sponges' permutations in the lean layout
/// ([`poseidon_circuit::permute_lean`]): 6,804 constraints, was 8,875.
/// 9: the lean layout's S-boxes leave `x⁵` open, for the next round's inputs to define (`x⁴ · x =
/// (M⁻¹ · in)_j − c_j`): one variable and one constraint fewer an S-box; the sponges permute
/// `f · state` (`f` their permute flag), the same values at every tile that does not permute
/// ([`gated_permutation`]): 5,964 constraints, 7,358 variables, 59,093 nonzeros.
pub const TILE_CIRCUIT_VERSION: u32 = 9;

/// Public inputs of a tile step: `[α, z_t, z_{t+1}, T_t]`.
pub const TILE_IO_LEN: usize = 4;

/// The challenge a step holds until the folding draws one: `-1`, not a byte, so an honest
/// witness satisfies the circuit under it too.
pub fn default_challenge() -> Fr {
    -Fr::ONE
}

/// Bytes of the clamp's comparisons: quotients are below 2^41 (shift ≥ 22, multipliers below
/// 2^31), the comparisons below 2^48.
const CLAMP_BYTES: usize = 6;
/// Looked-up bytes of an output row, at these offsets: the bias digit (4), the multiplier (4,
/// then its top byte plus 128), the incoming accumulator's digit (4), the pre-activation's digit
/// (its three low bytes, its top seven bits, those plus 128; its top bit is the sign, a boolean),
/// the requantization remainder (8) and `2^shift − 1 −` it (8), the clamp's two comparisons.
const ROW_BIAS: usize = 0;
const ROW_MULTIPLIER: usize = 4;
const ROW_ACC: usize = 9;
const ROW_PRE: usize = 13;
const ROW_REMAINDER: usize = 18;
const ROW_BOUND: usize = 26;
const ROW_ABOVE: usize = 34;
const ROW_BELOW: usize = ROW_ABOVE + CLAMP_BYTES;
const ROW_BYTES: usize = ROW_BELOW + CLAMP_BYTES;
/// Where the looked-up bytes start: the weights' digits, the input column block's digits, the
/// four dimensions (4 bytes each), the position `t` (4), the input and output sponges' tags (16
/// each), then the rows'.
const AT_INPUT: usize = crate::tiles::TILE_WEIGHTS;
const AT_DIMS: usize = AT_INPUT + TILE_COLS;
const AT_POSITION: usize = AT_DIMS + 16;
const AT_TAGS: usize = AT_POSITION + 4;
const AT_ROWS: usize = AT_TAGS + 32;
/// Byte lookups of a tile step.
pub const TILE_LOOKUPS: usize = AT_ROWS + TILE_ROWS * ROW_BYTES;

type R<T> = Result<T, SynthesisError>;

/// One tile step, ready to synthesize.
#[derive(Clone, Debug)]
pub struct TileCircuit {
    spec: TileSpec,
    params: TileParams,
    blinding: Fr,
    salt: Fr,
    state: TileState,
    chunk: [i32; TILE_COLS],
    /// The input sponge lanes the tile reads ([`TileSpec::read_lanes`]).
    lanes: [bool; 8],
    /// The packed elements it adds to them (zero on the other lanes).
    read: [Fr; 8],
    /// The accumulators after the tile's products (the engine's, for the witness).
    acc: [i64; TILE_ROWS],
    /// The position `t` the tile commitment's preimage holds (the spec's index).
    position: usize,
    /// The sponges' tags as the preimage holds them ([`tag_bytes`]).
    tags: [u8; 32],
    /// Valid rows other than the spec's (tests of the flags' constraints).
    valid_rows: Option<usize>,
    io: [Fr; TILE_IO_LEN],
}

impl TileCircuit {
    /// Tile `spec` of `model` from `state`, reading the layer input `input` (the engine's
    /// activations of layer `spec.layer`), with the tile's parameters and blinding.
    pub fn new(
        model: &Model,
        spec: &TileSpec,
        params: TileParams,
        blinding: Fr,
        state: &TileState,
        input: &[i32],
        salt: Fr,
    ) -> Self {
        let step = apply(model, spec, &params, state, input, salt);
        let z_in = if spec.first() { state.x } else { state.commitment() };
        let z_out = if spec.last() { step.state.write[1] } else { step.state.commitment() };
        let t = tile_commitment(spec, &params, blinding);
        Self {
            chunk: input_chunk(spec, input),
            lanes: spec.read_lanes(),
            read: read_elements(spec, input),
            spec: spec.clone(),
            params,
            blinding,
            salt: if spec.layer == 0 { salt } else { Fr::ZERO },
            state: state.clone(),
            acc: step.acc,
            position: spec.index,
            tags: tag_bytes(spec),
            valid_rows: None,
            io: [default_challenge(), z_in, z_out, t],
        }
    }

    /// The public inputs this step claims.
    pub fn io(&self) -> &[Fr; TILE_IO_LEN] {
        &self.io
    }

    /// The same witness at another position `t` in the tile commitment's preimage (tests that
    /// `T_t` binds the position).
    #[doc(hidden)]
    pub fn with_position(mut self, t: usize) -> Self {
        self.position = t;
        self
    }

    /// The same witness with other bytes of the sponges' tags (tests that the tile commitment
    /// binds them, the byte in the last 32-bit digit too).
    #[doc(hidden)]
    pub fn with_tag_bytes(mut self, edit: impl FnOnce(&mut [u8; 32])) -> Self {
        edit(&mut self.tags);
        self
    }

    /// The same witness with flags claiming `rows` valid rows (tests of the flags' constraints).
    #[doc(hidden)]
    pub fn with_valid_rows(mut self, rows: usize) -> Self {
        self.valid_rows = Some(rows);
        self
    }

    /// The same witness with other claimed public inputs (tests of false claims).
    #[doc(hidden)]
    pub fn with_io(mut self, io: [Fr; TILE_IO_LEN]) -> Self {
        self.io = io;
        self
    }

    /// The same claim with another salt (tests that only the input's salt, and only in the first
    /// layer, opens z_0).
    #[doc(hidden)]
    pub fn with_salt(mut self, salt: Fr) -> Self {
        self.salt = salt;
        self
    }

    /// The same claim with other elements read into the input sponge's lanes (tests that only
    /// the layer input's elements pass).
    #[doc(hidden)]
    pub fn with_read(mut self, edit: impl FnOnce(&mut [Fr; 8])) -> Self {
        edit(&mut self.read);
        self
    }

    /// Other input lanes, and the tile commitment recomputed for them (tests of the lanes'
    /// constraints: a tile commitment that encodes lanes the engine never reads is unsatisfied).
    #[doc(hidden)]
    pub fn with_lanes(mut self, lanes: [bool; 8]) -> Self {
        self.lanes = lanes;
        let mut preimage = tile_preimage(&self.spec, &self.params, self.blinding);
        preimage[0] = tile_word(&self.spec, &lanes);
        self.io[3] = crate::wide_hash(&preimage);
        self
    }

    /// The same claim with another witness: `edit` changes the parameters or the state the
    /// circuit opens (tests that a witness other than the committed one fails).
    #[doc(hidden)]
    pub fn with_witness(mut self, edit: impl FnOnce(&mut TileParams, &mut TileState, &mut [i32; TILE_COLS])) -> Self {
        edit(&mut self.params, &mut self.state, &mut self.chunk);
        self
    }
}

/// A boolean witness variable.
fn bit<CS: ConstraintSystem<Fr>>(mut cs: CS, value: bool) -> R<Variable> {
    let b = cs.alloc(|| "bit", || Ok(if value { Fr::ONE } else { Fr::ZERO }))?;
    cs.enforce(|| "boolean", |z| z + b, |z| z + CS::one() - b, |z| z);
    Ok(b)
}

/// A field witness variable.
fn var<CS: ConstraintSystem<Fr>>(mut cs: CS, value: Fr) -> R<Num> {
    let v = cs.alloc(|| "value", || Ok(value))?;
    Ok(Num::var(v, Some(value)))
}

/// `a · b` as a new variable.
fn product<CS: ConstraintSystem<Fr>>(mut cs: CS, a: &Num, b: &Num) -> R<Num> {
    let value = a.value.zip(b.value).map(|(x, y)| x * y);
    let p = cs.alloc(|| "product", || value.ok_or(SynthesisError::AssignmentMissing))?;
    cs.enforce(|| "a * b", |z| z + &a.lc, |z| z + &b.lc, |z| z + p);
    Ok(Num::var(p, value))
}

/// The sponge permutation of `f · state` (`f` boolean): of the state where `f` is set, of
/// zeros otherwise, so that the permutation's variables hold the same values at every tile that
/// does not permute, and the prover commits to them once for all of those tiles
/// ([`crate::challenged`]'s repeated runs).
fn gated_permutation<CS: ConstraintSystem<Fr>>(mut cs: CS, f: &Num, state: &[Num]) -> R<Vec<Num>> {
    let gated = state
        .iter()
        .enumerate()
        .map(|(k, s)| product(cs.namespace(|| format!("gate {k}")), f, s))
        .collect::<R<Vec<_>>>()?;
    poseidon_circuit::permute_lean(cs, &gated)
}

/// `f ? a : b` (`f` boolean) as a new variable: `b + f · (a - b)`.
fn select<CS: ConstraintSystem<Fr>>(mut cs: CS, f: &Num, a: &Num, b: &Num) -> R<Num> {
    let on = f.value.map(|v| v == Fr::ONE);
    let value = on.zip(a.value.zip(b.value)).map(|(on, (a, b))| if on { a } else { b });
    let out = cs.alloc(|| "selected", || value.ok_or(SynthesisError::AssignmentMissing))?;
    cs.enforce(|| "f * (a - b) = out - b", |z| z + &f.lc, |z| z + &a.lc - &b.lc, |z| z + out - &b.lc);
    Ok(Num::var(out, value))
}

/// `f · (a - b) = 0`: `a = b` when `f` is set.
fn equal_if<CS: ConstraintSystem<Fr>>(mut cs: CS, f: &Num, a: &Num, b: &Num) {
    cs.enforce(|| "f * (a - b) = 0", |z| z + &f.lc, |z| z + &a.lc - &b.lc, |z| z);
}

/// `a = b`.
fn equal<CS: ConstraintSystem<Fr>>(mut cs: CS, a: &Num, b: &Num) {
    cs.enforce(|| "a = b", |z| z + &a.lc, |z| z + CS::one(), |z| z + &b.lc);
}

/// An unsigned value of `bits` bits as `bits` boolean variables; returns the bits and the value
/// as their sum (a linear combination).
fn digits<CS: ConstraintSystem<Fr>>(mut cs: CS, value: u128, bits: u32) -> R<(Vec<Variable>, Num)> {
    let mut out = Vec::with_capacity(bits as usize);
    let mut sum = Num::zero();
    let mut weight = Fr::ONE;
    for k in 0..bits {
        let b = bit(cs.namespace(|| format!("bit {k}")), (value >> k) & 1 == 1)?;
        sum = sum.add_scaled(weight, &Num::var(b, Some(if (value >> k) & 1 == 1 { Fr::ONE } else { Fr::ZERO })));
        weight = weight.double();
        out.push(b);
    }
    Ok((out, sum))
}

/// Packs digits (each a linear combination, `bits` wide, already range-checked) little-endian,
/// `248 / bits` an element, each element one variable (the sponge then reads one term).
fn pack<CS: ConstraintSystem<Fr>>(mut cs: CS, values: &[Num], bits: u32) -> R<Vec<Num>> {
    let per = (248 / bits) as usize;
    let radix = Fr::from(2u64).pow_vartime([u64::from(bits)]);
    let mut out = Vec::new();
    for (k, chunk) in values.chunks(per).enumerate() {
        let mut e = Num::zero();
        let mut weight = Fr::ONE;
        for v in chunk {
            e = e.add_scaled(weight, v);
            weight *= radix;
        }
        out.push(e.materialize(cs.namespace(|| format!("packed {k}")))?);
    }
    Ok(out)
}

/// A constant.
fn constant<CS: ConstraintSystem<Fr>>(c: Fr) -> Num {
    Num::constant::<CS>(c)
}

/// The flags of [`TileSpec::flag_bits`] as variables.
struct Flags {
    first: Num,
    last: Num,
    first_col: Num,
    last_col: Num,
    layer_start: Num,
    layer_end: Num,
    read_permutes: Num,
    write_permutes: Num,
    last_layer: Num,
    relu: Num,
    read_slot: Vec<Num>,
    write_slot: Vec<Num>,
    /// Thermometer: `shift[k]` for `k < shift`.
    shift: Vec<Num>,
    /// Thermometer: `valid[r]` for `r < valid rows`.
    valid: Vec<Num>,
    first_layer: Num,
    /// The tile is its row block's upper half (rows 16..31, digits 16.. of the element).
    upper: Num,
}

impl Flags {
    fn alloc<CS: ConstraintSystem<Fr>>(cs: &mut CS, spec: &TileSpec, valid_rows: Option<usize>) -> R<(Self, Num)> {
        let mut bits = spec.flag_bits();
        if let Some(rows) = valid_rows {
            // The valid-row thermometer's bits, after the head, slots and shift.
            for (r, b) in bits[10 + 16 + 62..][..TILE_ROWS].iter_mut().enumerate() {
                *b = r < rows;
            }
        }
        let mut vars = Vec::with_capacity(FLAG_BITS);
        let mut word = Num::zero();
        let mut weight = Fr::ONE;
        for (k, b) in bits.iter().enumerate() {
            let v = Num::var(bit(cs.namespace(|| format!("flag {k}")), *b)?, Some(if *b { Fr::ONE } else { Fr::ZERO }));
            word = word.add_scaled(weight, &v);
            weight = weight.double();
            vars.push(v);
        }
        let mut it = vars.into_iter();
        let mut take = |n: usize| (0..n).map(|_| it.next().expect("FLAG_BITS flags")).collect::<Vec<_>>();
        let head = take(10);
        let flags = Self {
            first: head[0].clone(),
            last: head[1].clone(),
            first_col: head[2].clone(),
            last_col: head[3].clone(),
            layer_start: head[4].clone(),
            layer_end: head[5].clone(),
            read_permutes: head[6].clone(),
            write_permutes: head[7].clone(),
            last_layer: head[8].clone(),
            relu: head[9].clone(),
            read_slot: take(8),
            write_slot: take(8),
            shift: take(62),
            valid: take(TILE_ROWS),
            first_layer: take(1).remove(0),
            upper: take(1).remove(0),
        };
        let one = constant::<CS>(Fr::ONE);
        for (name, slots) in [("read slot", &flags.read_slot), ("write slot", &flags.write_slot)] {
            let sum = slots.iter().fold(Num::zero(), |s, v| s.add_scaled(Fr::ONE, v));
            equal(cs.namespace(|| format!("{name} is one-hot")), &sum, &one);
        }
        for (name, thermometer) in [("shift", &flags.shift), ("valid", &flags.valid)] {
            for k in 1..thermometer.len() {
                // t[k] · (1 - t[k-1]) = 0: a thermometer.
                cs.enforce(
                    || format!("{name} {k} is a thermometer"),
                    |z| z + &thermometer[k].lc,
                    |z| z + CS::one() - &thermometer[k - 1].lc,
                    |z| z,
                );
            }
        }
        // Hidden layers: shift ≥ 22 (quotients below 2^40). The last layer: at most 28 rows.
        let min_shift = crate::tiles::MIN_TILED_SHIFT as usize - 1;
        cs.enforce(
            || "a hidden layer's shift is large enough",
            |z| z + CS::one() - &flags.last_layer.lc,
            |z| z + CS::one() - &flags.shift[min_shift].lc,
            |z| z,
        );
        // An upper half has at most 15 rows (digits 16..31 of the element); the last layer at most
        // 28 (its upper half at most 12).
        cs.enforce(|| "an upper half has at most 15 rows", |z| z + &flags.upper.lc, |z| z + &flags.valid[15].lc, |z| z);
        let upper_last = product(cs.namespace(|| "upper * last layer"), &flags.upper, &flags.last_layer)?;
        cs.enforce(|| "the last layer has at most 28 rows", |z| z + &upper_last.lc, |z| z + &flags.valid[12].lc, |z| z);
        Ok((flags, word))
    }
}

/// The int value of a signed integer as a field element.
fn int(v: i64) -> Fr {
    fr(i128::from(v))
}

/// A sponge state's variables.
fn sponge<CS: ConstraintSystem<Fr>>(mut cs: CS, values: &[Fr; SPONGE_WIDTH]) -> R<Vec<Num>> {
    values.iter().enumerate().map(|(k, v)| var(cs.namespace(|| format!("element {k}")), *v)).collect()
}

/// `f ? a : b` elementwise.
fn select_all<CS: ConstraintSystem<Fr>>(mut cs: CS, f: &Num, a: &[Num], b: &[Num]) -> R<Vec<Num>> {
    a.iter().zip(b).enumerate().map(|(k, (a, b))| select(cs.namespace(|| format!("element {k}")), f, a, b)).collect()
}

/// The sponge after an activation header: `[tag, 1, step, len, bits, 0, 0, 0, 0]`.
fn sponge_init<CS: ConstraintSystem<Fr>>(tag: &Num, step: &Num, len: &Num, bits: &Num) -> Vec<Num> {
    let mut s = vec![Num::zero(); SPONGE_WIDTH];
    s[0] = tag.clone();
    s[1] = constant::<CS>(Fr::from(crate::TAG_ACTIVATIONS));
    s[2] = step.clone();
    s[3] = len.clone();
    s[4] = bits.clone();
    s
}

/// `values[at + 1] = values[at] + 128`: the looked-up byte at `at` is below 128.
fn below_128<CS: ConstraintSystem<Fr>>(cs: CS, lookups: &ByteLookups, at: usize) {
    let v = lookups.values();
    equal(cs, &v[at].add_constant::<CS>(Fr::from(128u64)), &v[at + 1]);
}

/// A row's values that the circuit checks, from the engine's accumulator.
struct RowWitness {
    pre: i64,
    q: i64,
    remainder: u64,
    above: bool,
    below: bool,
    /// The clamp's comparisons (non-negative when the bits are right).
    y_above: i64,
    y_below: i64,
}

impl TileCircuit {
    fn row_witness(&self, r: usize) -> RowWitness {
        let pre = self.acc[r] + i64::from(self.params.bias[r]);
        let m = i64::from(self.params.multipliers[r]);
        let shift = self.spec.shift;
        let (q, remainder) = if shift == 0 {
            (0, 0)
        } else {
            let q = crate::requantize(pre, m, shift);
            let r = i128::from(pre) * i128::from(m) + (1i128 << (shift - 1)) - (i128::from(q) << shift);
            (q, r.clamp(0, i128::from(u64::MAX)) as u64)
        };
        let lo: i64 = if self.spec.relu { 0 } else { -127 };
        let (above, below) = (q > 127, q < lo);
        RowWitness {
            pre,
            q,
            remainder,
            above,
            below,
            y_above: if above { q - 128 } else { 127 - q },
            y_below: if below { lo - 1 - q } else { q - lo },
        }
    }

    /// The looked-up bytes, in the order of the constants above (values out of their ranges, which
    /// no honest witness has, are clamped: the circuit is then unsatisfied).
    fn lookup_bytes(&self) -> Vec<u8> {
        fn le(out: &mut Vec<u8>, value: i128, n: usize) {
            let v = value.clamp(0, (1i128 << (8 * n)) - 1) as u128;
            out.extend((0..n).map(|k| (v >> (8 * k)) as u8));
        }
        let mut b = Vec::with_capacity(TILE_LOOKUPS);
        b.extend(self.params.weights.iter().map(|w| (i32::from(*w) + 128) as u8));
        b.extend(self.chunk.iter().map(|v| (*v + 128).clamp(0, 255) as u8));
        for d in [self.spec.layer, self.spec.in_dim, self.spec.out_dim, self.spec.tiles, self.position] {
            le(&mut b, d as i128, 4);
        }
        b.extend_from_slice(&self.tags);
        let offset = 1i128 << 31;
        for r in 0..TILE_ROWS {
            let w = self.row_witness(r);
            le(&mut b, i128::from(self.params.bias[r]) + offset, 4);
            let m = i128::from(self.params.multipliers[r].max(0));
            le(&mut b, m, 4);
            b.push(((m >> 24) as u8).wrapping_add(128));
            le(&mut b, i128::from(self.state.acc[r]) + offset, 4);
            let pre = (i128::from(w.pre) + offset).clamp(0, (1 << 32) - 1);
            le(&mut b, pre & 0xff_ffff, 3);
            let top = ((pre >> 24) & 0x7f) as u8;
            b.extend([top, top + 128]);
            le(&mut b, i128::from(w.remainder), 8);
            let scale = 1i128 << self.spec.shift;
            le(&mut b, scale - 1 - i128::from(w.remainder), 8);
            le(&mut b, i128::from(w.y_above), CLAMP_BYTES);
            le(&mut b, i128::from(w.y_below), CLAMP_BYTES);
        }
        debug_assert_eq!(b.len(), TILE_LOOKUPS);
        b
    }
}

impl ChallengedStep for TileCircuit {
    fn prefix_len(&self) -> usize {
        ByteLookups::prefix_len(TILE_LOOKUPS)
    }

    fn with_challenge(&self, alpha: Fr) -> Self {
        let mut c = self.clone();
        c.io[0] = alpha;
        c
    }

    /// The lookups' quotients: the variables right after the prefix (the circuit enforces its
    /// lookups before it allocates anything else), and nothing else reads `α`.
    fn challenged_values(&self, prefix: &[Fr], alpha: Fr) -> Option<(usize, Vec<Fr>)> {
        Some((prefix.len(), ByteLookups::challenged_values(prefix, TILE_LOOKUPS, alpha)?))
    }
}

impl Circuit<Fr> for TileCircuit {
    fn synthesize<CS: ConstraintSystem<Fr>>(self, cs: &mut CS) -> R<()> {
        let spec = &self.spec;
        let io: Vec<Num> = self
            .io
            .iter()
            .zip(["alpha", "z_in", "z_out", "tile"])
            .map(|(v, name)| {
                Ok(Num::var(AllocatedNum::alloc_input(cs.namespace(|| name), || Ok(*v))?.get_variable(), Some(*v)))
            })
            .collect::<R<_>>()?;
        let [alpha, z_in, z_out, tile] = [&io[0], &io[1], &io[2], &io[3]];
        let one = constant::<CS>(Fr::ONE);

        // The looked-up bytes first: the prefix the folding commits before it draws α.
        let bytes: Vec<Option<u8>> = self.lookup_bytes().into_iter().map(Some).collect();
        let lookups = ByteLookups::allocate(cs, &bytes)?;
        lookups.enforce(cs.namespace(|| "byte lookups"), alpha)?;
        let byte = |k: usize| lookups.values()[k].clone();
        let word = |at: usize, n: usize| lookups.word(at..at + n);
        let offset31 = Fr::from(1u64 << 31);

        // The tile's flags and dimensions: the word of its commitment.
        let (flags, mut word_lc) = Flags::alloc(&mut cs.namespace(|| "flags"), spec, self.valid_rows)?;
        let dim_nums: Vec<Num> = (0..4).map(|k| word(AT_DIMS + 4 * k, 4)).collect();
        for (k, n) in dim_nums.iter().enumerate() {
            word_lc = word_lc.add_scaled(Fr::from(2u64).pow_vartime([120 + 32 * k as u64]), n);
        }
        let [layer, in_dim, out_dim, tiles] = [&dim_nums[0], &dim_nums[1], &dim_nums[2], &dim_nums[3]];
        // The input sponge's lanes the tile reads: one run of lanes, containing the read slot, that
        // starts at the state's next lane (checked once the state is opened).
        let mut lanes = Vec::with_capacity(8);
        let mut lanes_word = Num::zero();
        // The run's starts (a lane read after one not read): exactly one, at the start lane.
        let (mut starts, mut start_lane) = (Num::zero(), Num::zero());
        for (j, on) in self.lanes.iter().enumerate() {
            let mut cs = cs.namespace(|| format!("read lane {j}"));
            let lane = Num::var(bit(cs.namespace(|| "bit"), *on)?, Some(if *on { Fr::ONE } else { Fr::ZERO }));
            lanes_word = lanes_word.add_scaled(Fr::from(1u64 << j), &lane);
            let slot = &flags.read_slot[j];
            // slot_j · (1 - lane_j) = 0: the slot's lane is read.
            cs.enforce(|| "the slot is read", |z| z + &slot.lc, |z| z + CS::one() - &lane.lc, |z| z);
            // lane_j · (1 - lane_{j-1}): a run starts at lane j.
            let start = match j {
                0 => lane.clone(),
                _ => product(cs.namespace(|| "starts"), &lane, &one.add_scaled(-Fr::ONE, &lanes[j - 1]))?,
            };
            starts = starts.add_scaled(Fr::ONE, &start);
            start_lane = start_lane.add_scaled(Fr::from(j as u64), &start);
            lanes.push(lane);
        }
        equal(cs.namespace(|| "one run of lanes"), &starts, &one);
        // The sponges' tags (each below 2^128): their first 31 bytes are one element of the tile
        // commitment, their last a 32-bit digit.
        let read_tag = word(AT_TAGS, 16).materialize(cs.namespace(|| "read tag"))?;
        let write_tag = word(AT_TAGS + 16, 16).materialize(cs.namespace(|| "write tag"))?;
        let tags = word(AT_TAGS, 31);

        // Parameters: int8 weights as digits `w + 128`, biases as `b + 2^31`, multipliers as
        // unsigned 31-bit values (digit `m + 2^31`).
        let w_digits: Vec<Num> = (0..crate::tiles::TILE_WEIGHTS).map(byte).collect();
        let weights: Vec<Num> = w_digits.iter().map(|d| d.add_constant::<CS>(-Fr::from(128u64))).collect();
        let mut b_digits = Vec::with_capacity(TILE_ROWS);
        let mut bias = Vec::with_capacity(TILE_ROWS);
        let mut m_digits = Vec::with_capacity(TILE_ROWS);
        let mut multipliers = Vec::with_capacity(TILE_ROWS);
        for r in 0..TILE_ROWS {
            let at = AT_ROWS + r * ROW_BYTES;
            let d = word(at + ROW_BIAS, 4);
            bias.push(d.add_constant::<CS>(-offset31));
            b_digits.push(d);
            below_128(cs.namespace(|| format!("multiplier {r} top")), &lookups, at + ROW_MULTIPLIER + 3);
            let m = word(at + ROW_MULTIPLIER, 4).materialize(cs.namespace(|| format!("multiplier {r}")))?;
            m_digits.push(m.add_constant::<CS>(offset31));
            multipliers.push(m);
        }
        let blinding = var(cs.namespace(|| "blinding"), self.blinding)?;
        // The tile commitment's preimage (`tiles::tile_preimage`): the word with the lanes, the
        // tags, the weights, then the biases, multipliers, position, domain tag and the tags' last
        // byte as 32-bit digits.
        let word_num = word_lc
            .add_scaled(Fr::from(2u64).pow_vartime([LANES_BIT]), &lanes_word)
            .materialize(cs.namespace(|| "word"))?;
        let mut preimage = vec![word_num, tags];
        preimage.extend(pack(cs.namespace(|| "pack weights"), &w_digits, 8)?);
        let mut words = b_digits;
        words.extend(m_digits);
        words.push(word(AT_POSITION, 4));
        words.push(constant::<CS>(Fr::from(TAG_TILE)));
        words.push(byte(AT_TAGS + 31));
        preimage.extend(pack(cs.namespace(|| "pack words"), &words, 32)?);
        preimage.push(blinding);
        let h = poseidon_circuit::wide_hash(cs.namespace(|| "tile commitment"), &preimage)?;
        equal(cs.namespace(|| "the tile commitment"), &h, tile);

        // The state before the tile: z_in opens it, or is x at the model's first tile.
        let x = var(cs.namespace(|| "x"), self.state.x)?;
        let read_in = sponge(cs.namespace(|| "read in"), &self.state.read)?;
        let write_in = sponge(cs.namespace(|| "write in"), &self.state.write)?;
        let acc_in_digits: Vec<Num> = (0..TILE_ROWS).map(|r| word(AT_ROWS + r * ROW_BYTES + ROW_ACC, 4)).collect();
        let acc_in: Vec<Num> = acc_in_digits.iter().map(|d| d.add_constant::<CS>(-offset31)).collect();
        // The read position: whether a half's input sponge is open, and its next lane.
        let open_in =
            Num::var(bit(cs.namespace(|| "open in"), self.state.open)?, Some(Fr::from(u64::from(self.state.open))));
        let (_, next_in) = digits(cs.namespace(|| "next lane in"), self.state.next as u128, 3)?;
        let position_in = next_in.add_scaled(Fr::from(8u64), &open_in);
        let position_at = Fr::from(2u64).pow_vartime([crate::tiles::STATE_POSITION_BIT]);
        let mut state_in = vec![x.clone()];
        state_in.extend(read_in.iter().cloned());
        state_in.extend(write_in.iter().cloned());
        state_in.extend(pack(cs.namespace(|| "pack acc in"), &acc_in_digits, 32)?);
        let last_in = state_in.len() - 1;
        state_in[last_in] = state_in[last_in].add_scaled(position_at, &position_in);
        // The state before tile 0 is not opened: its accumulators must be zero, and so its
        // position (no sponge open; elsewhere a half's first tile reads the zeros its
        // predecessor left).
        let zero_acc = crate::pack(std::iter::repeat_n(0, TILE_ROWS), 32);
        let acc_at = state_in.len() - zero_acc.len();
        for (k, c) in zero_acc.iter().enumerate() {
            equal_if(
                cs.namespace(|| format!("tile 0 starts at zero {k}")),
                &flags.first,
                &state_in[acc_at + k],
                &constant::<CS>(*c),
            );
        }
        let h_in = poseidon_circuit::wide_hash(cs.namespace(|| "state in"), &state_in)?;
        // A half's sponge starts exactly when none is open; the model's first tile also starts
        // its layer's output sponge.
        equal(
            cs.namespace(|| "a row block starts when none is open"),
            &flags.first_col,
            &one.add_scaled(-Fr::ONE, &open_in),
        );
        equal_if(cs.namespace(|| "the first tile starts a layer"), &flags.first, &flags.layer_start, &one);
        // The run starts at the next lane, or at lane 4 after a fresh header:
        // s = next + first_col · (4 - next).
        let fresh = product(cs.namespace(|| "first_col * next"), &flags.first_col, &next_in)?;
        let start = next_in.add_scaled(Fr::from(4u64), &flags.first_col).add_scaled(-Fr::ONE, &fresh);
        equal(cs.namespace(|| "the run starts at the next lane"), &start_lane, &start);
        let opened = select(cs.namespace(|| "z_in select"), &flags.first, &x, &h_in)?;
        equal(cs.namespace(|| "z_in opens"), &opened, z_in);

        // The input column block: int8 digits `x + 128` (-128 past the input's end), one packed
        // element into the input sponge.
        let chunk_digits: Vec<Num> = (0..TILE_COLS).map(|c| byte(AT_INPUT + c)).collect();
        let chunk: Vec<Num> = chunk_digits.iter().map(|d| d.add_constant::<CS>(-Fr::from(128u64))).collect();
        let element = pack(cs.namespace(|| "pack input"), &chunk_digits, 8)?.remove(0);
        // The first layer's header width element is 8 + 2^64 · salt (a private input's salted
        // z_0); elsewhere the salt must be zero.
        let salt = var(cs.namespace(|| "salt"), self.salt)?;
        let not_first_layer = one.add_scaled(-Fr::ONE, &flags.first_layer);
        equal_if(cs.namespace(|| "a salt only in the first layer"), &not_first_layer, &salt, &Num::zero());
        let width = Num::zero().add_scaled(Fr::from_u128(1u128 << 64), &salt).add_constant::<CS>(Fr::from(8u64));
        let read_init = sponge_init::<CS>(&read_tag, layer, in_dim, &width);
        let mut read = select_all(cs.namespace(|| "read start"), &flags.first_col, &read_init, &read_in)?;
        // Each lane read takes an element: at the slot, the multiplied column block's; after it,
        // the zero-weight blocks' (bound by the half's last tile, which checks the sponge's
        // output against x).
        for (s, (slot, lane)) in flags.read_slot.iter().zip(&lanes).enumerate() {
            let mut cs = cs.namespace(|| format!("read lane {s} element"));
            let e = var(cs.namespace(|| "element"), self.read[s])?;
            equal_if(cs.namespace(|| "the slot's element is the block's"), slot, &e, &element);
            let add = product(cs.namespace(|| "read"), lane, &e)?;
            read[1 + s] = read[1 + s].add_scaled(Fr::ONE, &add);
        }
        let permuted = gated_permutation(cs.namespace(|| "read permutation"), &flags.read_permutes, &read)?;
        let read = select_all(cs.namespace(|| "read permutes"), &flags.read_permutes, &permuted, &read)?;
        // It permutes exactly when the run reaches lane 7 or the half ends; the next tile
        // reads from the lane after the run, or from a fresh block (0).
        let both = product(cs.namespace(|| "lane 7 and last col"), &lanes[7], &flags.last_col)?;
        let permutes = lanes[7].add_scaled(Fr::ONE, &flags.last_col).add_scaled(-Fr::ONE, &both);
        equal(cs.namespace(|| "the read permutes at a block's end"), &flags.read_permutes, &permutes);
        let end = lanes.iter().fold(start.clone(), |s, lane| s.add_scaled(Fr::ONE, lane));
        let next_out =
            product(cs.namespace(|| "next lane out"), &end, &one.add_scaled(-Fr::ONE, &flags.read_permutes))?;

        // The products, on the accumulators.
        let mut acc = Vec::with_capacity(TILE_ROWS);
        for (r, a) in acc_in.iter().enumerate() {
            let mut cs = cs.namespace(|| format!("row {r}"));
            let mut sum = a.clone();
            for c in 0..TILE_COLS {
                let p = product(cs.namespace(|| format!("w * x {c}")), &weights[r * TILE_COLS + c], &chunk[c])?;
                sum = sum.add_scaled(Fr::ONE, &p);
            }
            acc.push(sum.materialize(cs.namespace(|| "acc"))?);
        }

        // The tile's outputs (used on its last column tile): bias, ReLU, requantization and clamp
        // for hidden layers, int32 (ReLU'd if asked) for the last.
        // 2^shift = 1 + Σ_k t_k 2^k and 2^(shift-1) = t_0 + Σ_{k≥1} t_k 2^(k-1) (0 for shift 0).
        let (mut scale, mut half) = (one.clone(), Num::zero());
        for (k, t) in flags.shift.iter().enumerate() {
            scale = scale.add_scaled(Fr::from(2u64).pow_vartime([k as u64]), t);
            half = half.add_scaled(if k == 0 { Fr::ONE } else { Fr::from(2u64).pow_vartime([k as u64 - 1]) }, t);
        }
        let scale = scale.materialize(cs.namespace(|| "2^shift"))?;
        let half = half.materialize(cs.namespace(|| "2^(shift-1)"))?;
        // The digits this tile adds to its row block's int8 element (from digit 16 in an upper
        // half), and to the last layer's four int32 elements (row 16 · half + r is digit
        // (16 · half + r) mod 7 of element ⌊(16 · half + r) / 7⌋).
        let mut out8 = Num::zero();
        let (mut out32_lower, mut out32_upper) = (vec![Num::zero(); 4], vec![Num::zero(); 4]);
        for r in 0..TILE_ROWS {
            let mut cs = cs.namespace(|| format!("output {r}"));
            let at = AT_ROWS + r * ROW_BYTES;
            let w = self.row_witness(r);
            let pre = acc[r].add_scaled(Fr::ONE, &bias[r]).materialize(cs.namespace(|| "pre"))?;
            // |pre| < 2^31: its digit `pre + 2^31` is three bytes, seven bits and the sign bit
            // (set for pre ≥ 0).
            below_128(cs.namespace(|| "pre top"), &lookups, at + ROW_PRE + 3);
            let nonneg_value = w.pre >= 0;
            let nonneg = Num::var(bit(cs.namespace(|| "sign"), nonneg_value)?, Some(Fr::from(u64::from(nonneg_value))));
            let pre_digit = word(at + ROW_PRE, 4).add_scaled(offset31, &nonneg);
            equal(cs.namespace(|| "pre digit"), &pre_digit.add_constant::<CS>(-offset31), &pre);
            // Requantization: pre · m + half = q · 2^shift + r, 0 ≤ r < 2^shift.
            let pm = product(cs.namespace(|| "pre * m"), &pre, &multipliers[r])?;
            let q = var(cs.namespace(|| "quotient"), int(w.q))?;
            let rem = word(at + ROW_REMAINDER, 8);
            let bound = word(at + ROW_BOUND, 8);
            equal(
                cs.namespace(|| "r + bound = 2^shift - 1"),
                &rem.add_scaled(Fr::ONE, &bound),
                &scale.add_constant::<CS>(-Fr::ONE),
            );
            cs.enforce(
                || "q * 2^shift = pre * m + half - r",
                |z| z + &q.lc,
                |z| z + &scale.lc,
                |z| z + &pm.lc + &half.lc - &rem.lc,
            );
            // Clamp to [lo, 127], lo = -127 · (1 - relu).
            let a = Num::var(bit(cs.namespace(|| "above"), w.above)?, Some(Fr::from(u64::from(w.above))));
            let b = Num::var(bit(cs.namespace(|| "below"), w.below)?, Some(Fr::from(u64::from(w.below))));
            let aq = product(cs.namespace(|| "above * q"), &a, &q)?;
            let bq = product(cs.namespace(|| "below * q"), &b, &q)?;
            let br = product(cs.namespace(|| "below * relu"), &b, &flags.relu)?;
            // above: q - 128 ≥ 0, else 127 - q ≥ 0: y_a = 2aq - 255a - q + 127.
            let y_a = aq
                .add_scaled(Fr::ONE, &aq)
                .add_scaled(-Fr::from(255u64), &a)
                .add_scaled(-Fr::ONE, &q)
                .add_constant::<CS>(Fr::from(127u64));
            equal(cs.namespace(|| "above bytes"), &word(at + ROW_ABOVE, CLAMP_BYTES), &y_a);
            // below: lo - 1 - q ≥ 0, else q - lo ≥ 0: y_b = 2b·lo - 2bq - b + q - lo with
            // b·lo = -127 (b - b·relu) and lo = -127 + 127 relu.
            let b_lo = Num::zero().add_scaled(-Fr::from(127u64), &b.add_scaled(-Fr::ONE, &br));
            let y_b = b_lo
                .add_scaled(Fr::ONE, &b_lo)
                .add_scaled(-Fr::from(2u64), &bq)
                .add_scaled(-Fr::ONE, &b)
                .add_scaled(Fr::ONE, &q)
                .add_constant::<CS>(Fr::from(127u64))
                .add_scaled(-Fr::from(127u64), &flags.relu);
            equal(cs.namespace(|| "below bytes"), &word(at + ROW_BELOW, CLAMP_BYTES), &y_b);
            // y8 = 127a + b·lo + q - aq - bq.
            let y8 = Num::zero()
                .add_scaled(Fr::from(127u64), &a)
                .add_scaled(Fr::ONE, &b_lo)
                .add_scaled(Fr::ONE, &q)
                .add_scaled(-Fr::ONE, &aq)
                .add_scaled(-Fr::ONE, &bq);
            // int32: pre, or max(pre, 0) with ReLU: pre - relu · (pre - nonneg · pre).
            let sp = product(cs.namespace(|| "sign * pre"), &nonneg, &pre)?;
            let cut = product(cs.namespace(|| "relu cut"), &flags.relu, &pre.add_scaled(-Fr::ONE, &sp))?;
            let y32 = pre.add_scaled(-Fr::ONE, &cut);
            let y = select(cs.namespace(|| "output"), &flags.last_layer, &y32, &y8)?;
            // Padding rows are absent from the packing (digit 0): v · (y + offset).
            let vy = product(cs.namespace(|| "valid * y"), &flags.valid[r], &y)?;
            let digit8 = vy.add_scaled(Fr::from(128u64), &flags.valid[r]);
            let digit32 = vy.add_scaled(offset31, &flags.valid[r]);
            out8 = out8.add_scaled(Fr::from(2u64).pow_vartime([8 * r as u64]), &digit8);
            let lower = r;
            out32_lower[lower / 7] =
                out32_lower[lower / 7].add_scaled(Fr::from(2u64).pow_vartime([32 * (lower % 7) as u64]), &digit32);
            let upper = TILE_ROWS + r;
            if upper < crate::tiles::MAX_TILED_OUTPUTS {
                out32_upper[upper / 7] =
                    out32_upper[upper / 7].add_scaled(Fr::from(2u64).pow_vartime([32 * (upper % 7) as u64]), &digit32);
            }
        }
        // An upper half's digits start at digit 16.
        let shifted8 = Num::zero().add_scaled(Fr::from(2u64).pow_vartime([8 * TILE_ROWS as u64]), &out8);
        let out8 = select(cs.namespace(|| "int8 half"), &flags.upper, &shifted8, &out8)?;
        let out32: Vec<Num> = (0..4)
            .map(|k| select(cs.namespace(|| format!("int32 half {k}")), &flags.upper, &out32_upper[k], &out32_lower[k]))
            .collect::<R<_>>()?;
        // What the tile writes (only on its last column tile): its digits of the row block's int8
        // element at the write slot, or of the four int32 elements at slots 4..8.
        let first_written = select(cs.namespace(|| "written"), &flags.last_layer, &out32[0], &out8)?;
        let gated = product(cs.namespace(|| "gated written 0"), &flags.last_col, &first_written)?;
        // The output header's step: layer + 1, or the tile count L after the last layer.
        let next_layer = layer.add_constant::<CS>(Fr::ONE);
        let write_step = select(cs.namespace(|| "write step"), &flags.last_layer, tiles, &next_layer)?;
        let write_init = sponge_init::<CS>(
            &write_tag,
            &write_step,
            out_dim,
            &constant::<CS>(Fr::from(8u64)).add_scaled(Fr::from(24u64), &flags.last_layer),
        );
        let mut write = select_all(cs.namespace(|| "write start"), &flags.layer_start, &write_init, &write_in)?;
        for (s, slot) in flags.write_slot.iter().enumerate() {
            let add = product(cs.namespace(|| format!("write slot {s}")), slot, &gated)?;
            write[1 + s] = write[1 + s].add_scaled(Fr::ONE, &add);
        }
        let int32_written = product(cs.namespace(|| "int32 written"), &flags.last_col, &flags.last_layer)?;
        for k in 1..4 {
            let add = product(cs.namespace(|| format!("gated written {k}")), &int32_written, &out32[k])?;
            write[5 + k] = write[5 + k].add_scaled(Fr::ONE, &add);
        }
        let permuted = gated_permutation(cs.namespace(|| "write permutation"), &flags.write_permutes, &write)?;
        let write = select_all(cs.namespace(|| "write permutes"), &flags.write_permutes, &permuted, &write)?;

        // The row block's last tile: the columns it read are the layer's input.
        equal_if(cs.namespace(|| "the input read is x"), &flags.last_col, &read[1], &x);

        // The state after the tile, and z_out (the output commitment after the last tile).
        let not_last_col = one.add_scaled(-Fr::ONE, &flags.last_col);
        let mut acc_out_digits = Vec::with_capacity(TILE_ROWS);
        for (r, a) in acc.iter().enumerate() {
            let kept = product(cs.namespace(|| format!("acc out {r}")), &not_last_col, a)?;
            acc_out_digits.push(kept.add_constant::<CS>(offset31));
        }
        let x_out = select(cs.namespace(|| "x out"), &flags.layer_end, &write[1], &x)?;
        let mut state_out = vec![x_out];
        state_out.extend(read.iter().cloned());
        state_out.extend(write.iter().cloned());
        state_out.extend(pack(cs.namespace(|| "pack acc out"), &acc_out_digits, 32)?);
        // The position after: open until the row block's last tile.
        let position_out = next_out.add_scaled(Fr::from(8u64), &not_last_col);
        let last_out = state_out.len() - 1;
        state_out[last_out] = state_out[last_out].add_scaled(position_at, &position_out);
        let h_out = poseidon_circuit::wide_hash(cs.namespace(|| "state out"), &state_out)?;
        let closed = select(cs.namespace(|| "z_out select"), &flags.last, &write[1], &h_out)?;
        equal(cs.namespace(|| "z_out closes"), &closed, z_out);
        Ok(())
    }
}
