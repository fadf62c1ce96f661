//! Poseidon commitments over BN254's scalar field: step activations (z_0..z_L), layers and whole
//! models. The byte encoding is specified in `circuits/COMMITMENTS.md`; contracts treat every
//! commitment as an opaque `bytes32`.

use std::{fmt, str::FromStr, sync::OnceLock};

use ff::{Field, PrimeField};
use generic_array::typenum::{U24, U8};
use nova_snark::frontend::gadgets::poseidon::{
    IOPattern, PoseidonConstants, Simplex, Sponge, SpongeAPI, SpongeOp, SpongeTrait, Strength,
};
use serde::{Deserialize, Serialize};

use crate::{
    engine::Trace,
    model::{Activation, Layer, Model, Task},
    Error, Result,
};

/// BN254's scalar field, the field of the step circuits and of every commitment.
pub type Fr = nova_snark::provider::bn256_grumpkin::bn256::Scalar;

/// The Poseidon sponge arity (rate) used by every commitment.
pub type CommitArity = U8;

/// Domain tag of a step-activation commitment.
pub const TAG_ACTIVATIONS: u64 = 1;
/// Domain tag of a layer commitment.
pub const TAG_LAYER: u64 = 2;
/// Domain tag of a model commitment.
pub const TAG_MODEL: u64 = 3;

/// Bits of packed payload per field element (below the 254-bit modulus).
pub const PACK_BITS: u32 = 248;

/// The shared Poseidon constants (Strength::Standard, sponge, arity 8).
pub fn poseidon_constants() -> &'static PoseidonConstants<Fr, CommitArity> {
    static CONSTANTS: OnceLock<PoseidonConstants<Fr, CommitArity>> = OnceLock::new();
    CONSTANTS.get_or_init(|| Sponge::<Fr, CommitArity>::api_constants(Strength::Standard))
}

/// The sponge of `constants` over `elements` under the IO pattern `[Absorb(n), Squeeze(1)]`,
/// one element squeezed (a macro: the sponge's arity bound is private to nova-snark).
macro_rules! squeeze_one {
    ($constants:expr, $elements:expr) => {{
        let elements: &[Fr] = $elements;
        let mut sponge = Sponge::new_with_constants($constants, Simplex);
        let acc = &mut ();
        let n = u32::try_from(elements.len()).expect("fewer than 2^32 elements");
        sponge.start(IOPattern(vec![SpongeOp::Absorb(n), SpongeOp::Squeeze(1)]), None, acc);
        SpongeAPI::absorb(&mut sponge, n, elements, acc);
        let out = SpongeAPI::squeeze(&mut sponge, 1, acc);
        sponge.finish(acc).expect("the IO pattern was followed");
        out[0]
    }};
}

/// The wide hash's constants (`Strength::Standard`, sponge, arity 24: width 25), see
/// [`crate::wide_poseidon_params`].
pub fn wide_poseidon_constants() -> &'static PoseidonConstants<Fr, U24> {
    static CONSTANTS: OnceLock<PoseidonConstants<Fr, U24>> = OnceLock::new();
    CONSTANTS.get_or_init(|| Sponge::<Fr, U24>::api_constants(Strength::Standard))
}

/// Poseidon sponge hash of `elements`: simplex mode, IO pattern `[Absorb(n), Squeeze(1)]`,
/// domain separator 0.
pub fn poseidon_hash(elements: &[Fr]) -> Fr {
    squeeze_one!(poseidon_constants(), elements)
}

/// The wide hash of `elements` ([`crate::wide_poseidon_params`]): the same sponge at width 25,
/// up to 24 elements a permutation.
pub fn wide_hash(elements: &[Fr]) -> Fr {
    squeeze_one!(wide_poseidon_constants(), elements)
}

/// Packs signed values of `bits` bits (8 or 32) into field elements: each value `v` becomes
/// `v + 2^(bits-1)`, and `248 / bits` of them fill one element little-endian (the first value
/// in the lowest bits).
pub fn pack(values: impl IntoIterator<Item = i64>, bits: u32) -> Vec<Fr> {
    assert!(bits == 8 || bits == 32, "values are packed as int8 or int32");
    let per_element = (PACK_BITS / bits) as usize;
    let offset = 1i64 << (bits - 1);
    let radix = Fr::from(1u64 << bits);
    let mut out = Vec::new();
    let (mut element, mut weight, mut filled) = (Fr::ZERO, Fr::ONE, 0);
    for v in values {
        let u = v + offset;
        debug_assert!((0..1i64 << bits).contains(&u), "value {v} does not fit {bits} bits");
        element += weight * Fr::from(u as u64);
        weight *= radix;
        filled += 1;
        if filled == per_element {
            out.push(element);
            (element, weight, filled) = (Fr::ZERO, Fr::ONE, 0);
        }
    }
    if filled > 0 {
        out.push(element);
    }
    out
}

/// A 32-byte commitment: a field element, big-endian, as contracts store it (`bytes32`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Commitment(pub [u8; 32]);

impl Commitment {
    /// The commitment of a field element.
    pub fn from_field(f: Fr) -> Self {
        let mut bytes: [u8; 32] = f.to_repr().into();
        bytes.reverse();
        Self(bytes)
    }

    /// The field element, or `None` when the bytes are not a canonical element.
    pub fn to_field(&self) -> Option<Fr> {
        let mut repr = self.0;
        repr.reverse();
        Option::from(Fr::from_repr(repr.into()))
    }
}

impl fmt::Display for Commitment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Commitment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Commitment {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let digits = s.strip_prefix("0x").unwrap_or(s);
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(digits, &mut bytes)
            .map_err(|e| Error::Input(format!("expected a 0x-prefixed 32-byte hex commitment: {e}")))?;
        let c = Self(bytes);
        c.to_field().ok_or_else(|| Error::Input(format!("{s} is not below the BN254 scalar modulus")))?;
        Ok(c)
    }
}

impl Serialize for Commitment {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Commitment {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The bit width of step `step`'s values: the input and hidden activations are int8, the last
/// step's accumulators int32.
pub fn step_bits(model: &Model, step: usize) -> u32 {
    if step == model.steps() {
        32
    } else {
        8
    }
}

/// z_step: `H(TAG_ACTIVATIONS, step, len, bits, pack(values, bits)...)`.
pub fn activation_commitment(step: usize, values: &[i32], bits: u32) -> Fr {
    let mut elements = activation_header(step, values.len(), bits).to_vec();
    elements.extend(pack(values.iter().map(|v| i64::from(*v)), bits));
    poseidon_hash(&elements)
}

/// A private input's z_0, salted so that a small input space cannot be enumerated from it:
/// `H(TAG_ACTIVATIONS, 0, len, 8 + 2^64 · salt, pack(values, 8)...)`, the same preimage as the
/// unsalted z_0 but for the header's width element, which carries the salt. A zero salt gives
/// the unsalted z_0 (what the contracts compute for a public input). The step circuit opens it
/// at step 0, and only there.
pub fn salted_input_commitment(values: &[i32], salt: Fr) -> Fr {
    let mut elements = activation_header(0, values.len(), 8).to_vec();
    elements[3] = salted_width(salt);
    elements.extend(pack(values.iter().map(|v| i64::from(*v)), 8));
    poseidon_hash(&elements)
}

/// A private input's z_0 as the request carries it: [`salted_input_commitment`] of the int8
/// input, as a commitment.
pub fn private_input_commitment(input: &[i8], salt: Fr) -> Commitment {
    let values: Vec<i32> = input.iter().map(|v| i32::from(*v)).collect();
    Commitment::from_field(salted_input_commitment(&values, salt))
}

/// A salt as stores and flags write it (bytes32 hex, `0x…`): `None` unless it is 32 bytes below
/// the field modulus.
pub fn parse_salt(s: &str) -> Option<Fr> {
    s.parse::<Commitment>().ok().and_then(|c| c.to_field())
}

/// The width element of a salted input header: `8 + 2^64 · salt`.
pub fn salted_width(salt: Fr) -> Fr {
    Fr::from(8u64) + Fr::from_u128(1u128 << 64) * salt
}

/// The constant head of z_step's preimage: `[TAG_ACTIVATIONS, step, len, bits]`.
pub fn activation_header(step: usize, len: usize, bits: u32) -> [Fr; 4] {
    [TAG_ACTIVATIONS, step as u64, len as u64, u64::from(bits)].map(Fr::from)
}

/// The constant head of a layer commitment's preimage: `[TAG_LAYER, index, in_dim, out_dim,
/// activation, shift]`, where `activation` is 0 (none), 1 (ReLU) or 2 (a table).
pub fn layer_header(index: usize, layer: &Layer) -> [Fr; 6] {
    let activation = match (layer.activation, &layer.table) {
        (_, Some(_)) => 2u64,
        (Activation::Relu, None) => 1,
        (Activation::None, None) => 0,
    };
    [
        TAG_LAYER,
        index as u64,
        layer.in_dim as u64,
        layer.out_dim as u64,
        activation,
        u64::from(layer.requant.as_ref().map_or(0, |r| r.shift)),
    ]
    .map(Fr::from)
}

/// A table layer's values packed as int8 (`pack(values, 8)`, 9 elements), the constant part of
/// its commitment's preimage after the multipliers; empty for a layer without a table.
pub fn layer_table(layer: &Layer) -> Vec<Fr> {
    layer.table.as_ref().map_or_else(Vec::new, |t| pack(t.values.iter().map(|v| i64::from(*v)), 8))
}

/// The constant head of the model commitment's preimage: `[TAG_MODEL, version, task, input_len,
/// bits(input_scale), n_layers]`.
pub fn model_header(model: &Model, n_layers: usize) -> [Fr; 6] {
    let task = match model.task {
        Task::Regression => 0u64,
        Task::Classification => 1,
    };
    [TAG_MODEL, u64::from(model.version), task, model.input.len as u64, model.input.scale.to_bits(), n_layers as u64]
        .map(Fr::from)
}

/// The constant tail of the model commitment's preimage: `bits(output_scale_0)..`, then, for a
/// model with an input normalization, `bits(scale_i), bits(offset_i)` for each input value.
pub fn model_trailer(model: &Model) -> impl Iterator<Item = Fr> + '_ {
    let normalize =
        model.input.normalize.iter().flat_map(|n| n.scale.iter().zip(&n.offset).flat_map(|(k, o)| [*k, *o]));
    model.output.scales.iter().copied().chain(normalize).map(|s| Fr::from(s.to_bits()))
}

/// A layer's commitment: `H(TAG_LAYER, index, in_dim, out_dim, activation, shift, pack(weights,
/// 8)..., pack(bias, 32)..., pack(multipliers, 32)..., [pack(table, 8)...,] blinding)`, the table
/// only on a table layer. Public models use blinding 0.
pub fn layer_commitment(index: usize, layer: &Layer, blinding: Fr) -> Fr {
    let multipliers = layer.requant.as_ref().map_or(&[][..], |r| r.multipliers.as_slice());
    let mut elements = layer_header(index, layer).to_vec();
    elements.extend(pack(layer.weights.iter().map(|w| i64::from(*w)), 8));
    elements.extend(pack(layer.bias.iter().map(|b| i64::from(*b)), 32));
    elements.extend(pack(multipliers.iter().map(|m| i64::from(*m)), 32));
    elements.extend(layer_table(layer));
    elements.push(blinding);
    poseidon_hash(&elements)
}

/// The model commitment over its (unblinded, or blinded for private models) layer
/// commitments: `H(TAG_MODEL, version, task, input_len, bits(input_scale), n_layers,
/// layer_0..layer_{n-1}, bits(output_scale_0)..)`, where `bits(x)` is the IEEE-754 bit pattern of
/// an f64 as a u64. The name is not committed.
pub fn model_commitment_with(model: &Model, layers: &[Fr]) -> Fr {
    let mut elements = model_header(model, layers.len()).to_vec();
    elements.extend_from_slice(layers);
    elements.extend(model_trailer(model));
    poseidon_hash(&elements)
}

impl Model {
    /// The unblinded commitment of every layer (public weights).
    pub fn layer_commitments(&self) -> Vec<Commitment> {
        self.unblinded_layers().into_iter().map(Commitment::from_field).collect()
    }

    /// The public model commitment (unblinded layers).
    pub fn commitment(&self) -> Commitment {
        Commitment::from_field(model_commitment_with(self, &self.unblinded_layers()))
    }

    /// The unblinded layer commitments, hashed in parallel (one sponge a layer).
    fn unblinded_layers(&self) -> Vec<Fr> {
        use rayon::prelude::*;
        self.layers.par_iter().enumerate().map(|(i, l)| layer_commitment(i, l, Fr::ZERO)).collect()
    }

    /// The step commitments z_0..z_L of a trace of this model.
    pub fn step_commitments(&self, trace: &Trace) -> Vec<Commitment> {
        self.step_commitments_salted(trace, Fr::ZERO)
    }

    /// z_0..z_L with z_0 salted ([`salted_input_commitment`]): a private input's trace.
    pub fn step_commitments_salted(&self, trace: &Trace, salt: Fr) -> Vec<Commitment> {
        trace
            .steps
            .iter()
            .enumerate()
            .map(|(i, values)| {
                Commitment::from_field(if i == 0 {
                    salted_input_commitment(values, salt)
                } else {
                    activation_commitment(i, values, step_bits(self, i))
                })
            })
            .collect()
    }
}
