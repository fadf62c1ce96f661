//! The importer's corpus (`models/corpus/`, made by `scripts/train_models.py corpus`): models as
//! scikit-learn and skl2onnx export them, never seen by the importer's authors' hand-built
//! fixtures. Each supported one is imported, quantized on its calibration rows and run on
//! held-back rows against onnxruntime's answers; each unsupported one is refused naming the
//! operator.

use verdict_circuits::{
    accuracy, argmax_f64, import_onnx_file, output_accuracy, quantize_with_report, AccuracyReport, Calibration, Model,
    Prediction, DEFAULT_KNOTS,
};

use crate::models_dir;

#[derive(serde::Deserialize)]
struct Entry {
    name: String,
    kind: String,
    refused: Option<String>,
}

#[derive(serde::Deserialize)]
struct Heldout {
    inputs: Vec<Vec<f64>>,
    labels: Option<Vec<usize>>,
    outputs: Option<Vec<Vec<f64>>>,
    /// An SVM classifier's pairwise votes (its one-against-rest scores, rounded).
    votes: Option<Vec<Vec<i64>>>,
}

fn run(model: &Model, x: &[f64]) -> Prediction {
    let q = model.quantize_input(x).unwrap();
    model.predict(model.run(&q).unwrap().output())
}

#[test]
fn the_corpus_imports_and_agrees_with_onnxruntime_or_is_refused_by_name() {
    let dir = models_dir().join("corpus");
    let entries: Vec<Entry> = serde_json::from_str(&std::fs::read_to_string(dir.join("corpus.json")).unwrap()).unwrap();
    assert!(entries.len() >= 7);
    for e in &entries {
        let path = dir.join(format!("{}.onnx", e.name));
        if let Some(op) = &e.refused {
            let err = import_onnx_file(&path).expect_err(&e.name).to_string();
            assert!(err.contains(&format!("operator `{op}` at node `")), "{}: {err}", e.name);
            continue;
        }
        let float = import_onnx_file(&path).unwrap_or_else(|err| panic!("{}: {err}", e.name));
        let calibration = Calibration::load(dir.join(format!("{}.calibration.csv", e.name)), float.input_dim).unwrap();
        // Elu, Selu, Softplus, SiLU and Gelu have no int8 table: their piecewise-linear form is
        // quantized, and reported against the model as exported.
        let (model, adjustments, report) = if float.needs_piecewise_linear() {
            let form = float.piecewise_linear_untabled(DEFAULT_KNOTS).unwrap();
            let (model, adjustments) = quantize_with_report(&form, &calibration, None).unwrap();
            let report = output_accuracy(&model, &float, &calibration).unwrap();
            (model, adjustments, report)
        } else {
            let (model, adjustments) = quantize_with_report(&float, &calibration, None).unwrap();
            let report = accuracy(&model, &float, &calibration).unwrap();
            (model, adjustments, report)
        };
        let heldout: Heldout =
            serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{}.heldout.json", e.name))).unwrap())
                .unwrap();
        match e.kind.as_str() {
            "classifier" => {
                let labels = heldout.labels.as_ref().unwrap();
                let (mut float_agree, mut agree) = (0, 0);
                for (x, label) in heldout.inputs.iter().zip(labels) {
                    float_agree += usize::from(argmax_f64(&float.forward(x)) == *label);
                    let Prediction::Classification { class } = run(&model, x) else {
                        panic!("{}: a classifier", e.name)
                    };
                    agree += usize::from(class == *label);
                }
                // An SVM's scores are its votes: each pairwise decision, not only the label.
                for (x, votes) in heldout.inputs.iter().zip(heldout.votes.iter().flatten()) {
                    let got: Vec<i64> = float.forward(x).iter().map(|v| v.round() as i64).collect();
                    assert_eq!(&got, votes, "{}: the float import's votes differ from onnxruntime's", e.name);
                }
                let n = labels.len();
                eprintln!(
                    "{}: float {float_agree}/{n}, quantized {agree}/{n} top-1 with onnxruntime ({} adjustments; {report})",
                    e.name,
                    adjustments.len()
                );
                assert_eq!(float_agree, n, "{}: the float import differs from onnxruntime", e.name);
                assert!(agree * 100 >= n * 97, "{}: {agree}/{n} top-1 agreement, below 97%", e.name);
            }
            "regressor" => {
                let outputs = heldout.outputs.as_ref().unwrap();
                let AccuracyReport::Regression { max_abs_error, .. } = report else {
                    panic!("{}: a regressor", e.name)
                };
                let mut worst = 0f64;
                for (x, expected) in heldout.inputs.iter().zip(outputs) {
                    let f = float.forward(x);
                    assert!(
                        (f[0] - expected[0]).abs() <= 1e-4 * (1.0 + expected[0].abs()),
                        "{}: float {f:?} vs {expected:?}",
                        e.name
                    );
                    let Prediction::Regression { values } = run(&model, x) else { panic!("{}: a regressor", e.name) };
                    worst = worst.max((values[0] - expected[0]).abs());
                }
                eprintln!("{}: held-back max abs error {worst:.4}; import report {report}", e.name);
                // Held-back rows stay within twice the calibration rows' worst error (inputs
                // beyond the calibration range saturate at int8 and may do worse).
                assert!(worst <= 2.0 * max_abs_error + 1e-9, "{}: {worst} against {max_abs_error}", e.name);
            }
            other => panic!("{}: unknown kind {other}", e.name),
        }
    }
}

#[test]
fn a_boosted_regressors_common_offset_does_not_coarsen_its_leaves() {
    // LightGBM's first tree carries the target's mean (about 150) in every leaf, and the output
    // row's int8 weights share one scale over every leaf of every tree: each tree's leaves are
    // centred at import, their midpoint in the bias (mean error 1.35 on these rows before, 0.19).
    let dir = models_dir().join("corpus");
    let float = import_onnx_file(dir.join("lightgbm_diabetes.onnx")).unwrap();
    let calibration = Calibration::load(dir.join("lightgbm_diabetes.calibration.csv"), float.input_dim).unwrap();
    let (model, _) = quantize_with_report(&float, &calibration, None).unwrap();
    let report = accuracy(&model, &float, &calibration).unwrap();
    let AccuracyReport::Regression { mean_abs_error, .. } = report else { panic!("a regressor") };
    assert!(mean_abs_error < 0.4, "{report}");
}
