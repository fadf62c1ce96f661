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
//!   commitments of `COMMITMENTS.md`). The sponge's state is linear in the preimage before each
//!   permutation, so the layers' hashes share ONE sponge whose state is the selector-weighted
//!   sum of theirs (see [`selected_hash`]): as many permutations as the longest preimage needs,
//!   not the sum over the layers. Poseidon is laid out by [`crate::poseidon_circuit`].
//!
//! Weights come in two modes ([`WeightMode`]):
//! - **public**: the weights are constants of the circuit, so a matrix product costs no
//!   multiplication constraint and the verifying key's digest binds them; `M` must equal the
//!   model's public commitment (a constant);
//! - **private**: every layer's weights, biases and multipliers are witness. Only the selected
//!   layer's are range-checked (int8, int32, and unsigned 31-bit multipliers, so ReLU folds
//!   into the clamp) and hashed into its blinded layer commitment, through the shared sponge;
//!   `M` is recomputed in-circuit from every layer's commitment (witness), of which the selected
//!   one must be that hash. `M` is the registered, blinded model commitment, so collision
//!   resistance binds the selected layer's parameters to the registered ones; the other layers'
//!   results are discarded. The folding prover's random instance hides the witness.

use ff::{Field, PrimeField};
use nova_snark::frontend::{num::AllocatedNum, Circuit, ConstraintSystem, LinearCombination, SynthesisError, Variable};
use serde::{Deserialize, Serialize};

use crate::{
    commit::{
        activation_commitment, activation_header, layer_commitment, layer_header, layer_table, model_commitment_with,
        model_header, model_trailer, salted_input_commitment, salted_width, step_bits, Commitment, PACK_BITS,
    },
    gadgets::{dense_layer, fr, int8, selected_range, Int, LayerBounds, LayerParams, NeuronHint},
    model::{Model, INT8_MAX},
    poseidon_circuit::{self, Num},
    Error, Fr, Result,
};

/// The step circuit's revision: part of the key cache's file names, so that keys made for an
/// older circuit are never loaded for a newer one. Raise it with every change of the shape.
/// 2: the layers' commitments share one permutation; public ReLU folded into the clamp.
/// 3: our own Poseidon layout ([`crate::poseidon_circuit`]); private layers share one sponge and
/// range-check only the selected layer's parameters; private ReLU folded into the clamp.
/// 4: a private input's z_0 may be salted (the salt in layer 0's input header).
pub const CIRCUIT_VERSION: u32 = 4;

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

/// A fresh uniformly random salt for a private input's z_0
/// ([`salted_input_commitment`]): drawn from the OS for every input, never reused.
pub fn random_salt() -> Fr {
    Fr::random(rand::rngs::OsRng)
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
        use rayon::prelude::*;
        Ok(model.layers.par_iter().zip(blinds).enumerate().map(|(i, (l, b))| layer_commitment(i, l, b)).collect())
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
        // A secret: readable by its owner only (0600), from the moment it exists.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut file = options.open(path)?;
            #[cfg(unix)]
            file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
            file.write_all((text + "\n").as_bytes())?;
            file.sync_all()
        };
        write().map_err(|source| Error::Io { path: path.into(), source })
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

/// A private model's blinding elements and its blinded layer commitments, one each a layer.
#[derive(Clone)]
struct Blinded {
    blinds: Vec<Fr>,
    layers: Vec<Fr>,
}

/// One step of a model's inference, ready to synthesize.
#[derive(Clone)]
pub struct StepCircuit<'a> {
    model: &'a Model,
    /// Private mode: the layers' blindings and blinded commitments; public mode: none.
    blinding: Option<Blinded>,
    /// `M` for this mode, computed natively from the model (the circuit's constant in public mode).
    commitment: Fr,
    step: usize,
    /// The step's input, zero-padded to [`step_width`].
    input: Vec<i32>,
    /// The salt of a private input's z_0 (step 0 only; zero otherwise and for public inputs).
    salt: Fr,
    io: [Fr; STEP_IO_LEN],
}

impl<'a> StepCircuit<'a> {
    /// Step `step` of `model` on its input activations (`trace.steps[step]`).
    pub fn new(model: &'a Model, mode: &WeightMode, step: usize, input: &[i32]) -> Result<Self> {
        Self::new_salted(model, mode, step, input, Fr::ZERO)
    }

    /// Step `step` whose input commitment is salted with `salt` ([`salted_input_commitment`]):
    /// step 0 of a private input. Any other step with a non-zero salt is refused.
    pub fn new_salted(model: &'a Model, mode: &WeightMode, step: usize, input: &[i32], salt: Fr) -> Result<Self> {
        if step != 0 && salt != Fr::ZERO {
            return Err(Error::Input(format!("step {step}: only the input commitment z_0 takes a salt")));
        }
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
            WeightMode::Private(b) => {
                // The private circuit range-checks multipliers as unsigned (ReLU folds into the
                // clamp): a negative one cannot be proven, so refuse it here, by name.
                let negative = model.layers.iter().enumerate().find_map(|(l, layer)| {
                    layer.requant.as_ref().and_then(|r| r.multipliers.iter().position(|m| *m < 0).map(|o| (l, o)))
                });
                if let Some((l, o)) = negative {
                    return Err(Error::Input(format!(
                        "layer {l}, output {o}: a negative requantization multiplier; private weights need \
                         non-negative multipliers (quantization makes them so)"
                    )));
                }
                Some(Blinded { blinds: b.elements(model)?, layers: b.layer_commitments(model)? })
            }
        };
        let commitment = match &blinding {
            None => model.commitment().to_field().expect("canonical"),
            Some(b) => model_commitment_with(model, &b.layers),
        };
        let output = layer.forward(input);
        let z_in = if step == 0 { salted_input_commitment(input, salt) } else { activation_commitment(step, input, 8) };
        let z_out = activation_commitment(step + 1, &output, step_bits(model, step + 1));
        let mut padded = input.to_vec();
        padded.resize(step_width(model), 0);
        let io = [Fr::from(step as u64), z_in, z_out, commitment];
        Ok(Self { model, blinding, commitment, step, input: padded, salt, io })
    }

    /// A step with a zero input: any step has the circuit's shape, this one is for key setup.
    pub fn for_setup(model: &'a Model, mode: &WeightMode) -> Result<Self> {
        Self::new(model, mode, 0, &vec![0; model.input.len])
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

/// A layer's selector: its variable, and whether it is the step's layer.
type Selector = (Variable, bool);

/// A selector as a value.
fn selector_num((var, on): Selector) -> Num {
    Num::var(var, Some(if on { Fr::ONE } else { Fr::ZERO }))
}

/// One element of a commitment's preimage: a constant (a header field) or a variable (a packed
/// payload element).
#[derive(Clone)]
enum Piece {
    Const(Fr),
    Var(AllocatedNum<Fr>),
}

/// A sum of selectors: the LC and whether the step's layer is among them.
fn selector_sum(selectors: &[Selector]) -> (LinearCombination<Fr>, bool) {
    selectors.iter().fold((LinearCombination::zero(), false), |(lc, on), (v, o)| (lc + *v, on || *o))
}

/// `sel · x` as a new variable (`x` if `sel` is on, else 0): one constraint.
fn select<CS: ConstraintSystem<Fr>>(
    mut cs: CS,
    (sel, on): (LinearCombination<Fr>, bool),
    x: &Num,
) -> std::result::Result<Num, SynthesisError> {
    let value = if on { x.value } else { Some(Fr::ZERO) };
    let p = cs.alloc(|| "selected", || value.ok_or(SynthesisError::AssignmentMissing))?;
    cs.enforce(|| "sel * x", |z| z + &sel, |z| z + &x.lc, |z| z + p);
    Ok(Num::var(p, value))
}

/// `H(preimages[l])` for the selected layer `l`, with ONE sponge for all layers.
///
/// The sponge's state after absorbing chunk `j` of `H(e_1..e_n)` depends on the preimage only
/// through `tag(n)` and the elements, and it is linear in them before each permutation. With
/// one-hot selectors, the selected layer's state is `Σ_l sel_l · state_l`: linear in the
/// constants, plus one product `sel · e` a distinct payload variable. So the layers share every
/// permutation: as many as the longest preimage needs, not the sum over layers. Layer `l`'s hash
/// is `state[1]` after its own last chunk (a shorter preimage's later chunks add nothing to its
/// state, and its output is taken before them), and the output is the selected candidate.
/// The step tests check every step of every shipped model against the native commitments, and
/// that other layers' commitments fail.
fn selected_hash<CS: ConstraintSystem<Fr>>(
    cs: &mut CS,
    name: &str,
    selectors: &[Selector],
    preimages: &[Vec<Piece>],
) -> std::result::Result<Num, SynthesisError> {
    let rate = poseidon_circuit::rate();
    let chunks = |n: usize| n.div_ceil(rate).max(1);
    let longest = preimages.iter().map(|p| chunks(p.len())).max().unwrap_or(1);
    // The selected layer's initial state: `[Σ_l sel_l · tag(n_l), 0, …]`.
    let mut state = vec![Num::zero(); rate + 1];
    let selected: Vec<Num> = selectors.iter().map(|s| selector_num(*s)).collect();
    state[0] = Num::combine(preimages.iter().zip(&selected).map(|(p, s)| (crate::sponge_tag(p.len()), s)));
    let mut candidates: Vec<((LinearCombination<Fr>, bool), Num)> = Vec::new();
    for j in 0..longest {
        let mut cs = cs.namespace(|| format!("{name} chunk {j}"));
        for k in 0..rate {
            let e = j * rate + k;
            // Constants weight their layers' selectors; each distinct variable is multiplied once
            // by the sum of the selectors of the layers that hold it (by none when all do).
            let mut add = Num::zero();
            let mut vars: Vec<(AllocatedNum<Fr>, Vec<Selector>)> = Vec::new();
            for (p, s) in preimages.iter().zip(selectors) {
                match p.get(e) {
                    Some(Piece::Const(c)) => add = add.add_scaled(*c, &selector_num(*s)),
                    Some(Piece::Var(v)) => match vars.iter_mut().find(|(u, _)| u.get_variable() == v.get_variable()) {
                        Some((_, sels)) => sels.push(*s),
                        None => vars.push((v.clone(), vec![*s])),
                    },
                    None => {}
                }
            }
            for (i, (v, sels)) in vars.iter().enumerate() {
                let v = Num::var(v.get_variable(), v.get_value());
                let term = if sels.len() == selectors.len() {
                    v
                } else {
                    select(cs.namespace(|| format!("element {k} term {i}")), selector_sum(sels), &v)?
                };
                add = add.add_scaled(Fr::ONE, &term);
            }
            state[k + 1] = state[k + 1].add_scaled(Fr::ONE, &add);
        }
        state = poseidon_circuit::permute(cs.namespace(|| "permutation"), &state)?;
        let ending: Vec<Selector> =
            preimages.iter().zip(selectors).filter(|(p, _)| chunks(p.len()) == j + 1).map(|(_, s)| *s).collect();
        if !ending.is_empty() {
            candidates.push((selector_sum(&ending), state[1].clone()));
        }
    }
    if let [(_, h)] = candidates.as_slice() {
        return Ok(h.clone());
    }
    let mut out = Num::zero();
    for (c, (sel, h)) in candidates.into_iter().enumerate() {
        out = out.add_scaled(Fr::ONE, &select(cs.namespace(|| format!("{name} candidate {c}")), sel, &h)?);
    }
    Ok(out)
}

/// `a = b`.
fn equal<CS: ConstraintSystem<Fr>>(cs: &mut CS, name: &str, a: &Num, b: &AllocatedNum<Fr>) {
    cs.enforce(|| format!("{name} is the hash"), |z| z + &a.lc, |z| z + CS::one(), |z| z + b.get_variable());
}

fn witness_ints<CS: ConstraintSystem<Fr>>(
    cs: &mut CS,
    name: &str,
    values: impl Iterator<Item = i128>,
) -> std::result::Result<Vec<Int>, SynthesisError> {
    values.enumerate().map(|(k, v)| Int::alloc(cs.namespace(|| format!("{name} {k}")), v)).collect()
}

/// A private layer's parameters as witness.
struct PrivateLayer {
    weights: Vec<Int>,
    bias: Vec<Int>,
    multipliers: Vec<Int>,
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

        // Private mode: every layer's parameters are witness; only the selected layer's are
        // range-checked and hashed (the others' results are discarded).
        let private: Option<Vec<PrivateLayer>> = match &self.blinding {
            None => None,
            Some(_) => {
                let mut ns = cs.namespace(|| "weights");
                let mut layers = Vec::with_capacity(model.layers.len());
                for (l, layer) in model.layers.iter().enumerate() {
                    let mut cs = ns.namespace(|| format!("layer {l}"));
                    let multipliers = layer.requant.as_ref().map_or(&[][..], |r| r.multipliers.as_slice());
                    layers.push(PrivateLayer {
                        weights: witness_ints(&mut cs, "w", layer.weights.iter().map(|v| i128::from(*v)))?,
                        bias: witness_ints(&mut cs, "b", layer.bias.iter().map(|v| i128::from(*v)))?,
                        multipliers: witness_ints(&mut cs, "m", multipliers.iter().map(|v| i128::from(*v)))?,
                    });
                }
                let of = |f: fn(&PrivateLayer) -> &[Int]| layers.iter().map(f).collect::<Vec<_>>();
                selected_range(&mut ns, "w", &selectors, &of(|p| &p.weights), 8, true)?;
                selected_range(&mut ns, "b", &selectors, &of(|p| &p.bias), 32, true)?;
                // Unsigned: with non-negative multipliers, ReLU folds into the clamp.
                selected_range(&mut ns, "m", &selectors, &of(|p| &p.multipliers), 31, false)?;
                Some(layers)
            }
        };

        let mut inputs: Vec<Vec<Piece>> = Vec::with_capacity(model.layers.len());
        let mut outputs: Vec<Vec<Piece>> = Vec::with_capacity(model.layers.len());
        let mut layer_preimages: Vec<Vec<Piece>> = Vec::with_capacity(model.layers.len());
        // Layers of the same input width share the packed input.
        let mut packed_inputs: std::collections::HashMap<usize, Vec<Piece>> = std::collections::HashMap::new();
        let header = |step: usize, len: usize, bits: u32| activation_header(step, len, bits).map(Piece::Const).to_vec();
        // Layer 0's input header carries the salt of a private input's z_0 in its width element,
        // `8 + 2^64 · salt` (zero salt: the plain z_0). Only the selected layer's preimage is
        // hashed, so the salt can reach z_in at step 0 alone.
        let salted = {
            let salt = AllocatedNum::alloc(cs.namespace(|| "input salt"), || Ok(self.salt))?;
            let width = AllocatedNum::alloc(cs.namespace(|| "salted width"), || Ok(salted_width(self.salt)))?;
            cs.enforce(
                || "salted width = 8 + 2^64 salt",
                |z| {
                    z + width.get_variable()
                        - (Fr::from_u128(1u128 << 64), salt.get_variable())
                        - (Fr::from(8u64), CS::one())
                },
                |z| z + CS::one(),
                |z| z,
            );
            width
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
            let mut elements = header(l, layer.in_dim, 8);
            if l == 0 {
                elements[3] = Piece::Var(salted.clone());
            }
            elements.extend(packed.iter().cloned());
            inputs.push(elements);

            let constants =
                |values: &[i32]| values.iter().map(|v| Int::constant::<CS>(i128::from(*v))).collect::<Vec<_>>();
            let public;
            let (w, b, mul) = match &private {
                None => {
                    let multipliers = layer.requant.as_ref().map_or(&[][..], |r| r.multipliers.as_slice());
                    let weights: Vec<i32> = layer.weights.iter().map(|w| i32::from(*w)).collect();
                    public = (constants(&weights), constants(&layer.bias), constants(multipliers));
                    (&public.0, &public.1, &public.2)
                }
                Some(layers) => (&layers[l].weights, &layers[l].bias, &layers[l].multipliers),
            };
            if let Some(blinded) = &self.blinding {
                let mut elements = layer_header(l, layer).map(Piece::Const).to_vec();
                elements.extend(pieces(pack_circuit(&mut cs.namespace(|| "pack weights"), w, 8)?));
                elements.extend(pieces(pack_circuit(&mut cs.namespace(|| "pack bias"), b, 32)?));
                elements.extend(pieces(pack_circuit(&mut cs.namespace(|| "pack multipliers"), mul, 32)?));
                // A table is a constant of the circuit, bound to `M` through this hash.
                elements.extend(layer_table(layer).into_iter().map(Piece::Const));
                elements.push(Piece::Var(AllocatedNum::alloc(cs.namespace(|| "blinding"), || Ok(blinded.blinds[l]))?));
                layer_preimages.push(elements);
            }

            let input_values: Vec<i32> = self.input[..layer.in_dim].to_vec();
            let bounds = if private.is_some() { LayerBounds::private(layer) } else { LayerBounds::tight(layer) };
            let hints: Vec<NeuronHint> =
                (0..layer.out_dim).map(|o| NeuronHint::honest(layer, o, &input_values, &bounds)).collect();
            let params = LayerParams { weights: w, bias: b, multipliers: mul };
            let y = dense_layer(cs.namespace(|| "dense"), layer, params, xs, &hints, bounds)?;
            let bits = step_bits(model, l + 1);
            let mut elements = header(l + 1, layer.out_dim, bits);
            elements.extend(pieces(pack_circuit(&mut cs.namespace(|| "pack output"), &y, bits)?));
            outputs.push(elements);
        }
        let h = selected_hash(cs, "z_in", &selectors, &inputs)?;
        equal(cs, "z_in", &h, &z_in);
        let h = selected_hash(cs, "z_out", &selectors, &outputs)?;
        equal(cs, "z_out", &h, &z_out);

        // The model commitment: a constant in public mode. In private mode, `M`'s preimage holds
        // every layer's commitment as witness, and the selected one must be the hash of the
        // selected layer's parameters (the others are bound by `M` alone).
        let model_lc = match &self.blinding {
            None => LinearCombination::zero() + (self.commitment, CS::one()),
            Some(blinded) => {
                let selected = selected_hash(cs, "layer commitment", &selectors, &layer_preimages)?;
                let mut ns = cs.namespace(|| "model hash");
                let mut chosen = Num::zero();
                let mut commitments = Vec::with_capacity(model.layers.len());
                for (l, &value) in blinded.layers.iter().enumerate() {
                    let c = ns.alloc(|| format!("layer {l} commitment"), || Ok(value))?;
                    let c = Num::var(c, Some(value));
                    let (sel, on) = selectors[l];
                    let term =
                        select(ns.namespace(|| format!("layer {l}")), (LinearCombination::zero() + sel, on), &c)?;
                    chosen = chosen.add_scaled(Fr::ONE, &term);
                    commitments.push(c);
                }
                ns.enforce(
                    || "the selected layer's commitment",
                    |z| z + &chosen.lc,
                    |z| z + CS::one(),
                    |z| z + &selected.lc,
                );
                let mut elements: Vec<Num> = model_header(model, model.layers.len()).map(Num::constant::<CS>).to_vec();
                elements.extend(commitments);
                elements.extend(model_trailer(model).map(Num::constant::<CS>));
                poseidon_circuit::hash(ns.namespace(|| "poseidon"), &elements)?.lc
            }
        };
        cs.enforce(|| "model commitment", |z| z + &model_lc, |z| z + CS::one(), |z| z + m.get_variable());
        Ok(())
    }
}
