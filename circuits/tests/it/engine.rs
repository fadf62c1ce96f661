//! The reference engine against an independent, straightforward implementation.

use proptest::prelude::*;
use verdict_circuits::{
    requantize, Activation, InputSpec, Layer, Model, OutputSpec, Requant, Task, MODEL_FORMAT, MODEL_FORMAT_VERSION,
};

/// Straightforward i128 re-implementation: rounding by exact division, clamp by comparisons.
#[allow(clippy::needless_range_loop)] // deliberately the plainest indexing
fn naive_run(model: &Model, input: &[i8]) -> Vec<Vec<i32>> {
    let mut steps = vec![input.iter().map(|v| i32::from(*v)).collect::<Vec<i32>>()];
    for layer in &model.layers {
        let x = steps.last().unwrap().clone();
        let mut y = Vec::new();
        for o in 0..layer.out_dim {
            let mut acc: i128 = i128::from(layer.bias[o]);
            for i in 0..layer.in_dim {
                acc += i128::from(layer.weights[o * layer.in_dim + i]) * i128::from(x[i]);
            }
            if layer.activation == Activation::Relu && acc < 0 {
                acc = 0;
            }
            match &layer.requant {
                None => y.push(i32::try_from(acc).unwrap()),
                Some(r) => {
                    let den = 1i128 << r.shift;
                    let num = 2 * acc * i128::from(r.multipliers[o]) + den;
                    // floor((2·acc·m + 2^s) / 2^(s+1)) = floor(acc·m/2^s + 1/2)
                    let mut q = num.div_euclid(2 * den);
                    let lo = if layer.activation == Activation::Relu { 0 } else { -127 };
                    if q < lo {
                        q = lo;
                    }
                    if q > 127 {
                        q = 127;
                    }
                    y.push(q as i32);
                }
            }
        }
        steps.push(y);
    }
    steps
}

fn arb_model() -> impl Strategy<Value = Model> {
    (1usize..12, prop::collection::vec((1usize..12, any::<bool>()), 1..5), any::<bool>()).prop_flat_map(
        |(input_len, shapes, classify)| {
            let mut widths = vec![input_len];
            widths.extend(shapes.iter().map(|s| s.0));
            let n = shapes.len();
            let layers: Vec<_> = shapes
                .iter()
                .enumerate()
                .map(|(i, (out, relu))| {
                    let (in_dim, out_dim, relu) = (widths[i], *out, *relu);
                    (
                        prop::collection::vec(-127i8..=127, in_dim * out_dim),
                        prop::collection::vec(-(1i32 << 20)..(1 << 20), out_dim),
                        prop::collection::vec(0i32..i32::MAX, out_dim),
                        1u32..=62,
                    )
                        .prop_map(move |(weights, bias, multipliers, shift)| Layer {
                            in_dim,
                            out_dim,
                            activation: if relu { Activation::Relu } else { Activation::None },
                            weights,
                            bias,
                            requant: (i + 1 < n).then_some(Requant { multipliers, shift }),
                            table: None,
                        })
                })
                .collect();
            let out_len = *widths.last().unwrap();
            layers.prop_map(move |layers| Model {
                format: MODEL_FORMAT.into(),
                version: MODEL_FORMAT_VERSION,
                name: "random".into(),
                task: if classify && out_len >= 2 { Task::Classification } else { Task::Regression },
                input: InputSpec { len: input_len, scale: 0.5, normalize: None },
                layers,
                output: OutputSpec { scales: vec![0.25; out_len] },
            })
        },
    )
}

fn arb_model_and_input() -> impl Strategy<Value = (Model, Vec<i8>)> {
    arb_model().prop_flat_map(|m| {
        let len = m.input.len;
        (Just(m), prop::collection::vec(-127i8..=127, len))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn engine_is_bit_exact_against_naive((model, input) in arb_model_and_input()) {
        model.validate().unwrap();
        let trace = model.run(&input).unwrap();
        prop_assert_eq!(trace.steps, naive_run(&model, &input));
    }

    #[test]
    fn requantize_rounds_half_toward_positive_infinity(
        acc in -(1i64 << 31) + 1..(1i64 << 31),
        m in 0i64..(1i64 << 31),
        shift in 1u32..=62,
    ) {
        let q = i128::from(requantize(acc, m, shift));
        let exact2 = 2 * i128::from(acc) * i128::from(m); // 2·acc·m, compared against 2^(s+1)·q
        let unit = 1i128 << shift;
        // q = floor(x + 1/2) for x = acc·m/2^s: x − q ∈ [−1/2, 1/2), so a tie (x = q − 1/2) went
        // up to q. Times 2^(s+1): −2^s ≤ 2·acc·m − 2^(s+1)·q < 2^s.
        let diff = exact2 - 2 * unit * q;
        prop_assert!(diff >= -unit && diff < unit, "acc {} m {} shift {} q {}", acc, m, shift, q);
    }

    #[test]
    fn valid_models_never_exceed_the_accumulator_bound((model, input) in arb_model_and_input()) {
        // Every accumulator of every step stays strictly inside int32, as the bound promises.
        for (layer, x) in model.layers.iter().zip(model.run(&input).unwrap().steps.iter()) {
            for (o, acc) in layer.accumulate(x).iter().enumerate() {
                prop_assert!(acc.abs() <= layer.accumulator_bound(o));
                prop_assert!(acc.abs() < 1i64 << 31);
            }
        }
    }
}

#[test]
fn requantize_known_values() {
    // 3·1/2 = 1.5 rounds up to 2; −1.5 rounds up to −1; 2.5 → 3; −2.5 → −2.
    assert_eq!(requantize(3, 1, 1), 2);
    assert_eq!(requantize(-3, 1, 1), -1);
    assert_eq!(requantize(5, 1, 1), 3);
    assert_eq!(requantize(-5, 1, 1), -2);
    assert_eq!(requantize(7, 1, 2), 2); // 1.75
    assert_eq!(requantize(-7, 1, 2), -2); // −1.75
    assert_eq!(requantize((1 << 31) - 1, (1 << 31) - 1, 62), 1); // (2^31−1)²/2^62 ≈ 0.99999
}

#[test]
fn run_rejects_bad_inputs() {
    let model = Model::load(crate::models_dir().join("digits.model.json")).unwrap();
    let err = model.run(&[0; 3]).unwrap_err().to_string();
    assert_eq!(err, "invalid input: expected 64 int8 values, found 3");
    let mut input = vec![0i8; 64];
    input[5] = i8::MIN;
    let err = model.run(&input).unwrap_err().to_string();
    assert!(err.contains("value 5 is -128"), "{err}");
    let err = model.quantize_input(&[f64::NAN; 64]).unwrap_err().to_string();
    assert!(err.contains("not a finite number"), "{err}");
    // Out-of-range reals saturate at ±127.
    assert_eq!(model.quantize_input(&[1e9; 64]).unwrap(), vec![127i8; 64]);
}
