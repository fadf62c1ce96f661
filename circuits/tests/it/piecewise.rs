//! Smooth activations in piecewise-linear form (`FloatModel::piecewise_linear`, `oracle model
//! import --piecewise-linear`): the interpolants stay within an int8 step of `Sigmoid` and
//! `Tanh`; the models of the importer's corpus that use them become ReLU networks that agree
//! with onnxruntime and are proven by tiles; what has no such form is refused.

use verdict_circuits::{
    argmax_f64, import_onnx_file, output_accuracy, quantize, tiles::TilePlan, AccuracyReport, Calibration, FloatLayer,
    FloatModel, Interpolant, Model, Prediction, TableFunction, DEFAULT_KNOTS,
};

use crate::models_dir;

#[test]
fn interpolants_stay_within_0_4_percent_of_sigmoid_and_tanh() {
    for (f, range) in [(TableFunction::Sigmoid, 1.0), (TableFunction::Tanh, 2.0)] {
        let mut previous = f64::INFINITY;
        for knots in [4, 8, DEFAULT_KNOTS, 32] {
            let p = Interpolant::new(f, knots).unwrap();
            assert_eq!(p.knots.len(), knots);
            assert!(p.knots.windows(2).all(|k| k[0] < k[1]), "{f:?}: increasing knots");
            assert_eq!((p.knots[0], p.knots[knots - 1]), (-f.saturation(), f.saturation()));
            // Exact at the knots, flat on both sides.
            for k in &p.knots {
                assert!((p.apply(*k) - f.apply(*k)).abs() < 1e-12, "{f:?} at knot {k}");
            }
            assert!(p.slopes.iter().sum::<f64>().abs() < 1e-12, "{f:?}: flat after the last knot");
            let errors = |within: f64| {
                (-20_000..=20_000)
                    .map(|i| f64::from(i) / 1000.0)
                    .filter(|z| z.abs() <= within)
                    .map(|z| (p.apply(z) - f.apply(z)).abs())
                    .fold(0.0, f64::max)
            };
            // Between the knots the error falls with their number; beyond them it is the
            // function's own distance to its saturation value.
            let inside = errors(f.saturation());
            assert!(inside < previous, "{f:?}: more knots, a smaller error ({knots}: {inside})");
            previous = inside;
            let error = errors(f64::INFINITY);
            if knots == DEFAULT_KNOTS {
                // Sigmoid 0.0037 (its tail beyond the saturation), Tanh 0.0058.
                assert!(error / range < 0.004, "{f:?}: {knots} knots, error {error}");
            }
        }
    }
    for (f, knots, says) in [
        (TableFunction::Sigmoid, 1, "2 to 64 knots, not 1"),
        (TableFunction::Tanh, 65, "2 to 64 knots, not 65"),
        (TableFunction::Step, 16, "no piecewise-linear form"),
    ] {
        let e = Interpolant::new(f, knots).unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
    }
}

#[derive(serde::Deserialize)]
struct Heldout {
    inputs: Vec<Vec<f64>>,
    labels: Vec<usize>,
}

/// A corpus model, its calibration rows and held-back rows.
fn corpus(name: &str) -> (FloatModel, Calibration, Heldout) {
    let dir = models_dir().join("corpus");
    let float = exported(name);
    let calibration = Calibration::load(dir.join(format!("{name}.calibration.csv")), float.input_dim).unwrap();
    let heldout =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}.heldout.json"))).unwrap()).unwrap();
    (float, calibration, heldout)
}

/// The piecewise-linear form of a corpus model, quantized.
pub(crate) fn piecewise_corpus_model(name: &str) -> Model {
    let (float, calibration, _) = corpus(name);
    quantize(&float.piecewise_linear(DEFAULT_KNOTS).unwrap(), &calibration, None).unwrap()
}

#[test]
fn smooth_corpus_models_in_piecewise_linear_form_are_tiled_and_agree_with_onnxruntime() {
    // scikit-learn's MLPClassifier with logistic (one hidden layer) and tanh (two) activations.
    for (name, smooth_layers) in [("mlp_logistic_digits", 1), ("mlp_tanh_digits", 2)] {
        let (float, calibration, heldout) = corpus(name);
        let by_table = quantize(&float, &calibration, None).unwrap();
        let e = TilePlan::new(&by_table).unwrap_err().to_string();
        assert!(e.contains("by table") && e.contains("--piecewise-linear"), "{name}: {e}");

        let form = float.piecewise_linear(DEFAULT_KNOTS).unwrap();
        // Each smooth layer becomes its linear pre-activation and a ReLU layer of hinges.
        assert_eq!(form.layers.len(), float.layers.len() + smooth_layers, "{name}");
        assert!(form.layers.iter().all(|l| l.table.is_none()), "{name}: no table left");
        let hinges = form.layers.iter().filter(|l| l.relu && l.out_dim % DEFAULT_KNOTS == 0).count();
        assert!(hinges >= smooth_layers, "{name}");
        let model = quantize(&form, &calibration, None).unwrap();
        assert!(model.layers.iter().all(|l| l.table.is_none()));
        let plan = TilePlan::new(&model).unwrap_or_else(|e| panic!("{name}: {e}"));

        // The float form and the quantized model against onnxruntime's labels on held-back rows.
        let n = heldout.labels.len();
        let (mut float_agree, mut agree) = (0, 0);
        for (x, label) in heldout.inputs.iter().zip(&heldout.labels) {
            float_agree += usize::from(argmax_f64(&form.forward(x)) == *label);
            let Prediction::Classification { class } =
                model.predict(model.run(&model.quantize_input(x).unwrap()).unwrap().output())
            else {
                panic!("{name}: a classifier")
            };
            agree += usize::from(class == *label);
        }
        let report = output_accuracy(&model, &float, &calibration).unwrap();
        eprintln!(
            "{name}: {} tiles; float form {float_agree}/{n}, quantized {agree}/{n} top-1 with onnxruntime; \
             against the original on calibration rows: {report}",
            plan.len()
        );
        assert!(float_agree * 100 >= n * 99, "{name}: the float form {float_agree}/{n}");
        assert!(agree * 100 >= n * 97, "{name}: {agree}/{n} top-1 agreement, below 97%");
        let AccuracyReport::Classification { agreement, layers, .. } = report else { panic!("a classifier") };
        assert!(agreement >= 0.97 && layers.is_empty(), "{name}: {agreement}");
    }
}

/// The unbounded functions (no int8 table): their values against references computed
/// independently (Python's `math`: libm's `erf`, `expm1`, `log1p`; Selu with ONNX's float32
/// constants), and their interpolants: exact at the knots, flat on the
/// left, of the function's end slope on the right, and within 0.01 of the function everywhere
/// (0.0025 for Elu to 0.0084 for SiLU at 16 knots: under 0.1% of the values they take over
/// [-10, 10]).
#[test]
fn unbounded_activations_compute_their_definitions_and_interpolate_with_their_end_slope() {
    let cases = [
        (
            TableFunction::Elu,
            [(-1.0, -0.632_120_558_828_557_7), (0.0, 0.0), (2.5, 2.5), (-20.0, -0.999_999_997_938_846_4)],
        ),
        (
            TableFunction::Selu,
            [
                (-1.0, -1.111_330_741_286_478_4),
                (0.0, 0.0),
                (2.0, 2.101_402_044_296_264_6),
                (-20.0, -1.758_099_342_719_317_7),
            ],
        ),
        (
            TableFunction::Softplus,
            [
                (0.0, std::f64::consts::LN_2),
                (-3.0, 0.048_587_351_573_742_06),
                (40.0, 40.0),
                (-40.0, 4.248_354_255_291_589e-18),
            ],
        ),
        (
            TableFunction::Silu,
            [
                (1.0, 0.731_058_578_630_004_9),
                (-1.0, -0.268_941_421_369_995_1),
                (0.0, 0.0),
                (-10.0, -4.539_786_870_243_439e-4),
            ],
        ),
        (
            TableFunction::Gelu,
            [
                (1.0, 0.841_344_746_068_542_9),
                (-1.0, -0.158_655_253_931_457_07),
                (3.0, 2.995_950_305_905_11),
                (-3.0, -4.049_694_094_890_31e-3),
            ],
        ),
        (
            TableFunction::GeluTanh,
            [
                (1.0, 0.841_191_990_608_276_8),
                (-1.0, -0.158_808_009_391_723_24),
                (3.0, 2.996_362_607_918_227),
                (-3.0, -3.637_392_081_772_994_3e-3),
            ],
        ),
        (
            TableFunction::HardSwish,
            [(1.0, 0.666_666_666_666_666_6), (-1.0, -0.333_333_333_333_333_3), (4.0, 4.0), (-4.0, 0.0)],
        ),
        (
            TableFunction::Mish,
            [
                (1.0, 0.865_098_388_267_310_3),
                (-1.0, -0.303_401_461_374_108_95),
                (3.0, 2.986_535_004_967_957_5),
                (-3.0, -0.145_647_461_275_624_6),
            ],
        ),
    ];
    for (f, values) in cases {
        assert!(!f.has_table(), "{f:?}");
        for (x, y) in values {
            assert!((f.apply(x) - y).abs() <= 1e-13 * (1.0 + y.abs()), "{f:?}({x}) = {} not {y}", f.apply(x));
        }
        let p = Interpolant::new(f, DEFAULT_KNOTS).unwrap();
        assert_eq!((p.knots[0], p.knots[DEFAULT_KNOTS - 1]), f.knot_range());
        for k in &p.knots {
            assert!((p.apply(*k) - f.apply(*k)).abs() < 1e-12, "{f:?} at knot {k}");
        }
        assert!((p.slopes.iter().sum::<f64>() - f.end_slope()).abs() < 1e-12, "{f:?}: the end slope");
        let scale = (-10_000..=10_000).map(|i| f.apply(f64::from(i) / 1000.0).abs()).fold(0.0, f64::max);
        let error = (-100_000..=100_000)
            .map(|i| f64::from(i) / 1000.0)
            .map(|z| (p.apply(z) - f.apply(z)).abs())
            .fold(0.0, f64::max);
        eprintln!(
            "{f:?}: {DEFAULT_KNOTS} knots, max error {error:.5} over [-100, 100], {:.3}% of {scale:.2}",
            100.0 * error / scale
        );
        assert!(error < 0.01 && error < 0.001 * scale, "{f:?}: error {error} against {scale}");
    }
    // No table: the quantizer refuses them until they are in piecewise-linear form.
    let elu = import_onnx_file(models_dir().join("corpus/elu_mlp.onnx")).unwrap();
    assert!(elu.needs_piecewise_linear());
    let calibration = Calibration::load(models_dir().join("corpus/elu_mlp.calibration.csv"), elu.input_dim).unwrap();
    let e = quantize(&elu, &calibration, None).unwrap_err().to_string();
    assert!(e.contains("Elu has no int8 table") && e.contains("piecewise_linear_untabled"), "{e}");
    let form = elu.piecewise_linear_untabled(DEFAULT_KNOTS).unwrap();
    assert!(!form.needs_piecewise_linear() && form.layers.iter().all(|l| l.table.is_none()));
    let model = quantize(&form, &calibration, None).unwrap();
    TilePlan::new(&model).unwrap();
    // A Sigmoid keeps its table unless asked.
    let sigmoid = exported("sigmoid_mlp");
    assert!(!sigmoid.needs_piecewise_linear());
    assert_eq!(sigmoid.piecewise_linear_untabled(DEFAULT_KNOTS).unwrap(), sigmoid);
}

#[test]
fn what_has_no_piecewise_linear_form_is_refused() {
    // A tree ensemble's comparisons are steps: the piecewise-linear form keeps them (they become
    // clamps after quantization, `a_tree_ensemble_tiles_exactly_with_its_steps_as_clamps`).
    let forest = exported("forest_diabetes");
    assert_eq!(forest.piecewise_linear(DEFAULT_KNOTS).unwrap(), forest);
    // A max pool's exact tournament right after a smooth function.
    let layer = |in_dim, out_dim, table, exact| FloatLayer {
        in_dim,
        out_dim,
        weights: vec![1.0; in_dim * out_dim],
        bias: vec![0.0; out_dim],
        relu: exact,
        table,
        exact,
        reach: None,
    };
    let model = FloatModel {
        name: "pool after sigmoid".into(),
        input_dim: 2,
        layers: vec![
            layer(2, 2, Some(TableFunction::Sigmoid), false),
            layer(2, 1, None, true),
            layer(1, 1, None, false),
        ],
        normalize: None,
        input_scale: None,
    };
    model.validate().unwrap();
    let e = model.piecewise_linear(DEFAULT_KNOTS).unwrap_err().to_string();
    assert!(e.contains("layer 1") && e.contains("max pool"), "{e}");
    // Too few or too many knots.
    let logistic = exported("mlp_logistic_digits");
    assert!(logistic.piecewise_linear(1).unwrap_err().to_string().contains("not 1"));
    assert!(logistic.piecewise_linear(65).unwrap_err().to_string().contains("not 65"));
    // A model without smooth functions is unchanged.
    let relu = exported("linreg_diabetes");
    assert_eq!(relu.piecewise_linear(DEFAULT_KNOTS).unwrap(), relu);
}

/// A corpus model as imported.
fn exported(name: &str) -> FloatModel {
    import_onnx_file(models_dir().join("corpus").join(format!("{name}.onnx"))).unwrap()
}
