//! ONNX import: every accepted layout, and one clear error per unsupported op or malformed file.

use prost::Message;
use verdict_circuits::{import_onnx, onnx_proto::*, Error, TableFunction, Task};

fn tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        dims: dims.to_vec(),
        data_type: DATA_TYPE_FLOAT,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        name: name.into(),
        ..Default::default()
    }
}

fn int_tensor(name: &str, values: &[i64]) -> TensorProto {
    TensorProto {
        dims: vec![values.len() as i64],
        data_type: DATA_TYPE_INT64,
        int64_data: values.to_vec(),
        name: name.into(),
        ..Default::default()
    }
}

fn node(op: &str, name: &str, inputs: &[&str], output: &str, attrs: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        name: name.into(),
        op_type: op.into(),
        attribute: attrs,
        domain: String::new(),
    }
}

fn int_attr(name: &str, i: i64) -> AttributeProto {
    AttributeProto { name: name.into(), i, r#type: 2, ..Default::default() }
}

fn float_attr(name: &str, f: f32) -> AttributeProto {
    AttributeProto { name: name.into(), f, r#type: 1, ..Default::default() }
}

fn value(name: &str, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: DATA_TYPE_FLOAT,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            dim_value: *d,
                            dim_param: if *d < 0 { "batch".into() } else { String::new() },
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

fn encode(nodes: Vec<NodeProto>, inits: Vec<TensorProto>, input_dims: &[i64], output: &str, opset: i64) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        producer_name: "test".into(),
        graph: Some(GraphProto {
            node: nodes,
            name: "g".into(),
            initializer: inits,
            input: vec![value("x", input_dims)],
            output: vec![value(output, &[-1, 2])],
        }),
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: opset }],
    }
    .encode_to_vec()
}

/// W = [[1, 2, 3], [4, 5, 6]] as [out=2, in=3]; x = [1, 1, 2] → W·x = [9, 21].
const W_OUT_IN: [f32; 6] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
const W_IN_OUT: [f32; 6] = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0];
const X: [f64; 3] = [1.0, 1.0, 2.0];

#[test]
fn accepted_layouts_compute_the_same_layer() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "matmul+add+relu (sklearn)",
            encode(
                vec![
                    node("Cast", "cast", &["x"], "c", vec![int_attr("to", 1)]),
                    node("MatMul", "mm", &["c", "W"], "m", vec![]),
                    node("Add", "add", &["m", "b"], "a", vec![]),
                    node("Relu", "relu", &["a"], "r", vec![]),
                    node("Reshape", "rs", &["r", "shape"], "y", vec![]),
                ],
                vec![tensor("W", &[3, 2], &W_IN_OUT), tensor("b", &[2], &[0.5, -30.0]), int_tensor("shape", &[-1, 2])],
                &[-1, 3],
                "y",
                13,
            ),
        ),
        (
            "gemm transB (pytorch)",
            encode(
                vec![
                    node("Flatten", "flat", &["x"], "f", vec![int_attr("axis", 1)]),
                    node("Gemm", "fc", &["f", "W", "b"], "g", vec![int_attr("transB", 1)]),
                    node("Relu", "relu", &["g"], "r", vec![]),
                    node("Identity", "id", &["r"], "y", vec![]),
                ],
                vec![tensor("W", &[2, 3], &W_OUT_IN), tensor("b", &[2], &[0.5, -30.0])],
                &[1, 3],
                "y",
                11,
            ),
        ),
        (
            "gemm alpha/beta, constant on the left with transA",
            encode(
                vec![
                    node(
                        "Gemm",
                        "fc",
                        &["W", "x", "b"],
                        "g",
                        vec![int_attr("transA", 1), float_attr("alpha", 2.0), float_attr("beta", 0.5)],
                    ),
                    node("Relu", "relu", &["g"], "y", vec![]),
                ],
                vec![tensor("W", &[3, 2], &[0.5, 2.0, 1.0, 2.5, 1.5, 3.0]), tensor("b", &[2, 1], &[1.0, -60.0])],
                &[-1, 3],
                "y",
                17,
            ),
        ),
    ];
    for (label, bytes) in cases {
        let model = import_onnx(&bytes, "t").unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(model.layers.len(), 1, "{label}");
        assert_eq!(model.forward(&X), vec![9.5, 0.0], "{label}");
        assert!(model.layers[0].relu, "{label}");
    }
}

fn error(bytes: &[u8]) -> Error {
    import_onnx(bytes, "t").unwrap_err()
}

fn single_op(op: &str) -> Vec<u8> {
    encode(
        vec![node("MatMul", "mm", &["x", "W"], "m", vec![]), node(op, "the_node", &["m"], "y", vec![])],
        vec![tensor("W", &[3, 2], &W_IN_OUT)],
        &[-1, 3],
        "y",
        13,
    )
}

/// LeakyRelu, Clip and HardSigmoid right after a layer import as ReLU hinges, exactly: the float
/// model computes the activation of `W·x` itself. Anywhere else, or a Clip whose min is not below
/// its max, is refused by name.
#[test]
fn piecewise_linear_activations_import_exactly_as_relu_hinges() {
    let w_x = |x: &[f64]| -> Vec<f64> {
        (0..2).map(|o| (0..3).map(|i| f64::from(W_IN_OUT[i * 2 + o]) * x[i]).sum()).collect()
    };
    let with = |op: &str, inputs: &[&str], attrs: Vec<AttributeProto>, inits: Vec<TensorProto>| {
        let mut all = vec![tensor("W", &[3, 2], &W_IN_OUT)];
        all.extend(inits);
        let mut names = vec!["m"];
        names.extend(inputs);
        encode(
            vec![node("MatMul", "mm", &["x", "W"], "m", vec![]), node(op, "the_node", &names, "y", attrs)],
            all,
            &[-1, 3],
            "y",
            13,
        )
    };
    type Activation = Box<dyn Fn(f64) -> f64>;
    let cases: Vec<(Vec<u8>, Activation)> = vec![
        (
            with("LeakyRelu", &[], vec![float_attr("alpha", 0.1)], vec![]),
            Box::new(|z: f64| if z >= 0.0 { z } else { 0.1 * z }),
        ),
        (
            with("Clip", &["lo", "hi"], vec![], vec![tensor("lo", &[], &[0.0]), tensor("hi", &[], &[6.0])]),
            Box::new(|z: f64| z.clamp(0.0, 6.0)),
        ),
        (with("Clip", &["", "hi"], vec![], vec![tensor("hi", &[], &[-1.0])]), Box::new(|z: f64| z.min(-1.0))),
        (with("HardSigmoid", &[], vec![], vec![]), Box::new(|z: f64| (0.2 * z + 0.5).clamp(0.0, 1.0))),
        (
            with("PRelu", &["slope"], vec![], vec![tensor("slope", &[1], &[0.3])]),
            Box::new(|z: f64| if z >= 0.0 { z } else { 0.3 * z }),
        ),
    ];
    for (bytes, f) in cases {
        let model = import_onnx(&bytes, "t").unwrap();
        for x in [[1.0, -2.0, 0.5], [-1.0, 0.25, -0.5], [0.1, 0.2, -0.3], [3.0, 1.0, 2.0]] {
            let want: Vec<f64> = w_x(&x).into_iter().map(&f).collect();
            let got = model.forward(&x);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-5, "{got:?} vs {want:?}");
            }
        }
    }
    // PRelu's slope a unit: `[2]` over the layer's two outputs; `[3]` does not broadcast.
    let per_unit =
        import_onnx(&with("PRelu", &["slope"], vec![], vec![tensor("slope", &[2], &[0.5, -2.0])]), "t").unwrap();
    for x in [[1.0, -2.0, 0.5], [-1.0, 0.25, -0.5], [3.0, 1.0, 2.0]] {
        let want: Vec<f64> = w_x(&x).iter().zip([0.5, -2.0]).map(|(z, a)| if *z >= 0.0 { *z } else { a * z }).collect();
        let got = per_unit.forward(&x);
        assert!(got.iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-5), "{got:?} vs {want:?}");
    }
    let wide = with("PRelu", &["slope"], vec![], vec![tensor("slope", &[3], &[0.1, 0.2, 0.3])]);
    assert!(error(&wide).to_string().contains("does not broadcast"), "{}", error(&wide));
    let bad = with("Clip", &["lo", "hi"], vec![], vec![tensor("lo", &[], &[1.0]), tensor("hi", &[], &[1.0])]);
    assert!(error(&bad).to_string().contains("not below max"), "{}", error(&bad));
    let after_relu = encode(
        vec![
            node("MatMul", "mm", &["x", "W"], "m", vec![]),
            node("Relu", "r", &["m"], "r", vec![]),
            node("LeakyRelu", "the_node", &["r"], "y", vec![]),
        ],
        vec![tensor("W", &[3, 2], &W_IN_OUT)],
        &[-1, 3],
        "y",
        13,
    );
    let msg = error(&after_relu).to_string();
    assert!(
        msg.contains("unsupported onnx operator `LeakyRelu` at node `the_node`") && msg.contains("right after"),
        "{msg}"
    );
}

/// Activations written as elementwise nodes of the layer's output (as PyTorch writes `nn.GELU`
/// below opset 20, or SiLU): recognized by their values whatever the nodes' order and the
/// constants' form, and imported as the function itself. A gate of another function (a swish of
/// β = 1.5), or one not right after a layer, is refused with the reason.
#[test]
fn activations_written_as_elementwise_nodes_are_recognized_or_refused_with_their_values() {
    let constant = |name: &str, v: f32| {
        let mut n = node("Constant", name, &[], name, vec![]);
        n.attribute.push(AttributeProto {
            name: "value".into(),
            t: Some(tensor("", &[], &[v])),
            r#type: 4,
            ..Default::default()
        });
        n
    };
    let graph = |before: Vec<NodeProto>, nodes: Vec<NodeProto>, inits: Vec<TensorProto>| {
        let mut all = vec![node("MatMul", "mm", &["x", "W"], "m", vec![])];
        all.extend(before);
        all.extend(nodes);
        let mut tensors = vec![tensor("W", &[3, 2], &W_IN_OUT)];
        tensors.extend(inits);
        encode(all, tensors, &[-1, 3], "y", 13)
    };
    let erf_gelu = |x: &str| {
        vec![
            constant("sqrt2", std::f32::consts::SQRT_2),
            node("Div", "div", &[x, "sqrt2"], "d", vec![]),
            node("Erf", "erf", &["d"], "e", vec![]),
            constant("one", 1.0),
            node("Add", "add", &["e", "one"], "a", vec![]),
            node("Mul", "mul", &[x, "a"], "g", vec![]),
            constant("half", 0.5),
            node("Mul", "mul_1", &["g", "half"], "y", vec![]),
        ]
    };
    let silu = |z: f64| z / (1.0 + (-z).exp());
    let gelu = |z: f64| TableFunction::Gelu.apply(z);
    type Activation = Box<dyn Fn(f64) -> f64>;
    let cases: Vec<(&str, Vec<u8>, Activation)> = vec![
        ("GELU as PyTorch writes it below opset 20", graph(vec![], erf_gelu("m"), vec![]), Box::new(gelu)),
        (
            "GELU with ½x first and the scale an initializer",
            graph(
                vec![],
                vec![
                    node("Mul", "h", &["half", "m"], "h", vec![]),
                    node("Mul", "d", &["m", "inv_sqrt2"], "d", vec![]),
                    node("Erf", "erf", &["d"], "e", vec![]),
                    node("Add", "a", &["one", "e"], "a", vec![]),
                    node("Mul", "y", &["h", "a"], "y", vec![]),
                ],
                vec![
                    tensor("half", &[], &[0.5]),
                    tensor("inv_sqrt2", &[1], &[std::f32::consts::FRAC_1_SQRT_2]),
                    tensor("one", &[], &[1.0]),
                ],
            ),
            Box::new(gelu),
        ),
        (
            "SiLU",
            graph(
                vec![],
                vec![node("Sigmoid", "s", &["m"], "s", vec![]), node("Mul", "y", &["s", "m"], "y", vec![])],
                vec![],
            ),
            Box::new(silu),
        ),
        (
            "hard swish as x · min(relu(x + 3), 6) / 6, with a Cast to float between",
            graph(
                vec![],
                vec![
                    node("Add", "plus3", &["m", "three"], "a", vec![]),
                    node("Relu", "relu", &["a"], "r", vec![]),
                    node("Min", "min6", &["r", "six"], "c", vec![]),
                    node("Cast", "cast", &["c"], "cf", vec![int_attr("to", 1)]),
                    node("Mul", "times", &["m", "cf"], "p", vec![]),
                    node("Div", "y", &["p", "six"], "y", vec![]),
                ],
                vec![tensor("three", &[], &[3.0]), tensor("six", &[], &[6.0])],
            ),
            Box::new(|z: f64| TableFunction::HardSwish.apply(z)),
        ),
    ];
    for (what, bytes, f) in cases {
        let model = import_onnx(&bytes, "t").unwrap_or_else(|e| panic!("{what}: {e}"));
        for x in [[1.0, -2.0, 0.5], [-1.0, 0.25, -0.5], [0.1, 0.2, -0.3], [3.0, 1.0, 2.0]] {
            let want: Vec<f64> =
                (0..2).map(|o| f((0..3).map(|i| f64::from(W_IN_OUT[i * 2 + o]) * x[i]).sum())).collect();
            let got = model.forward(&x);
            assert!(got.iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-9), "{what}: {got:?} vs {want:?}");
        }
    }
    // x · sigmoid(1.5 x): a swish, but not SiLU.
    let swish = graph(
        vec![],
        vec![
            node("Mul", "scale", &["m", "beta"], "b", vec![]),
            node("Sigmoid", "s", &["b"], "s", vec![]),
            node("Mul", "y", &["m", "s"], "y", vec![]),
        ],
        vec![tensor("beta", &[], &[1.5])],
    );
    let msg = error(&swish).to_string();
    assert!(
        msg.contains("unsupported onnx operator `elementwise subgraph` at node `scale`")
            && msg.contains("Mul, Sigmoid, Mul")
            && msg.contains("f(1) = 0.8176"),
        "{msg}"
    );
    let after_relu = graph(vec![node("Relu", "r", &["m"], "r", vec![])], erf_gelu("r"), vec![]);
    let msg = error(&after_relu).to_string();
    assert!(msg.contains("`Gelu (as elementwise nodes)` at node `div`") && msg.contains("right after"), "{msg}");
}

/// A model that ends in Sigmoid or Tanh (on more than one output): the table goes on the last
/// layer, and an identity layer reads its int8 values out as the int32 output.
#[test]
fn a_final_sigmoid_or_tanh_is_a_table_read_out_by_an_identity_layer() {
    for (op, f) in [("Tanh", f64::tanh as fn(f64) -> f64), ("Sigmoid", |z: f64| 1.0 / (1.0 + (-z).exp()))] {
        let model = import_onnx(&single_op(op), "t").unwrap();
        assert_eq!(model.layers.len(), 2, "{op}");
        assert_eq!(model.layers[0].table.map(|t| t.name()), Some(op));
        assert_eq!(model.layers[1].weights, vec![1.0, 0.0, 0.0, 1.0]);
        let x = [0.3, -0.2, 0.1];
        let want: Vec<f64> = (0..2).map(|o| f((0..3).map(|i| f64::from(W_IN_OUT[i * 2 + o]) * x[i]).sum())).collect();
        let got = model.forward(&x);
        assert!(got.iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-6), "{op}: {got:?} vs {want:?}");
        let rows: Vec<Vec<f64>> = (0..50).map(|k| vec![f64::from(k) / 25.0 - 1.0, 0.5, -0.5]).collect();
        let q = verdict_circuits::quantize(&model, &verdict_circuits::Calibration { rows }, Some(Task::Regression))
            .unwrap();
        let values = match q.predict(q.run(&q.quantize_input(&x).unwrap()).unwrap().output()) {
            verdict_circuits::Prediction::Regression { values } => values,
            other => panic!("{other:?}"),
        };
        // Within the input's int8 rounding (up to 1/254 a value, times weights up to 6).
        assert!(values.iter().zip(&want).all(|(g, w)| (g - w).abs() < 0.03), "{op}: {values:?} vs {want:?}");
    }
}

#[test]
fn every_unsupported_op_is_named_with_its_node() {
    for op in ["MaxPool", "ArgMax", "Softsign", "Erf"] {
        let e = error(&single_op(op));
        let msg = e.to_string();
        assert!(matches!(e, Error::UnsupportedOp { .. }), "{op}: {msg}");
        assert!(msg.contains(&format!("unsupported onnx operator `{op}` at node `the_node`")), "{msg}");
        assert!(msg.contains("supported: MatMul, Gemm"), "{msg}");
    }
    // Sigmoid and Tanh import as tables right after a layer; on the raw input, by name.
    let on_input = encode(
        vec![node("Tanh", "the_node", &["x"], "t", vec![]), node("MatMul", "mm", &["t", "W"], "y", vec![])],
        vec![tensor("W", &[3, 2], &W_IN_OUT)],
        &[-1, 3],
        "y",
        13,
    );
    let msg = error(&on_input).to_string();
    assert!(msg.contains("operator `Tanh` at node `the_node`") && msg.contains("right after"), "{msg}");
    // A final Softmax is a classifier's: the output is the scores before it (same argmax).
    let head = import_onnx(&single_op("Softmax"), "t").unwrap();
    assert_eq!((head.layers.len(), head.output_dim()), (1, 2));
    // A final Sigmoid on one output is a binary classifier's: its score s becomes [-s, s].
    let binary = encode(
        vec![node("MatMul", "mm", &["x", "W"], "m", vec![]), node("Sigmoid", "sig", &["m"], "y", vec![])],
        vec![tensor("W", &[3, 1], &[1.0, -2.0, 0.5])],
        &[-1, 3],
        "y",
        13,
    );
    let binary = import_onnx(&binary, "t").unwrap();
    assert_eq!(binary.output_dim(), 2);
    for (x, class) in [([1.0, 0.0, 0.0], 1), ([0.0, 1.0, 0.0], 0)] {
        let y = binary.forward(&x);
        assert_eq!((y[0], y[1]), (-y[1], if class == 1 { 1.0 } else { -2.0 }));
        assert_eq!(verdict_circuits::argmax_f64(&y), class);
    }
    // A Softmax anywhere else is refused, and so is anything but post-processing after it.
    let middle = encode(
        vec![
            node("MatMul", "mm", &["x", "W"], "m", vec![]),
            node("Softmax", "sm", &["m"], "s", vec![]),
            node("MatMul", "mm2", &["s", "W2"], "y", vec![]),
        ],
        vec![tensor("W", &[3, 2], &W_IN_OUT), tensor("W2", &[2, 2], &[1.0, 0.0, 0.0, 1.0])],
        &[-1, 3],
        "y",
        13,
    );
    let msg = error(&middle).to_string();
    assert!(msg.contains("`MatMul` at node `mm2`") && msg.contains("post-processing"), "{msg}");
    assert!(error(&single_op("MaxPool")).to_string().contains("only right after a Relu"));
    let mut bytes = single_op("Relu");
    let mut m = ModelProto::decode(bytes.as_slice()).unwrap();
    m.graph.as_mut().unwrap().node[1].domain = "ai.onnx.ml".into();
    bytes = m.encode_to_vec();
    assert!(error(&bytes).to_string().contains("`ai.onnx.ml::Relu`"), "{}", error(&bytes));
}

#[test]
fn malformed_files_give_clear_errors() {
    assert!(matches!(error(b"definitely not protobuf \xff\xff\xff"), Error::OnnxDecode(_)));
    assert!(matches!(error(b""), Error::OnnxDecode(_)), "an empty file has no opset");
    let good = single_op("Relu");
    assert!(import_onnx(&good, "t").is_ok());
    let truncated = &good[..good.len() / 2];
    assert!(matches!(error(truncated), Error::OnnxDecode(_)), "{}", error(truncated));

    let old = encode(
        vec![node("MatMul", "mm", &["x", "W"], "y", vec![])],
        vec![tensor("W", &[3, 2], &W_IN_OUT)],
        &[-1, 3],
        "y",
        9,
    );
    assert_eq!(error(&old).to_string(), "onnx opset 9 is not supported: expected opset 11 or newer");

    let mut no_graph = ModelProto::decode(good.as_slice()).unwrap();
    no_graph.graph = None;
    assert_eq!(error(&no_graph.encode_to_vec()).to_string(), "not an onnx model: the model has no graph");
}

#[test]
fn graphs_that_are_not_layer_chains_are_rejected() {
    let cases = [
        (
            "shape mismatch",
            encode(
                vec![node("MatMul", "mm", &["x", "W"], "y", vec![])],
                vec![tensor("W", &[4, 2], &[0.0; 8])],
                &[-1, 3],
                "y",
                13,
            ),
            "the weight matrix expects 4 inputs, but the running tensor has 3",
        ),
        (
            "activation times activation",
            encode(vec![node("MatMul", "mm", &["x", "x"], "y", vec![])], vec![], &[-1, 3], "y", 13),
            "consume the running tensor",
        ),
        (
            "weights not constant",
            encode(vec![node("MatMul", "mm", &["x", "W"], "y", vec![])], vec![], &[-1, 3], "y", 13),
            "input `W` must be a constant",
        ),
        (
            "relu on the input",
            encode(vec![node("Relu", "r", &["x"], "y", vec![])], vec![], &[-1, 3], "y", 13),
            "Relu on the model input",
        ),
        (
            "an offset on the input that does not broadcast",
            encode(
                vec![node("Add", "a", &["x", "b"], "y", vec![])],
                vec![tensor("b", &[2], &[1.0; 2])],
                &[-1, 3],
                "y",
                13,
            ),
            "a constant of dims [2] does not broadcast to [1, 3]",
        ),
        (
            "bias does not broadcast",
            encode(
                vec![node("MatMul", "mm", &["x", "W"], "m", vec![]), node("Add", "a", &["m", "b"], "y", vec![])],
                vec![tensor("W", &[3, 2], &W_IN_OUT), tensor("b", &[3], &[1.0; 3])],
                &[-1, 3],
                "y",
                13,
            ),
            "does not broadcast",
        ),
        (
            "output is not the chain's end",
            encode(
                vec![node("MatMul", "mm", &["x", "W"], "m", vec![])],
                vec![tensor("W", &[3, 2], &W_IN_OUT)],
                &[-1, 3],
                "y",
                13,
            ),
            "is not the end of the layer chain",
        ),
        (
            "no layer",
            encode(vec![node("Identity", "i", &["x"], "y", vec![])], vec![], &[-1, 3], "y", 13),
            "no MatMul, Gemm or Conv layer",
        ),
        (
            "cast to int",
            encode(vec![node("Cast", "c", &["x"], "y", vec![int_attr("to", 7)])], vec![], &[-1, 3], "y", 13),
            "Cast is supported only to a float type (1, 10, 11), found 7",
        ),
        (
            "symbolic feature dimension",
            encode(
                vec![node("MatMul", "mm", &["x", "W"], "y", vec![])],
                vec![tensor("W", &[3, 2], &W_IN_OUT)],
                &[-1, -1],
                "y",
                13,
            ),
            "expected fixed feature dimensions",
        ),
        (
            "raw data of the wrong length",
            encode(
                vec![node("MatMul", "mm", &["x", "W"], "y", vec![])],
                vec![TensorProto { raw_data: vec![0; 5], ..tensor("W", &[3, 2], &[]) }],
                &[-1, 3],
                "y",
                13,
            ),
            "expected 24 raw bytes for 6 floats, found 5",
        ),
        (
            "bad reshape",
            encode(
                vec![node("MatMul", "mm", &["x", "W"], "m", vec![]), node("Reshape", "rs", &["m", "s"], "y", vec![])],
                vec![tensor("W", &[3, 2], &W_IN_OUT), int_tensor("s", &[3, 5])],
                &[-1, 3],
                "y",
                13,
            ),
            "cannot reshape [1, 2] (2 values) to [3, 5]",
        ),
    ];
    for (label, bytes, expected) in cases {
        let e = error(&bytes);
        assert!(matches!(e, Error::OnnxGraph { .. }), "{label}: {e}");
        assert!(e.to_string().contains(expected), "{label}: {e}");
    }
}

// Convolutions: the importer lowers Conv (with BatchNormalization folded in) to dense layers and
// composes average pools into the neighbouring layer. Each graph is checked against a direct
// NCHW implementation written here, independently of the importer's lowering.

fn ints_attr(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), ints: v.to_vec(), r#type: 7, ..Default::default() }
}

fn string_attr(name: &str, v: &str) -> AttributeProto {
    AttributeProto { name: name.into(), s: v.as_bytes().to_vec(), r#type: 3, ..Default::default() }
}

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| (((i as u32).wrapping_mul(2654435761).wrapping_add(seed * 97)) % 2000) as f32 / 1000.0 - 1.0)
        .collect()
}

/// A `[C, H, W]` tensor.
#[derive(Clone, Debug)]
struct T3 {
    c: usize,
    h: usize,
    w: usize,
    v: Vec<f64>,
}

impl T3 {
    fn at(&self, c: usize, y: isize, x: isize) -> Option<f64> {
        (y >= 0 && x >= 0 && (y as usize) < self.h && (x as usize) < self.w)
            .then(|| self.v[(c * self.h + y as usize) * self.w + x as usize])
    }
}

/// Direct convolution: kernel `k` of dims `[co, ci, kh, kw]`, stride, pads `[top, left, bottom,
/// right]`.
fn conv(x: &T3, (k, [co, kh, kw]): (&[f32], [usize; 3]), bias: &[f32], stride: usize, pads: [usize; 4]) -> T3 {
    let oh = (x.h + pads[0] + pads[2] - kh) / stride + 1;
    let ow = (x.w + pads[1] + pads[3] - kw) / stride + 1;
    let mut v = Vec::new();
    for o in 0..co {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = f64::from(bias[o]);
                for ci in 0..x.c {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let y = (oy * stride + ky) as isize - pads[0] as isize;
                            let xx = (ox * stride + kx) as isize - pads[1] as isize;
                            acc += x.at(ci, y, xx).unwrap_or(0.0) * f64::from(k[((o * x.c + ci) * kh + ky) * kw + kx]);
                        }
                    }
                }
                v.push(acc);
            }
        }
    }
    T3 { c: co, h: oh, w: ow, v }
}

/// A direct pool of `T3` values: `reduce` over each window's taps (pads take no part).
fn pool(x: &T3, k: usize, stride: usize, pad: usize, reduce: impl Fn(&[f64]) -> f64) -> T3 {
    let oh = (x.h + 2 * pad - k) / stride + 1;
    let ow = (x.w + 2 * pad - k) / stride + 1;
    let mut v = Vec::new();
    for c in 0..x.c {
        for oy in 0..oh {
            for ox in 0..ow {
                let taps: Vec<f64> = (0..k * k)
                    .filter_map(|t| {
                        x.at(
                            c,
                            (oy * stride + t / k) as isize - pad as isize,
                            (ox * stride + t % k) as isize - pad as isize,
                        )
                    })
                    .collect();
                v.push(reduce(&taps));
            }
        }
    }
    T3 { c: x.c, h: oh, w: ow, v }
}

/// Direct average pool (padding not counted).
fn avg_pool(x: &T3, k: usize, stride: usize, pad: usize) -> T3 {
    pool(x, k, stride, pad, |taps| taps.iter().sum::<f64>() / taps.len() as f64)
}

/// A max pool of `T3` values (an independent implementation: pads take no part).
fn max_pool_f(x: &T3, k: usize, stride: usize, pad: usize) -> T3 {
    pool(x, k, stride, pad, |taps| taps.iter().copied().fold(f64::NEG_INFINITY, f64::max))
}

fn batch_norm(x: &mut T3, p: &[Vec<f32>; 4], eps: f64) {
    let block = x.h * x.w;
    for (i, v) in x.v.iter_mut().enumerate() {
        let c = i / block;
        let [scale, bias, mean, var] = p;
        *v = f64::from(scale[c]) * (*v - f64::from(mean[c])) / (f64::from(var[c]) + eps).sqrt() + f64::from(bias[c]);
    }
}

fn relu(x: &mut T3) {
    x.v.iter_mut().for_each(|v| *v = v.max(0.0));
}

fn bn_tensors(prefix: &str, c: usize, seed: u32) -> ([Vec<f32>; 4], Vec<TensorProto>) {
    let scale: Vec<f32> = values(c, seed).iter().map(|v| 1.0 + v / 2.0).collect();
    let bias = values(c, seed + 1);
    let mean = values(c, seed + 2);
    let var: Vec<f32> = values(c, seed + 3).iter().map(|v| 0.5 + v.abs()).collect();
    let names = ["scale", "bias", "mean", "var"].map(|n| format!("{prefix}_{n}"));
    let ts = [&scale, &bias, &mean, &var].iter().zip(&names).map(|(v, n)| tensor(n, &[c as i64], v)).collect();
    ([scale, bias, mean, var], ts)
}

fn close(model_out: &[f64], reference: &[f64]) {
    assert_eq!(model_out.len(), reference.len());
    for (i, (a, b)) in model_out.iter().zip(reference).enumerate() {
        assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "output {i}: {a} vs {b}");
    }
}

/// `MaxPool` right after a `Relu` imports exactly: the float model is the direct computation,
/// and the quantized model's pooled values are the max of its int8 conv outputs, bit for bit
/// (an identity head reads them out: 127 accumulator units a step). Windows of 4 and of 9 taps
/// (with padding), and a global pool; elsewhere MaxPool is refused by name.
#[test]
fn max_pools_import_exactly_as_relu_tournaments() {
    // x [2, 6, 6] → Conv(3, 3×3, pad 1) → Relu → MaxPool → Flatten → Gemm(identity).
    let k1 = values(3 * 2 * 9, 21);
    let b1 = values(3, 22);
    for (kernel, stride, pad, global) in [(2usize, 2usize, 0usize, false), (3, 2, 1, false), (6, 1, 0, true)] {
        let pooled = 3 * ((6 + 2 * pad - kernel) / stride + 1).pow(2);
        let identity: Vec<f32> = (0..pooled * pooled).map(|k| f32::from(u8::from(k / pooled == k % pooled))).collect();
        let pool = if global {
            node("GlobalMaxPool", "pool", &["a1"], "p1", vec![])
        } else {
            node(
                "MaxPool",
                "pool",
                &["a1"],
                "p1",
                vec![
                    ints_attr("kernel_shape", &[kernel as i64, kernel as i64]),
                    ints_attr("strides", &[stride as i64, stride as i64]),
                    ints_attr("pads", &[pad as i64; 4]),
                ],
            )
        };
        let nodes = vec![
            node("Conv", "conv1", &["x", "k1", "b1"], "c1", vec![ints_attr("pads", &[1, 1, 1, 1])]),
            node("Relu", "r1", &["c1"], "a1", vec![]),
            pool,
            node("Flatten", "flat", &["p1"], "f", vec![]),
            node("Gemm", "fc", &["f", "eye"], "y", vec![int_attr("transB", 1)]),
        ];
        let inits = vec![
            tensor("k1", &[3, 2, 3, 3], &k1),
            tensor("b1", &[3], &b1),
            tensor("eye", &[pooled as i64, pooled as i64], &identity),
        ];
        let float = import_onnx(&encode(nodes, inits, &[1, 2, 6, 6], "y", 13), "maxpool").unwrap();
        let rows: Vec<Vec<f64>> =
            (0..40).map(|s| values(72, 100 + s).iter().map(|v| f64::from(*v)).collect()).collect();
        for x in &rows[..3] {
            let mut t = conv(&T3 { c: 2, h: 6, w: 6, v: x.clone() }, (&k1, [3, 3, 3]), &b1, 1, [1, 1, 1, 1]);
            relu(&mut t);
            close(&float.forward(x), &max_pool_f(&t, kernel, stride, pad).v);
        }
        let calibration = verdict_circuits::Calibration { rows: rows.clone() };
        let model = verdict_circuits::quantize(&float, &calibration, Some(Task::Regression)).unwrap();
        for x in &rows {
            let trace = model.run(&model.quantize_input(x).unwrap()).unwrap();
            // The int8 conv outputs, as a tensor, pooled independently.
            let conv_q = T3 { c: 3, h: 6, w: 6, v: trace.steps[1].iter().map(|v| f64::from(*v)).collect() };
            let want: Vec<i32> = max_pool_f(&conv_q, kernel, stride, pad).v.iter().map(|v| *v as i32 * 127).collect();
            assert_eq!(trace.output(), &want[..], "kernel {kernel}: the quantized max is the int8 max");
        }
    }
    // On a value that may be negative (no Relu before it), by name.
    let nodes = vec![
        node("Conv", "conv1", &["x", "k1", "b1"], "c1", vec![]),
        node("MaxPool", "the_node", &["c1"], "y", vec![ints_attr("kernel_shape", &[2, 2])]),
    ];
    let inits = vec![tensor("k1", &[3, 2, 3, 3], &k1), tensor("b1", &[3], &b1)];
    let msg = error(&encode(nodes, inits, &[1, 2, 6, 6], "y", 13)).to_string();
    assert!(msg.contains("`MaxPool` at node `the_node`") && msg.contains("only right after a Relu"), "{msg}");
}

#[test]
fn convolutions_batch_norms_and_pools_import_as_the_direct_computation() {
    // x [2, 6, 6] → Conv(3, 3×3, pad 1) → BN → Relu → AveragePool(2, stride 2) → Conv(4, 2×2)
    // → Relu → GlobalAveragePool → Flatten → Gemm(4 → 3).
    let k1 = values(3 * 2 * 9, 1);
    let b1 = values(3, 2);
    let k2 = values(4 * 3 * 4, 3);
    let b2 = values(4, 4);
    let g = values(3 * 4, 5);
    let gb = values(3, 6);
    let (bn, bn_inits) = bn_tensors("bn", 3, 7);
    let mut inits = vec![
        tensor("k1", &[3, 2, 3, 3], &k1),
        tensor("b1", &[3], &b1),
        tensor("k2", &[4, 3, 2, 2], &k2),
        tensor("b2", &[4], &b2),
        tensor("g", &[3, 4], &g),
        tensor("gb", &[3], &gb),
    ];
    inits.extend(bn_inits);
    let nodes = vec![
        node("Conv", "conv1", &["x", "k1", "b1"], "c1", vec![ints_attr("pads", &[1, 1, 1, 1])]),
        node(
            "BatchNormalization",
            "bn",
            &["c1", "bn_scale", "bn_bias", "bn_mean", "bn_var"],
            "n1",
            vec![float_attr("epsilon", 1e-3)],
        ),
        node("Relu", "r1", &["n1"], "a1", vec![]),
        node(
            "AveragePool",
            "pool",
            &["a1"],
            "p1",
            vec![ints_attr("kernel_shape", &[2, 2]), ints_attr("strides", &[2, 2])],
        ),
        node("Conv", "conv2", &["p1", "k2", "b2"], "c2", vec![]),
        node("Relu", "r2", &["c2"], "a2", vec![]),
        node("GlobalAveragePool", "gap", &["a2"], "p2", vec![]),
        node("Flatten", "flat", &["p2"], "f", vec![]),
        node("Gemm", "fc", &["f", "g", "gb"], "y", vec![int_attr("transB", 1)]),
    ];
    let model = import_onnx(&encode(nodes, inits, &[1, 2, 6, 6], "y", 13), "cnn").unwrap();
    // conv1 with BN folded; the pool composed into conv2; the global pool into the Gemm.
    assert_eq!(model.layers.len(), 3, "{:?}", model.layers.iter().map(|l| (l.in_dim, l.out_dim)).collect::<Vec<_>>());
    for seed in 0..3 {
        let x: Vec<f64> = values(72, 10 + seed).iter().map(|v| f64::from(*v)).collect();
        let mut t = conv(&T3 { c: 2, h: 6, w: 6, v: x.clone() }, (&k1, [3, 3, 3]), &b1, 1, [1, 1, 1, 1]);
        batch_norm(&mut t, &bn, 1e-3);
        relu(&mut t);
        let t = avg_pool(&t, 2, 2, 0);
        let mut t = conv(&t, (&k2, [4, 2, 2]), &b2, 1, [0; 4]);
        relu(&mut t);
        let t = avg_pool(&t, 2, 1, 0);
        let y: Vec<f64> =
            (0..3).map(|o| f64::from(gb[o]) + (0..4).map(|i| f64::from(g[o * 4 + i]) * t.v[i]).sum::<f64>()).collect();
        close(&model.forward(&x), &y);
    }
}

#[test]
fn strides_same_padding_and_normalization_after_an_activation() {
    // x [1, 7, 7] → Conv(2, 3×3, stride 2, SAME_UPPER) → Relu → BN → AveragePool(3, pad 1,
    // stride 2) → Flatten → Gemm(8 → 2), and a model that ends on a pool.
    let k = values(2 * 9, 21);
    let (bn, bn_inits) = bn_tensors("bn", 2, 22);
    let g = values(2 * 8, 23);
    let mut inits = vec![tensor("k", &[2, 1, 3, 3], &k), tensor("g", &[2, 8], &g)];
    inits.extend(bn_inits);
    let head = |last: &str| {
        vec![
            node(
                "Conv",
                "conv",
                &["x", "k"],
                "c",
                vec![ints_attr("strides", &[2, 2]), string_attr("auto_pad", "SAME_UPPER")],
            ),
            node("Relu", "r", &["c"], "a", vec![]),
            node("BatchNormalization", "bn", &["a", "bn_scale", "bn_bias", "bn_mean", "bn_var"], "n", vec![]),
            node(
                "AveragePool",
                "pool",
                &["n"],
                last,
                vec![
                    ints_attr("kernel_shape", &[3, 3]),
                    ints_attr("pads", &[1, 1, 1, 1]),
                    ints_attr("strides", &[2, 2]),
                ],
            ),
        ]
    };
    let mut nodes = head("p");
    nodes.push(node("Flatten", "flat", &["p"], "f", vec![]));
    nodes.push(node("Gemm", "fc", &["f", "g"], "y", vec![int_attr("transB", 1)]));
    let model = import_onnx(&encode(nodes, inits.clone(), &[1, 1, 7, 7], "y", 13), "cnn").unwrap();
    let pooled_only = import_onnx(&encode(head("y"), inits, &[1, 1, 7, 7], "y", 13), "cnn").unwrap();
    assert_eq!(pooled_only.layers.len(), 2, "a trailing pool is a layer of its own");
    for seed in 0..3 {
        let x: Vec<f64> = values(49, 30 + seed).iter().map(|v| f64::from(*v)).collect();
        // SAME_UPPER on 7 with kernel 3, stride 2: output 4, total padding 2 (1 before, 1 after).
        let mut t = conv(&T3 { c: 1, h: 7, w: 7, v: x.clone() }, (&k, [2, 3, 3]), &[0.0, 0.0], 2, [1, 1, 1, 1]);
        assert_eq!((t.h, t.w), (4, 4));
        relu(&mut t);
        batch_norm(&mut t, &bn, 1e-5);
        let t = avg_pool(&t, 3, 2, 1);
        close(&pooled_only.forward(&x), &t.v);
        let y: Vec<f64> = (0..2).map(|o| (0..8).map(|i| f64::from(g[o * 8 + i]) * t.v[i]).sum::<f64>()).collect();
        close(&model.forward(&x), &y);
    }
}

#[test]
fn convolutions_the_importer_cannot_lower_are_refused_by_name() {
    let k = values(2 * 9, 1);
    let conv_with = |attrs: Vec<AttributeProto>, dims: &[i64]| {
        error(&encode(
            vec![node("Conv", "the_conv", &["x", "k"], "y", attrs)],
            vec![tensor("k", &[2, 1, 3, 3], &k)],
            dims,
            "y",
            13,
        ))
        .to_string()
    };
    assert!(conv_with(vec![int_attr("group", 2)], &[1, 1, 5, 5]).contains("in 2 group(s) does not fit an input of 1"));
    assert!(conv_with(vec![int_attr("group", 0)], &[1, 1, 5, 5]).contains("in 0 group(s)"));
    // Dilated 3x3 taps 3 apart span 7 rows: more than the input's 5.
    assert!(conv_with(vec![ints_attr("dilations", &[3, 3])], &[1, 1, 5, 5]).contains("does not fit"));
    assert!(conv_with(vec![], &[1, 25]).contains("needs a [N, C, H, W] or [N, C, L] tensor"));
    assert!(conv_with(vec![], &[1, 1, 2, 2]).contains("does not fit"));
    assert!(conv_with(vec![], &[1, 3, 5, 5]).contains("does not fit an input of 3 channels"));
    // A max pool after a function that may be negative: the ReLU tournament would be wrong.
    for f in ["Tanh", "Elu"] {
        let pooled = encode(
            vec![
                node("Conv", "conv", &["x", "k"], "c", vec![]),
                node(f, "act", &["c"], "a", vec![]),
                node("MaxPool", "the_pool", &["a"], "y", vec![ints_attr("kernel_shape", &[2, 2])]),
            ],
            vec![tensor("k", &[2, 1, 3, 3], &k)],
            &[1, 1, 5, 5],
            "y",
            13,
        );
        let msg = error(&pooled).to_string();
        assert!(msg.contains("`MaxPool` at node `the_pool`") && msg.contains(&format!("after {f}")), "{msg}");
    }
    // A max pool's tournament is dense too: 64 channels at 15x15 (a 1x1 input padded by 7) pooled
    // 2x2 make 12,544 tournament rows over 14,400 values, refused before they are allocated.
    let pool = encode(
        vec![
            node("Conv", "conv", &["x", "k"], "c", vec![ints_attr("pads", &[7, 7, 7, 7])]),
            node("Relu", "relu", &["c"], "r", vec![]),
            node(
                "MaxPool",
                "the_pool",
                &["r"],
                "y",
                vec![ints_attr("kernel_shape", &[2, 2]), ints_attr("strides", &[2, 2])],
            ),
        ],
        vec![tensor("k", &[64, 1, 1, 1], &values(64, 3))],
        &[1, 1, 1, 1],
        "y",
        13,
    );
    let msg = error(&pool).to_string();
    assert!(msg.contains("`the_pool`") && msg.contains("12544 x 14400 weights"), "{msg}");
    // 64 -> 64 channels at 64x64 lowers to 262,144 x 262,144 weights: refused before anything
    // that size is allocated, at once.
    let wide = encode(
        vec![node("Conv", "the_conv", &["x", "k"], "y", vec![ints_attr("pads", &[1, 1, 1, 1])])],
        vec![tensor("k", &[64, 64, 3, 3], &values(64 * 64 * 9, 2))],
        &[1, 64, 64, 64],
        "y",
        13,
    );
    let started = std::time::Instant::now();
    let msg = error(&wide).to_string();
    assert!(msg.contains("`the_conv`") && msg.contains("262144 x 262144 weights"), "{msg}");
    assert!(msg.contains(&verdict_circuits::MAX_LOWERED_WEIGHTS.to_string()) && msg.contains("native convolution"));
    assert!(started.elapsed().as_secs() < 5, "refused at once");
}

/// Layout and elementwise operators that exporters write around the layers: what is exact is
/// computed as written (hand-checked values), what is not linear or not a chain is refused with
/// the node's name and the reason, never a panic.
#[test]
fn layout_and_elementwise_operators_compute_exactly_or_are_refused_with_the_reason() {
    // y = W·(c − x) with W the identity on 3 inputs: Sub with the running tensor second.
    let eye: Vec<f32> = (0..9).map(|k| if k / 3 == k % 3 { 1.0 } else { 0.0 }).collect();
    let sub = encode(
        vec![node("Sub", "sub", &["c", "x"], "s", vec![]), node("MatMul", "mm", &["s", "W"], "y", vec![])],
        vec![tensor("c", &[3], &[10.0, 20.0, 30.0]), tensor("W", &[3, 3], &eye)],
        &[-1, 3],
        "y",
        13,
    );
    assert_eq!(import_onnx(&sub, "t").unwrap().forward(&X), vec![9.0, 19.0, 28.0]);
    // Edge padding of a 1x1x3 row to 1x1x5 (width only), then the sum of the 5 values.
    let pad = encode(
        vec![
            node("Pad", "pad", &["x", "pads"], "p", vec![string_attr("mode", "edge")]),
            node("Flatten", "flat", &["p"], "f", vec![]),
            node("MatMul", "mm", &["f", "W"], "y", vec![]),
        ],
        vec![int_tensor("pads", &[0, 0, 0, 1, 0, 0, 0, 1]), tensor("W", &[5, 1], &[1.0; 5])],
        &[1, 1, 1, 3],
        "y",
        13,
    );
    // x = [1, 1, 2] padded at the edges: [1, 1, 1, 2, 2].
    assert_eq!(import_onnx(&pad, "t").unwrap().forward(&X), vec![7.0]);
    // Shapes computed from the input's (`[1, C·H·W]` as `Shape`, `Slice`, `Mul`, `Concat`) and a
    // weight an exporter left as `Mul` of two constants.
    let computed = encode(
        vec![
            node("Shape", "shape", &["x"], "s", vec![]),
            node("Slice", "batch", &["s", "zero", "one"], "n", vec![]),
            node("Gather", "c", &["s", "one_scalar"], "c", vec![]),
            node("Gather", "w", &["s", "three_scalar"], "w", vec![]),
            node("Mul", "cw", &["c", "w"], "cw", vec![]),
            node("Unsqueeze", "cw1", &["cw", "zero"], "cw1", vec![]),
            node("Concat", "flat_shape", &["n", "cw1"], "flat_shape", vec![int_attr("axis", 0)]),
            node("Reshape", "flat", &["x", "flat_shape"], "f", vec![]),
            node("Mul", "scaled", &["W0", "two"], "W", vec![]),
            node("MatMul", "mm", &["f", "W"], "y", vec![]),
        ],
        vec![
            int_tensor("zero", &[0]),
            int_tensor("one", &[1]),
            TensorProto { dims: vec![], ..int_tensor("one_scalar", &[1]) },
            TensorProto { dims: vec![], ..int_tensor("three_scalar", &[3]) },
            tensor("W0", &[3, 2], &W_IN_OUT),
            tensor("two", &[], &[2.0]),
        ],
        &[1, 1, 1, 3],
        "y",
        13,
    );
    assert_eq!(import_onnx(&computed, "t").unwrap().forward(&X), vec![18.0, 42.0]);
    // A convolution's bias as a separate Add of [1, C, 1, 1] (tf2onnx): one value a channel.
    let conv_bias = encode(
        vec![
            node("Conv", "conv", &["x", "k"], "c", vec![]),
            node("Add", "bias", &["c", "b"], "a", vec![]),
            node("Flatten", "flat", &["a"], "y", vec![]),
        ],
        vec![tensor("k", &[2, 1, 1, 1], &[1.0, 2.0]), tensor("b", &[1, 2, 1, 1], &[10.0, 20.0])],
        &[1, 1, 1, 3],
        "y",
        13,
    );
    assert_eq!(import_onnx(&conv_bias, "t").unwrap().forward(&X), vec![11.0, 11.0, 12.0, 22.0, 22.0, 24.0]);
    // Half and double precision weights (raw or in their typed fields), read as float32.
    let halves: [u16; 6] = [0x3c00, 0x4400, 0x4000, 0x4500, 0x4200, 0xb800]; // 1, 4, 2, 5, 3, -0.5
    let weights = [
        TensorProto {
            dims: vec![3, 2],
            data_type: 10,
            raw_data: halves.iter().flat_map(|h| h.to_le_bytes()).collect(),
            name: "W".into(),
            ..Default::default()
        },
        TensorProto {
            dims: vec![3, 2],
            data_type: 10,
            int32_data: halves.iter().map(|h| i32::from(*h)).collect(),
            name: "W".into(),
            ..Default::default()
        },
        TensorProto {
            dims: vec![3, 2],
            data_type: 11,
            double_data: vec![1.0, 4.0, 2.0, 5.0, 3.0, -0.5],
            name: "W".into(),
            ..Default::default()
        },
        TensorProto {
            dims: vec![3, 2],
            data_type: 11,
            raw_data: [1.0f64, 4.0, 2.0, 5.0, 3.0, -0.5].iter().flat_map(|v| v.to_le_bytes()).collect(),
            name: "W".into(),
            ..Default::default()
        },
    ];
    for w in weights {
        let precise = encode(
            vec![
                node("Cast", "cast", &["x"], "c", vec![int_attr("to", i64::from(w.data_type))]),
                node("MatMul", "mm", &["c", "W"], "y", vec![]),
            ],
            vec![w.clone()],
            &[-1, 3],
            "y",
            13,
        );
        assert_eq!(import_onnx(&precise, "t").unwrap().forward(&X), vec![9.0, 8.0], "type {}", w.data_type);
    }
    // A Dropout is the identity at inference; its training mode is refused.
    let dropout = |training: Option<bool>| {
        let mut inits = vec![tensor("W", &[3, 2], &W_IN_OUT)];
        let mut inputs = vec!["m"];
        if let Some(t) = training {
            inits.push(tensor("ratio", &[], &[0.5]));
            inits.push(TensorProto {
                dims: vec![],
                data_type: 9,
                raw_data: vec![u8::from(t)],
                name: "training".into(),
                ..Default::default()
            });
            inputs.extend(["ratio", "training"]);
        }
        encode(
            vec![node("MatMul", "mm", &["x", "W"], "m", vec![]), node("Dropout", "the_dropout", &inputs, "y", vec![])],
            inits,
            &[-1, 3],
            "y",
            13,
        )
    };
    assert_eq!(import_onnx(&dropout(None), "t").unwrap().forward(&X), vec![9.0, 21.0]);
    assert_eq!(import_onnx(&dropout(Some(false)), "t").unwrap().forward(&X), vec![9.0, 21.0]);
    let msg = error(&dropout(Some(true))).to_string();
    assert!(msg.contains("`the_dropout`") && msg.contains("training mode"), "{msg}");

    // One node between the input [1, 1, 2, 2] (or a layer's output) and a final MatMul.
    let refused = |first: Vec<NodeProto>, mut inits: Vec<TensorProto>, dims: &[i64]| {
        let last = first.last().map(|n| n.output[0].clone()).unwrap();
        let width: i64 = dims[1..].iter().product();
        let mut nodes = first;
        nodes.push(node("Flatten", "flat", &[&last], "f", vec![]));
        nodes.push(node("MatMul", "mm_out", &["f", "Wout"], "y", vec![]));
        inits.push(tensor("Wout", &[width, 1], &vec![1.0; width as usize]));
        error(&encode(nodes, inits, dims, "y", 13)).to_string()
    };
    let image = [1, 1, 2, 2];
    let cases: Vec<(Vec<NodeProto>, Vec<TensorProto>, &str)> = vec![
        (
            vec![node("Pad", "the_pad", &["x", "pads"], "p", vec![])],
            vec![int_tensor("pads", &[1, 0, 0, 0, 0, 0, 0, 0])],
            "batch dimension",
        ),
        (
            vec![node("Pad", "the_pad", &["x", "pads"], "p", vec![string_attr("mode", "reflect")])],
            vec![int_tensor("pads", &[0, 0, 2, 0, 0, 0, 0, 0])],
            "reflect mode",
        ),
        (
            vec![node("Pad", "the_pad", &["x", "pads"], "p", vec![string_attr("mode", "wrap")])],
            vec![int_tensor("pads", &[0, 0, 1, 0, 0, 0, 0, 0])],
            "mode `wrap` is not supported",
        ),
        (
            vec![node("Pad", "the_pad", &["x", "pads"], "p", vec![])],
            vec![int_tensor("pads", &[0, 0, 1, 0])],
            "expected 8 pads",
        ),
        (
            vec![node("Transpose", "the_transpose", &["x"], "t", vec![ints_attr("perm", &[0, 1, 1, 2])])],
            vec![],
            "not a permutation",
        ),
        (
            vec![
                node("Conv", "conv", &["x", "k"], "c", vec![]),
                node("Transpose", "the_transpose", &["c"], "t", vec![ints_attr("perm", &[0, 1, 3, 2])]),
            ],
            vec![tensor("k", &[1, 1, 1, 1], &[2.0])],
            "right after a layer",
        ),
        (vec![node("Div", "the_div", &["c", "x"], "d", vec![])], vec![tensor("c", &[1], &[2.0])], "not linear"),
        (vec![node("Div", "the_div", &["x", "c"], "d", vec![])], vec![tensor("c", &[1], &[0.0])], "by zero"),
        (
            vec![node("Mul", "the_mul", &["x", "c"], "d", vec![])],
            vec![tensor("c", &[3], &[1.0, 2.0, 3.0])],
            "does not broadcast",
        ),
        (
            vec![node("Squeeze", "the_squeeze", &["x", "axes"], "s", vec![])],
            vec![int_tensor("axes", &[2])],
            "not a dimension of size 1",
        ),
        (
            vec![node("Reshape", "the_reshape", &["x", "shape"], "r", vec![])],
            vec![int_tensor("shape", &[1, 3])],
            "cannot reshape",
        ),
        (
            vec![
                node("Shape", "shape", &["x"], "s", vec![]),
                node("Gather", "the_gather", &["s", "i"], "g", vec![]),
                node("Reshape", "r", &["x", "g"], "r2", vec![]),
            ],
            vec![int_tensor("i", &[7])],
            "index 7 out of range",
        ),
    ];
    for (nodes, inits, expected) in cases {
        let name = nodes.last().unwrap().name.clone();
        let msg = refused(nodes, inits, &image);
        assert!(msg.contains(expected), "{name}: {msg}");
        let culprit = if name == "r" { "the_gather".to_string() } else { name };
        assert!(msg.contains(&format!("`{culprit}`")), "{msg}");
    }
}

/// A 1-D convolution over `[C, L]` (as PyTorch's `Conv1d` writes it: a 3-D kernel, one stride,
/// two pads), ReLU written as `Max(x, 0)`, and a `ReduceMean` over the last axis (and a
/// `ReduceSum`, and a `ReduceMax` after a `Relu`): the float model is the direct computation. A mean over the batch axis or over every axis, a `Max` of three
/// inputs are refused with the reason.
#[test]
fn one_dimensional_convolutions_means_and_maxima_compute_exactly_or_are_refused() {
    let k = values(3 * 2 * 3, 31);
    let b = values(3, 32);
    let eye: Vec<f32> = (0..9).map(|i| f32::from(u8::from(i % 4 == 0))).collect();
    let graph = |reduce: NodeProto, max_inputs: &[&str]| {
        encode(
            vec![
                node(
                    "Conv",
                    "conv",
                    &["x", "k", "b"],
                    "c",
                    vec![ints_attr("kernel_shape", &[3]), ints_attr("strides", &[2]), ints_attr("pads", &[1, 1])],
                ),
                node("Max", "relu", max_inputs, "r", vec![]),
                reduce,
                node("Gemm", "fc", &["m", "eye"], "y", vec![int_attr("transB", 1)]),
            ],
            vec![
                tensor("k", &[3, 2, 3], &k),
                tensor("b", &[3], &b),
                tensor("zero", &[], &[0.0]),
                tensor("eye", &[3, 3], &eye),
            ],
            &[-1, 2, 7],
            "y",
            13,
        )
    };
    let mean = |axes: &[i64]| {
        let attrs = if axes.is_empty() {
            vec![int_attr("keepdims", 0)]
        } else {
            vec![ints_attr("axes", axes), int_attr("keepdims", 0)]
        };
        node("ReduceMean", "mean", &["r"], "m", attrs)
    };
    let model = import_onnx(&graph(mean(&[-1]), &["c", "zero"]), "t").unwrap();
    for seed in [1, 2, 3] {
        let x = values(14, seed);
        let input = T3 { c: 2, h: 1, w: 7, v: x.iter().map(|v| f64::from(*v)).collect() };
        let mut c = conv(&input, (&k, [3, 1, 3]), &b, 2, [0, 1, 0, 1]);
        assert_eq!((c.c, c.h, c.w), (3, 1, 4));
        relu(&mut c);
        let want: Vec<f64> = c.v.chunks(4).map(|ch| ch.iter().sum::<f64>() / 4.0).collect();
        close(&model.forward(&x.iter().map(|v| f64::from(*v)).collect::<Vec<_>>()), &want);
    }
    // A sum over the last axis, and a max (a global max pool: after a Relu, over every axis
    // after the channels'), as Keras and PyTorch write global pooling.
    let reduce = |op: &str, axes: &[i64]| {
        let mut bytes =
            graph(node(op, "reduce", &["r"], "m", vec![ints_attr("axes", axes), int_attr("keepdims", 0)]), &[]);
        let mut proto = ModelProto::decode(bytes.as_slice()).unwrap();
        let g = proto.graph.as_mut().unwrap();
        g.node[1] = node("Relu", "relu", &["c"], "r", vec![]);
        if axes == [1] {
            // The model's output is the reduction itself.
            g.node.pop();
            g.node[2].output = vec!["y".into()];
        }
        bytes.clear();
        proto.encode(&mut bytes).unwrap();
        bytes
    };
    type Reduce = fn(&[f64]) -> f64;
    let cases: [(&str, Reduce); 2] =
        [("ReduceSum", |v| v.iter().sum()), ("ReduceMax", |v| v.iter().copied().fold(f64::MIN, f64::max))];
    for (op, f) in cases {
        let model = import_onnx(&reduce(op, &[-1]), "t").unwrap_or_else(|e| panic!("{op}: {e}"));
        for seed in [1, 2, 3] {
            let x = values(14, seed);
            let input = T3 { c: 2, h: 1, w: 7, v: x.iter().map(|v| f64::from(*v)).collect() };
            let mut c = conv(&input, (&k, [3, 1, 3]), &b, 2, [0, 1, 0, 1]);
            relu(&mut c);
            let want: Vec<f64> = c.v.chunks(4).map(f).collect();
            close(&model.forward(&x.iter().map(|v| f64::from(*v)).collect::<Vec<_>>()), &want);
        }
    }
    // Over the channels instead: each position's max over its 3 channels.
    let model = import_onnx(&reduce("ReduceMax", &[1]), "t").unwrap();
    let x = values(14, 4);
    let input = T3 { c: 2, h: 1, w: 7, v: x.iter().map(|v| f64::from(*v)).collect() };
    let mut c = conv(&input, (&k, [3, 1, 3]), &b, 2, [0, 1, 0, 1]);
    relu(&mut c);
    let want: Vec<f64> = (0..4).map(|p| (0..3).map(|ch| c.v[ch * 4 + p]).fold(f64::MIN, f64::max)).collect();
    close(&model.forward(&x.iter().map(|v| f64::from(*v)).collect::<Vec<_>>()), &want);
    for (bytes, reason) in [
        (graph(mean(&[0]), &["c", "zero"]), "only axes after the batch axis"),
        (graph(mean(&[]), &["c", "zero"]), "reduces the batch axis too"),
        (graph(mean(&[2]), &["c", "zero", "zero"]), "Max takes 2 inputs here, found 3"),
    ] {
        let msg = error(&bytes).to_string();
        assert!(msg.contains(reason), "{reason}: {msg}");
    }
}

/// scikit-learn's `SimpleImputer` (an `ai.onnx.ml` `Imputer` of NaN) is the identity on every
/// input a model takes: a non-finite input is refused when posted. An `Imputer` of a number (the
/// operator's default, 0) would replace real values, which is not linear, and is refused.
#[test]
fn an_imputer_of_nan_is_the_identity_and_one_of_a_number_is_refused() {
    let graph = |replaced: Option<f32>| {
        let mut imputer = node("Imputer", "imputer", &["x"], "i", vec![]);
        imputer.domain = "ai.onnx.ml".into();
        imputer.attribute.push(AttributeProto {
            name: "imputed_value_floats".into(),
            floats: vec![0.5],
            r#type: 6,
            ..Default::default()
        });
        if let Some(r) = replaced {
            imputer.attribute.push(float_attr("replaced_value_float", r));
        }
        encode(
            vec![imputer, node("MatMul", "mm", &["i", "W"], "y", vec![])],
            vec![tensor("W", &[3, 2], &W_IN_OUT)],
            &[-1, 3],
            "y",
            13,
        )
    };
    let model = import_onnx(&graph(Some(f32::NAN)), "t").unwrap();
    assert_eq!(model.forward(&X), vec![9.0, 21.0]);
    for replaced in [None, Some(0.0), Some(-1.0)] {
        let msg = error(&graph(replaced)).to_string();
        assert!(msg.contains("`ai.onnx.ml::Imputer` at node `imputer`") && msg.contains("only of NaN"), "{msg}");
    }
}

/// A pool with `ceil_mode` whose rounded-up last window would start in the padding after the
/// input is refused (PyTorch drops that window, onnxruntime keeps it); the corpus's
/// `maxpool_ceil_cnn` and `avgpool_ceil_cnn` are the accepted cases, checked against onnxruntime.
#[test]
fn a_ceil_mode_window_that_would_start_in_the_padding_is_refused() {
    let pool = |pads: i64| {
        encode(
            vec![
                node("Conv", "conv", &["x", "k"], "c", vec![]),
                node("Relu", "relu", &["c"], "r", vec![]),
                node(
                    "MaxPool",
                    "pool",
                    &["r"],
                    "p",
                    vec![
                        ints_attr("kernel_shape", &[2, 2]),
                        ints_attr("strides", &[2, 2]),
                        ints_attr("pads", &[pads; 4]),
                        int_attr("ceil_mode", 1),
                    ],
                ),
                node("Flatten", "flat", &["p"], "y", vec![]),
            ],
            vec![tensor("k", &[1, 1, 1, 1], &[1.0])],
            &[-1, 1, 7, 7],
            "y",
            13,
        )
    };
    // 7 + 2 − 2 = 7 rounds up to 4 strides, so a fifth window would start at 8, in the padding.
    let msg = error(&pool(1)).to_string();
    assert!(msg.contains("would start in the padding after it"), "{msg}");
    // Without padding the fourth window starts at 6, inside the input, and reads its last column.
    let model = import_onnx(&pool(0), "t").unwrap();
    let x: Vec<f64> = (0..49).map(|i| f64::from(i % 11) - 3.0).collect();
    let relu: Vec<f64> = x.iter().map(|v| v.max(0.0)).collect();
    let want: Vec<f64> = (0..16)
        .map(|o| {
            let (oy, ox) = (o / 4 * 2, o % 4 * 2);
            let taps = [(oy, ox), (oy, ox + 1), (oy + 1, ox), (oy + 1, ox + 1)];
            taps.iter().filter(|(y, x)| *y < 7 && *x < 7).map(|(y, x)| relu[y * 7 + x]).fold(f64::MIN, f64::max)
        })
        .collect();
    close(&model.forward(&x), &want);
}

/// Residual blocks (`y = f(x) + x`, the shortcut's tensor on either side of the `Add`, before or
/// after the block's last activation, after a ReLU or a LeakyRelu, one block after another)
/// import as a chain that carries `x` through the block's layers, and compute exactly what the
/// graph does; shortcuts the chain cannot carry are refused with the reason.
#[test]
fn residual_blocks_import_exactly_with_the_shortcut_carried_through_the_block() {
    // Gemm layers `name` of `o × i` weights (transB = 1), seeded.
    fn dims(name: &str) -> (usize, usize, u32) {
        match name {
            "l1" => (4, 3, 1),
            "l2" => (5, 4, 2),
            "l3" => (4, 5, 3),
            "sq" => (4, 4, 4),
            "sq2" => (4, 4, 5),
            "wd" => (3, 4, 7),
            "wide" => (2, 3, 8),
            "out8" => (2, 8, 9),
            "out7" => (2, 7, 10),
            "out6" => (2, 6, 11),
            _ => (2, 4, 6),
        }
    }
    let gemm = |name: &'static str, input: &'static str, out: &'static str| {
        let inputs: Vec<String> = vec![input.into(), format!("{name}.w"), format!("{name}.b")];
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        node("Gemm", name, &inputs, out, vec![int_attr("transB", 1)])
    };
    let params = |names: &[&str]| -> Vec<TensorProto> {
        names
            .iter()
            .flat_map(|name| {
                if *name == "pb" {
                    return vec![tensor("pb", &[4], &values(4, 77))];
                }
                if *name == "bn" {
                    let (g, be, mu, var) = bn_params();
                    let t = |n: &str, v: [f64; 4]| tensor(n, &[4], &v.map(|x| x as f32));
                    return vec![t("g", g), t("be", be), t("mu4", mu), t("var", var)];
                }
                if *name == "mu" {
                    return vec![tensor("mu", &[3], &[0.5, -0.25, 1.0])];
                }
                let (o, i, seed) = dims(name);
                vec![
                    tensor(&format!("{name}.w"), &[o as i64, i as i64], &values(o * i, seed)),
                    tensor(&format!("{name}.b"), &[o as i64], &values(o, seed + 50)),
                ]
            })
            .collect()
    };
    fn layer(name: &str, x: &[f64]) -> Vec<f64> {
        let (o, i, seed) = dims(name);
        let (w, b) = (values(o * i, seed), values(o, seed + 50));
        (0..o).map(|r| f64::from(b[r]) + (0..i).map(|c| f64::from(w[r * i + c]) * x[c]).sum::<f64>()).collect()
    }
    fn bn_params() -> ([f64; 4], [f64; 4], [f64; 4], [f64; 4]) {
        ([1.5, 0.5, -1.0, 2.0], [0.25, -0.5, 0.0, 0.1], [0.1, -0.2, 0.3, 0.0], [0.5, 1.0, 2.0, 0.25])
    }
    fn relu(v: Vec<f64>) -> Vec<f64> {
        v.into_iter().map(|z| z.max(0.0)).collect()
    }
    fn add(a: Vec<f64>, b: &[f64]) -> Vec<f64> {
        a.iter().zip(b).map(|(a, b)| a + b).collect()
    }
    type Forward = Box<dyn Fn(&[f64]) -> Vec<f64>>;
    let r = node("Relu", "r1", &["z1"], "h", vec![]);
    // Two branches from `h = relu(l1(x))`: `act(sq(h))` and `relu(sq2(h))`, added into `y0`.
    let branched = |act: &str| {
        vec![
            gemm("l1", "x", "z1"),
            r.clone(),
            gemm("sq", "h", "z2"),
            node(act, "r2", &["z2"], "a2", vec![]),
            gemm("sq2", "h", "p"),
            node("Relu", "rp", &["p"], "q", vec![]),
            node("Add", "add", &["a2", "q"], "y0", vec![]),
        ]
    };
    let cases: Vec<(&str, Vec<NodeProto>, Vec<&str>, Forward)> = vec![
        (
            "a two-layer block, the shortcut second",
            vec![
                gemm("l1", "x", "z1"),
                r.clone(),
                gemm("l2", "h", "z2"),
                node("Relu", "r2", &["z2"], "a2", vec![]),
                gemm("l3", "a2", "z3"),
                node("Add", "add", &["z3", "h"], "s", vec![]),
                node("Relu", "r3", &["s"], "y1", vec![]),
                gemm("out", "y1", "y"),
            ],
            vec!["l1", "l2", "l3", "out"],
            Box::new(|x| {
                let h = relu(layer("l1", x));
                layer("out", &relu(add(layer("l3", &relu(layer("l2", &h))), &h)))
            }),
        ),
        (
            "a one-layer block, the shortcut first, then a second block",
            vec![
                gemm("l1", "x", "z1"),
                r.clone(),
                gemm("sq", "h", "z2"),
                node("Add", "add", &["h", "z2"], "s", vec![]),
                node("Relu", "r2", &["s"], "h2", vec![]),
                gemm("sq2", "h2", "z3"),
                node("Relu", "r3", &["z3"], "a3", vec![]),
                node("Add", "add2", &["a3", "h2"], "y1", vec![]),
                gemm("out", "y1", "y"),
            ],
            vec!["l1", "sq", "sq2", "out"],
            Box::new(|x| {
                let h = relu(layer("l1", x));
                let h2 = relu(add(layer("sq", &h), &h));
                layer("out", &add(relu(layer("sq2", &h2)), &h2))
            }),
        ),
        (
            "a shortcut after a LeakyRelu: negative values carried",
            vec![
                gemm("l1", "x", "z1"),
                node("LeakyRelu", "r1", &["z1"], "h", vec![float_attr("alpha", 0.1)]),
                gemm("l2", "h", "z2"),
                node("Relu", "r2", &["z2"], "a2", vec![]),
                gemm("l3", "a2", "z3"),
                node("Add", "add", &["z3", "h"], "y1", vec![]),
                gemm("out", "y1", "y"),
            ],
            vec!["l1", "l2", "l3", "out"],
            Box::new(|x| {
                let h: Vec<f64> = layer("l1", x).into_iter().map(|z| if z >= 0.0 { z } else { 0.1 * z }).collect();
                layer("out", &add(layer("l3", &relu(layer("l2", &h))), &h))
            }),
        ),
        (
            "a projection shortcut (a Gemm and a bias on x), its nodes between the block's",
            vec![
                gemm("l1", "x", "z1"),
                r.clone(),
                gemm("l2", "h", "z2"),
                gemm("sq2", "h", "p"),
                node("Add", "bias", &["p", "pb"], "pq", vec![]),
                node("Relu", "r2", &["z2"], "a2", vec![]),
                gemm("l3", "a2", "z3"),
                node("Add", "add", &["pq", "z3"], "s", vec![]),
                node("Relu", "r3", &["s"], "y1", vec![]),
                gemm("out", "y1", "y"),
            ],
            vec!["l1", "l2", "l3", "sq2", "out", "pb"],
            Box::new(|x| {
                let h = relu(layer("l1", x));
                let p: Vec<f64> = layer("sq2", &h).iter().zip(values(4, 77)).map(|(p, b)| p + f64::from(b)).collect();
                layer("out", &relu(add(layer("l3", &relu(layer("l2", &h))), &p)))
            }),
        ),
        (
            "Wide & Deep: a linear model of the input added to an MLP's output",
            vec![
                gemm("wide", "x", "w"),
                gemm("l1", "x", "z1"),
                r.clone(),
                gemm("out", "h", "d"),
                node("Add", "add", &["w", "d"], "y", vec![]),
            ],
            vec!["wide", "l1", "out"],
            Box::new(|x| add(layer("out", &relu(layer("l1", x))), &layer("wide", x))),
        ),
        (
            "a shortcut from the input, carried through a hidden layer",
            vec![
                gemm("l1", "x", "z1"),
                r.clone(),
                gemm("wd", "h", "z2"),
                node("Add", "add", &["x", "z2"], "y1", vec![]),
                node("Relu", "r2", &["y1"], "a", vec![]),
                gemm("wide", "a", "y"),
            ],
            vec!["l1", "wd", "wide"],
            Box::new(|x| layer("wide", &relu(add(layer("wd", &relu(layer("l1", x))), x)))),
        ),
        (
            "a Concat of a block's output and its shortcut (DenseNet), over channels",
            vec![
                gemm("l1", "x", "z1"),
                r.clone(),
                gemm("sq", "h", "z2"),
                node("Relu", "r2", &["z2"], "a2", vec![]),
                node("Concat", "cat", &["h", "a2"], "c", vec![int_attr("axis", 1)]),
                gemm("out8", "c", "y"),
            ],
            vec!["l1", "sq", "out8"],
            Box::new(|x| {
                let h = relu(layer("l1", x));
                let mut c = h.clone();
                c.extend(relu(layer("sq", &h)));
                layer("out8", &c)
            }),
        ),
        (
            "a Concat before the activation, one layer: relu(concat(W·h, h))",
            vec![
                gemm("l1", "x", "z1"),
                r.clone(),
                gemm("sq", "h", "z2"),
                node("Concat", "cat", &["z2", "h"], "c", vec![int_attr("axis", -1)]),
                node("Relu", "r2", &["c"], "a", vec![]),
                gemm("out8", "a", "y"),
            ],
            vec!["l1", "sq", "out8"],
            Box::new(|x| {
                let h = relu(layer("l1", x));
                let mut c = layer("sq", &h);
                c.extend(&h);
                layer("out8", &relu(c))
            }),
        ),
        (
            "Keras' Wide & Deep: the input concatenated with a hidden layer's output",
            vec![
                gemm("l1", "x", "z1"),
                r.clone(),
                node("Concat", "cat", &["x", "h"], "c", vec![int_attr("axis", 1)]),
                gemm("out7", "c", "y"),
            ],
            vec!["l1", "out7"],
            Box::new(|x| {
                let mut c = x.to_vec();
                c.extend(relu(layer("l1", x)));
                layer("out7", &c)
            }),
        ),
        (
            "a Concat of a two-layer block's output before its activation and its shortcut",
            vec![
                gemm("l1", "x", "z1"),
                r.clone(),
                gemm("l2", "h", "z2"),
                node("Relu", "r2", &["z2"], "a2", vec![]),
                gemm("l3", "a2", "z3"),
                node("Concat", "cat", &["z3", "h"], "c", vec![int_attr("axis", 1)]),
                gemm("out8", "c", "y"),
            ],
            vec!["l1", "l2", "l3", "out8"],
            Box::new(|x| {
                let h = relu(layer("l1", x));
                let mut c = layer("l3", &relu(layer("l2", &h)));
                c.extend(&h);
                layer("out8", &c)
            }),
        ),
        (
            "a pre-activation residual stream (no activation between blocks; BN-ReLU before each layer)",
            vec![
                gemm("l1", "x", "s0"),
                node("BatchNormalization", "bn1", &["s0", "g", "be", "mu4", "var"], "n1", vec![]),
                node("Relu", "r1", &["n1"], "a1", vec![]),
                gemm("sq", "a1", "z1"),
                node("Add", "add1", &["s0", "z1"], "s1", vec![]),
                node("BatchNormalization", "bn2", &["s1", "g", "be", "mu4", "var"], "n2", vec![]),
                node("Relu", "r2", &["n2"], "a2", vec![]),
                gemm("l2", "a2", "z2"),
                node("Relu", "r3", &["z2"], "a3", vec![]),
                gemm("l3", "a3", "z3"),
                node("Add", "add2", &["z3", "s1"], "s2", vec![]),
                node("Relu", "r4", &["s2"], "y1", vec![]),
                gemm("out", "y1", "y"),
            ],
            vec!["l1", "sq", "l2", "l3", "out", "bn"],
            Box::new(|x| {
                let bn = |v: &[f64]| -> Vec<f64> {
                    let (g, be, mu, var) = bn_params();
                    (0..4).map(|c| g[c] * (v[c] - mu[c]) / (var[c] + 1e-5).sqrt() + be[c]).collect()
                };
                let s0 = layer("l1", x);
                let s1 = add(layer("sq", &relu(bn(&s0))), &s0);
                let s2 = add(layer("l3", &relu(layer("l2", &relu(bn(&s1))))), &s1);
                layer("out", &relu(s2))
            }),
        ),
        (
            // Parallel branches, both with activations: the first carries `h`, the second the
            // first's output.
            "two branches added",
            [branched("Relu"), vec![gemm("out", "y0", "y")]].concat(),
            vec!["l1", "sq", "sq2", "out"],
            Box::new(|x| {
                let h = relu(layer("l1", x));
                layer("out", &add(relu(layer("sq", &h)), &relu(layer("sq2", &h))))
            }),
        ),
        (
            "two branches of different depths concatenated, their nodes interleaved in the file",
            vec![
                gemm("l1", "x", "z1"),
                r.clone(),
                gemm("l2", "h", "z2"),
                gemm("sq", "h", "p"),
                node("Relu", "r2", &["z2"], "a2", vec![]),
                node("Relu", "rp", &["p"], "q", vec![]),
                gemm("l3", "a2", "z3"),
                node("Relu", "r3", &["z3"], "a3", vec![]),
                node("Concat", "cat", &["q", "a3"], "c", vec![int_attr("axis", 1)]),
                gemm("out8", "c", "y"),
            ],
            vec!["l1", "l2", "sq", "l3", "out8"],
            Box::new(|x| {
                let h = relu(layer("l1", x));
                let mut c = relu(layer("sq", &h));
                c.extend(relu(layer("l3", &relu(layer("l2", &h)))));
                layer("out8", &c)
            }),
        ),
        (
            "two branches from a layer's pre-activation, one through a LeakyRelu",
            vec![
                gemm("l1", "x", "z1"),
                gemm("sq", "z1", "z2"),
                node("Relu", "r2", &["z2"], "a2", vec![]),
                gemm("sq2", "z1", "p"),
                node("LeakyRelu", "rp", &["p"], "q", vec![float_attr("alpha", 0.1)]),
                node("Add", "add", &["a2", "q"], "y1", vec![]),
                gemm("out", "y1", "y"),
            ],
            vec!["l1", "sq", "sq2", "out"],
            Box::new(|x| {
                let z = layer("l1", x);
                let leaky = |v: Vec<f64>| v.into_iter().map(|t| if t > 0.0 { t } else { 0.1 * t }).collect::<Vec<_>>();
                layer("out", &add(relu(layer("sq", &z)), &leaky(layer("sq2", &z))))
            }),
        ),
        (
            "two branches from the model input, concatenated",
            vec![
                gemm("l1", "x", "z1"),
                gemm("wide", "x", "p"),
                node("Relu", "r1", &["z1"], "a1", vec![]),
                node("Relu", "rp", &["p"], "q", vec![]),
                node("Concat", "cat", &["a1", "q"], "c", vec![int_attr("axis", 1)]),
                gemm("out6", "c", "y"),
            ],
            vec!["l1", "wide", "out6"],
            Box::new(|x| {
                let mut c = relu(layer("l1", x));
                c.extend(relu(layer("wide", x)));
                layer("out6", &c)
            }),
        ),
        (
            "x + relu(x) of a layer's output",
            vec![
                gemm("l1", "x", "z1"),
                node("Relu", "r1", &["z1"], "a1", vec![]),
                node("Add", "add", &["z1", "a1"], "y1", vec![]),
                gemm("out", "y1", "y"),
            ],
            vec!["l1", "out"],
            Box::new(|x| {
                let z = layer("l1", x);
                layer("out", &add(relu(z.clone()), &z))
            }),
        ),
        (
            "a projection shortcut first in the graph's order",
            vec![
                gemm("l1", "x", "z1"),
                r.clone(),
                gemm("sq2", "h", "p"),
                gemm("sq", "h", "z2"),
                node("Relu", "r2", &["z2"], "a2", vec![]),
                node("Add", "add", &["a2", "p"], "y1", vec![]),
                gemm("out", "y1", "y"),
            ],
            vec!["l1", "sq", "sq2", "out"],
            Box::new(|x| {
                let h = relu(layer("l1", x));
                layer("out", &add(relu(layer("sq", &h)), &layer("sq2", &h)))
            }),
        ),
    ];
    for (label, nodes, names, forward) in cases {
        let model = import_onnx(&encode(nodes, params(&names), &[-1, 3], "y", 13), "t")
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        for x in [[1.0, -2.0, 0.5], [-1.0, 0.25, -0.5], [0.1, 0.2, -0.3], [3.0, 1.0, 2.0], [-2.0, -1.5, 1.0]] {
            let (got, want) = (model.forward(&x), forward(&x));
            assert!(got.iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-5), "{label}: {got:?} vs {want:?}");
        }
    }

    let refused = |label: &str, nodes: Vec<NodeProto>, names: &[&str], expected: &str| {
        let msg = error(&encode(nodes, params(names), &[-1, 3], "y", 13)).to_string();
        assert!(msg.contains(expected), "{label}: {msg}");
    };
    refused(
        "three branches",
        [branched("Relu"), vec![node("Add", "add2", &["y0", "h"], "y1", vec![]), gemm("out", "y1", "y")]].concat(),
        &["l1", "sq", "sq2", "out"],
        "`h` is read by 3 nodes",
    );
    refused(
        "a branch through a Sigmoid",
        [branched("Sigmoid"), vec![gemm("out", "y0", "y")]].concat(),
        &["l1", "sq", "sq2", "out"],
        "has a layer (Sigmoid) that cannot carry the shortcut",
    );
    refused(
        "a normalization of the input on one path",
        vec![
            node("Sub", "center", &["x", "mu"], "xc", vec![]),
            gemm("l1", "xc", "z1"),
            node("Relu", "r1", &["z1"], "h", vec![]),
            gemm("wd", "h", "z2"),
            node("Add", "add", &["z2", "x"], "y1", vec![]),
            gemm("out", "y1", "y"),
        ],
        &["l1", "wd", "out", "mu"],
        "normalizes the input on one path only",
    );
    refused(
        "a Concat over the batch axis",
        vec![
            gemm("l1", "x", "z1"),
            r.clone(),
            gemm("sq", "h", "z2"),
            node("Concat", "cat", &["h", "z2"], "c", vec![int_attr("axis", 0)]),
            gemm("out8", "c", "y"),
        ],
        &["l1", "sq", "out8"],
        "only over channels (axis 1) is supported",
    );
    refused(
        "a Sigmoid inside the block",
        vec![
            gemm("l1", "x", "z1"),
            r.clone(),
            gemm("l2", "h", "z2"),
            node("Sigmoid", "s2", &["z2"], "a2", vec![]),
            gemm("l3", "a2", "z3"),
            node("Add", "add", &["z3", "h"], "y1", vec![]),
            gemm("out", "y1", "y"),
        ],
        &["l1", "l2", "l3", "out"],
        "has a layer (Sigmoid) that cannot carry the shortcut",
    );
    refused(
        "a block inside a block",
        vec![
            gemm("l1", "x", "z1"),
            r.clone(),
            gemm("sq", "h", "z2"),
            node("Relu", "r2", &["z2"], "a2", vec![]),
            gemm("sq2", "a2", "z3"),
            node("Add", "inner", &["z3", "a2"], "s3", vec![]),
            node("Relu", "r3", &["s3"], "a3", vec![]),
            node("Add", "outer", &["a3", "h"], "y1", vec![]),
            gemm("out", "y1", "y"),
        ],
        &["l1", "sq", "sq2", "out"],
        "a residual block from `a2` inside another is not supported",
    );
}

/// `Slice` and `Gather` of the running tensor with constant arguments (`x[:, 1:5:2]`,
/// `x[:, ::-1]`, a crop of an image's rows and columns, `x[:, [4, 0, 2]]` of a layer's output)
/// are selections composed into the next layer: the float model picks exactly those values. The
/// batch axis is refused.
#[test]
fn slices_and_gathers_of_the_running_tensor_select_exactly() {
    let w6 = values(6 * 6, 40);
    let i64s = |name: &str, v: &[i64]| int_tensor(name, v);
    // x (6 values) → [Slice or Gather] → W (out 2) on what it picks.
    let picks = |nodes: Vec<NodeProto>, inits: Vec<TensorProto>, picked: usize| {
        let mut all = nodes;
        all.push(node("Gemm", "fc", &["s", "w"], "y", vec![int_attr("transB", 1)]));
        let mut tensors = inits;
        tensors.push(tensor("w", &[2, picked as i64], &w6[..2 * picked]));
        encode(all, tensors, &[-1, 6], "y", 13)
    };
    let fc = |v: &[f64]| -> Vec<f64> {
        (0..2).map(|o| v.iter().enumerate().map(|(i, x)| f64::from(w6[o * v.len() + i]) * x).sum()).collect()
    };
    let x: Vec<f64> = values(6, 41).iter().map(|v| f64::from(*v)).collect();
    let cases: Vec<(&str, Vec<u8>, Vec<f64>)> = vec![
        (
            "x[:, 1:5:2]",
            picks(
                vec![node("Slice", "slice", &["x", "st", "en", "ax", "sp"], "s", vec![])],
                vec![i64s("st", &[1]), i64s("en", &[5]), i64s("ax", &[1]), i64s("sp", &[2])],
                2,
            ),
            vec![x[1], x[3]],
        ),
        (
            "x[:, ::-1]",
            picks(
                vec![node("Slice", "slice", &["x", "st", "en", "ax", "sp"], "s", vec![])],
                vec![i64s("st", &[-1]), i64s("en", &[i64::MIN]), i64s("ax", &[-1]), i64s("sp", &[-1])],
                6,
            ),
            x.iter().rev().copied().collect(),
        ),
        (
            "x[:, [4, 0, 2]]",
            picks(
                vec![node("Gather", "gather", &["x", "idx"], "s", vec![int_attr("axis", 1)])],
                vec![i64s("idx", &[4, 0, -4])],
                3,
            ),
            vec![x[4], x[0], x[2]],
        ),
    ];
    for (label, bytes, picked) in cases {
        let model = import_onnx(&bytes, "t").unwrap_or_else(|e| panic!("{label}: {e}"));
        let got = model.forward(&x);
        let want = fc(&picked);
        assert!(got.iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-5), "{label}: {got:?} vs {want:?}");
    }
    // A crop of a 2×3×3 image's last two rows and first two columns, flattened.
    let crop = encode(
        vec![
            node("Slice", "crop", &["x", "st", "en", "ax"], "c", vec![]),
            node("Flatten", "flat", &["c"], "f", vec![]),
            node("Gemm", "fc", &["f", "w"], "y", vec![int_attr("transB", 1)]),
        ],
        vec![i64s("st", &[1, 0]), i64s("en", &[3, 2]), i64s("ax", &[2, 3]), tensor("w", &[2, 8], &w6[..16])],
        &[-1, 2, 3, 3],
        "y",
        13,
    );
    let image: Vec<f64> = values(18, 42).iter().map(|v| f64::from(*v)).collect();
    let kept: Vec<f64> = (0..2)
        .flat_map(|c| (1..3).flat_map(move |y| (0..2).map(move |x| (c, y, x))))
        .map(|(c, y, x)| image[c * 9 + y * 3 + x])
        .collect();
    let want: Vec<f64> =
        (0..2).map(|o| kept.iter().enumerate().map(|(i, v)| f64::from(w6[o * 8 + i]) * v).sum()).collect();
    let got = import_onnx(&crop, "t").unwrap().forward(&image);
    assert!(got.iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-5), "crop: {got:?} vs {want:?}");
    for (label, bytes, reason) in [
        (
            "a slice of the batch",
            picks(
                vec![node("Slice", "slice", &["x", "st", "en", "ax"], "s", vec![])],
                vec![i64s("st", &[1]), i64s("en", &[2]), i64s("ax", &[0])],
                6,
            ),
            "Slice over the batch axis is not supported",
        ),
        (
            "a gather along the batch",
            picks(vec![node("Gather", "gather", &["x", "idx"], "s", vec![])], vec![i64s("idx", &[0])], 6),
            "only after the batch axis",
        ),
        (
            "an index out of range",
            picks(
                vec![node("Gather", "gather", &["x", "idx"], "s", vec![int_attr("axis", 1)])],
                vec![i64s("idx", &[6])],
                1,
            ),
            "Gather index 6 out of range for 6 values",
        ),
    ] {
        let msg = error(&bytes).to_string();
        assert!(msg.contains(reason), "{label}: {msg}");
    }
}

/// A direct transposed convolution (gathered, where the importer scatters): output `(co, oy, ox)`
/// sums the inputs `(ci, y, x)` of its group whose tap `(ky, kx)` lands on it, `oy = y·stride +
/// ky·dilation − top`. Kernel `[C_in, C_out/group, kh, kw]`.
#[allow(clippy::too_many_arguments)]
fn conv_transpose(
    x: &T3,
    (k, [per, kh, kw]): (&[f32], [usize; 3]),
    bias: &[f32],
    group: usize,
    stride: [usize; 2],
    dilation: [usize; 2],
    pads: [usize; 4],
    extra: [usize; 2],
) -> T3 {
    let oh = stride[0] * (x.h - 1) + extra[0] + (kh - 1) * dilation[0] + 1 - pads[0] - pads[2];
    let ow = stride[1] * (x.w - 1) + extra[1] + (kw - 1) * dilation[1] + 1 - pads[1] - pads[3];
    let (co, per_group_in) = (per * group, x.c / group);
    let mut v = Vec::new();
    for o in 0..co {
        let (g, local) = (o / per, o % per);
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = bias.get(o).map_or(0.0, |b| f64::from(*b));
                for ci in g * per_group_in..(g + 1) * per_group_in {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let ny = (oy + pads[0]) as isize - (ky * dilation[0]) as isize;
                            let nx = (ox + pads[1]) as isize - (kx * dilation[1]) as isize;
                            if ny % stride[0] as isize != 0 || nx % stride[1] as isize != 0 {
                                continue;
                            }
                            if let Some(v) = x.at(ci, ny / stride[0] as isize, nx / stride[1] as isize) {
                                acc += v * f64::from(k[((ci * per + local) * kh + ky) * kw + kx]);
                            }
                        }
                    }
                }
                v.push(acc);
            }
        }
    }
    T3 { c: co, h: oh, w: ow, v }
}

/// `ConvTranspose` (a decoder's upsampling, 2-D and 1-D, strided, padded, grouped, dilated, with
/// `output_padding` or `output_shape`) and `Resize` (`nn.Upsample`, `F.interpolate`: nearest and
/// linear) import as the direct computation; what they cannot express is refused with the reason.
#[test]
fn transposed_convolutions_and_resizes_compute_exactly_or_are_refused() {
    let one = |op_node: NodeProto, inits: Vec<TensorProto>, dims: &[i64]| encode(vec![op_node], inits, dims, "y", 13);
    let convt = |attrs: Vec<AttributeProto>, kdims: &[i64], k: &[f32], bias: Option<&[f32]>| {
        let mut inputs = vec!["x", "k"];
        let mut inits = vec![tensor("k", kdims, k)];
        if let Some(b) = bias {
            inputs.push("b");
            inits.push(tensor("b", &[b.len() as i64], b));
        }
        (node("ConvTranspose", "up", &inputs, "y", attrs), inits)
    };
    let k = values(2 * 3 * 9, 41);
    let b = values(4, 42);
    // Stride 2, pads, output_padding, then a batch norm folded into it.
    let (ct, mut inits) = convt(
        vec![ints_attr("strides", &[2, 2]), ints_attr("pads", &[1, 1, 1, 1]), ints_attr("output_padding", &[1, 1])],
        &[2, 3, 3, 3],
        &k,
        Some(&b[..3]),
    );
    let (bn, bn_inits) = bn_tensors("bn", 3, 43);
    inits.extend(bn_inits);
    let bn_node = node("BatchNormalization", "bn", &["c", "bn_scale", "bn_bias", "bn_mean", "bn_var"], "y", vec![]);
    let bytes = encode(vec![NodeProto { output: vec!["c".into()], ..ct }, bn_node], inits, &[-1, 2, 4, 4], "y", 13);
    let model = import_onnx(&bytes, "t").unwrap();
    for seed in [1, 2] {
        let x = values(32, seed);
        let input = T3 { c: 2, h: 4, w: 4, v: x.iter().map(|v| f64::from(*v)).collect() };
        let mut want = conv_transpose(&input, (&k, [3, 3, 3]), &b[..3], 1, [2, 2], [1, 1], [1, 1, 1, 1], [1, 1]);
        assert_eq!((want.h, want.w), (8, 8));
        batch_norm(&mut want, &bn, 1e-5);
        close(&model.forward(&x.iter().map(|v| f64::from(*v)).collect::<Vec<_>>()), &want.v);
    }
    // Grouped, dilated, uneven pads; `output_shape` (the odd unit cropped at the end); 1-D.
    let k2 = values(2 * 2 * 9, 44);
    let k1 = values(2 * 3 * 4, 45);
    let cases: Vec<ConvTransposeCase> = vec![
        {
            let (n, i) = convt(
                vec![int_attr("group", 2), ints_attr("dilations", &[2, 2]), ints_attr("pads", &[1, 0, 2, 1])],
                &[2, 2, 3, 3],
                &k2,
                Some(&b),
            );
            let (k2, b) = (k2.clone(), b.clone());
            (
                "grouped",
                n,
                i,
                [2, 4, 4],
                Box::new(move |x| conv_transpose(x, (&k2, [2, 3, 3]), &b, 2, [1, 1], [2, 2], [1, 0, 2, 1], [0, 0])),
            )
        },
        {
            let (n, i) =
                convt(vec![ints_attr("strides", &[2, 2]), ints_attr("output_shape", &[7, 8])], &[2, 3, 3, 3], &k, None);
            let k = k.clone();
            // 9 x 9 before cropping: 2 rows (one each side), 1 column (at the start).
            (
                "output_shape",
                n,
                i,
                [2, 4, 4],
                Box::new(move |x| conv_transpose(x, (&k, [3, 3, 3]), &[], 1, [2, 2], [1, 1], [1, 1, 1, 0], [0, 0])),
            )
        },
        {
            let (n, i) = convt(
                vec![ints_attr("strides", &[2]), ints_attr("pads", &[1, 0]), ints_attr("output_padding", &[1])],
                &[2, 3, 4],
                &k1,
                Some(&b[..3]),
            );
            let (k1, b) = (k1.clone(), b.clone());
            (
                "1-D",
                n,
                i,
                [2, 1, 5],
                Box::new(move |x| {
                    conv_transpose(x, (&k1, [3, 1, 4]), &b[..3], 1, [1, 2], [1, 1], [0, 1, 0, 0], [0, 1])
                }),
            )
        },
    ];
    for (label, op_node, inits, [c, h, w], direct) in cases {
        let dims: Vec<i64> = if h == 1 { vec![-1, c as i64, w as i64] } else { vec![-1, c as i64, h as i64, w as i64] };
        let model = import_onnx(&one(op_node, inits, &dims), "t").unwrap_or_else(|e| panic!("{label}: {e}"));
        let x = values(c * h * w, 5);
        let want = direct(&T3 { c, h, w, v: x.iter().map(|v| f64::from(*v)).collect() });
        close(&model.forward(&x.iter().map(|v| f64::from(*v)).collect::<Vec<_>>()), &want.v);
    }

    // Resize, along each spatial axis: the output position's input taps and weights, as the
    // modes define them for these scales (written out, not computed from the coordinate rules).
    let upsample = |x: &T3, h: usize, w: usize, ty: Taps, tx: Taps| -> Vec<f64> {
        let mut v = Vec::new();
        for c in 0..x.c {
            for oy in 0..h {
                for ox in 0..w {
                    let mut acc = 0.0;
                    for (y, wy) in ty(oy, x.h) {
                        for (xx, wx) in tx(ox, x.w) {
                            acc += wy * wx * x.at(c, y as isize, xx as isize).unwrap();
                        }
                    }
                    v.push(acc);
                }
            }
        }
        v
    };
    // x2, nearest, asymmetric, floor (PyTorch's nn.Upsample): input o / 2.
    let nearest_x2: Taps = |o, _| vec![(o / 2, 1.0)];
    // x2, linear, half pixel: input o/2 − 1/4, clamped at the edges.
    let linear_x2: Taps = |o, n| {
        let i = o / 2;
        if o % 2 == 0 {
            vec![(i.saturating_sub(1), 0.25), (i, 0.75)]
        } else {
            vec![(i, 0.75), ((i + 1).min(n - 1), 0.25)]
        }
    };
    // 4 → 7, linear, align corners: input o / 2.
    let corners_4_7: Taps = |o, _| if o % 2 == 0 { vec![(o / 2, 1.0)] } else { vec![(o / 2, 0.5), (o / 2 + 1, 0.5)] };
    // 4 → 2, nearest, half pixel, round_prefer_floor: input 2o + 1/2, rounded down.
    let nearest_down: Taps = |o, _| vec![(2 * o, 1.0)];
    let same: Taps = |o, _| vec![(o, 1.0)];
    let scales = |v: &[f32]| tensor("s", &[v.len() as i64], v);
    let sizes = |v: &[i64]| int_tensor("z", v);
    let resize = |attrs: Vec<AttributeProto>, by: TensorProto| {
        let inputs: &[&str] = if by.name == "s" { &["x", "", "s"] } else { &["x", "", "", "z"] };
        (node("Resize", "resize", inputs, "y", attrs), vec![by])
    };
    let mode = |m: &str| string_attr("mode", m);
    let transform = |t: &str| string_attr("coordinate_transformation_mode", t);
    let resizes: Vec<ResizeCase> = vec![
        (
            "nearest x2",
            resize(
                vec![mode("nearest"), transform("asymmetric"), string_attr("nearest_mode", "floor")],
                scales(&[1.0, 1.0, 2.0, 2.0]),
            ),
            [8, 8],
            nearest_x2,
            nearest_x2,
        ),
        ("linear x2", resize(vec![mode("linear")], scales(&[1.0, 1.0, 2.0, 2.0])), [8, 8], linear_x2, linear_x2),
        (
            "align corners",
            resize(vec![mode("linear"), transform("align_corners")], sizes(&[1, 2, 7, 4])),
            [7, 4],
            corners_4_7,
            same,
        ),
        ("nearest down", resize(vec![mode("nearest")], sizes(&[1, 2, 2, 4])), [2, 4], nearest_down, same),
    ];
    for (label, (op_node, inits), [h, w], ty, tx) in resizes {
        let model = import_onnx(&one(op_node, inits, &[-1, 2, 4, 4]), "t").unwrap_or_else(|e| panic!("{label}: {e}"));
        let x = values(32, 6);
        let want = upsample(&T3 { c: 2, h: 4, w: 4, v: x.iter().map(|v| f64::from(*v)).collect() }, h, w, ty, tx);
        close(&model.forward(&x.iter().map(|v| f64::from(*v)).collect::<Vec<_>>()), &want);
    }
    // Inside a chain: a Conv, a Relu, a nearest x2 upsample, a Gemm (the map composed into it).
    let kc = values(9, 46);
    let wfc = values(64, 47);
    let bytes = encode(
        vec![
            node(
                "Conv",
                "conv",
                &["x", "kc"],
                "c",
                vec![ints_attr("kernel_shape", &[3, 3]), ints_attr("pads", &[1, 1, 1, 1])],
            ),
            node("Relu", "relu", &["c"], "r", vec![]),
            node(
                "Resize",
                "up",
                &["r", "", "s"],
                "u",
                vec![mode("nearest"), transform("asymmetric"), string_attr("nearest_mode", "floor")],
            ),
            node("Flatten", "flat", &["u"], "f", vec![]),
            node("Gemm", "fc", &["f", "wfc"], "y", vec![int_attr("transB", 1)]),
        ],
        vec![tensor("kc", &[1, 1, 3, 3], &kc), scales(&[1.0, 1.0, 2.0, 2.0]), tensor("wfc", &[1, 64], &wfc)],
        &[-1, 1, 4, 4],
        "y",
        13,
    );
    let model = import_onnx(&bytes, "t").unwrap();
    let x = values(16, 7);
    let mut c = conv(
        &T3 { c: 1, h: 4, w: 4, v: x.iter().map(|v| f64::from(*v)).collect() },
        (&kc, [1, 3, 3]),
        &[0.0],
        1,
        [1; 4],
    );
    relu(&mut c);
    let up = upsample(&c, 8, 8, nearest_x2, nearest_x2);
    let want: f64 = up.iter().zip(&wfc).map(|(u, w)| u * f64::from(*w)).sum();
    close(&model.forward(&x.iter().map(|v| f64::from(*v)).collect::<Vec<_>>()), &[want]);

    for (label, bytes, reason) in [
        (
            "output_padding at the stride",
            {
                let (n, i) = convt(
                    vec![ints_attr("strides", &[2, 2]), ints_attr("output_padding", &[2, 2])],
                    &[2, 3, 3, 3],
                    &k,
                    None,
                );
                one(n, i, &[-1, 2, 4, 4])
            },
            "must be below the stride or the dilation",
        ),
        (
            "pads that crop everything",
            {
                let (n, i) = convt(vec![ints_attr("pads", &[3, 0, 3, 0])], &[2, 3, 3, 3], &k, None);
                one(n, i, &[-1, 2, 4, 4])
            },
            "leave no output",
        ),
        (
            "a kernel for other channels",
            {
                let (n, i) = convt(vec![], &[3, 2, 3, 3], &k, None);
                one(n, i, &[-1, 2, 4, 4])
            },
            "does not fit an input of 2 channels",
        ),
        (
            "an output larger than computed",
            {
                let (n, i) = convt(vec![ints_attr("output_shape", &[20, 20])], &[2, 3, 3, 3], &k, None);
                one(n, i, &[-1, 2, 4, 4])
            },
            "beyond the 6 this ConvTranspose computes",
        ),
        (
            "cubic",
            {
                let (n, i) = resize(vec![mode("cubic")], scales(&[1.0, 1.0, 2.0, 2.0]));
                one(n, i, &[-1, 2, 4, 4])
            },
            "mode `cubic` is not supported",
        ),
        (
            "channels resized",
            {
                let (n, i) = resize(vec![mode("nearest")], scales(&[1.0, 2.0, 2.0, 2.0]));
                one(n, i, &[-1, 2, 4, 4])
            },
            "only the spatial axes",
        ),
        (
            "crop and resize",
            {
                let (n, i) =
                    resize(vec![mode("linear"), transform("tf_crop_and_resize")], scales(&[1.0, 1.0, 2.0, 2.0]));
                one(n, i, &[-1, 2, 4, 4])
            },
            "`tf_crop_and_resize` is not supported",
        ),
        (
            "no scales or sizes",
            one(node("Resize", "resize", &["x", "", "", ""], "y", vec![]), vec![], &[-1, 2, 4, 4]),
            "constant scales or constant sizes",
        ),
    ] {
        let msg = error(&bytes).to_string();
        assert!(msg.contains(reason), "{label}: {msg}");
    }
}

/// A `ConvTranspose` case: its label, node and initializers, the input's `[C, H, W]`, and the
/// direct computation.
type ConvTransposeCase = (&'static str, NodeProto, Vec<TensorProto>, [usize; 3], Box<dyn Fn(&T3) -> T3>);

/// Along one axis of a `Resize`: output position and input length → input taps and weights.
type Taps = fn(usize, usize) -> Vec<(usize, f64)>;

/// A `Resize` case: its label, node and initializers, the output's height and width, and the
/// taps along each.
type ResizeCase = (&'static str, (NodeProto, Vec<TensorProto>), [usize; 2], Taps, Taps);

/// What Keras (through tf2onnx) and PyTorch's `dynamo` exporter write around their layers, each
/// against a direct computation: a flatten whose shape comes from the tensor before a transpose,
/// in int32; `Tile` (Keras' `UpSampling2D`); `DepthToSpace` in both modes (PyTorch's
/// `PixelShuffle`) and `SpaceToDepth`; a bias built by `ConstantOfShape` and `Expand`; `Celu`
/// (of alpha 1, ELU); `nn.Softplus` with its threshold, `Where(x > 20, x, Softplus(x))`. And the
/// refusals: a tile of the batch, a block size that does not divide the channels, a softplus of
/// another slope.
#[test]
fn exporter_layout_operators_and_thresholded_activations_compute_exactly_or_are_refused() {
    let int32 = |name: &str, v: &[i32]| TensorProto {
        dims: vec![v.len() as i64],
        data_type: 6,
        int32_data: v.to_vec(),
        name: name.into(),
        ..Default::default()
    };
    let f64s = |v: &[f32]| v.iter().map(|x| f64::from(*x)).collect::<Vec<_>>();
    // tf2onnx's flatten of an NHWC tensor: Shape of the tensor before the Transpose, its batch
    // (Gather), Cast to int32, Concat with -1, Cast back to int64, Reshape.
    let w = values(12 * 2, 61);
    let bytes = encode(
        vec![
            node("Transpose", "nhwc", &["x"], "t", vec![ints_attr("perm", &[0, 2, 3, 1])]),
            node("Shape", "shape", &["x"], "s", vec![]),
            node("Gather", "batch", &["s", "zero"], "b", vec![]),
            node("Cast", "to32", &["b"], "b32", vec![int_attr("to", 6)]),
            node("Concat", "cat", &["b32", "minus1"], "s32", vec![int_attr("axis", 0)]),
            node("Cast", "to64", &["s32"], "s64", vec![int_attr("to", 7)]),
            node("Reshape", "flat", &["t", "s64"], "f", vec![]),
            node("MatMul", "fc", &["f", "w"], "y", vec![]),
        ],
        vec![int_tensor("zero", &[0]), int32("minus1", &[-1]), tensor("w", &[12, 2], &w)],
        &[-1, 2, 3, 2],
        "y",
        13,
    );
    let model = import_onnx(&bytes, "t").unwrap();
    let x = values(12, 62);
    // NHWC order: (y, x, c) of the [2, 3, 2] input.
    let nhwc: Vec<f64> = (0..3)
        .flat_map(|h| (0..2).flat_map(move |ww| (0..2).map(move |c| (h, ww, c))))
        .map(|(h, ww, c)| f64::from(x[(c * 3 + h) * 2 + ww]))
        .collect();
    let want: Vec<f64> =
        (0..2).map(|o| nhwc.iter().enumerate().map(|(i, v)| v * f64::from(w[i * 2 + o])).sum()).collect();
    close(&model.forward(&f64s(&x)), &want);

    // Each of these reads a [1, C, H, W] input and ends in a Flatten and a MatMul by `wo`; `index`
    // gives the input position of each value of the operator's output, in order.
    let layouts: Vec<LayoutCase> = vec![
        (
            // Repeats [1, 2, 2, 1] of [1, 2, 3, 2]: output (c, h, w) of [4, 6, 2] reads (c % 2, h % 3, w).
            "tile",
            vec![node("Tile", "tile", &["x", "r"], "o", vec![])],
            vec![int_tensor("r", &[1, 2, 2, 1])],
            [1, 2, 3, 2],
            48,
            Box::new(|i| {
                let (c, h, w) = (i / 12, i / 2 % 6, i % 2);
                ((c % 2) * 3 + h % 3) * 2 + w
            }),
        ),
        (
            // DCR (the default): x reshaped [b, b, C', H, W], transposed to [C', H, b, W, b].
            "DepthToSpace DCR",
            vec![node("DepthToSpace", "d2s", &["x"], "o", vec![int_attr("blocksize", 2)])],
            vec![],
            [1, 8, 2, 3],
            48,
            Box::new(|i| {
                let (c, y, xx) = (i / 24, i / 6 % 4, i % 6);
                let ci = ((y % 2) * 2 + xx % 2) * 2 + c;
                (ci * 2 + y / 2) * 3 + xx / 2
            }),
        ),
        (
            // CRD: x reshaped [C', b, b, H, W], transposed to [C', H, b, W, b].
            "DepthToSpace CRD",
            vec![node("DepthToSpace", "d2s", &["x"], "o", vec![int_attr("blocksize", 2), string_attr("mode", "CRD")])],
            vec![],
            [1, 8, 2, 3],
            48,
            Box::new(|i| {
                let (c, y, xx) = (i / 24, i / 6 % 4, i % 6);
                let ci = c * 4 + (y % 2) * 2 + xx % 2;
                (ci * 2 + y / 2) * 3 + xx / 2
            }),
        ),
        (
            // [1, 2, 4, 6] by blocks of 2: output channel (i·2 + j)·2 + c reads (c, 2h + i, 2w + j).
            "SpaceToDepth",
            vec![node("SpaceToDepth", "s2d", &["x"], "o", vec![int_attr("blocksize", 2)])],
            vec![],
            [1, 2, 4, 6],
            48,
            Box::new(|i| {
                let (o, h, w) = (i / 6, i / 3 % 2, i % 3);
                let (block, c) = (o / 2, o % 2);
                (c * 4 + 2 * h + block / 2) * 6 + 2 * w + block % 2
            }),
        ),
    ];
    for (label, mut nodes, mut inits, dims, n, index) in layouts {
        let wo = values(n, 63);
        nodes.push(node("Flatten", "flat", &["o"], "f", vec![]));
        nodes.push(node("MatMul", "fc", &["f", "wo"], "y", vec![]));
        inits.push(tensor("wo", &[n as i64, 1], &wo));
        let model = import_onnx(&encode(nodes, inits, &dims, "y", 13), "t").unwrap_or_else(|e| panic!("{label}: {e}"));
        let x = values(dims.iter().product::<i64>() as usize, 64);
        let want: f64 = (0..n).map(|i| f64::from(x[index(i)]) * f64::from(wo[i])).sum();
        close(&model.forward(&f64s(&x)), &[want]);
    }

    // A bias of 0.25 built from shapes: ConstantOfShape, then Expand to [1, 2].
    let mut fill = node("ConstantOfShape", "fill", &["n"], "c", vec![]);
    fill.attribute.push(AttributeProto {
        name: "value".into(),
        t: Some(tensor("", &[1], &[0.25])),
        r#type: 4,
        ..Default::default()
    });
    let bytes = encode(
        vec![
            node("MatMul", "mm", &["x", "W"], "m", vec![]),
            fill,
            node("Expand", "expand", &["c", "to"], "e", vec![]),
            node("Add", "bias", &["m", "e"], "y", vec![]),
        ],
        vec![tensor("W", &[3, 2], &W_IN_OUT), int_tensor("n", &[1]), int_tensor("to", &[1, 2])],
        &[-1, 3],
        "y",
        13,
    );
    close(&import_onnx(&bytes, "t").unwrap().forward(&X), &[9.25, 21.25]);

    // Gemm, an activation, Gemm: `Celu` of alpha 1, and the dynamo exporter's thresholded Softplus.
    let (w1, w2) = (values(3 * 4, 65), values(4, 66));
    let activated = |nodes: Vec<NodeProto>, inits: Vec<TensorProto>| {
        let mut all = vec![node("Gemm", "fc1", &["x", "w1"], "h", vec![int_attr("transB", 1)])];
        all.extend(nodes);
        all.push(node("Gemm", "fc2", &["a", "w2"], "y", vec![int_attr("transB", 1)]));
        let mut tensors = vec![tensor("w1", &[4, 3], &w1), tensor("w2", &[1, 4], &w2)];
        tensors.extend(inits);
        encode(all, tensors, &[-1, 3], "y", 13)
    };
    let direct = |f: fn(f64) -> f64, x: &[f64]| -> f64 {
        (0..4).map(|o| f((0..3).map(|i| f64::from(w1[o * 3 + i]) * x[i]).sum()) * f64::from(w2[o])).sum()
    };
    let softplus = |nodes_before_where: Vec<NodeProto>| {
        let mut nodes = nodes_before_where;
        nodes.push(node("Where", "where", &["gt", "h", "sp"], "a", vec![]));
        nodes
    };
    let cases: [ActivationCase; 2] = [
        ("celu", vec![node("Celu", "celu", &["h"], "a", vec![float_attr("alpha", 1.0)])], vec![], |z| {
            if z > 0.0 {
                z
            } else {
                z.exp() - 1.0
            }
        }),
        (
            "thresholded softplus",
            softplus(vec![
                node("Softplus", "sp", &["h"], "sp", vec![]),
                node("Greater", "gt", &["h", "twenty"], "gt", vec![]),
            ]),
            vec![tensor("twenty", &[], &[20.0])],
            |z| if z > 20.0 { z } else { z.exp().ln_1p() },
        ),
    ];
    for (label, nodes, inits, f) in cases {
        let model = import_onnx(&activated(nodes, inits), "t").unwrap_or_else(|e| panic!("{label}: {e}"));
        for seed in [1, 2, 3] {
            let x = f64s(&values(3, seed).iter().map(|v| v * 4.0).collect::<Vec<_>>());
            close(&model.forward(&x), &[direct(f, &x)]);
        }
    }

    for (label, bytes, reason) in [
        (
            "a tile of the batch",
            encode(
                vec![node("Tile", "tile", &["x", "r"], "o", vec![]), node("MatMul", "fc", &["o", "W"], "y", vec![])],
                vec![int_tensor("r", &[2, 1]), tensor("W", &[3, 2], &W_IN_OUT)],
                &[-1, 3],
                "y",
                13,
            ),
            "Tile over the batch axis is not supported",
        ),
        (
            "blocks that do not divide the channels",
            encode(
                vec![node("DepthToSpace", "d2s", &["x"], "y", vec![int_attr("blocksize", 2)])],
                vec![],
                &[-1, 6, 2, 2],
                "y",
                13,
            ),
            "DepthToSpace of 6 channels by blocks of 2",
        ),
        (
            "a softplus of slope 2",
            activated(
                softplus(vec![
                    node("Mul", "beta", &["h", "two"], "bh", vec![]),
                    node("Softplus", "sp0", &["bh"], "sp0", vec![]),
                    node("Div", "sp", &["sp0", "two"], "sp", vec![]),
                    node("Greater", "gt", &["bh", "twenty"], "gt", vec![]),
                ]),
                vec![tensor("two", &[], &[2.0]), tensor("twenty", &[], &[20.0])],
            ),
            "elementwise subgraph",
        ),
    ] {
        let msg = error(&bytes).to_string();
        assert!(msg.contains(reason), "{label}: {msg}");
    }
}

/// A layout operator's case: its label, nodes and initializers, the input's dimensions, the
/// output's length, and the input position of each output value.
type LayoutCase = (&'static str, Vec<NodeProto>, Vec<TensorProto>, [i64; 4], usize, Box<dyn Fn(usize) -> usize>);

/// An activation's case: its label, nodes and initializers, and the function.
type ActivationCase = (&'static str, Vec<NodeProto>, Vec<TensorProto>, fn(f64) -> f64);

/// A graph of several inputs that its first node concatenates (PyTorch's `forward(a, b)` over
/// `torch.cat([b, a], 1)`) takes their concatenation, in the `Concat`'s order, as its one input.
/// Inputs read elsewhere, concatenated over another axis, or not flat are refused with the reason.
#[test]
fn several_inputs_that_the_graph_concatenates_first_are_one_input_or_are_refused() {
    let graph = |nodes: Vec<NodeProto>, a_dims: &[i64]| {
        let mut bytes = encode(nodes, vec![tensor("W", &[3, 2], &W_IN_OUT)], a_dims, "y", 13);
        let mut proto = ModelProto::decode(bytes.as_slice()).unwrap();
        let g = proto.graph.as_mut().unwrap();
        g.input[0].name = "a".into();
        g.input.push(value("b", &[-1, 1]));
        bytes.clear();
        proto.encode(&mut bytes).unwrap();
        bytes
    };
    let concat = |inputs: &[&str], axis: i64| node("Concat", "cat", inputs, "x", vec![int_attr("axis", axis)]);
    let mm = node("MatMul", "mm", &["x", "W"], "y", vec![]);
    // x = [b, a]: b = 1, a = [1, 2] gives X = [1, 1, 2], so W·X = [9, 21].
    let model = import_onnx(&graph(vec![concat(&["b", "a"], 1), mm.clone()], &[-1, 2]), "t").unwrap();
    assert_eq!(model.input_dim, 3);
    close(&model.forward(&X), &[9.0, 21.0]);
    let model = import_onnx(&graph(vec![concat(&["a", "b"], -1), mm.clone()], &[-1, 2]), "t").unwrap();
    close(&model.forward(&[1.0, 2.0, 1.0]), &[1.0 + 2.0 * 2.0 + 3.0, 4.0 + 5.0 * 2.0 + 6.0]);
    for (label, bytes, reason) in [
        (
            "an input read twice",
            graph(vec![concat(&["a", "b"], 1), node("Add", "add", &["x", "b"], "z", vec![]), mm.clone()], &[-1, 2]),
            "more than one node reads them",
        ),
        ("over the batch", graph(vec![concat(&["a", "b"], 0), mm.clone()], &[-1, 2]), "their Concat is over axis 0"),
        (
            "not a Concat",
            graph(vec![node("Add", "add", &["a", "b"], "x", vec![]), mm.clone()], &[-1, 2]),
            "is a Add of",
        ),
        ("an image", graph(vec![concat(&["a", "b"], 1), mm], &[-1, 2, 1]), "`a` is not a flat [batch, d] tensor"),
    ] {
        let msg = error(&bytes).to_string();
        assert!(msg.contains(reason), "{label}: {msg}");
    }
}
