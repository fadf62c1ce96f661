//! Folding proofs end to end on a small uniform step (one constant int8 layer applied to packed
//! activations): honest proofs verify; changed IO, context, order, proof parts and dishonest
//! witnesses are rejected.

use ff::Field;
use nova_snark::frontend::{Circuit, ConstraintSystem, SynthesisError};
use verdict_circuits::{
    folding::FoldingKeys,
    gadgets::{dense_layer, fr, in_range, Int, LayerBounds, LayerParams, NeuronHint},
    Activation, Fr, Layer, Requant,
};

fn layer() -> Layer {
    Layer {
        in_dim: 4,
        out_dim: 4,
        activation: Activation::Relu,
        weights: vec![12, -7, 3, 40, -5, 22, 9, -1, 30, 4, -18, 6, 1, 1, 1, 1],
        bias: vec![100, -50, 20, 0],
        requant: Some(Requant { multipliers: vec![1 << 29, 3 << 28, 1 << 30, 5 << 27], shift: 33 }),
        table: None,
    }
}

fn pack(values: &[i32]) -> i128 {
    values.iter().enumerate().map(|(i, v)| i128::from(v + 128) << (8 * i)).sum()
}

/// One step: public (pack(x), pack(layer(x))), witness x and the layer's hints.
#[derive(Clone)]
struct Step {
    x: Vec<i32>,
    hints: Vec<NeuronHint>,
}

impl Step {
    fn honest(x: &[i32]) -> Self {
        let l = layer();
        Self { x: x.to_vec(), hints: (0..4).map(|o| NeuronHint::honest(&l, o, x, &LayerBounds::tight(&l))).collect() }
    }

    fn io(&self) -> Vec<Fr> {
        let y = layer().forward(&self.x);
        vec![fr(pack(&self.x)), fr(pack(&y))]
    }
}

impl Circuit<Fr> for Step {
    fn synthesize<CS: ConstraintSystem<Fr>>(self, cs: &mut CS) -> Result<(), SynthesisError> {
        let l = layer();
        let y_native = l.forward(&self.x);
        let z_in = Int::alloc_input(cs.namespace(|| "z_in"), pack(&self.x))?;
        let z_out = Int::alloc_input(cs.namespace(|| "z_out"), pack(&y_native))?;
        let mut xs = Vec::new();
        for (i, v) in self.x.iter().enumerate() {
            let x = Int::alloc(cs.namespace(|| format!("x{i}")), i128::from(*v))?;
            in_range(cs.namespace(|| format!("x{i} int8")), &x, -127, 127)?;
            xs.push(x);
        }
        // pack(x) = Σ (x_i + 128) 256^i
        let mut lc = nova_snark::frontend::LinearCombination::zero();
        for (i, x) in xs.iter().enumerate() {
            for (var, coeff) in x.lc.iter() {
                lc = lc + (*coeff * fr(1i128 << (8 * i)), var);
            }
            lc = lc + (fr(128i128 << (8 * i)), CS::one());
        }
        cs.enforce(|| "z_in packs x", |a| a + &lc, |b| b + CS::one(), |c| c + &z_in.lc);
        let w: Vec<Int> = l.weights.iter().map(|v| Int::constant::<CS>(i128::from(*v))).collect();
        let b: Vec<Int> = l.bias.iter().map(|v| Int::constant::<CS>(i128::from(*v))).collect();
        let m: Vec<Int> =
            l.requant.as_ref().unwrap().multipliers.iter().map(|v| Int::constant::<CS>(i128::from(*v))).collect();
        let y = dense_layer(
            cs.namespace(|| "layer"),
            &l,
            LayerParams { weights: &w, bias: &b, multipliers: &m },
            &xs,
            &self.hints,
            LayerBounds::tight(&l),
        )?;
        let mut out = nova_snark::frontend::LinearCombination::zero();
        for (i, v) in y.iter().enumerate() {
            for (var, coeff) in v.lc.iter() {
                out = out + (*coeff * fr(1i128 << (8 * i)), var);
            }
            out = out + (fr(128i128 << (8 * i)), CS::one());
        }
        cs.enforce(|| "z_out packs y", |a| a + &out, |b| b + CS::one(), |c| c + &z_out.lc);
        Ok(())
    }
}

fn proof_from(bytes: &[u8]) -> verdict_circuits::folding::FoldingProof {
    verdict_circuits::folding::FoldingProof::from_bytes(bytes).unwrap()
}

fn chain(start: &[i32], n: usize) -> Vec<Step> {
    let mut x = start.to_vec();
    let mut out = Vec::new();
    for _ in 0..n {
        let s = Step::honest(&x);
        x = layer().forward(&x);
        out.push(s);
    }
    out
}

#[test]
fn folding_proofs_verify_and_reject_every_change() {
    let steps = chain(&[10, -20, 30, 127], 4);
    let keys = FoldingKeys::insecure_test_setup(&steps[0]).unwrap();
    let context = vec![Fr::from(7u64), Fr::from(42u64), Fr::from(0u64), Fr::from(4u64)]; // model, request, a, b
    let io: Vec<Vec<Fr>> = steps.iter().map(Step::io).collect();
    for w in io.windows(2) {
        assert_eq!(w[0][1], w[1][0], "the steps chain");
    }
    let proof = keys.prove(&context, &steps).unwrap();
    keys.verify(&context, &io, &proof).unwrap();

    // Another context (request id, segment bounds): rejected.
    let mut other = context.clone();
    other[1] = Fr::from(43u64);
    assert!(keys.verify(&other, &io, &proof).is_err(), "another request");
    // Changed IO: rejected.
    let mut bad_io = io.clone();
    bad_io[2][1] += Fr::ONE;
    assert!(keys.verify(&context, &bad_io, &proof).is_err(), "changed output");
    // Reordered steps: rejected.
    let mut swapped = proof.clone();
    swapped.steps.swap(1, 2);
    let mut swapped_io = io.clone();
    swapped_io.swap(1, 2);
    assert!(keys.verify(&context, &swapped_io, &swapped).is_err(), "reordered");
    // Fewer steps: rejected.
    let mut short = proof.clone();
    short.steps.pop();
    assert!(keys.verify(&context, &io[..3], &short).is_err(), "dropped a step");
    // Any flipped byte: rejected (by decoding or by verification).
    let bytes = proof.to_bytes();
    assert_eq!(proof_from(&bytes).to_bytes(), bytes, "round trip");
    let positions: Vec<usize> = (0..bytes.len()).step_by(bytes.len() / 97 + 1).chain([bytes.len() - 1]).collect();
    for &i in &positions {
        let mut flipped = bytes.clone();
        flipped[i] ^= 0x01 << (i % 8);
        let accepted = verdict_circuits::folding::FoldingProof::from_bytes(&flipped)
            .map(|p| keys.verify(&context, &io, &p).is_ok())
            .unwrap_or(false);
        assert!(!accepted, "flipping byte {i} of {} was accepted", bytes.len());
    }
    assert!(verdict_circuits::folding::FoldingProof::from_bytes(&bytes[..bytes.len() - 1]).is_err(), "truncated");
    println!("proof: {} bytes for {} folded steps; {} byte flips rejected", bytes.len(), steps.len(), positions.len());
    // Tampered proof parts: rejected.
    let mut t = proof.clone();
    t.r_w += Fr::ONE;
    assert!(keys.verify(&context, &io, &t).is_err(), "blind");
    let mut t = proof.clone();
    t.steps[0].1 = t.steps[1].1;
    assert!(keys.verify(&context, &io, &t).is_err(), "cross term");
    let mut t = proof.clone();
    t.random_t = proof.steps[0].0;
    assert!(keys.verify(&context, &io, &t).is_err(), "random cross term");
}

#[test]
fn a_dishonest_witness_never_verifies() {
    let mut steps = chain(&[5, 6, 7, 8], 2);
    steps[1].hints[0].above = !steps[1].hints[0].above; // a wrong clamp
    let keys = FoldingKeys::insecure_test_setup(&steps[0]).unwrap();
    let io: Vec<Vec<Fr>> = steps.iter().map(Step::io).collect();
    let context = vec![Fr::from(1u64)];
    // Refusing to prove is fine too; a proof, if any, must not verify.
    if let Ok(proof) = keys.prove(&context, &steps) {
        assert!(keys.verify(&context, &io, &proof).is_err());
    }
}
