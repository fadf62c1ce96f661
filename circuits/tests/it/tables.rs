//! Sigmoid and Tanh by int8 tables: the lookup gadget returns exactly the table's entry for
//! every int8 and rejects every wrong witness; models with table layers (imported from the
//! corpus, as skl2onnx and PyTorch export them) are satisfied step by step in both weight modes,
//! proven and verified; a changed table entry, a wrong table output or a table model offered for
//! tiling is refused.

use ff::Field;
use nova_snark::frontend::{
    test_shape_cs::TestShapeCS, util_cs::test_cs::TestConstraintSystem, Circuit, ConstraintSystem,
};
use verdict_circuits::{
    folding::KeySource,
    gadgets::{lookup, Int, LookupHint},
    import_onnx_file,
    prover::{ModelProver, RequestId},
    quantize,
    step::{Blinding, StepCircuit, WeightMode},
    tiles::TilePlan,
    Calibration, Fr, Model, Table, TableFunction, TABLE_LEN,
};

use crate::{models_dir, step::sample_input};

type Cs = TestConstraintSystem<Fr>;

/// A corpus model with table layers, imported and quantized on its calibration rows.
pub(crate) fn corpus_model(name: &str) -> Model {
    let dir = models_dir().join("corpus");
    let float = import_onnx_file(dir.join(format!("{name}.onnx"))).unwrap();
    let calibration = Calibration::load(dir.join(format!("{name}.calibration.csv")), float.input_dim).unwrap();
    quantize(&float, &calibration, None).unwrap()
}

/// A corpus model imported as `oracle model import` does it: its hidden units ordered for tiles,
/// a function without a table in piecewise-linear form.
pub(crate) fn corpus_model_ordered(name: &str) -> Model {
    let dir = models_dir().join("corpus");
    let float = import_onnx_file(dir.join(format!("{name}.onnx"))).unwrap();
    // As the import takes a function without a table: in piecewise-linear form.
    let float = if float.needs_piecewise_linear() {
        float.piecewise_linear_untabled(verdict_circuits::DEFAULT_KNOTS).unwrap()
    } else {
        float
    }
    .ordered_for_tiles();
    let calibration = Calibration::load(dir.join(format!("{name}.calibration.csv")), float.input_dim).unwrap();
    quantize(&float, &calibration, None).unwrap()
}

fn tables() -> Vec<Table> {
    vec![
        Table::new(TableFunction::Sigmoid, 5.6 / 127.0),
        Table::new(TableFunction::Tanh, 3.2 / 127.0),
        Table::new(TableFunction::Sigmoid, 0.5 / 127.0),
        // Coarse: the saturated tails are rows of equal entries (no product).
        Table::new(TableFunction::Sigmoid, 20.0 / 127.0),
        // A tree's comparison: one row changes (at q = 0).
        Table::new(TableFunction::Step, 1.0),
    ]
}

/// `lookup(q)` with `hint`, constrained to equal `claimed`.
fn lookup_satisfied(table: &Table, q: i128, hint: &LookupHint, claimed: i128) -> bool {
    let mut cs = Cs::new();
    let x = Int::alloc(cs.namespace(|| "q"), q).unwrap();
    let y = lookup(cs.namespace(|| "lookup"), &x, &table.values, hint).unwrap();
    let c = Int::alloc(cs.namespace(|| "claimed"), claimed).unwrap();
    cs.enforce(|| "y = claimed", |z| z + &y.lc, |z| z + Cs::one(), |z| z + &c.lc);
    cs.is_satisfied()
}

#[test]
fn tables_are_the_rounded_functions_and_monotone() {
    for t in tables() {
        assert_eq!(t.values.len(), TABLE_LEN);
        for q in -127..=127 {
            // An independent reading: the float function at q's real value, in output units.
            let real = t.function.apply(f64::from(q) * t.input_scale);
            let expected = (real / t.output_scale).round() as i32;
            assert_eq!(t.lookup(q), expected, "{:?} q = {q}", t.function);
        }
        assert!(t.values.windows(2).all(|w| w[0] <= w[1]));
    }
    // Saturation: the int8 output is flat beyond the chosen reach.
    let s = Table::new(TableFunction::Sigmoid, 5.6 / 127.0);
    assert_eq!((s.lookup(127), s.lookup(-127)), (127, 0));
    let t = Table::new(TableFunction::Tanh, 3.2 / 127.0);
    assert_eq!((t.lookup(127), t.lookup(-127), t.lookup(0)), (127, -127, 0));
}

#[test]
fn every_int8_is_looked_up_exactly_and_wrong_witnesses_are_unsatisfied() {
    for t in tables() {
        for q in -127i128..=127 {
            let honest = LookupHint::honest(q);
            let y = i128::from(t.lookup(q as i32));
            assert!(lookup_satisfied(&t, q, &honest, y), "{:?} q = {q}", t.function);
            // The claimed output is the entry, nothing else.
            assert!(!lookup_satisfied(&t, q, &honest, y + 1), "{:?} q = {q}: a wrong output", t.function);
            // Another entry's nibbles (a neighbour, another row) do not recompose q.
            for other in [q - 1, q + 1, q + 16, q - 16] {
                if (-127..=127).contains(&other) {
                    let wrong = LookupHint::honest(other);
                    let entry = i128::from(t.lookup(other as i32));
                    assert!(!lookup_satisfied(&t, q, &wrong, entry), "{:?} q = {q} read as {other}", t.function);
                }
            }
        }
    }
    let t = &tables()[0];
    // Not one-hot: two highs set, or a high of 2 and another of -1 (sums to 1, not boolean).
    let q = 40i128;
    let u = (q + 127) as usize;
    let mut two = LookupHint::honest(q);
    two.high[(u >> 4) + 1] = 1;
    assert!(!lookup_satisfied(t, q, &two, i128::from(t.lookup(q as i32))));
    let mut signed = LookupHint::honest(q);
    signed.high[u >> 4] = 2;
    signed.high[0] = -1;
    for claimed in -300..300 {
        assert!(!lookup_satisfied(t, q, &signed, claimed), "a non-boolean one-hot with output {claimed}");
    }
    // q = 128 (u = 255) is beyond the table; the caller's clamp excludes it, and -128 has no
    // nibbles at all.
    assert!(!lookup_satisfied(t, -128, &LookupHint::honest(-128), 0));
}

/// The cost of one lookup, pinned: constraints and nonzeros for Sigmoid and Tanh tables at the
/// importer's saturating scales: 51 constraints and about 455 nonzeros (every row changes); a
/// coarser scale whose saturated rows are constant saves a product a row.
#[test]
fn one_lookup_costs_at_most_51_constraints() {
    let mut pinned = Vec::new();
    for t in tables() {
        let mut cs = TestShapeCS::<nova_snark::provider::Bn256EngineKZG>::new();
        let x = Int::alloc(cs.namespace(|| "q"), 0).unwrap();
        let before = cs.num_constraints();
        lookup(cs.namespace(|| "lookup"), &x, &t.values, &LookupHint::honest(0)).unwrap();
        let constraints = cs.num_constraints() - before;
        let nnz: usize = cs.constraints.iter().map(|(a, b, c, _)| a.len() + b.len() + c.len()).sum();
        assert!(constraints <= 51, "{constraints}");
        pinned.push((t.function.name(), constraints, nnz));
    }
    assert_eq!(
        format!("{pinned:?}"),
        "[(\"Sigmoid\", 51, 453), (\"Tanh\", 51, 454), (\"Sigmoid\", 51, 455), (\"Sigmoid\", 41, 263), (\"a tree's comparison\", 36, 170)]",
        "a change here is a reviewed change of the lookup's shape"
    );
}

#[test]
fn every_step_of_a_table_model_is_satisfied_in_both_modes() {
    let names =
        ["tanh_mlp", "sigmoid_mlp", "mlp_logistic_digits", "mlp_tanh_digits", "tree_breast_cancer", "gbdt_diabetes"];
    // And a CNN whose MaxPool is two exact ReLU layers (no table).
    for name in names.into_iter().chain(["maxpool_cnn"]) {
        let model = corpus_model(name);
        assert!(name == "maxpool_cnn" || model.layers.iter().any(|l| l.table.is_some()), "{name} has a table layer");
        let trace = model.run(&sample_input(&model, 4)).unwrap();
        for mode in [WeightMode::Public, WeightMode::Private(Blinding::random(&model))] {
            for step in 0..model.steps() {
                let circuit = StepCircuit::new(&model, &mode, step, &trace.steps[step]).unwrap();
                let mut cs = Cs::new();
                circuit.synthesize(&mut cs).unwrap();
                assert!(cs.is_satisfied(), "{name} {} step {step}: {:?}", mode.name(), cs.which_is_unsatisfied());
            }
        }
    }
}

/// The index of a table layer whose output on `input` changes when `table[k]` does, and `k`.
fn used_entry(model: &Model, input: &[i32]) -> (usize, usize) {
    let l = model.layers.iter().position(|l| l.table.is_some()).unwrap();
    let mut before = model.clone();
    before.layers[l].table = None;
    let q = before.layers[l].forward(input)[0];
    (l, (q + 127) as usize)
}

#[test]
fn a_changed_table_entry_is_another_commitment_and_opens_nothing() {
    let model = corpus_model("tanh_mlp");
    let trace = model.run(&sample_input(&model, 6)).unwrap();
    let (l, k) = used_entry(&model, &trace.steps[0]);
    assert_eq!(l, 0);
    // A prover whose table differs in the entry this input reads (still monotone).
    let mut forged = model.clone();
    let values = &mut forged.layers[l].table.as_mut().unwrap().values;
    if k + 1 < TABLE_LEN && values[k] < values[k + 1] {
        values[k] += 1;
    } else {
        values[k] -= 1;
    }
    forged.validate().unwrap();
    assert_ne!(forged.commitment(), model.commitment(), "the table is committed");
    let forged_trace = forged.run(&trace.steps[0].iter().map(|v| *v as i8).collect::<Vec<_>>()).unwrap();
    assert_ne!(forged_trace.steps[1], trace.steps[1], "the input reads the changed entry");

    // Public weights: the forged table's output claimed against the registered model.
    let honest = StepCircuit::new(&model, &WeightMode::Public, 0, &trace.steps[0]).unwrap();
    let io = *honest.io();
    let forged_step = StepCircuit::new(&forged, &WeightMode::Public, 0, &forged_trace.steps[0]).unwrap();
    let claim = [io[0], io[1], forged_step.io()[2], io[3]];
    let mut cs = Cs::new();
    honest.with_io(claim).synthesize(&mut cs).unwrap();
    assert!(!cs.is_satisfied(), "the registered table gave the forged output");

    // Private weights: the forged table's circuit against the registered blinded commitment.
    let blinding = Blinding::random(&model);
    let registered = blinding.model_commitment(&model).unwrap().to_field().unwrap();
    let mode = WeightMode::Private(blinding);
    let circuit = StepCircuit::new(&forged, &mode, 0, &forged_trace.steps[0]).unwrap();
    let io = *circuit.io();
    assert_ne!(io[3], registered);
    let mut cs = Cs::new();
    circuit.with_io([io[0], io[1], io[2], registered]).synthesize(&mut cs).unwrap();
    assert!(!cs.is_satisfied(), "a changed table opened the registered commitment");
    // And the honest private step with the honest output is satisfied.
    let mut cs = Cs::new();
    StepCircuit::new(&model, &mode, 0, &trace.steps[0]).unwrap().synthesize(&mut cs).unwrap();
    assert!(cs.is_satisfied());
    assert_ne!(registered, Fr::ZERO);
}

#[test]
fn table_models_and_tree_ensembles_are_proven_and_verified_and_tampering_is_rejected() {
    for name in ["tanh_mlp", "gbdt_breast_cancer"] {
        let model = corpus_model(name);
        let started = std::time::Instant::now();
        let (prover, _) =
            ModelProver::setup(model.clone(), WeightMode::Public, &KeySource::InsecureTest, None).unwrap();
        let trace = model.run(&sample_input(&model, 8)).unwrap();
        let (proof, _) = prover.prove(RequestId::from_u64(3), &trace, 0..model.steps(), |_| {}).unwrap();
        prover.verify(&proof).unwrap();
        eprintln!("{name}: {} constraints a step, setup and proof {:?}", prover.num_constraints(), started.elapsed());
        assert_eq!(proof.steps, model.step_commitments(&trace));
        let mut wrong = proof.clone();
        wrong.steps[1] = verdict_circuits::Commitment::from_field(wrong.steps[1].to_field().unwrap() + Fr::ONE);
        assert!(prover.verify(&wrong).is_err(), "{name}: a changed step commitment verified");
    }
}

/// MaxPool's exact layers (multiplier 2^22 / 2^22) fit the tiled step: the max-pooling CNN is
/// planned by tiles, and its tiled trace ends in the layered trace's output.
#[test]
fn a_max_pooling_cnn_is_tiled() {
    let model = corpus_model("maxpool_cnn");
    let plan = TilePlan::new(&model).unwrap();
    assert!(plan.tiles.len() > model.steps());
    let trace = model.run(&sample_input(&model, 1)).unwrap();
    let tiled = verdict_circuits::tiles::tiled_trace(&model, &plan, &trace, Fr::ZERO);
    let tiles = plan.tiles.len();
    assert_eq!(tiled.commitments.len(), tiles + 1);
    // z_0 and the output commitment of step L (the tile count), over the engine's output.
    let z0 = model.step_commitments(&trace)[0].to_field().unwrap();
    let z_l = verdict_circuits::activation_commitment(tiles, trace.output(), 32);
    assert_eq!((tiled.commitments[0], tiled.commitments[tiles]), (z0, z_l));
}

#[test]
fn table_models_are_refused_for_tiles_by_name() {
    let err = TilePlan::new(&corpus_model("mlp_logistic_digits")).unwrap_err().to_string();
    assert!(err.contains("layer 0: Sigmoid by table"), "{err}");
    let err = TilePlan::new(&corpus_model("gbdt_breast_cancer")).unwrap_err().to_string();
    assert!(err.contains("layer 0: a tree's comparison by table"), "{err}");
}

/// A tree ensemble's steps: every comparison (step 0) and every leaf indicator (step 1) is
/// bound: a claimed output with any one of them flipped leaves the step unsatisfied, in both
/// weight modes; so does a wrong leaf value sum (step 2).
#[test]
fn a_wrong_comparison_leaf_or_sum_of_a_tree_ensemble_is_unsatisfied() {
    let model = corpus_model("tree_breast_cancer");
    assert_eq!(model.steps(), 3);
    let trace = model.run(&sample_input(&model, 2)).unwrap();
    for mode in [WeightMode::Public, WeightMode::Private(Blinding::random(&model))] {
        for step in 0..3 {
            let honest = StepCircuit::new(&model, &mode, step, &trace.steps[step]).unwrap();
            let io = *honest.io();
            let width = trace.steps[step + 1].len();
            for k in 0..width {
                let mut wrong = trace.steps[step + 1].clone();
                // Comparisons and leaves are 0 or 1: flip one; a sum is off by one.
                wrong[k] = if step < 2 { 1 - wrong[k] } else { wrong[k] + 1 };
                let z = verdict_circuits::activation_commitment(
                    step + 1,
                    &wrong,
                    verdict_circuits::step_bits(&model, step + 1),
                );
                let mut cs = Cs::new();
                honest.clone().with_io([io[0], io[1], z, io[3]]).synthesize(&mut cs).unwrap();
                assert!(!cs.is_satisfied(), "{} step {step}: output {k} changed and accepted", mode.name());
            }
        }
    }
    // The leaf indicators are one-hot a tree: exactly one leaf of the single tree is reached.
    assert_eq!(trace.steps[2].iter().sum::<i32>(), 1);
}

#[test]
fn table_layers_round_trip_and_malformed_tables_are_named() {
    let model = corpus_model("sigmoid_mlp");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.json");
    model.save(&path).unwrap();
    assert_eq!(Model::load(&path).unwrap(), model);
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(doc["layers"][0]["table"]["function"], "sigmoid");
    let error_of = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut d = doc.clone();
        edit(&mut d);
        Model::from_json(&d.to_string()).unwrap_err().to_string()
    };
    let err = error_of(&|d| d["layers"][0]["table"]["values"] = "00".into());
    assert!(err.contains("layer 0: expected 255 table values"), "{err}");
    let err = error_of(&|d| {
        let hex = d["layers"][0]["table"]["values"].as_str().unwrap().to_string();
        d["layers"][0]["table"]["values"] = format!("7f{}", &hex[2..]).into();
    });
    assert!(err.contains("layer 0: the Sigmoid table is not non-decreasing"), "{err}");
    let err = error_of(&|d| d["layers"][0]["activation"] = "relu".into());
    assert!(err.contains("layer 0: a layer with a table must not also apply ReLU"), "{err}");
    let err = error_of(&|d| d["layers"][1]["table"] = d["layers"][0]["table"].clone());
    assert!(err.contains("layer 1: the last layer cannot apply a table"), "{err}");
    let err = error_of(&|d| d["layers"][0]["table"]["function"] = "swish".into());
    assert!(err.contains("unknown variant `swish`"), "{err}");
    let err = error_of(&|d| d["layers"][0]["table"]["function"] = "softplus".into());
    assert!(err.contains("layer 0: Softplus has no int8 table"), "{err}");
}

/// The shipped lending model (`credit_gbdt`: 40 boosted trees of depth 3 on the synthetic
/// credit book, as skl2onnx exports them): its decisions agree with onnxruntime's, and it is as
/// accurate on the held-out book as the float model (84.78%, `scripts/train_models.py
/// credit_gbdt`).
#[test]
fn the_shipped_credit_ensemble_decides_as_onnxruntime_does() {
    let model = Model::load(models_dir().join("credit_gbdt.model.json")).unwrap();
    assert_eq!(model.steps(), 3);
    #[derive(serde::Deserialize)]
    struct Reference {
        inputs: Vec<Vec<f64>>,
        labels: Vec<usize>,
    }
    let text = std::fs::read_to_string(models_dir().join("credit_gbdt.reference.json")).unwrap();
    let reference: Reference = serde_json::from_str(&text).unwrap();
    let decide = |x: &[f64]| verdict_circuits::argmax(model.run(&model.quantize_input(x).unwrap()).unwrap().output());
    let agree = reference.inputs.iter().zip(&reference.labels).filter(|(x, l)| decide(x) == **l).count();
    assert!(agree * 100 >= reference.labels.len() * 97, "{agree}/{} decisions as onnxruntime", reference.labels.len());
    let book = std::fs::read_to_string(models_dir().join("credit.test.csv")).unwrap();
    let (mut right, mut total) = (0, 0);
    for line in book.lines().skip(1) {
        let row = verdict_circuits::parse_csv_row(line).unwrap();
        let (x, label) = row.split_at(model.input.len);
        right += usize::from(decide(x) == label[0] as usize);
        total += 1;
    }
    eprintln!(
        "credit_gbdt: {agree}/{} as onnxruntime; {right}/{total} right on the held-out book",
        reference.labels.len()
    );
    assert!(right * 10_000 >= total * 8_378, "{right}/{total}: more than a point below the float model's 84.78%");
}
