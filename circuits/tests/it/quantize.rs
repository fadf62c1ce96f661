//! Quantization of the models people export: dead and nearly dead units (rows of weights that
//! training drove to about zero), tiny or huge biases, constant input columns and units the
//! calibration never activates. Each imports, is reported, and follows the float model.

use verdict_circuits::{accuracy, quantize_with_report, AccuracyReport, Calibration, FloatLayer, FloatModel, Task};

/// splitmix64 in [-1, 1).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

fn random_model(rng: &mut Rng, dims: &[usize]) -> FloatModel {
    let layers = dims
        .windows(2)
        .enumerate()
        .map(|(l, w)| {
            let (n, m) = (w[0], w[1]);
            FloatLayer {
                in_dim: n,
                out_dim: m,
                weights: (0..n * m).map(|_| (rng.next() / (n as f64).sqrt()) as f32).collect(),
                bias: (0..m).map(|_| (rng.next() * 0.1) as f32).collect(),
                relu: l + 2 < dims.len(),
                table: None,
                exact: false,
                reach: None,
            }
        })
        .collect();
    FloatModel { name: "random".into(), input_dim: dims[0], layers, normalize: None, input_scale: None }
}

fn calibration(rng: &mut Rng, width: usize, rows: usize, constant_column: Option<usize>) -> Calibration {
    Calibration {
        rows: (0..rows)
            .map(|_| (0..width).map(|i| if Some(i) == constant_column { 0.0 } else { rng.next() }).collect())
            .collect(),
    }
}

fn agreement(report: &AccuracyReport) -> f64 {
    match report {
        AccuracyReport::Classification { agreement, .. } => *agreement,
        AccuracyReport::Regression { .. } => unreachable!("classifiers here"),
    }
}

#[test]
fn dead_units_import_and_are_reported_by_layer_and_output() {
    // The case users met: an sklearn MLP whose L2 penalty drove a row to ~1e-41 (its scale
    // ~1e-43, its bias ~2e10 accumulator units): refused before, with "the bias is
    // -18738185201 accumulator units".
    let mut rng = Rng(1);
    let mut float = random_model(&mut rng, &[12, 16, 8, 4]);
    let n = float.layers[1].in_dim;
    float.layers[1].weights[3 * n..4 * n].iter_mut().for_each(|w| *w = 1e-41);
    float.layers[1].bias[3] = -0.8;
    // An all-zero row with a bias far larger than the others.
    float.layers[0].weights[5 * 12..6 * 12].iter_mut().for_each(|w| *w = 0.0);
    float.layers[0].bias[5] = 40.0;
    // A nearly dead unit of the last layer (a classifier's last layer shares one scale, the
    // largest of its rows', so it needs no raise of its own).
    let n = float.layers[2].in_dim;
    float.layers[2].weights[2 * n..3 * n].iter_mut().for_each(|w| *w *= 1e-30);
    let cal = calibration(&mut rng, 12, 200, None);
    let (model, adjustments) = quantize_with_report(&float, &cal, Some(Task::Classification)).unwrap();
    let rows: Vec<(usize, usize)> = adjustments.iter().map(|a| (a.layer, a.output)).collect();
    assert!(rows.contains(&(1, 3)) && !rows.iter().any(|(l, _)| *l == 2), "{rows:?}");
    assert!(model.output.scales.windows(2).all(|w| w[0] == w[1]), "{:?}", model.output.scales);
    let dead = adjustments.iter().find(|a| (a.layer, a.output) == (1, 3)).unwrap();
    assert_eq!(dead.nonzero_weights, 0);
    assert!(dead.to_string().contains("layer 1 output 3: a dead unit"), "{dead}");
    // The dead unit's output is relu(-0.8) = 0 in float; the engine computes the same.
    let report = accuracy(&model, &float, &cal).unwrap();
    assert!(agreement(&report) >= 0.97, "{report}");
}

/// A two-class head written as logits `[0, l]` (sklearn's one logistic unit exported as two
/// classes) has a dead row of zeros: it must not set the head's shared scale. It did: a zero row's
/// scale was 1, the largest of the head's, and the live row's weights (about ±0.5) quantized to
/// 0 and ±1 (the shipped credit model agreed with its float model on 88.75% of rows).
#[test]
fn a_dead_row_in_a_classifiers_head_does_not_set_its_scale() {
    let mut rng = Rng(7);
    let mut float = random_model(&mut rng, &[8, 16, 2]);
    let n = float.layers[1].in_dim;
    float.layers[1].weights[..n].iter_mut().for_each(|w| *w = 0.0);
    float.layers[1].bias[0] = 0.0;
    let cal = calibration(&mut rng, 8, 300, None);
    let (model, _) = quantize_with_report(&float, &cal, Some(Task::Classification)).unwrap();
    let live = &model.layers[1].weights[n..];
    assert_eq!(live.iter().map(|w| w.unsigned_abs()).max(), Some(127), "the live row keeps its precision: {live:?}");
    assert!(model.layers[1].weights[..n].iter().all(|w| *w == 0));
    let report = accuracy(&model, &float, &cal).unwrap();
    assert!(agreement(&report) >= 0.97, "{report}");
}

#[test]
fn random_models_with_dead_units_huge_biases_constant_columns_and_silent_units_import() {
    for seed in 0..24u64 {
        let mut rng = Rng(seed);
        let width = 6 + (seed as usize % 5) * 7;
        let dims = [width, 10 + seed as usize % 7, 9, 3 + seed as usize % 4];
        let mut float = random_model(&mut rng, &dims);
        // A third of each hidden layer's units get a trait (so that the model still decides by
        // its live units, and agreement with the float model means something).
        let hidden = float.layers.len() - 1;
        for layer in &mut float.layers[..hidden] {
            let n = layer.in_dim;
            for o in (seed as usize % 3..layer.out_dim).step_by(3) {
                if rng.next() > 0.0 {
                    // Dead or nearly dead: weights at 1e-41..1e-20 of their size.
                    let tiny = 10f32.powi(-20 - ((rng.next() + 1.0) * 10.0) as i32);
                    layer.weights[o * n..(o + 1) * n].iter_mut().for_each(|w| *w *= tiny);
                } else {
                    // A bias large relative to the inputs, negative: a unit the calibration never
                    // turns on. (A large positive one, a unit always far above the others, sets
                    // its layer's one activation scale and costs the other units their
                    // precision: it imports, see the next test, but per-channel activation
                    // scales are what would keep its accuracy.)
                    layer.bias[o] = -(rng.next().abs() * 50.0 + 5.0) as f32;
                }
            }
        }
        let cal = calibration(&mut rng, width, 120, Some(seed as usize % width));
        // Read as regression: the outputs' error against the float model, relative to their size
        // (random models have near-ties that make top-1 agreement noise).
        let (model, adjustments) =
            quantize_with_report(&float, &cal, Some(Task::Regression)).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        model.validate().unwrap();
        for a in &adjustments {
            assert!(a.scale_to > a.scale_from, "seed {seed}: {a}");
        }
        let AccuracyReport::Regression { mean_abs_error, max_abs_output, .. } = accuracy(&model, &float, &cal).unwrap()
        else {
            unreachable!("a regression report")
        };
        assert!(
            mean_abs_error <= 0.03 * max_abs_output,
            "seed {seed}: mean |error| {mean_abs_error} of {max_abs_output}"
        );
    }
}

#[test]
fn a_unit_far_above_the_others_still_imports() {
    // A hidden unit with a bias of 50 where the others are about 0.3: the layer's activation
    // scale follows it, so the others keep only a few int8 levels. It must import and run.
    let mut rng = Rng(3);
    let mut float = random_model(&mut rng, &[10, 12, 4]);
    float.layers[0].bias[0] = 50.0;
    let cal = calibration(&mut rng, 10, 60, None);
    let (model, _) = quantize_with_report(&float, &cal, Some(Task::Classification)).unwrap();
    model.validate().unwrap();
    accuracy(&model, &float, &cal).unwrap();
}

/// The import report names the layer to look at: each layer's relative RMS error against the
/// float model, small for a faithful import, and largest at a layer whose weights were damaged.
#[test]
fn the_accuracy_report_names_the_worst_layer() {
    let mut rng = Rng(11);
    let float = random_model(&mut rng, &[10, 24, 16, 5]);
    let cal = calibration(&mut rng, 10, 300, None);
    let (mut model, _) = quantize_with_report(&float, &cal, Some(Task::Classification)).unwrap();
    let errors = verdict_circuits::layer_errors(&model, &float, &cal).unwrap();
    assert_eq!(errors.len(), 3);
    assert!(errors.iter().all(|e| *e < 0.1), "a faithful import: {errors:?}");
    // Damage layer 1 (every weight's sign flipped on half its rows): the report names it.
    let n = model.layers[1].in_dim;
    for o in (0..model.layers[1].out_dim).step_by(2) {
        model.layers[1].weights[o * n..(o + 1) * n].iter_mut().for_each(|w| *w = -*w);
    }
    let report = accuracy(&model, &float, &cal).unwrap();
    let (worst, error) = report.worst_layer().unwrap();
    assert_eq!(worst, 1, "{report}");
    assert!(error > 0.5, "{report}");
    assert!(report.to_string().contains("worst layer 1"), "{report}");
}

#[test]
fn raw_features_of_far_apart_ranges_are_balanced_and_alike_ones_left_alone() {
    // A classifier on raw tabular features: amounts in the thousands beside ratios in the
    // hundredths (the input's one int8 scale would leave the ratios a level or two), a constant
    // column among them.
    let mut rng = Rng(41);
    let ranges = [3000.0, 0.02, 5.0, 0.01, 1.0e6, 0.5, 0.0, 40.0];
    let offsets = [2500.0, 0.0, -3.0, 0.1, 2.0e6, 0.0, 7.0, 0.0];
    let width = ranges.len();
    let mut float = random_model(&mut rng, &[width, 12, 3]);
    // Each feature weighed to matter as much as the others at its own range.
    for r in 0..12 {
        for (i, range) in ranges.iter().enumerate() {
            float.layers[0].weights[r * width + i] /= if *range == 0.0 { 1.0 } else { *range as f32 };
        }
    }
    let rows = |rng: &mut Rng, n: usize| -> Vec<Vec<f64>> {
        (0..n).map(|_| ranges.iter().zip(&offsets).map(|(r, o)| o + r * rng.next()).collect()).collect()
    };
    let calibration = Calibration { rows: rows(&mut rng, 300) };
    let (model, _) = quantize_with_report(&float, &calibration, Some(Task::Classification)).unwrap();
    // The balanced input: each feature centred and spread over the typical range, the constant
    // one centred; the first layer compensates, so the float model is unchanged.
    let normalize = model.input.normalize.as_ref().expect("balanced");
    for (i, row) in calibration.rows.iter().enumerate().take(20) {
        let x = normalize.apply(row);
        assert!(x.iter().all(|v| v.abs() <= 1.01 * x.iter().fold(0f64, |m, v| m.max(v.abs())) + 1e-9));
        assert_eq!(x[6], 0.0, "row {i}: the constant column is centred");
    }
    let report = accuracy(&model, &float, &calibration).unwrap();
    assert!(agreement(&report) >= 0.97, "{report}");
    let held_back = Calibration { rows: rows(&mut rng, 200) };
    let report = accuracy(&model, &float, &held_back).unwrap();
    assert!(agreement(&report) >= 0.95, "held back: {report}");
    // The same features already scaled alike: nothing to balance, no normalization added.
    let alike = Calibration { rows: (0..300).map(|_| (0..width).map(|_| rng.next()).collect()).collect() };
    let (model, _) = quantize_with_report(&float, &alike, Some(Task::Classification)).unwrap();
    assert!(model.input.normalize.is_none());
}
