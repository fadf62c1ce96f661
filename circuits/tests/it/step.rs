//! The uniform step circuit: every step of every shipped model is satisfied with the engine's
//! trace in both weight modes, and every false claim (step index, input or output commitment,
//! model commitment, a weight that differs from the committed one) leaves it unsatisfied.

use ff::Field;
use nova_snark::frontend::{util_cs::test_cs::TestConstraintSystem, Circuit};
use verdict_circuits::{
    step::{step_io, Blinding, StepCircuit, WeightMode},
    Fr, Model,
};

use crate::models_dir;

pub(crate) fn shipped(name: &str) -> Model {
    Model::load(models_dir().join(format!("{name}.model.json"))).unwrap()
}

pub(crate) fn sample_input(model: &Model, seed: i32) -> Vec<i8> {
    (0..model.input.len as i32).map(|i| ((i * 37 + seed * 11) % 255 - 127).clamp(-127, 127) as i8).collect()
}

fn check(circuit: StepCircuit<'_>) -> (bool, usize) {
    let mut cs = TestConstraintSystem::<Fr>::new();
    circuit.synthesize(&mut cs).unwrap();
    (cs.is_satisfied(), cs.num_constraints())
}

fn modes(model: &Model) -> Vec<WeightMode> {
    vec![WeightMode::Public, WeightMode::Private(Blinding::random(model))]
}

#[test]
fn every_step_of_the_shipped_models_is_satisfied_in_both_modes() {
    let mut pinned = Vec::new();
    for name in ["price_feed", "tictactoe", "digits"] {
        let model = shipped(name);
        let trace = model.run(&sample_input(&model, 3)).unwrap();
        let zs: Vec<Fr> = model.step_commitments(&trace).iter().map(|c| c.to_field().unwrap()).collect();
        for mode in modes(&model) {
            let m = mode.model_commitment(&model).unwrap().to_field().unwrap();
            let mut counts = Vec::new();
            for step in 0..model.steps() {
                let circuit = StepCircuit::new(&model, &mode, step, &trace.steps[step]).unwrap();
                assert_eq!(circuit.io().to_vec(), step_io(step, zs[step], zs[step + 1], m), "{name} step {step}");
                let (ok, n) = check(circuit);
                assert!(ok, "{name} {} step {step} unsatisfied", mode.name());
                counts.push(n);
            }
            assert!(counts.windows(2).all(|w| w[0] == w[1]), "{name}: the steps differ in shape: {counts:?}");
            pinned.push((name, mode.name(), counts[0]));
        }
    }
    // A change here is a reviewed change of the step shapes (and so of every verifying key).
    assert_eq!(
        format!("{pinned:?}"),
        "[(\"price_feed\", \"public\", 4688), (\"price_feed\", \"private\", 18985), \
         (\"tictactoe\", \"public\", 5939), (\"tictactoe\", \"private\", 25314), \
         (\"digits\", \"public\", 3955), (\"digits\", \"private\", 36990)]"
    );
}

#[test]
fn false_claims_are_unsatisfied() {
    let model = shipped("price_feed");
    let trace = model.run(&sample_input(&model, 5)).unwrap();
    for mode in modes(&model) {
        let step = 1;
        let honest = StepCircuit::new(&model, &mode, step, &trace.steps[step]).unwrap();
        let io = *honest.io();
        let other = StepCircuit::new(&model, &mode, 2, &trace.steps[2]).unwrap();
        let cases: Vec<(&str, [Fr; 4])> = vec![
            ("another step index", [Fr::from(2u64), io[1], io[2], io[3]]),
            ("an out-of-range step index", [Fr::from(3u64), io[1], io[2], io[3]]),
            ("another input commitment", [io[0], io[1] + Fr::ONE, io[2], io[3]]),
            ("another output commitment", [io[0], io[1], io[2] + Fr::ONE, io[3]]),
            ("the next step's output", [io[0], io[1], other.io()[2], io[3]]),
            ("another model commitment", [io[0], io[1], io[2], io[3] + Fr::ONE]),
        ];
        for (what, claim) in cases {
            let (ok, _) = check(honest.clone().with_io(claim));
            assert!(!ok, "{} mode accepted {what}", mode.name());
        }
    }
}

#[test]
fn inputs_outside_int8_or_of_the_wrong_length_are_refused() {
    let model = shipped("price_feed");
    let err = StepCircuit::new(&model, &WeightMode::Public, 0, &[128; 16]).err().unwrap();
    assert!(err.to_string().contains("outside [-127, 127]"), "{err}");
    let err = StepCircuit::new(&model, &WeightMode::Public, 0, &[0; 15]).err().unwrap();
    assert!(err.to_string().contains("takes 16 values, found 15"), "{err}");
    let err = StepCircuit::new(&model, &WeightMode::Public, 3, &[0; 16]).err().unwrap();
    assert!(err.to_string().contains("out of range"), "{err}");
}

#[test]
fn private_weights_must_open_the_registered_commitment() {
    let model = shipped("price_feed");
    let blinding = Blinding::random(&model);
    let registered = blinding.model_commitment(&model).unwrap();
    let trace = model.run(&sample_input(&model, 9)).unwrap();

    // A prover with one changed weight claims the registered commitment: unsatisfied.
    let mut forged = model.clone();
    forged.layers[1].weights[7] = forged.layers[1].weights[7].wrapping_add(1).max(-127);
    let forged_trace = forged.run(&sample_input(&model, 9)).unwrap();
    let mode = WeightMode::Private(blinding.clone());
    let circuit = StepCircuit::new(&forged, &mode, 1, &forged_trace.steps[1]).unwrap();
    let io = *circuit.io();
    assert_ne!(io[3], registered.to_field().unwrap());
    let (ok, _) = check(circuit.with_io([io[0], io[1], io[2], registered.to_field().unwrap()]));
    assert!(!ok, "a changed weight opened the registered commitment");

    // Another blinding is another commitment.
    let other = WeightMode::Private(Blinding::random(&model));
    let circuit = StepCircuit::new(&model, &other, 0, &trace.steps[0]).unwrap();
    let io = *circuit.io();
    let (ok, _) = check(circuit.with_io([io[0], io[1], io[2], registered.to_field().unwrap()]));
    assert!(!ok, "another blinding opened the registered commitment");

    // The blinding hides: the private commitment is not the public one.
    assert_ne!(registered, model.commitment());

    // Every layer's weights are bound at its own step: a changed weight in layer 0 or 2 fails
    // there too (each step checks only the selected layer's commitment against `M`).
    for (layer, step) in [(0usize, 0usize), (2, 2)] {
        let mut forged = model.clone();
        let w = &mut forged.layers[layer].weights[3];
        *w = if *w < 100 { *w + 1 } else { *w - 1 };
        let forged_trace = forged.run(&sample_input(&model, 9)).unwrap();
        let circuit = StepCircuit::new(&forged, &mode, step, &forged_trace.steps[step]).unwrap();
        let io = *circuit.io();
        let (ok, _) = check(circuit.with_io([io[0], io[1], io[2], registered.to_field().unwrap()]));
        assert!(!ok, "a changed weight of layer {layer} opened the registered commitment at step {step}");
    }
}

#[test]
fn private_models_need_non_negative_multipliers() {
    let mut model = shipped("price_feed");
    model.layers[1].requant.as_mut().unwrap().multipliers[4] *= -1;
    let mode = WeightMode::Private(Blinding::random(&model));
    let err = StepCircuit::new(&model, &mode, 0, &[0; 16]).err().unwrap().to_string();
    assert!(err.contains("layer 1, output 4") && err.contains("non-negative multipliers"), "{err}");
    // Public weights are constants: a negative multiplier is proven with ReLU unfolded.
    assert!(StepCircuit::new(&model, &WeightMode::Public, 0, &[0; 16]).is_ok());
}

/// A private input's z_0 is salted (so that a small input space, a tic-tac-toe board, cannot be
/// enumerated from it): the salted step 0 is satisfied and claims the salted z_0; the same
/// witness cannot claim the plain z_0 or another salt's; no other step takes a salt, and a
/// later step cannot claim a salted commitment of its input.
#[test]
fn salted_inputs_open_only_at_step_zero() {
    use verdict_circuits::{activation_commitment, salted_input_commitment};
    let model = shipped("tictactoe");
    let input = sample_input(&model, 4);
    let trace = model.run(&input).unwrap();
    let salt = Fr::from(0x5eed_u64) * Fr::from(u64::MAX) + Fr::from(7u64);
    for mode in modes(&model) {
        let circuit = StepCircuit::new_salted(&model, &mode, 0, &trace.steps[0], salt).unwrap();
        let io = *circuit.io();
        let plain = activation_commitment(0, &trace.steps[0], 8);
        assert_eq!(io[1], salted_input_commitment(&trace.steps[0], salt));
        assert_ne!(io[1], plain, "the salt changes z_0");
        assert_eq!(salted_input_commitment(&trace.steps[0], Fr::ZERO), plain, "a zero salt is the plain z_0");
        assert_eq!(model.step_commitments_salted(&trace, salt)[0].to_field().unwrap(), io[1]);
        assert!(check(circuit.clone()).0, "{} salted step 0", mode.name());
        for (what, z) in
            [("the plain z_0", plain), ("another salt's", salted_input_commitment(&trace.steps[0], salt + Fr::ONE))]
        {
            assert!(!check(circuit.clone().with_io([io[0], z, io[2], io[3]])).0, "{}: claimed {what}", mode.name());
        }
        let err = StepCircuit::new_salted(&model, &mode, 1, &trace.steps[1], salt).err().unwrap();
        assert!(err.to_string().contains("only the input commitment z_0 takes a salt"), "{err}");
        let later = StepCircuit::new(&model, &mode, 1, &trace.steps[1]).unwrap();
        let io = *later.io();
        let salted_in = salted_input_commitment(&trace.steps[1], salt);
        assert!(!check(later.with_io([io[0], salted_in, io[2], io[3]])).0, "step 1 claimed a salted input");
    }
}
