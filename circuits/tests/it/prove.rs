//! Segment proofs of the shipped models: whole and by segment, public and private weights,
//! verified by the reference verifier; every tampering is rejected.

use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock},
};

use proptest::prelude::*;
use verdict_circuits::{
    folding::{KeySource, Progress},
    prover::{KeyOrigin, ModelProver, ProofError, RequestId, SegmentProof},
    step::{Blinding, WeightMode},
    Commitment, Model,
};

use crate::step::{sample_input, shipped};

fn prover(name: &str, mode: WeightMode) -> ModelProver {
    ModelProver::setup(shipped(name), mode, &KeySource::InsecureTest, None).unwrap().0
}

/// The public-weight prover of a shipped model, set up once for all tests (setup takes seconds).
fn public(name: &'static str) -> &'static ModelProver {
    static PROVERS: OnceLock<Mutex<HashMap<&'static str, &'static ModelProver>>> = OnceLock::new();
    let provers = PROVERS.get_or_init(Default::default);
    if let Some(p) = provers.lock().unwrap().get(name) {
        return p;
    }
    let p: &'static ModelProver = Box::leak(Box::new(prover(name, WeightMode::Public)));
    provers.lock().unwrap().entry(name).or_insert(p)
}

/// One price-feed prover and its whole-inference proof, shared by the tamper tests.
fn price_feed() -> &'static (&'static ModelProver, SegmentProof) {
    static CELL: OnceLock<(&'static ModelProver, SegmentProof)> = OnceLock::new();
    CELL.get_or_init(|| {
        let p = public("price_feed");
        let trace = p.model().run(&sample_input(p.model(), 1)).unwrap();
        let (proof, _) = p.prove(RequestId::from_u64(7), &trace, 0..p.model().steps(), |_| {}).unwrap();
        (p, proof)
    })
}

fn rejected(p: &ModelProver, proof: &SegmentProof) -> bool {
    p.verify(proof).is_err()
}

#[test]
fn whole_and_segment_proofs_of_every_shipped_model_verify() {
    for name in ["price_feed", "tictactoe", "digits"] {
        let p = public(name);
        let model: &Model = p.model();
        let trace = model.run(&sample_input(model, 2)).unwrap();
        let zs = model.step_commitments(&trace);
        let segments = [0..model.steps(), model.steps() - 1..model.steps()];
        for segment in segments {
            let mut events = Vec::new();
            let (proof, timings) =
                p.prove(RequestId::from_u64(42), &trace, segment.clone(), |e| events.push(e)).unwrap();
            p.verify(&proof).unwrap_or_else(|e| panic!("{name} {segment:?}: {e}"));
            assert_eq!(proof.steps, zs[segment.start..=segment.end].to_vec());
            assert_eq!(events.len(), segment.len() + 1, "one event per fold and one for compression");
            assert_eq!(events.last(), Some(&Progress::Compressing));
            eprintln!(
                "{name} {segment:?}: {} constraints a step, fold {:?}, compress {:?}, {} bytes",
                p.num_constraints(),
                timings.fold,
                timings.compress,
                proof.proof.len()
            );
        }
    }
}

#[test]
fn private_weight_proofs_verify_against_the_blinded_commitment_only() {
    let model = shipped("price_feed");
    let blinding = Blinding::random(&model);
    let p = prover("price_feed", WeightMode::Private(blinding.clone()));
    assert_eq!(p.commitment(), blinding.model_commitment(&model).unwrap());
    assert_ne!(p.commitment(), model.commitment());
    let trace = model.run(&sample_input(&model, 4)).unwrap();
    let (proof, _) = p.prove(RequestId::from_u64(1), &trace, 1..3, |_| {}).unwrap();
    p.verify(&proof).unwrap();
    assert_eq!(proof.mode, "private");

    // Claiming the public commitment (or another blinding's) is rejected.
    let mut other = proof.clone();
    other.model = model.commitment();
    assert!(rejected(&p, &other));
    let q = prover("price_feed", WeightMode::Private(Blinding::random(&model)));
    assert!(matches!(q.verify(&proof), Err(ProofError::Rejected(_))));
    let mut forced = proof.clone();
    forced.model = q.commitment();
    assert!(rejected(&q, &forced), "a proof under one blinding verified under another");
}

/// Zero knowledge, as far as a test can see it (PROOF_FORMAT.md, "Zero knowledge"): two proofs
/// of the same private model on the same input for the same request share no commitment the
/// contract reads (every blind is fresh), and both verify.
#[test]
fn two_private_proofs_of_the_same_inference_share_no_commitment() {
    use verdict_circuits::folding::FoldingProof;
    let model = shipped("price_feed");
    let p = prover("price_feed", WeightMode::Private(Blinding::random(&model)));
    let trace = model.run(&sample_input(&model, 6)).unwrap();
    let layout = p.evm_key().unwrap().layout(3);
    let [a, b] = [0, 1].map(|_| {
        let (proof, _) = p.prove(RequestId::from_u64(5), &trace, 0..3, |_| {}).unwrap();
        p.verify(&proof).unwrap();
        proof
    });
    assert_eq!(a.steps, b.steps, "the same statement");
    let (fa, fb) =
        (FoldingProof::from_flat(&a.proof, &layout).unwrap(), FoldingProof::from_flat(&b.proof, &layout).unwrap());
    for (k, ((wa, ta), (wb, tb))) in fa.steps.iter().zip(&fb.steps).enumerate() {
        assert_ne!(wa, wb, "step {k}: the same witness commitment twice");
        assert_ne!(ta, tb, "step {k}: the same cross term twice");
    }
    assert_ne!(fa.random_t, fb.random_t);
    assert_ne!((fa.r_w, fa.r_e), (fb.r_w, fb.r_e));
    assert_ne!(a.proof, b.proof);
}

#[test]
fn changed_claims_are_rejected() {
    let (p, proof) = price_feed();
    p.verify(proof).unwrap();
    let l = proof.steps.len();
    let mut cases: Vec<(&str, SegmentProof)> = Vec::new();
    for i in 0..l {
        let mut c = proof.clone();
        c.steps[i] = Commitment::from_field(c.steps[i].to_field().unwrap() + verdict_circuits::Fr::from(1u64));
        cases.push(("a changed step commitment", c));
    }
    let mut c = proof.clone();
    c.steps.swap(1, 2);
    cases.push(("reordered steps", c));
    let mut c = proof.clone();
    c.request_id = RequestId::from_u64(8);
    cases.push(("another request id", c));
    let mut c = proof.clone();
    c.from = 1;
    c.steps.remove(0);
    cases.push(("another segment (from)", c));
    let mut c = proof.clone();
    c.to -= 1;
    c.steps.pop();
    cases.push(("another segment (to)", c));
    let mut c = proof.clone();
    c.steps.pop();
    cases.push(("a missing step", c));
    let mut c = proof.clone();
    c.model = shipped("digits").commitment();
    cases.push(("another model", c));
    let mut c = proof.clone();
    c.proof.truncate(c.proof.len() - 1);
    cases.push(("a truncated proof", c));
    let mut c = proof.clone();
    c.proof.push(0);
    cases.push(("a trailing byte", c));
    for (what, c) in cases {
        assert!(rejected(p, &c), "accepted {what}");
    }
    // Another model's keys reject it whatever the claimed commitment.
    let digits = public("digits");
    let mut c = proof.clone();
    c.model = digits.commitment();
    assert!(rejected(digits, &c));
}

#[test]
fn keys_are_cached_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let model = shipped("price_feed");
    let (a, origin) =
        ModelProver::setup(model.clone(), WeightMode::Public, &KeySource::InsecureTest, Some(dir.path())).unwrap();
    assert!(matches!(origin, KeyOrigin::Generated(Some(_))));
    let (b, origin) =
        ModelProver::setup(model.clone(), WeightMode::Public, &KeySource::InsecureTest, Some(dir.path())).unwrap();
    assert!(matches!(origin, KeyOrigin::Cached(_)));
    // A proof from one verifies with the other.
    let trace = model.run(&sample_input(&model, 6)).unwrap();
    let (proof, _) = a.prove(RequestId::from_u64(3), &trace, 0..3, |_| {}).unwrap();
    b.verify(&proof).unwrap();
    // A corrupt cache is regenerated, not trusted.
    let KeyOrigin::Cached(path) = origin else { unreachable!() };
    std::fs::write(&path, b"garbage").unwrap();
    let (_, origin) =
        ModelProver::setup(model, WeightMode::Public, &KeySource::InsecureTest, Some(dir.path())).unwrap();
    assert!(matches!(origin, KeyOrigin::Generated(Some(_))));
}

#[test]
fn a_ptau_directory_without_files_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err =
        ModelProver::setup(shipped("price_feed"), WeightMode::Public, &KeySource::PtauDir(dir.path().into()), None)
            .err()
            .unwrap();
    assert!(err.to_string().to_lowercase().contains("ptau"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_flipped_byte_is_rejected(position in any::<prop::sample::Index>(), bit in 0u8..8) {
        let (p, proof) = price_feed();
        let mut c = proof.clone();
        let i = position.index(c.proof.len());
        c.proof[i] ^= 1 << bit;
        prop_assert!(rejected(p, &c), "accepted a flip of bit {} of byte {} of {}", bit, i, c.proof.len());
    }
}

/// A private model's key cache names its structure, never its weights: another model of the
/// same shape with other weights finds the same file, and no name carries a prefix of the
/// (unblinded) weight commitment. (Before, the name began with 16 hex digits of it.)
#[test]
fn private_key_cache_names_say_nothing_about_the_weights() {
    let dir = tempfile::tempdir().unwrap();
    let model = shipped("price_feed");
    let mut other = model.clone();
    other.layers[0].weights[0] = if other.layers[0].weights[0] == 5 { 6 } else { 5 };
    assert_ne!(model.commitment(), other.commitment());
    let private = |m: &Model| WeightMode::Private(Blinding::random(m));
    let (_, first) =
        ModelProver::setup(model.clone(), private(&model), &KeySource::InsecureTest, Some(dir.path())).unwrap();
    let KeyOrigin::Generated(Some(path)) = first else { panic!("keys generated and cached: {first:?}") };
    let (_, second) =
        ModelProver::setup(other.clone(), private(&other), &KeySource::InsecureTest, Some(dir.path())).unwrap();
    assert_eq!(second, KeyOrigin::Cached(path), "the same structure, the same keys");
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        for m in [&model, &other] {
            let prefix = &m.commitment().to_string()[2..18];
            assert!(!name.contains(prefix), "{name} carries the weight commitment's prefix {prefix}");
        }
    }
}

/// The blinding file is the private model's secret: readable by its owner only.
#[cfg(unix)]
#[test]
fn a_blinding_file_is_written_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.blinding.json");
    std::fs::write(&path, "old, world-readable").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let model = shipped("price_feed");
    let blinding = Blinding::random(&model);
    blinding.save(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");
    assert_eq!(Blinding::load(&path).unwrap(), blinding);
}

/// A whole-inference proof of a salted private input verifies against the salted z_0, and only
/// against it.
#[test]
fn a_salted_input_is_proven_against_its_salted_commitment() {
    let p = public("tictactoe");
    let model = p.model().clone();
    let trace = model.run(&sample_input(&model, 8)).unwrap();
    let salt = verdict_circuits::Fr::from(0xfeed_beef_u64);
    let l = model.steps();
    let (proof, _) = p.prove_salted(RequestId::from_u64(9), &trace, salt, 0..l, |_| {}).unwrap();
    assert_eq!(proof.steps, model.step_commitments_salted(&trace, salt));
    assert_ne!(proof.steps[0], model.step_commitments(&trace)[0]);
    p.verify(&proof).unwrap();
    let mut plain = proof.clone();
    plain.steps[0] = model.step_commitments(&trace)[0];
    assert!(rejected(p, &plain), "the plain z_0 was accepted for a salted proof");
}
