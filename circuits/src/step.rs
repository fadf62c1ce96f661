//! The uniform step circuit of a model: step `i` applies layer `i` to the activations committed
//! by z_i and shows that they become the activations committed by z_{i+1}.
//!
//! One circuit serves every step of a model (Nova folds instances of one shape), so the circuit
//! holds every layer, each specialized to its own dimensions, shift and activation, and a one-hot
//! selector on the public step index picks the layer whose commitments are the step's IO:
//!
//! - public IO (in this order): `[i, z_i, z_{i+1}, M]`, where `M` is the model commitment;
//! - the input `x` (as wide as the widest layer input) is witness, range-checked to int8;
//! - every layer `l` runs on the same input (unselected layers' results are discarded), and
//!   `z_i`, `z_{i+1}` must equal the selected layer's `H(1, l, in_dim_l, 8, pack(x[..in_dim_l]))`
//!   and `H(1, l+1, out_dim_l, b, pack(layer_l(x[..in_dim_l])))` (Poseidon, exactly the
//!   commitments of `COMMITMENTS.md`). A commitment of at most 7 elements is one permutation of
//!   `[tag(n), e_1..e_n, 0..]`, so the layers' hashes share ONE permutation whose initial state
//!   is the selector-weighted sum of theirs (see [`selected_hash`]): two permutations a step,
//!   not two a layer.
//!
//! Weights come in two modes ([`WeightMode`]):
//! - **public**: the weights are constants of the circuit, so a matrix product costs no
//!   multiplication constraint and the verifying key's digest binds them; `M` must equal the
//!   model's public commitment (a constant);
//! - **private**: the weights, biases and multipliers are witness, range-checked by their packing,
//!   and every layer commitment (blinded with a secret element) and then `M` are recomputed
//!   in-circuit; `M` is the registered, blinded model commitment. The folding prover's random
//!   instance hides the witness.

use ff::Field;
use nova_snark::frontend::{
    gadgets::poseidon::{IOPattern, Simplex, SpongeAPI, SpongeOp, SpongeTrait},
    num::AllocatedNum,
    Circuit, ConstraintSystem, Elt, LinearCombination, SpongeCircuit, SynthesisError, Variable,
};
use serde::{Deserialize, Serialize};

use crate::{
    commit::{
        activation_commitment, layer_commitment, model_commitment_with, poseidon_constants, step_bits, CommitArity,
        Commitment, PACK_BITS, TAG_ACTIVATIONS, TAG_LAYER, TAG_MODEL,
    },
    gadgets::{dense_layer, fr, int8, unsigned_bits, Int, LayerBounds, LayerParams, NeuronHint},
    model::{Activation, Model, Task, INT8_MAX},
    Error, Fr, Result,
};

/// The step circuit's revision: part of the key cache's file names, so that keys made for an
/// older circuit are never loaded for a newer one. Raise it with every change of the shape.
/// 2: the layers' commitments share one permutation; public ReLU folded into the clamp.
pub const CIRCUIT_VERSION: u32 = 2;

/// Public inputs of one step: `[i, z_i, z_{i+1}, M]`.
pub const STEP_IO_LEN: usize = 4;

/// How the step circuit holds a model's weights.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WeightMode {
    /// Weights are circuit constants; the model commitment is the public (unblinded) one.
    Public,
    /// Weights are witness, bound to the blinded model commitment.
    Private(Blinding),
}

impl WeightMode {
    /// `"public"` or `"private"`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private(_) => "private",
        }
    }

    /// The model commitment `M` a proof in this mode is checked against.
    pub fn model_commitment(&self, model: &Model) -> Result<Commitment> {
        match self {
            Self::Public => Ok(model.commitment()),
            Self::Private(b) => b.model_commitment(model),
        }
    }
}

/// The secret blinding elements of a private model, one per layer.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blinding {
    /// Always `"verdict-blinding"`.
    pub format: String,
    /// Format version (1).
    pub version: u32,
    /// One uniformly random element per layer.
    pub layers: Vec<Commitment>,
}

impl std::fmt::Debug for Blinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blinding({} layers, redacted)", self.layers.len())
    }
}

/// The `format` field of a blinding file.
pub const BLINDING_FORMAT: &str = "verdict-blinding";

impl Blinding {
    /// Fresh random blindings for every layer of `model`.
    pub fn random(model: &Model) -> Self {
        let mut rng = rand::rngs::OsRng;
        Self {
            format: BLINDING_FORMAT.into(),
            version: 1,
            layers: model.layers.iter().map(|_| Commitment::from_field(Fr::random(&mut rng))).collect(),
        }
    }

    /// All-zero blindings: the shape of the private step circuit, for a verifier's key setup.
    pub(crate) fn zero(model: &Model) -> Self {
        Self {
            format: BLINDING_FORMAT.into(),
            version: 1,
            layers: model.layers.iter().map(|_| Commitment::from_field(Fr::ZERO)).collect(),
        }
    }

    /// The blinding elements, checked against the model's layer count.
    pub fn elements(&self, model: &Model) -> Result<Vec<Fr>> {
        if self.format != BLINDING_FORMAT || self.version != 1 {
            return Err(Error::Input(format!(
                "expected a {BLINDING_FORMAT} v1 file, found {} v{}",
                self.format, self.version
            )));
        }
        if self.layers.len() != model.layers.len() {
            return Err(Error::Input(format!(
                "the blinding has {} elements, the model has {} layers",
                self.layers.len(),
                model.layers.len()
            )));
        }
        // Commitments are canonical by construction (parsing rejects the rest).
        Ok(self.layers.iter().map(|c| c.to_field().expect("canonical")).collect())
    }

    /// The blinded layer commitments of `model`.
    pub fn layer_commitments(&self, model: &Model) -> Result<Vec<Fr>> {
        let blinds = self.elements(model)?;
        Ok(model.layers.iter().zip(blinds).enumerate().map(|(i, (l, b))| layer_commitment(i, l, b)).collect())
    }

    /// The blinded model commitment (what a private model registers).
    pub fn model_commitment(&self, model: &Model) -> Result<Commitment> {
        Ok(Commitment::from_field(model_commitment_with(model, &self.layer_commitments(model)?)))
    }

    /// Reads a blinding file.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.into(), source })?;
        serde_json::from_str(&text).map_err(|e| Error::Input(format!("{} is not a blinding file: {e}", path.display())))
    }

    /// Writes a blinding file (keep it secret: with it, the weights open the commitment).
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        let path = path.as_ref();
        let text = serde_json::to_string_pretty(self).expect("a blinding always serializes");
        std::fs::write(path, text + "\n").map_err(|source| Error::Io { path: path.into(), source })
    }
}

/// The width of a step's input vector: the widest layer input.
pub fn step_width(model: &Model) -> usize {
    model.layers.iter().map(|l| l.in_dim).max().unwrap_or(0)
}

/// The public inputs of step `step`: `[step, z_in, z_out, M]`.
pub fn step_io(step: usize, z_in: Fr, z_out: Fr, model_commitment: Fr) -> Vec<Fr> {
    vec![Fr::from(step as u64), z_in, z_out, model_commitment]
}

/// One step of a model's inference, ready to synthesize.
#[derive(Clone)]
pub struct StepCircuit<'a> {
    model: &'a Model,
    /// Private mode: the layer blindings; public mode: none.
    blinding: Option<Vec<Fr>>,
    /// `M` for this mode, computed natively from the model (the circuit's constant in public mode).
    commitment: Fr,
    step: usize,
    /// The step's input, zero-padded to [`step_width`].
    input: Vec<i32>,
    io: [Fr; STEP_IO_LEN],
    /// Poseidon in nova-snark's compact layout (more constraints, about half the nonzeros).
    compact: bool,
}

impl<'a> StepCircuit<'a> {
    /// Step `step` of `model` on its input activations (`trace.steps[step]`).
    pub fn new(model: &'a Model, mode: &WeightMode, step: usize, input: &[i32]) -> Result<Self> {
        let layer = model.layers.get(step).ok_or_else(|| {
            Error::Input(format!("step {step} is out of range: the model has {} steps", model.steps()))
        })?;
        if input.len() != layer.in_dim {
            return Err(Error::Input(format!("step {step} takes {} values, found {}", layer.in_dim, input.len())));
        }
        if let Some(i) = input.iter().position(|v| v.abs() > INT8_MAX) {
            return Err(Error::Input(format!("step {step}: value {i} is {}, outside [-127, 127]", input[i])));
        }
        let blinding = match mode {
            WeightMode::Public => None,
            WeightMode::Private(b) => Some(b.elements(model)?),
        };
        let commitment = mode.model_commitment(model)?.to_field().expect("canonical");
        let output = layer.forward(input);
        let z_in = activation_commitment(step, input, 8);
        let z_out = activation_commitment(step + 1, &output, step_bits(model, step + 1));
        let mut padded = input.to_vec();
        padded.resize(step_width(model), 0);
        let io = [Fr::from(step as u64), z_in, z_out, commitment];
        Ok(Self { model, blinding, commitment, step, input: padded, io, compact: false })
    }

    /// A step with a zero input: any step has the circuit's shape, this one is for key setup.
    pub fn for_setup(model: &'a Model, mode: &WeightMode) -> Result<Self> {
        Self::new(model, mode, 0, &vec![0; model.input.len])
    }

    /// Lays the Poseidon hashes out compactly (or not): another shape, the same statement.
    pub fn compact(mut self, compact: bool) -> Self {
        self.compact = compact;
        self
    }

    /// The public inputs this step claims: `[i, z_i, z_{i+1}, M]`.
    pub fn io(&self) -> &[Fr; STEP_IO_LEN] {
        &self.io
    }

    /// The same witness with other claimed public inputs: for tests that show a false claim
    /// (another step, commitment or model) leaves the circuit unsatisfied.
    #[doc(hidden)]
    pub fn with_io(mut self, io: [Fr; STEP_IO_LEN]) -> Self {
        self.io = io;
        self
    }
}

/// `lc · k`.
fn scale(lc: &LinearCombination<Fr>, k: Fr) -> LinearCombination<Fr> {
    let mut out = LinearCombination::zero();
    for (var, coeff) in lc.iter() {
        out = out + (*coeff * k, var);
    }
    out
}

/// Packs `values` (of `bits` bits, in range) as `COMMITMENTS.md` specifies; each packed element
/// gets its own variable so that the sponge reads one variable, not a long combination.
fn pack_circuit<CS: ConstraintSystem<Fr>>(
    cs: &mut CS,
    values: &[Int],
    bits: u32,
) -> std::result::Result<Vec<AllocatedNum<Fr>>, SynthesisError> {
    let per = (PACK_BITS / bits) as usize;
    let radix = Fr::from(1u64 << bits);
    let offset = fr(1i128 << (bits - 1));
    let mut out = Vec::new();
    for (k, chunk) in values.chunks(per).enumerate() {
        let (mut lc, mut value, mut weight) = (LinearCombination::zero(), Fr::ZERO, Fr::ONE);
        for v in chunk {
            lc = lc + &scale(&v.lc, weight) + (weight * offset, CS::one());
            value += weight * (fr(v.value) + offset);
            weight *= radix;
        }
        let e = AllocatedNum::alloc(cs.namespace(|| format!("packed {k}")), || Ok(value))?;
        cs.enforce(|| format!("packed {k} is the sum"), |z| z + &lc, |z| z + CS::one(), |z| z + e.get_variable());
        out.push(e);
    }
    Ok(out)
}

/// A constant sponge element. `num_from_fr` names a constraint system only for `CS::one()`, the
/// same variable in every one.
fn constant(v: u64) -> Elt<Fr> {
    constant_fr(Fr::from(v))
}

fn constant_fr(v: Fr) -> Elt<Fr> {
    Elt::num_from_fr::<nova_snark::frontend::test_cs::TestConstraintSystem<Fr>>(v)
}

/// The commitment hash `H(elements)` in-circuit (same sponge and IO pattern as [`crate::poseidon_hash`]).
fn hash<CS: ConstraintSystem<Fr>>(
    cs: &mut CS,
    elements: &[Elt<Fr>],
    compact: bool,
) -> std::result::Result<Elt<Fr>, SynthesisError> {
    let n = u32::try_from(elements.len()).expect("fewer than 2^32 elements");
    let mut ns = cs.namespace(|| "poseidon");
    let acc = &mut ns;
    let mut sponge = SpongeCircuit::<Fr, CommitArity, _>::new_with_constants(poseidon_constants(), Simplex);
    sponge.set_compact(compact);
    sponge.start(IOPattern(vec![SpongeOp::Absorb(n), SpongeOp::Squeeze(1)]), None, acc);
    SpongeAPI::absorb(&mut sponge, n, elements, acc);
    let out = SpongeAPI::squeeze(&mut sponge, 1, acc);
    sponge.finish(acc).map_err(|e| SynthesisError::Unsatisfiable(format!("sponge: {e:?}")))?;
    Ok(out[0].clone())
}

/// A layer's selector: its variable, and whether it is the step's layer.
type Selector = (Variable, bool);

/// One element of a commitment's preimage: a constant (a header field) or a variable (a packed
/// payload element).
#[derive(Clone)]
enum Piece {
    Const(Fr),
    Var(AllocatedNum<Fr>),
}

/// The largest preimage that is one permutation: `[tag(n), e_1..e_n, 0..]` with `n` below the
/// rate (arity 8).
const ONE_PERMUTATION: usize = 7;

/// A sum of selectors: the LC and whether the step's layer is among them.
fn selector_sum(selectors: &[Selector]) -> (LinearCombination<Fr>, bool) {
    selectors.iter().fold((LinearCombination::zero(), false), |(lc, on), (v, o)| (lc + *v, on || *o))
}

/// `target = H(preimages[l])` for the selected layer `l`.
///
/// Every layer whose preimage fits one permutation shares one: the sponge's initial state for
/// `H(e_1..e_n)` is `[tag(n), e_1, .., e_n, 0, ..]` (the tag depends only on `n`), so with
/// one-hot selectors the selected layer's state is `Σ_l sel_l · state_l`, a linear combination
/// of the constants and one product `sel · e` a distinct payload variable. One permutation of it
/// gives exactly the selected layer's commitment (the step tests check every step of every
/// shipped model against the native commitments, and that other layers' commitments fail).
/// Longer preimages are hashed one by one and selected with one product each.
fn selected_hash<CS: ConstraintSystem<Fr>>(
    cs: &mut CS,
    name: &str,
    selectors: &[Selector],
    preimages: &[Vec<Piece>],
    compact: bool,
    target: &AllocatedNum<Fr>,
) -> std::result::Result<(), SynthesisError> {
    let short: Vec<usize> = (0..preimages.len()).filter(|&l| preimages[l].len() <= ONE_PERMUTATION).collect();
    let mut candidates: Vec<(LinearCombination<Fr>, bool, Elt<Fr>)> = Vec::new();
    if !short.is_empty() {
        let mut ns = cs.namespace(|| format!("{name} shared permutation"));
        let cs = &mut ns;
        let width = ONE_PERMUTATION + 2;
        let mut state: Vec<(LinearCombination<Fr>, Option<Fr>)> =
            vec![(LinearCombination::zero(), Some(Fr::ZERO)); width];
        let add = |slot: &mut (LinearCombination<Fr>, Option<Fr>), lc: LinearCombination<Fr>, v: Option<Fr>| {
            slot.0 = slot.0.clone() + &lc;
            slot.1 = slot.1.zip(v).map(|(a, b)| a + b);
        };
        let on = |l: usize| if selectors[l].1 { Fr::ONE } else { Fr::ZERO };
        for &l in &short {
            let tag = crate::sponge_tag(preimages[l].len());
            add(&mut state[0], LinearCombination::zero() + (tag, selectors[l].0), Some(tag * on(l)));
        }
        for k in 0..ONE_PERMUTATION {
            // Constants weight their layers' selectors; each distinct variable is multiplied once
            // by the sum of the selectors of the layers that hold it.
            let mut vars: Vec<(AllocatedNum<Fr>, Vec<Selector>)> = Vec::new();
            for &l in &short {
                match preimages[l].get(k) {
                    Some(Piece::Const(c)) => {
                        add(&mut state[k + 1], LinearCombination::zero() + (*c, selectors[l].0), Some(*c * on(l)))
                    }
                    Some(Piece::Var(v)) => match vars.iter_mut().find(|(u, _)| u.get_variable() == v.get_variable()) {
                        Some((_, sels)) => sels.push(selectors[l]),
                        None => vars.push((v.clone(), vec![selectors[l]])),
                    },
                    None => {}
                }
            }
            for (j, (v, sels)) in vars.iter().enumerate() {
                let (sum, chosen) = selector_sum(sels);
                let p = AllocatedNum::alloc(cs.namespace(|| format!("element {k} term {j}")), || {
                    Ok(if chosen { v.get_value().ok_or(SynthesisError::AssignmentMissing)? } else { Fr::ZERO })
                })?;
                cs.enforce(
                    || format!("element {k} term {j} is selected"),
                    |z| z + &sum,
                    |z| z + v.get_variable(),
                    |z| z + p.get_variable(),
                );
                add(&mut state[k + 1], LinearCombination::zero() + p.get_variable(), p.get_value());
            }
        }
        // Each state element becomes a variable: the permutation's first round reads it once.
        let mut sponge = SpongeCircuit::<Fr, CommitArity, _>::new_with_constants(poseidon_constants(), Simplex);
        sponge.set_compact(compact);
        for (i, (lc, value)) in state.into_iter().enumerate() {
            let var = cs.alloc(|| format!("state {i}"), || value.ok_or(SynthesisError::AssignmentMissing))?;
            cs.enforce(|| format!("state {i} is the selected"), |z| z + &lc, |z| z + CS::one(), |z| z + var);
            // The sponge mirrors values natively; while only the shape is synthesized there are
            // none, and any stands in.
            let e = AllocatedNum::from_parts(var, Some(value.unwrap_or(Fr::ZERO)));
            SpongeTrait::set_element(&mut sponge, i, Elt::Allocated(e));
        }
        SpongeTrait::permute(&mut sponge, cs)?;
        let (sum, chosen) = selector_sum(&short.iter().map(|&l| selectors[l]).collect::<Vec<_>>());
        candidates.push((sum, chosen, SpongeTrait::element(&sponge, 1)));
    }
    for l in (0..preimages.len()).filter(|l| !short.contains(l)) {
        let elements: Vec<Elt<Fr>> = preimages[l]
            .iter()
            .map(|p| match p {
                Piece::Const(c) => constant_fr(*c),
                Piece::Var(v) => Elt::Allocated(v.clone()),
            })
            .collect();
        let h = hash(&mut cs.namespace(|| format!("{name} layer {l}")), &elements, compact)?;
        candidates.push((LinearCombination::zero() + selectors[l].0, selectors[l].1, h));
    }
    if let [(_, _, h)] = candidates.as_slice() {
        if short.len() == preimages.len() {
            // Every layer shares the permutation: its output is the selected commitment.
            cs.enforce(|| format!("{name} is the hash"), |_| h.lc(), |z| z + CS::one(), |z| z + target.get_variable());
            return Ok(());
        }
    }
    let mut sum = LinearCombination::zero();
    for (c, (sel, chosen, h)) in candidates.iter().enumerate() {
        let p = AllocatedNum::alloc(cs.namespace(|| format!("{name} candidate {c}")), || {
            Ok(if *chosen { h.val().ok_or(SynthesisError::AssignmentMissing)? } else { Fr::ZERO })
        })?;
        cs.enforce(|| format!("{name} sel {c} * h {c}"), |z| z + sel, |_| h.lc(), |z| z + p.get_variable());
        sum = sum + p.get_variable();
    }
    cs.enforce(|| format!("{name} is the selected"), |z| z + &sum, |z| z + CS::one(), |z| z + target.get_variable());
    Ok(())
}

/// A witness integer of `bits` bits (signed, offset by `2^(bits-1)`), range-checked.
fn witness_int<CS: ConstraintSystem<Fr>>(
    mut cs: CS,
    value: i128,
    bits: u32,
) -> std::result::Result<Int, SynthesisError> {
    let v = Int::alloc(cs.namespace(|| "value"), value)?;
    let half = 1i128 << (bits - 1);
    let shifted = v.lc.clone() + (fr(half), CS::one());
    unsigned_bits(cs.namespace(|| "range"), &shifted, value + half, bits)?;
    Ok(v)
}

fn witness_ints<CS: ConstraintSystem<Fr>>(
    cs: &mut CS,
    name: &str,
    values: impl Iterator<Item = i128>,
    bits: u32,
) -> std::result::Result<Vec<Int>, SynthesisError> {
    values.enumerate().map(|(k, v)| witness_int(cs.namespace(|| format!("{name} {k}")), v, bits)).collect()
}

impl Circuit<Fr> for StepCircuit<'_> {
    fn synthesize<CS: ConstraintSystem<Fr>>(self, cs: &mut CS) -> std::result::Result<(), SynthesisError> {
        let model = self.model;
        let [step_v, z_in_v, z_out_v, m_v] = self.io;
        let step = AllocatedNum::alloc_input(cs.namespace(|| "step"), || Ok(step_v))?;
        let z_in = AllocatedNum::alloc_input(cs.namespace(|| "z_in"), || Ok(z_in_v))?;
        let z_out = AllocatedNum::alloc_input(cs.namespace(|| "z_out"), || Ok(z_out_v))?;
        let m = AllocatedNum::alloc_input(cs.namespace(|| "model"), || Ok(m_v))?;

        // One-hot selector of the step's layer: Σ sel = 1 and Σ l·sel = step.
        let mut selectors = Vec::with_capacity(model.layers.len());
        let (mut count, mut index) = (LinearCombination::zero(), LinearCombination::zero());
        for l in 0..model.layers.len() {
            let on = l == self.step;
            let s = cs.alloc(|| format!("selector {l}"), || Ok(if on { Fr::ONE } else { Fr::ZERO }))?;
            cs.enforce(|| format!("selector {l} is boolean"), |z| z + s, |z| z + CS::one() - s, |z| z);
            count = count + s;
            index = index + (Fr::from(l as u64), s);
            selectors.push((s, on));
        }
        cs.enforce(|| "one selector", |z| z + &count, |z| z + CS::one(), |z| z + CS::one());
        cs.enforce(|| "selector is the step", |z| z + &index, |z| z + CS::one(), |z| z + step.get_variable());

        let mut x = Vec::with_capacity(self.input.len());
        for (i, v) in self.input.iter().enumerate() {
            let xi = Int::alloc(cs.namespace(|| format!("x{i}")), i128::from(*v))?;
            int8(cs.namespace(|| format!("x{i} is int8")), &xi)?;
            x.push(xi);
        }

        let mut inputs: Vec<Vec<Piece>> = Vec::with_capacity(model.layers.len());
        let mut outputs: Vec<Vec<Piece>> = Vec::with_capacity(model.layers.len());
        let mut layer_commitments = Vec::with_capacity(model.layers.len());
        // Layers of the same input width share the packed input.
        let mut packed_inputs: std::collections::HashMap<usize, Vec<Piece>> = std::collections::HashMap::new();
        let header = |tag: u64, index: usize, len: usize, bits: u32| {
            [tag, index as u64, len as u64, u64::from(bits)].map(|v| Piece::Const(Fr::from(v))).to_vec()
        };
        let pieces = |packed: Vec<AllocatedNum<Fr>>| packed.into_iter().map(Piece::Var).collect::<Vec<_>>();
        for (l, layer) in model.layers.iter().enumerate() {
            let mut cs = cs.namespace(|| format!("layer {l}"));
            let xs = &x[..layer.in_dim];
            let packed = match packed_inputs.entry(layer.in_dim) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(pieces(pack_circuit(&mut cs.namespace(|| "pack input"), xs, 8)?))
                }
            };
            let mut elements = header(TAG_ACTIVATIONS, l, layer.in_dim, 8);
            elements.extend(packed.iter().cloned());
            inputs.push(elements);

            let (multipliers, shift) = match &layer.requant {
                Some(r) => (r.multipliers.as_slice(), r.shift),
                None => (&[][..], 0),
            };
            let (w, b, mul) = match &self.blinding {
                None => (
                    layer.weights.iter().map(|v| Int::constant::<CS>(i128::from(*v))).collect::<Vec<_>>(),
                    layer.bias.iter().map(|v| Int::constant::<CS>(i128::from(*v))).collect::<Vec<_>>(),
                    multipliers.iter().map(|v| Int::constant::<CS>(i128::from(*v))).collect::<Vec<_>>(),
                ),
                Some(_) => {
                    let mut ns = cs.namespace(|| "weights");
                    let w = witness_ints(&mut ns, "w", layer.weights.iter().map(|v| i128::from(*v)), 8)?;
                    let b = witness_ints(&mut ns, "b", layer.bias.iter().map(|v| i128::from(*v)), 32)?;
                    let m = witness_ints(&mut ns, "m", multipliers.iter().map(|v| i128::from(*v)), 32)?;
                    (w, b, m)
                }
            };
            if let Some(blinds) = &self.blinding {
                let mut elements = vec![
                    constant(TAG_LAYER),
                    constant(l as u64),
                    constant(layer.in_dim as u64),
                    constant(layer.out_dim as u64),
                    constant(u64::from(layer.activation == Activation::Relu)),
                    constant(u64::from(shift)),
                ];
                elements
                    .extend(pack_circuit(&mut cs.namespace(|| "pack weights"), &w, 8)?.into_iter().map(Elt::Allocated));
                elements
                    .extend(pack_circuit(&mut cs.namespace(|| "pack bias"), &b, 32)?.into_iter().map(Elt::Allocated));
                elements.extend(
                    pack_circuit(&mut cs.namespace(|| "pack multipliers"), &mul, 32)?.into_iter().map(Elt::Allocated),
                );
                let blind = AllocatedNum::alloc(cs.namespace(|| "blinding"), || Ok(blinds[l]))?;
                elements.push(Elt::Allocated(blind));
                layer_commitments.push(hash(&mut cs.namespace(|| "layer commitment"), &elements, self.compact)?);
            }

            let input_values: Vec<i32> = self.input[..layer.in_dim].to_vec();
            let bounds = if self.blinding.is_some() { LayerBounds::generic(layer) } else { LayerBounds::tight(layer) };
            let hints: Vec<NeuronHint> =
                (0..layer.out_dim).map(|o| NeuronHint::honest(layer, o, &input_values, &bounds)).collect();
            let params = LayerParams { weights: &w, bias: &b, multipliers: &mul };
            let y = dense_layer(cs.namespace(|| "dense"), layer, params, xs, &hints, bounds)?;
            let bits = step_bits(model, l + 1);
            let mut elements = header(TAG_ACTIVATIONS, l + 1, layer.out_dim, bits);
            elements.extend(pieces(pack_circuit(&mut cs.namespace(|| "pack output"), &y, bits)?));
            outputs.push(elements);
        }
        selected_hash(cs, "z_in", &selectors, &inputs, self.compact, &z_in)?;
        selected_hash(cs, "z_out", &selectors, &outputs, self.compact, &z_out)?;

        // The model commitment: a constant in public mode, recomputed from the witness in private mode.
        let model_lc = if self.blinding.is_some() {
            let mut elements = vec![
                constant(TAG_MODEL),
                constant(u64::from(model.version)),
                constant(match model.task {
                    Task::Regression => 0,
                    Task::Classification => 1,
                }),
                constant(model.input.len as u64),
                constant(model.input.scale.to_bits()),
                constant(model.layers.len() as u64),
            ];
            elements.extend(layer_commitments);
            elements.extend(model.output.scales.iter().map(|s| constant(s.to_bits())));
            hash(&mut cs.namespace(|| "model hash"), &elements, self.compact)?.lc()
        } else {
            LinearCombination::zero() + (self.commitment, CS::one())
        };
        cs.enforce(|| "model commitment", |z| z + &model_lc, |z| z + CS::one(), |z| z + m.get_variable());
        Ok(())
    }
}
