//! Circuit gadgets: honest witnesses satisfy the constraints and reproduce the engine's integers
//! bit for bit; every kind of wrong witness leaves the system unsatisfied.

use nova_snark::frontend::{util_cs::test_cs::TestConstraintSystem, ConstraintSystem};
use proptest::prelude::*;
use verdict_circuits::{
    clamp_int8,
    gadgets::{
        clamp, dense_layer, in_range, int8, relu, requantize, selected_range, unsigned_bits, Int, LayerBounds,
        LayerParams, NeuronHint,
    },
    requantize as native_requantize, Activation, Fr, Layer, Model,
};

use crate::models_dir;

type Cs = TestConstraintSystem<Fr>;

/// Changes an honest witness (hints, weights) into a dishonest one.
type Tamper = Box<dyn Fn(&mut Vec<NeuronHint>, &mut Vec<i128>)>;
/// Changes honest hints into dishonest ones (constant weights).
type HintTamper = Box<dyn Fn(&mut Vec<NeuronHint>)>;

fn satisfied(build: impl FnOnce(&mut Cs)) -> bool {
    let mut cs = Cs::new();
    build(&mut cs);
    cs.is_satisfied()
}

#[test]
fn unsigned_bits_rejects_out_of_range_values() {
    for (value, ok) in [(0i128, true), (255, true), (256, false), (-1, false), (1 << 40, false)] {
        assert_eq!(
            satisfied(|cs| {
                let x = Int::alloc(cs.namespace(|| "x"), value).unwrap();
                unsigned_bits(cs.namespace(|| "bits"), &x.lc, value, 8).unwrap();
            }),
            ok,
            "{value}"
        );
    }
}

#[test]
fn int8_accepts_exactly_the_symmetric_range() {
    for v in -300i128..300 {
        let ok = satisfied(|cs| {
            let x = Int::alloc(cs.namespace(|| "x"), v).unwrap();
            int8(cs.namespace(|| "int8"), &x).unwrap();
        });
        assert_eq!(ok, (-127..=127).contains(&v), "{v}");
    }
}

#[test]
fn in_range_is_two_sided() {
    for (value, ok) in [(-127i128, true), (127, true), (0, true), (-128, false), (128, false)] {
        assert_eq!(
            satisfied(|cs| {
                let x = Int::alloc(cs.namespace(|| "x"), value).unwrap();
                in_range(cs.namespace(|| "int8"), &x, -127, 127).unwrap();
            }),
            ok,
            "{value}"
        );
    }
}

#[test]
fn relu_rejects_a_wrong_sign() {
    for acc in [-5i128, -1, 0, 1, 77, (1 << 31) - 1, -(1 << 31)] {
        for nonneg in [true, false] {
            let honest = nonneg == (acc >= 0);
            let mut out = None;
            let ok = satisfied(|cs| {
                let a = Int::alloc(cs.namespace(|| "acc"), acc).unwrap();
                out = Some(relu(cs.namespace(|| "relu"), &a, nonneg, 31).unwrap().value);
            });
            assert_eq!(ok, honest, "acc {acc} sign {nonneg}");
            if honest {
                assert_eq!(out.unwrap(), acc.max(0));
            }
        }
    }
    // An accumulator outside int32 cannot pass either way.
    for nonneg in [true, false] {
        assert!(!satisfied(|cs| {
            let a = Int::alloc(cs.namespace(|| "acc"), 1 << 31).unwrap();
            relu(cs.namespace(|| "relu"), &a, nonneg, 31).unwrap();
        }));
    }
}

fn requant_ok(acc: i128, m: i128, shift: u32, q: i128, r: i128, constant_m: bool) -> bool {
    satisfied(|cs| {
        let a = Int::alloc(cs.namespace(|| "acc"), acc).unwrap();
        let m = if constant_m { Int::constant::<Cs>(m) } else { Int::alloc(cs.namespace(|| "m"), m).unwrap() };
        requantize(cs.namespace(|| "rq"), &a, &m, shift, q, r).unwrap();
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn requantize_accepts_exactly_the_engine_rounding(
        acc in -(1i128 << 31) + 1..(1i128 << 31),
        m in 0i128..(1i128 << 31),
        shift in 1u32..=62,
        constant_m in any::<bool>(),
    ) {
        let q = i128::from(native_requantize(acc as i64, m as i64, shift));
        let r = acc * m + (1i128 << (shift - 1)) - (q << shift);
        prop_assert!(requant_ok(acc, m, shift, q, r, constant_m));
        // Off by one either way (the remainder adjusted to keep the identity): rejected.
        prop_assert!(!requant_ok(acc, m, shift, q + 1, r - (1i128 << shift), constant_m));
        prop_assert!(!requant_ok(acc, m, shift, q - 1, r + (1i128 << shift), constant_m));
        // The wrong identity: rejected.
        prop_assert!(!requant_ok(acc, m, shift, q, r + 1, constant_m) || r + 1 == (1i128 << shift));
    }

    #[test]
    fn clamp_accepts_only_the_true_comparison(x in -(1i128 << 40)..(1i128 << 40), relu_floor in any::<bool>()) {
        let lo = if relu_floor { 0 } else { -127 };
        let honest = (x > 127, x < lo);
        for above in [false, true] {
            for below in [false, true] {
                let mut out = None;
                let ok = satisfied(|cs| {
                    let v = Int::alloc(cs.namespace(|| "x"), x).unwrap();
                    out = Some(clamp(cs.namespace(|| "clamp"), &v, lo, 127, above, below, 42).unwrap().value);
                });
                prop_assert_eq!(ok, (above, below) == honest, "x {} flags {:?}", x, (above, below));
                if ok {
                    let act = if relu_floor { Activation::Relu } else { Activation::None };
                    prop_assert_eq!(out.unwrap(), i128::from(clamp_int8(x as i64, act)));
                }
            }
        }
    }
}

/// Builds one layer of a shipped model with witness weights; returns satisfaction, the output
/// values, and the constraint count.
fn layer_circuit(
    layer: &Layer,
    x: &[i32],
    tamper: impl Fn(&mut Vec<NeuronHint>, &mut Vec<i128>),
) -> (bool, Vec<i128>, usize) {
    let bounds = LayerBounds::generic(layer);
    let mut hints: Vec<NeuronHint> = (0..layer.out_dim).map(|o| NeuronHint::honest(layer, o, x, &bounds)).collect();
    let mut weights: Vec<i128> = layer.weights.iter().map(|w| i128::from(*w)).collect();
    tamper(&mut hints, &mut weights);
    let mut cs = Cs::new();
    let w: Vec<Int> = weights
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let w = Int::alloc(cs.namespace(|| format!("w{i}")), *v).unwrap();
            in_range(cs.namespace(|| format!("w{i} int8")), &w, -127, 127).unwrap();
            w
        })
        .collect();
    let b: Vec<Int> = layer
        .bias
        .iter()
        .enumerate()
        .map(|(i, v)| Int::alloc(cs.namespace(|| format!("b{i}")), i128::from(*v)).unwrap())
        .collect();
    let m: Vec<Int> = match &layer.requant {
        Some(r) => r
            .multipliers
            .iter()
            .enumerate()
            .map(|(i, v)| Int::alloc(cs.namespace(|| format!("m{i}")), i128::from(*v)).unwrap())
            .collect(),
        None => Vec::new(),
    };
    let xs: Vec<Int> = x
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let v = Int::alloc(cs.namespace(|| format!("x{i}")), i128::from(*v)).unwrap();
            in_range(cs.namespace(|| format!("x{i} int8")), &v, -127, 127).unwrap();
            v
        })
        .collect();
    let out = dense_layer(
        cs.namespace(|| "layer"),
        layer,
        LayerParams { weights: &w, bias: &b, multipliers: &m },
        &xs,
        &hints,
        bounds,
    )
    .unwrap();
    (cs.is_satisfied(), out.iter().map(|o| o.value).collect(), cs.num_constraints())
}

#[test]
fn dense_layers_of_the_shipped_models_match_the_engine() {
    for name in ["price_feed", "tictactoe", "digits"] {
        let model = Model::load(models_dir().join(format!("{name}.model.json"))).unwrap();
        let input: Vec<i8> = (0..model.input.len).map(|i| ((i * 53) % 255) as i8 / 2).collect();
        let trace = model.run(&input).unwrap();
        for (l, layer) in model.layers.iter().enumerate() {
            let (ok, out, _) = layer_circuit(layer, &trace.steps[l], |_, _| {});
            assert!(ok, "{name} layer {l}: honest witness unsatisfied");
            let expected: Vec<i128> = trace.steps[l + 1].iter().map(|v| i128::from(*v)).collect();
            assert_eq!(out, expected, "{name} layer {l}");
        }
    }
}

#[test]
fn dense_layer_rejects_wrong_witnesses() {
    let model = Model::load(models_dir().join("price_feed.model.json")).unwrap();
    let input: Vec<i8> = (0..16).map(|i| (i * 9 - 60) as i8).collect();
    let trace = model.run(&input).unwrap();
    let layer = &model.layers[0];
    let x = &trace.steps[0];
    let cases: Vec<(&str, Tamper)> = vec![
        ("wrong product", Box::new(|h, _| h[0].products[3] += 1)),
        ("wrong relu sign", Box::new(|h, _| h[1].nonneg = !h[1].nonneg)),
        (
            "wrong quotient",
            Box::new(|h, _| {
                h[2].quotient += 1;
                h[2].remainder -= 1 << 40;
            }),
        ),
        ("wrong clamp", Box::new(|h, _| h[4].above = !h[4].above)),
        ("overflowing weight", Box::new(|_, w| w[0] = 200)),
        ("weight -128", Box::new(|_, w| w[5] = -128)),
    ];
    for (label, tamper) in cases {
        let (ok, _, _) = layer_circuit(layer, x, tamper);
        assert!(!ok, "{label}: accepted");
    }
}

#[test]
fn layer_constraint_counts_are_pinned() {
    // Snapshot: witness weights, int8 range checks on weights and inputs, one product a weight,
    // ReLU, requantization and clamp. A change here is a reviewed change of the step shape.
    let mut counts = Vec::new();
    for name in ["price_feed", "tictactoe", "digits"] {
        let model = Model::load(models_dir().join(format!("{name}.model.json"))).unwrap();
        let trace = model.run(&vec![0; model.input.len]).unwrap();
        for (l, layer) in model.layers.iter().enumerate() {
            counts.push((name, l, layer_circuit(layer, &trace.steps[l], |_, _| {}).2));
        }
    }
    assert_eq!(format!("{counts:?}"), PINNED_COUNTS);
}

const PINNED_COUNTS: &str = "[(\"price_feed\", 0, 14176), (\"price_feed\", 1, 12400), (\"price_feed\", 2, 658), (\"tictactoe\", 0, 19426), (\"tictactoe\", 1, 12690), (\"digits\", 0, 44192), (\"digits\", 1, 7316)]";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The identity behind the public step's folded ReLU: with a non-negative multiplier,
    /// requantizing then clamping to [0, 127] gives the same int8 whether or not ReLU came first.
    #[test]
    fn relu_folds_into_the_clamp_for_non_negative_multipliers(
        acc in -(1i64 << 31) + 1..(1i64 << 31),
        m in 0i64..(1i64 << 31),
        shift in 1u32..=62,
    ) {
        let engine = clamp_int8(native_requantize(acc.max(0), m, shift), Activation::Relu);
        let folded = clamp_int8(native_requantize(acc, m, shift), Activation::Relu);
        prop_assert_eq!(engine, folded);
    }
}

/// The bounds of a public layer (constant parameters) or a private one (witness parameters,
/// multipliers range-checked as unsigned by the step circuit).
fn bounds_of(layer: &Layer, private: bool) -> LayerBounds {
    if private {
        LayerBounds::private(layer)
    } else {
        LayerBounds::tight(layer)
    }
}

/// One layer as the step circuit lays it out: constant parameters (public) or witness ones
/// (private), on int8 inputs `x`, with honest hints changed by `tamper`. Public: exact bounds
/// (ReLU folded into the clamp, no accumulator range check); private: ReLU folded too (the
/// multipliers are unsigned). Returns satisfaction and the outputs.
fn step_layer_circuit(
    layer: &Layer,
    x: &[i32],
    private: bool,
    tamper: impl Fn(&mut Vec<NeuronHint>),
) -> (bool, Vec<i128>) {
    let bounds = bounds_of(layer, private);
    let mut hints: Vec<NeuronHint> = (0..layer.out_dim).map(|o| NeuronHint::honest(layer, o, x, &bounds)).collect();
    tamper(&mut hints);
    let mut cs = Cs::new();
    let mut allocated = 0;
    let mut constants = |v: &[i128]| {
        v.iter()
            .map(|v| {
                allocated += 1;
                if private {
                    Int::alloc(cs.namespace(|| format!("param {allocated}")), *v).unwrap()
                } else {
                    Int::constant::<Cs>(*v)
                }
            })
            .collect::<Vec<_>>()
    };
    let w = constants(&layer.weights.iter().map(|v| i128::from(*v)).collect::<Vec<_>>());
    let b = constants(&layer.bias.iter().map(|v| i128::from(*v)).collect::<Vec<_>>());
    let m =
        constants(&layer.requant.as_ref().map_or(vec![], |r| r.multipliers.iter().map(|v| i128::from(*v)).collect()));
    let xs: Vec<Int> = x
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let v = Int::alloc(cs.namespace(|| format!("x{i}")), i128::from(*v)).unwrap();
            int8(cs.namespace(|| format!("x{i} int8")), &v).unwrap();
            v
        })
        .collect();
    let params = LayerParams { weights: &w, bias: &b, multipliers: &m };
    let out = dense_layer(cs.namespace(|| "layer"), layer, params, &xs, &hints, bounds).unwrap();
    (cs.is_satisfied(), out.iter().map(|o| o.value).collect())
}

/// Inputs that drive accumulators far both ways: all-extreme rows and pseudo-random ones.
fn probing_inputs(len: usize) -> Vec<Vec<i32>> {
    let mut out = vec![vec![127; len], vec![-127; len], vec![0; len]];
    let mut state = 0x2545_f491_u64;
    for _ in 0..24 {
        out.push(
            (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state % 255) as i32 - 127
                })
                .collect(),
        );
    }
    out
}

#[test]
fn layers_match_the_engine_with_relu_folded_into_the_clamp_in_both_modes() {
    let mut folded = 0;
    let mut negative = 0;
    for name in ["price_feed", "tictactoe", "digits"] {
        let model = Model::load(models_dir().join(format!("{name}.model.json"))).unwrap();
        for (l, layer) in model.layers.iter().enumerate() {
            folded += usize::from(LayerBounds::tight(layer).fuses_relu(layer));
            for (x, private) in probing_inputs(layer.in_dim).into_iter().flat_map(|x| [(x.clone(), false), (x, true)]) {
                let (ok, out) = step_layer_circuit(layer, &x, private, |_| {});
                assert!(ok, "{name} layer {l} (private: {private}): honest witness unsatisfied on {x:?}");
                let x8: Vec<i32> = x.clone();
                let expected: Vec<i128> = (0..layer.out_dim)
                    .map(|o| {
                        let acc: i64 =
                            layer.row(o).iter().zip(&x8).map(|(w, v)| i64::from(*w) * i64::from(*v)).sum::<i64>()
                                + i64::from(layer.bias[o]);
                        negative += usize::from(acc < 0 && layer.activation == Activation::Relu && !private);
                        match (&layer.requant, layer.activation) {
                            (Some(r), act) => {
                                let a = if act == Activation::Relu { acc.max(0) } else { acc };
                                i128::from(clamp_int8(native_requantize(a, i64::from(r.multipliers[o]), r.shift), act))
                            }
                            (None, Activation::Relu) => i128::from(acc.max(0)),
                            (None, Activation::None) => i128::from(acc),
                        }
                    })
                    .collect();
                assert_eq!(out, expected, "{name} layer {l}");
            }
        }
    }
    assert_eq!(folded, 4, "every hidden ReLU layer of the shipped models is folded");
    assert!(negative > 100, "the probes reach negative accumulators ({negative})");
}

#[test]
fn layers_reject_wrong_witnesses_in_both_modes() {
    let model = Model::load(models_dir().join("price_feed.model.json")).unwrap();
    let layer = &model.layers[0];
    let shift = layer.requant.as_ref().unwrap().shift;
    // One input where some neuron's accumulator is negative (its quotient below the floor) and
    // some neuron saturates above 127.
    let x = probing_inputs(layer.in_dim)
        .into_iter()
        .find(|x| {
            let bounds = LayerBounds::tight(layer);
            let hints: Vec<NeuronHint> = (0..layer.out_dim).map(|o| NeuronHint::honest(layer, o, x, &bounds)).collect();
            hints.iter().any(|h| h.below) && hints.iter().any(|h| h.above)
        })
        .expect("a probe with both a negative and a saturated neuron");
    let bounds = LayerBounds::tight(layer);
    let hints: Vec<NeuronHint> = (0..layer.out_dim).map(|o| NeuronHint::honest(layer, o, &x, &bounds)).collect();
    let below = hints.iter().position(|h| h.below).unwrap();
    let above = hints.iter().position(|h| h.above).unwrap();
    let inside = hints.iter().position(|h| !h.above && !h.below).unwrap_or(0);
    let cases: Vec<(&str, HintTamper)> = vec![
        (
            "quotient + 1",
            Box::new(move |h| {
                h[inside].quotient += 1;
                h[inside].remainder -= 1 << shift;
            }),
        ),
        (
            "quotient - 1",
            Box::new(move |h| {
                h[inside].quotient -= 1;
                h[inside].remainder += 1 << shift;
            }),
        ),
        ("a negative neuron not clamped to 0", Box::new(move |h| h[below].below = false)),
        ("a saturated neuron not clamped to 127", Box::new(move |h| h[above].above = false)),
        ("an inside neuron clamped to 0", Box::new(move |h| h[inside].below = true)),
        ("an inside neuron clamped to 127", Box::new(move |h| h[inside].above = true)),
        (
            "the ReLU's quotient (of max(acc, 0)) for a negative neuron",
            Box::new(move |h| {
                let r = h[below].remainder;
                let q = h[below].quotient;
                // The quotient ReLU would give (0), the identity kept by the remainder (now out of range).
                h[below].quotient = 0;
                h[below].remainder = r + (q << shift);
            }),
        ),
    ];
    for (label, tamper) in cases {
        for private in [false, true] {
            assert!(!step_layer_circuit(layer, &x, private, &tamper).0, "{label} (private: {private}): accepted");
        }
    }
}

/// The private circuit's range checks of the selected layer's parameters: a value out of range
/// in the selected layer is caught (also as an int8 pair that packs like an honest one: 300 and
/// -1 next to each other), whether its slot is shared with other layers or not; the unselected
/// layers' values are free (their results are discarded).
#[test]
fn selected_range_checks_exactly_the_selected_layer() {
    // Layer 0 has 3 slots, layer 1 has 5: slots 3 and 4 belong to layer 1 alone.
    let run = |selected: usize, values: [&[i128]; 2], bits: u32, signed: bool| {
        satisfied(|cs| {
            let selectors: Vec<_> = (0..2)
                .map(|l| {
                    let on = l == selected;
                    let v = cs.alloc(|| format!("sel {l}"), || Ok(Fr::from(u64::from(on)))).unwrap();
                    (v, on)
                })
                .collect();
            let ints: Vec<Vec<Int>> = values
                .iter()
                .enumerate()
                .map(|(l, vs)| {
                    vs.iter()
                        .enumerate()
                        .map(|(k, v)| Int::alloc(cs.namespace(|| format!("v{l}{k}")), *v).unwrap())
                        .collect()
                })
                .collect();
            let per_layer: Vec<&[Int]> = ints.iter().map(Vec::as_slice).collect();
            selected_range(cs, "r", &selectors, &per_layer, bits, signed).unwrap();
        })
    };
    let ok0: &[i128] = &[-128, 0, 127];
    let ok1: &[i128] = &[5, -7, 9, 127, -128];
    assert!(run(0, [ok0, ok1], 8, true));
    assert!(run(1, [ok0, ok1], 8, true));
    // Out of range in the selected layer, in a shared slot and in a slot of its own.
    assert!(!run(0, [&[300, -1, 0], ok1], 8, true), "300 then -1 (packs like 44, 0) accepted");
    assert!(!run(1, [ok0, &[5, -7, 9, 127, -129]], 8, true));
    assert!(!run(1, [ok0, &[5, -7, 128, 0, 0]], 8, true));
    // Out of range only in the unselected layer (a shared slot): free.
    assert!(run(1, [&[300, 0, 0], ok1], 8, true));
    // Unsigned multipliers: a negative one in the selected layer is refused.
    assert!(run(0, [&[0, 1 << 30, (1 << 31) - 1], &[1, 2, 3, 4, 5]], 31, false));
    assert!(!run(0, [&[0, -1, 3], &[1, 2, 3, 4, 5]], 31, false));
    assert!(!run(1, [&[1, 2, 3], &[1, 2, 3, 4, 1 << 31]], 31, false));
}
