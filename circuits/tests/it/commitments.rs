//! Commitments: pinned values, packing boundaries, sensitivity to every input.

use ff::Field;
use verdict_circuits::{activation_commitment, layer_commitment, pack, poseidon_hash, Commitment, Fr, Model};

use crate::models_dir;

#[test]
fn commitments_are_pinned() {
    // Snapshot: a change here changes every commitment ever registered, so it must be reviewed.
    assert_eq!(Commitment::from_field(poseidon_hash(&[Fr::from(1u64), Fr::from(2u64)])).to_string(), PINNED_HASH_1_2);
    assert_eq!(Commitment::from_field(activation_commitment(0, &[1, -2, 3], 8)).to_string(), PINNED_ACTIVATIONS);
    let digits = Model::load(models_dir().join("digits.model.json")).unwrap();
    assert_eq!(digits.commitment().to_string(), PINNED_DIGITS);
}

const PINNED_HASH_1_2: &str = "0x138fafb4b1aa8b10c643c51830848f4ca1f06910f3a016c2168019a32039b1d2";
const PINNED_ACTIVATIONS: &str = "0x13fa63f432c147c91b78b0f1fb82fab04282c2b176e10a4e32e8e575112c34ff";
const PINNED_DIGITS: &str = "0x052e9f9da592bf837e512fc76ca6e7e937697fb854f45402f54d4ec293671028";

#[test]
fn packing_fills_248_bits_per_element() {
    assert_eq!(pack((0..31).map(|_| 0), 8).len(), 1);
    assert_eq!(pack((0..32).map(|_| 0), 8).len(), 2);
    assert_eq!(pack((0..7).map(|_| 0), 32).len(), 1);
    assert_eq!(pack((0..8).map(|_| 0), 32).len(), 2);
    assert!(pack(std::iter::empty(), 8).is_empty());
    // -128 → 0 and 127 → 255: the offset encoding, first value lowest.
    assert_eq!(pack([-128, 127], 8), vec![Fr::from(255u64 << 8)]);
    assert_eq!(pack([5], 32), vec![Fr::from((1u64 << 31) + 5)]);
}

#[test]
fn every_value_position_and_step_changes_the_commitment() {
    let values: Vec<i32> = (0..40).map(|i| i - 20).collect();
    let base = activation_commitment(3, &values, 8);
    for i in 0..values.len() {
        let mut v = values.clone();
        v[i] += 1;
        assert_ne!(activation_commitment(3, &v, 8), base, "value {i}");
    }
    assert_ne!(activation_commitment(4, &values, 8), base, "step index");
    assert_ne!(activation_commitment(3, &values[..39], 8), base, "length");
    assert_ne!(activation_commitment(3, &values, 32), base, "width");
    // Trailing zeros are not lost to packing: the length is committed.
    let mut padded = values.clone();
    padded.push(-128 + 128 - 128); // -128 packs to 0
    assert_ne!(activation_commitment(3, &padded, 8), base);
}

#[test]
fn every_weight_bias_and_multiplier_changes_the_model_commitment() {
    let model = Model::load(models_dir().join("price_feed.model.json")).unwrap();
    let base = model.commitment();
    for l in 0..model.layers.len() {
        for i in [0, model.layers[l].weights.len() - 1] {
            let mut m = model.clone();
            m.layers[l].weights[i] = if m.layers[l].weights[i] == 1 { 2 } else { 1 };
            assert_ne!(m.commitment(), base, "layer {l} weight {i}");
        }
        let mut m = model.clone();
        m.layers[l].bias[0] += 1;
        assert_ne!(m.commitment(), base, "layer {l} bias");
        if let Some(r) = &mut m.layers[l].requant {
            r.multipliers[0] += 1;
            assert_ne!(m.commitment(), base, "layer {l} multiplier");
        }
    }
    let mut m = model.clone();
    m.output.scales[0] *= 2.0;
    assert_ne!(m.commitment(), base, "output scale");
    let mut m = model.clone();
    m.name = "renamed".into();
    assert_eq!(m.commitment(), base, "the name is not committed");
    // Blinding hides a private layer: a different blinding, a different commitment.
    let layer = &model.layers[0];
    assert_ne!(layer_commitment(0, layer, Fr::ZERO), layer_commitment(0, layer, Fr::ONE));
}

#[test]
fn commitment_hex_round_trips_and_rejects_non_canonical() {
    let c = Commitment::from_field(Fr::from(12345u64));
    assert_eq!(c.to_string().parse::<Commitment>().unwrap(), c);
    assert_eq!(c.to_field(), Some(Fr::from(12345u64)));
    let too_big = format!("0x{}", "ff".repeat(32));
    assert!(too_big.parse::<Commitment>().unwrap_err().to_string().contains("not below the BN254 scalar modulus"));
    assert!("0x1234".parse::<Commitment>().is_err());
    let json = serde_json::to_string(&c).unwrap();
    assert_eq!(serde_json::from_str::<Commitment>(&json).unwrap(), c);
}

#[test]
fn exported_parameters_reproduce_the_sponge() {
    let params = verdict_circuits::poseidon_params();
    assert_eq!((params.width, params.full_rounds, params.partial_rounds), (9, 8, 57));
    for n in [0usize, 1, 2, 7, 8, 9, 16, 17, 40] {
        let elements: Vec<Fr> = (0..n as u64).map(|i| Fr::from(i * 7919 + 3)).collect();
        assert_eq!(params.hash(&elements), poseidon_hash(&elements), "{n} elements");
    }
    assert_eq!(params.to_words().len(), 129 + 81 + 81 + 57 * 17);
}

#[test]
fn the_wide_parameters_reproduce_nova_snarks_arity_24_sponge() {
    use generic_array::typenum::U24;
    use nova_snark::frontend::gadgets::poseidon::{
        IOPattern, Simplex, Sponge, SpongeAPI, SpongeOp, SpongeTrait, Strength,
    };
    let params = verdict_circuits::wide_poseidon_params();
    // Width 25: nova-snark's (neptune's) round numbers for it, security margin included.
    assert_eq!((params.width, params.full_rounds, params.partial_rounds), (25, 8, 59));
    let constants = Sponge::<Fr, U24>::api_constants(Strength::Standard);
    for n in [0usize, 1, 2, 22, 23, 24, 25, 48, 49] {
        let elements: Vec<Fr> = (0..n as u64).map(|i| Fr::from(i * 7919 + 3)).collect();
        let mut sponge = Sponge::new_with_constants(&constants, Simplex);
        let acc = &mut ();
        sponge.start(IOPattern(vec![SpongeOp::Absorb(n as u32), SpongeOp::Squeeze(1)]), None, acc);
        SpongeAPI::absorb(&mut sponge, n as u32, &elements, acc);
        let nova = SpongeAPI::squeeze(&mut sponge, 1, acc)[0];
        sponge.finish(acc).unwrap();
        assert_eq!(params.hash(&elements), nova, "{n} elements");
        assert_ne!(params.hash(&elements), poseidon_hash(&elements), "another function than the commitment hash");
    }
}
