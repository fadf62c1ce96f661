//! The importer never panics: the corpus's graphs with one field changed at a time (an integer
//! attribute, a tensor dimension, a node input, an operator, the input's shape, an integer
//! constant, an element type), seeded, each either imported and quantized or refused with an error.

use prost::Message;
use verdict_circuits::{import_onnx, onnx_proto::*, Calibration};

use crate::models_dir;

/// A small deterministic generator (xorshift64*), so a failure names a reproducible case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Values that find edge cases: signs, zero, off-by-one sizes, huge and extreme.
const INTS: [i64; 12] = [-2, -1, 0, 1, 2, 3, 5, 31, 1 << 20, 1 << 40, i64::MAX, i64::MIN];
const OPS: [&str; 16] = [
    "Transpose",
    "Pad",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Conv",
    "MaxPool",
    "AveragePool",
    "Gemm",
    "MatMul",
    "Shape",
    "Gather",
    "Concat",
    "Slice",
    "Div",
    "Dropout",
];

fn mutate(model: &mut ModelProto, rng: &mut Rng) -> String {
    let graph = model.graph.as_mut().expect("a graph");
    match rng.below(8) {
        0 => {
            let n = rng.below(graph.node.len());
            let node = &mut graph.node[n];
            let k = rng.below(node.attribute.len());
            let Some(a) = node.attribute.get_mut(k) else { return "no attribute".into() };
            let v = INTS[rng.below(INTS.len())];
            if a.ints.is_empty() {
                a.i = v;
            } else {
                let k = rng.below(a.ints.len());
                a.ints[k] = v;
            }
            format!("node {n} attribute `{}` = {v}", a.name)
        }
        1 => {
            let k = rng.below(graph.initializer.len());
            let Some(t) = graph.initializer.get_mut(k) else { return "none".into() };
            if t.dims.is_empty() {
                t.dims.push(INTS[rng.below(INTS.len())]);
            } else {
                let k = rng.below(t.dims.len());
                t.dims[k] = INTS[rng.below(INTS.len())];
            }
            format!("initializer `{}` dims {:?}", t.name, t.dims)
        }
        2 => {
            let n = rng.below(graph.node.len());
            let node = &mut graph.node[n];
            if node.input.is_empty() {
                return "no input".into();
            }
            let k = rng.below(node.input.len());
            node.input.remove(k);
            format!("node {n} without input {k}")
        }
        3 => {
            let n = rng.below(graph.node.len());
            let op = OPS[rng.below(OPS.len())];
            graph.node[n].op_type = op.into();
            format!("node {n} is a {op}")
        }
        4 => {
            let Some(dims) = graph.input[0]
                .r#type
                .as_mut()
                .and_then(|t| t.tensor_type.as_mut())
                .and_then(|t| t.shape.as_mut())
                .map(|s| &mut s.dim)
            else {
                return "no shape".into();
            };
            let k = rng.below(dims.len());
            let v = INTS[rng.below(INTS.len())];
            dims[k].dim_value = v;
            format!("input dim {k} = {v}")
        }
        5 => {
            // An integer constant (a shape, pads, axes, indices) changed.
            let ints: Vec<usize> =
                (0..graph.initializer.len()).filter(|i| graph.initializer[*i].data_type == DATA_TYPE_INT64).collect();
            let Some(&i) = ints.get(rng.below(ints.len())) else { return "no integer constant".into() };
            let t = &mut graph.initializer[i];
            let mut values: Vec<i64> = if t.raw_data.is_empty() {
                t.int64_data.clone()
            } else {
                t.raw_data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()
            };
            if values.is_empty() {
                return "an empty integer constant".into();
            }
            let k = rng.below(values.len());
            values[k] = INTS[rng.below(INTS.len())];
            t.raw_data.clear();
            t.int64_data = values.clone();
            format!("initializer `{}` = {values:?}", t.name)
        }
        6 => {
            // An initializer's element type changed (its bytes reread as another type).
            let k = rng.below(graph.initializer.len());
            let Some(t) = graph.initializer.get_mut(k) else { return "none".into() };
            t.data_type = [1, 6, 7, 9, 10, 11, 16][rng.below(7)];
            format!("initializer `{}` of type {}", t.name, t.data_type)
        }
        _ => {
            // An initializer's values truncated.
            let k = rng.below(graph.initializer.len());
            let Some(t) = graph.initializer.get_mut(k) else { return "none".into() };
            let keep = rng.below(t.raw_data.len() + 1);
            t.raw_data.truncate(keep);
            t.float_data.truncate(rng.below(t.float_data.len() + 1));
            t.int64_data.truncate(rng.below(t.int64_data.len() + 1));
            format!("initializer `{}` truncated", t.name)
        }
    }
}

#[test]
fn mutated_corpus_graphs_import_or_are_refused_never_a_panic() {
    let names = [
        "torch_view_dropout",
        "keras_nhwc_conv",
        "pad_dilated_depthwise",
        "reshape_grouped_conv",
        "sub_div_logsoftmax",
        "silu_mlp",
        "gelu_tanh_nodes",
        "prelu_conv",
        "conv1d_series",
        "keras_mean_nhwc",
        "maxpool_ceil_cnn",
        "imputer_logreg_breast_cancer",
        "maxpool_cnn",
        "gbdt_breast_cancer",
        "mlp_digits_double",
        "residual_mlp",
        "resnet_block_cnn",
        "resnet_downsample_cnn",
        "wide_deep",
        "dense_block_cnn",
        "keras_wide_deep",
        "keras_max_nhwc",
        "slice_window_mlp",
        "tabular_resnet",
        "torch_conv_transpose",
        "torch_upsample_bilinear",
        "torch_series_tcn",
        "torch_lstm",
        "torch_volatility_softplus",
        "keras_cnn_flatten",
        "keras_upsampling",
        "torch_inception",
        "torch_two_tower",
        "sgd_scaled_breast_cancer",
        "mlp_binary_breast_cancer",
        "kbest_scaled_logreg_breast_cancer",
        "pca_whiten_digits",
        "svr_linear_diabetes",
        "column_transformer_mlp_breast_cancer",
        "per_step_dense_series",
        "voting_trees_diabetes",
        "bagging_trees_iris",
        "bagging_ridge_diabetes",
        "svc_linear_iris",
        "stacking_trees_diabetes",
    ];
    // `VERDICT_FUZZ_CASES` and `VERDICT_FUZZ_SEED` run more (or other) cases than CI's.
    let env = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let cases = env("VERDICT_FUZZ_CASES", 400);
    let mut rng = Rng(env("VERDICT_FUZZ_SEED", 0x5eed_0f0a_f022) | 1);
    let (mut imported, mut refused) = (0, 0);
    for name in names {
        let bytes = std::fs::read(models_dir().join("corpus").join(format!("{name}.onnx"))).unwrap();
        let original = ModelProto::decode(bytes.as_slice()).unwrap();
        for case in 0..cases {
            let mut model = original.clone();
            let change = (0..1 + rng.below(2)).map(|_| mutate(&mut model, &mut rng)).collect::<Vec<_>>().join("; ");
            let encoded = model.encode_to_vec();
            let started = std::time::Instant::now();
            // What imports is also quantized (on a few rows of its width), which must not panic
            // either: a mutated graph can import as a strange but valid float model.
            let result = std::panic::catch_unwind(|| {
                let float = import_onnx(&encoded, name)?;
                if float.input_dim <= 4096 {
                    let rows = (0..4u32)
                        .map(|r| (0..float.input_dim).map(|i| f64::from((r * 7 + i as u32) % 11) / 5.0 - 1.0).collect())
                        .collect();
                    verdict_circuits::quantize(&float, &Calibration { rows }, None)?;
                }
                Ok::<(), verdict_circuits::Error>(())
            });
            if std::env::var("VERDICT_FUZZ_VERBOSE").is_ok() && started.elapsed().as_millis() > 200 {
                eprintln!("{name} {case}: {change}: {:?}", started.elapsed());
            }
            match result {
                Ok(Ok(())) => imported += 1,
                Ok(Err(e)) => {
                    assert!(!e.to_string().is_empty());
                    refused += 1;
                }
                Err(_) => panic!("{name}, case {case}: the importer panicked on: {change}"),
            }
        }
    }
    eprintln!("{imported} imported, {refused} refused");
    assert!(refused > imported / 4 && imported > 0, "{imported} imported, {refused} refused");
}
