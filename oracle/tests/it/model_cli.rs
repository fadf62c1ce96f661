//! `oracle model …` driven as a user would: the real binary, real files.

use std::{path::PathBuf, process::Command};

use clap::Parser;
use verdict_circuits::{Calibration, Model};
use verdict_oracle::{Cli, Command as Top, ModelCommand};

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn oracle(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_oracle")).args(args).env_remove("VERDICT_JSON").output().unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn json(args: &[&str]) -> serde_json::Value {
    let (ok, out, err) = oracle(args);
    assert!(ok, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not one JSON document ({e}): {out}"))
}

/// `model import ONNX --calibration CSV -o OUT`.
fn import_args<'a>(onnx: &'a std::path::Path, calib: &'a std::path::Path, out: &'a std::path::Path) -> [&'a str; 7] {
    let s = |p: &'a std::path::Path| p.to_str().unwrap();
    ["model", "import", s(onnx), "--calibration", s(calib), "-o", s(out)]
}

#[test]
fn parsing_no_flags_gives_the_defaults() {
    let cli = Cli::try_parse_from(["oracle", "model", "run", "m.json", "--input", "1,2"]).unwrap();
    let Top::Model(ModelCommand::Run { quantized, trace, json, .. }) = cli.command else { panic!("run") };
    assert!(!quantized && !trace && !json);
    let cli = Cli::try_parse_from(["oracle", "model", "import", "m.onnx", "--calibration", "c.csv", "-o", "out.json"])
        .unwrap();
    let Top::Model(ModelCommand::Import { name, task, json, .. }) = cli.command else { panic!("import") };
    assert!(name.is_none() && task.is_none() && !json);
}

#[test]
fn import_inspect_run_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("digits.json");
    let onnx = models().join("digits.onnx");
    let calib = models().join("digits.calibration.csv");
    let args = import_args(&onnx, &calib, &out);
    let doc = json(&[&args[..], &["--json"]].concat());
    assert_eq!(doc["report"]["task"], "classification");
    assert!(doc["report"]["agreement"].as_f64().unwrap() > 0.95);
    // The import reproduces the shipped model file byte for byte.
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(models().join("digits.model.json")).unwrap());

    let (ok, text, _) = oracle(&args);
    assert!(ok);
    assert!(text.contains("top-1 agreement with the float model"), "{text}");

    let inspect = json(&["model", "inspect", out.to_str().unwrap(), "--json"]);
    assert_eq!(inspect["parameters"], 2410);
    assert_eq!(inspect["layers"].as_array().unwrap().len(), 2);
    assert_eq!(inspect["commitment"], doc["commitment"]);

    let row = std::fs::read_to_string(models().join("digits.test.csv")).unwrap();
    let first = row.lines().nth(1).unwrap();
    let (pixels, label) = first.rsplit_once(',').unwrap();
    let run = json(&["model", "run", out.to_str().unwrap(), "--input", pixels, "--trace", "--json"]);
    assert_eq!(run["prediction"]["class"].as_u64().unwrap(), label.parse::<f64>().unwrap() as u64);
    let trace = run["trace"].as_array().unwrap();
    assert_eq!(trace.len(), 3, "z_0, z_1, z_2");
    assert_eq!(trace[2]["values"], run["output"]);

    // The same input as a JSON array, and as a file.
    let as_json = format!("[{pixels}]");
    let again = json(&["model", "run", out.to_str().unwrap(), "--input", &as_json, "--json"]);
    assert_eq!(again["output"], run["output"]);
    let file = dir.path().join("input.csv");
    std::fs::write(&file, pixels).unwrap();
    let from_file =
        json(&["model", "run", out.to_str().unwrap(), "--input", &format!("@{}", file.display()), "--json"]);
    assert_eq!(from_file["output"], run["output"]);
    // Quantized input gives the same trace.
    let q: Vec<String> = run["input"].as_array().unwrap().iter().map(|v| v.to_string()).collect();
    let quant = json(&["model", "run", out.to_str().unwrap(), "--input", &q.join(","), "--quantized", "--json"]);
    assert_eq!(quant["output"], run["output"]);
}

#[test]
fn smooth_activations_import_in_piecewise_linear_form_on_request() {
    let cli = Cli::try_parse_from(["oracle", "model", "import", "m.onnx", "--calibration", "c.csv", "-o", "o.json"]);
    let Top::Model(ModelCommand::Import { piecewise_linear, .. }) = cli.unwrap().command else { panic!("import") };
    assert_eq!(piecewise_linear, None);
    let cli = Cli::try_parse_from([
        "oracle",
        "model",
        "import",
        "m.onnx",
        "--calibration",
        "c",
        "-o",
        "o",
        "--piecewise-linear",
    ]);
    let Top::Model(ModelCommand::Import { piecewise_linear, .. }) = cli.unwrap().command else { panic!("import") };
    assert_eq!(piecewise_linear, Some(16));

    let dir = tempfile::tempdir().unwrap();
    let corpus = models().join("corpus");
    let (onnx, calib) = (corpus.join("mlp_tanh_digits.onnx"), corpus.join("mlp_tanh_digits.calibration.csv"));
    let (table, form) = (dir.path().join("table.json"), dir.path().join("form.json"));
    let by_table = json(&[&import_args(&onnx, &calib, &table)[..], &["--json"]].concat());
    assert!(by_table["piecewise_linear"].is_null());
    let doc = json(&[&import_args(&onnx, &calib, &form)[..], &["--piecewise-linear=12", "--json"]].concat());
    assert_eq!(doc["piecewise_linear"]["knots"], 12);
    let against = &doc["piecewise_linear"]["report"];
    assert_eq!(against["task"], "classification");
    assert!(against["agreement"].as_f64().unwrap() >= 0.97, "{doc}");
    assert!(doc["report"]["agreement"].as_f64().unwrap() >= 0.97, "{doc}");
    // Two tanh layers, each its pre-activation and 12 hinges a unit: more layers, no table.
    let inspect = json(&["model", "inspect", form.to_str().unwrap(), "--json"]);
    let table_layers =
        json(&["model", "inspect", table.to_str().unwrap(), "--json"])["layers"].as_array().unwrap().len();
    assert_eq!(inspect["layers"].as_array().unwrap().len(), table_layers + 2);
    assert!(doc["parameters"].as_u64() > by_table["parameters"].as_u64());
    let (ok, text, _) =
        oracle(&import_args(&onnx, &calib, &form).iter().copied().chain(["--piecewise-linear"]).collect::<Vec<_>>());
    assert!(ok && text.contains("piecewise-linear (16 knots), against the original: classification"), "{text}");

    let (ok, _, err) = oracle(&[&import_args(&onnx, &calib, &form)[..], &["--piecewise-linear=70"]].concat());
    assert!(!ok && err.contains("2 to 64 knots, not 70"), "{err}");
    let (forest, forest_calib) = (corpus.join("forest_diabetes.onnx"), corpus.join("forest_diabetes.calibration.csv"));
    // A tree ensemble's steps are exact as clamps: the form tiles prove, with the same real
    // outputs as the model by table.
    let by_table = dir.path().join("forest_table.json");
    let plain = json(&[&import_args(&forest, &forest_calib, &by_table)[..], &["--json"]].concat());
    assert_eq!(plain["steps_as_clamps"], false);
    let doc = json(&[&import_args(&forest, &forest_calib, &form)[..], &["--piecewise-linear", "--json"]].concat());
    assert_eq!(doc["steps_as_clamps"], true, "{doc}");
    let (tables, clamps) = (Model::load(&by_table).unwrap(), Model::load(&form).unwrap());
    assert!(tables.layers.iter().any(|l| l.table.is_some()) && clamps.layers.iter().all(|l| l.table.is_none()));
    verdict_circuits::tiled::TiledModel::new(clamps.clone()).unwrap();
    let calibration = Calibration::load(&forest_calib, tables.input.len).unwrap();
    for x in calibration.rows.iter().take(50) {
        let q = tables.quantize_input(x).unwrap();
        let (a, b) = (tables.run(&q).unwrap(), clamps.run(&q).unwrap());
        assert_eq!(b.output(), a.output().iter().map(|v| v * 127).collect::<Vec<_>>());
    }
}

/// Gelu (like Elu, Selu, Softplus and SiLU) has no int8 table: the import takes its
/// piecewise-linear form without being asked and says so; `--piecewise-linear=K` sets its knots.
#[test]
fn unbounded_activations_import_in_piecewise_linear_form_unasked() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = models().join("corpus");
    let (onnx, calib) = (corpus.join("gelu_mlp.onnx"), corpus.join("gelu_mlp.calibration.csv"));
    let out = dir.path().join("gelu.json");
    let doc = json(&[&import_args(&onnx, &calib, &out)[..], &["--json"]].concat());
    assert_eq!(doc["piecewise_linear"]["knots"], 16, "{doc}");
    let against = &doc["piecewise_linear"]["report"];
    assert_eq!(against["task"], "regression");
    // Within 2% of the output's range, against the float model with the exact Gelu.
    assert!(against["max_abs_error"].as_f64().unwrap() < 0.02 * against["max_abs_output"].as_f64().unwrap(), "{doc}");
    // The pre-activation and 16 hinges a unit: three layers, no table.
    let inspect = json(&["model", "inspect", out.to_str().unwrap(), "--json"]);
    assert_eq!(inspect["layers"].as_array().unwrap().len(), 3, "{inspect}");
    let activations: Vec<&str> =
        inspect["layers"].as_array().unwrap().iter().map(|l| l["activation"].as_str().unwrap()).collect();
    assert_eq!(activations, ["none", "relu", "none"], "{inspect}");
    let doc = json(&[&import_args(&onnx, &calib, &out)[..], &["--piecewise-linear=24", "--json"]].concat());
    assert_eq!(doc["piecewise_linear"]["knots"], 24);
    let (ok, text, _) = oracle(&import_args(&onnx, &calib, &out));
    assert!(ok && text.contains("piecewise-linear (16 knots), against the original: regression"), "{text}");
}

#[test]
fn bad_files_and_inputs_fail_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"\x0a\xff\xff\xffnot onnx").unwrap();
    let bad_model = dir.path().join("bad.json");
    std::fs::write(&bad_model, "{\"format\": \"verdict-model\", \"version\": 7}").unwrap();
    let model = models().join("price_feed.model.json");
    let model = model.to_str().unwrap();
    let calib = models().join("digits.calibration.csv");
    let too_big = "200,".repeat(16);
    let too_big = too_big.trim_end_matches(',');
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["model", "inspect", "/nonexistent.json"], "cannot access /nonexistent.json"),
        (vec!["model", "inspect", bad_model.to_str().unwrap()], "expected format version 1, found 7"),
        (
            vec![
                "model",
                "import",
                garbage.to_str().unwrap(),
                "--calibration",
                calib.to_str().unwrap(),
                "-o",
                "/tmp/x.json",
            ],
            "not an onnx model",
        ),
        (vec!["model", "run", model, "--input", "1,2,3"], "invalid input: expected 16 values, found 3"),
        (vec!["model", "run", model, "--input", "1,abc"], "invalid input: `abc` is not a number"),
        (vec!["model", "run", model, "--input", "[1, 2"], "invalid input: expected a JSON array of numbers"),
        (vec!["model", "run", model, "--input", "@/nonexistent.csv"], "cannot access /nonexistent.csv"),
        (vec!["model", "run", model, "--input", too_big, "--quantized"], "expected an integer in [-127, 127]"),
    ];
    // The price-feed calibration has 16 columns, digits' 64: a mismatch names the row.
    let onnx = models().join("price_feed.onnx");
    let mut cases = cases;
    cases.push((
        vec!["model", "import", onnx.to_str().unwrap(), "--calibration", calib.to_str().unwrap(), "-o", "/tmp/x.json"],
        "row 1: expected 16 values, found 64",
    ));
    for (args, expected) in cases {
        let (ok, out, err) = oracle(&args);
        assert!(!ok, "{args:?} succeeded: {out}");
        assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
        assert!(err.starts_with("error: ") && err.contains(expected), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// A 4-6-3 Gemm MLP whose hidden unit 2 is dead (its weights about 1e-41, as an L2 penalty
/// leaves them), as ONNX bytes.
fn dead_unit_onnx() -> Vec<u8> {
    use prost::Message;
    use verdict_circuits::onnx_proto::*;
    let tensor = |name: &str, dims: &[i64], values: Vec<f32>| TensorProto {
        dims: dims.to_vec(),
        data_type: DATA_TYPE_FLOAT,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        name: name.into(),
        ..Default::default()
    };
    let mut w0: Vec<f32> = (0..24).map(|i| ((i * 7 % 11) as f32 - 5.0) / 5.0).collect();
    w0[8..12].iter_mut().for_each(|w| *w = 1e-41);
    let w1: Vec<f32> = (0..18).map(|i| ((i * 5 % 7) as f32 - 3.0) / 3.0).collect();
    let node = |op: &str, inputs: &[&str], output: &str| NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        name: output.into(),
        op_type: op.into(),
        attribute: vec![AttributeProto { name: "transB".into(), i: 1, r#type: 2, ..Default::default() }],
        domain: String::new(),
    };
    let value = |name: &str, width: i64| ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: DATA_TYPE_FLOAT,
                shape: Some(TensorShapeProto {
                    dim: vec![
                        Dimension { dim_value: 1, dim_param: String::new() },
                        Dimension { dim_value: width, dim_param: String::new() },
                    ],
                }),
            }),
        }),
    };
    let mut relu = node("Relu", &["h"], "r");
    relu.attribute.clear();
    ModelProto {
        ir_version: 8,
        producer_name: "test".into(),
        graph: Some(GraphProto {
            node: vec![node("Gemm", &["x", "w0", "b0"], "h"), relu, node("Gemm", &["r", "w1", "b1"], "y")],
            name: "g".into(),
            initializer: vec![
                tensor("w0", &[6, 4], w0),
                tensor("b0", &[6], vec![0.1, 0.2, -0.7, 0.0, 0.3, -0.1]),
                tensor("w1", &[3, 6], w1),
                tensor("b1", &[3], vec![0.0, 0.1, -0.1]),
            ],
            input: vec![value("x", 4)],
            output: vec![value("y", 3)],
        }),
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 13 }],
    }
    .encode_to_vec()
}

#[test]
fn a_dead_unit_imports_and_the_import_says_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("dead.onnx");
    std::fs::write(&onnx, dead_unit_onnx()).unwrap();
    let calib = dir.path().join("rows.csv");
    let rows: Vec<String> = (0..40)
        .map(|r| (0..4).map(|i| format!("{}", ((r * 3 + i * 5) % 9) as f64 / 4.0 - 1.0)).collect::<Vec<_>>().join(","))
        .collect();
    std::fs::write(&calib, rows.join("\n")).unwrap();
    let out = dir.path().join("dead.json");
    let args = import_args(&onnx, &calib, &out);
    let (ok, text, err) = oracle(&args);
    assert!(ok, "{err}");
    assert!(text.contains("adjusted: layer 0 output 2: a dead unit"), "{text}");
    let doc = json(&[&args[..], &["--json"]].concat());
    assert_eq!(doc["adjustments"][0]["layer"], 0);
    assert_eq!(doc["adjustments"][0]["output"], 2);
    assert_eq!(doc["adjustments"][0]["nonzero_weights"], 0);
}

/// `model commit-input`: what a requester of a private input needs — the int8 input, a fresh
/// salt, and the salted z_0 to request with — the very z_0 the operator checks a delivery
/// against; a given salt reproduces it, a fresh one never repeats; a bad salt or input is refused
/// by name.
#[test]
fn commit_input_prints_the_salted_z0_a_delivery_must_open() {
    let model = models().join("credit.model.json");
    let m = model.to_str().unwrap();
    let row = "34,41,0.52,0.93,2,6,4,0.55";
    let doc = json(&["model", "commit-input", m, "--input", row, "--json"]);
    let input: Vec<i8> = serde_json::from_value(doc["input"].clone()).unwrap();
    let salt = doc["salt"].as_str().unwrap();
    let values: Vec<i32> = input.iter().map(|v| i32::from(*v)).collect();
    let expected = verdict_circuits::Commitment::from_field(verdict_circuits::salted_input_commitment(
        &values,
        verdict_circuits::parse_salt(salt).unwrap(),
    ));
    assert_eq!(doc["input_commitment"], expected.to_string());
    let again = json(&["model", "commit-input", m, "--input", row, "--salt", salt, "--json"]);
    assert_eq!(again["input_commitment"], doc["input_commitment"], "a given salt reproduces z_0");
    let fresh = json(&["model", "commit-input", m, "--input", row, "--json"]);
    assert_ne!(fresh["salt"], doc["salt"]);
    assert_ne!(fresh["input_commitment"], doc["input_commitment"], "a fresh salt hides the same input");
    let (ok, _, err) = oracle(&["model", "commit-input", m, "--input", row, "--salt", "0x12"]);
    assert!(!ok && err.contains("--salt 0x12"), "{err}");
    let (ok, _, err) = oracle(&["model", "commit-input", m, "--input", "1,2"]);
    assert!(!ok && err.contains("expected 8 values"), "{err}");
}
