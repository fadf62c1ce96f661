//! ONNX import: every accepted layout, and one clear error per unsupported op or malformed file.

use prost::Message;
use verdict_circuits::{import_onnx, onnx_proto::*, Error};

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

#[test]
fn every_unsupported_op_is_named_with_its_node() {
    for op in ["Sigmoid", "Tanh", "Softmax", "Conv", "ArgMax", "LeakyRelu", "Dropout", "Sub", "Mul"] {
        let e = error(&single_op(op));
        let msg = e.to_string();
        assert!(matches!(e, Error::UnsupportedOp { .. }), "{op}: {msg}");
        assert!(msg.contains(&format!("unsupported onnx operator `{op}` at node `the_node`")), "{msg}");
        assert!(msg.contains("supported: MatMul, Gemm"), "{msg}");
    }
    assert!(error(&single_op("Sigmoid")).to_string().contains("no sound circuit"));
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
            "add without a layer",
            encode(
                vec![node("Add", "a", &["x", "b"], "y", vec![])],
                vec![tensor("b", &[3], &[1.0; 3])],
                &[-1, 3],
                "y",
                13,
            ),
            "Add of a constant is supported only as the bias",
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
            "no MatMul or Gemm layer",
        ),
        (
            "cast to int",
            encode(vec![node("Cast", "c", &["x"], "y", vec![int_attr("to", 7)])], vec![], &[-1, 3], "y", 13),
            "Cast is supported only to float32",
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
            "cannot reshape 2 values",
        ),
    ];
    for (label, bytes, expected) in cases {
        let e = error(&bytes);
        assert!(matches!(e, Error::OnnxGraph { .. }), "{label}: {e}");
        assert!(e.to_string().contains(expected), "{label}: {e}");
    }
}
