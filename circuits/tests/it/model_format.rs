//! The model file: round trip, and one clear error per malformed file.

use verdict_circuits::{Error, Model};

use crate::models_dir;

/// The shipped digits model with its weights as JSON arrays (the older form, read too).
fn digits_json() -> serde_json::Value {
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(models_dir().join("digits.model.json")).unwrap()).unwrap();
    for layer in doc["layers"].as_array_mut().unwrap() {
        let hex = layer["weights"].as_str().expect("written as hex").to_string();
        let values: Vec<i64> = (0..hex.len())
            .step_by(2)
            .map(|i| i64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap() as i8))
            .collect();
        layer["weights"] = values.into();
    }
    doc
}

fn error_of(doc: &serde_json::Value) -> String {
    Model::from_json(&doc.to_string()).unwrap_err().to_string()
}

#[test]
fn model_file_round_trips() {
    let model = Model::load(models_dir().join("digits.model.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.json");
    model.save(&path).unwrap();
    assert_eq!(Model::load(&path).unwrap(), model);
    // Weights are written as hex, two digits a weight; the array form reads the same.
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(doc["layers"][0]["weights"].as_str().unwrap().len(), 2 * 64 * 32);
    assert_eq!(Model::from_json(&digits_json().to_string()).unwrap(), model);
    assert_eq!(model.parameter_count(), 64 * 32 + 32 + 32 * 10 + 10);
}

#[test]
fn malformed_model_files_give_clear_errors() {
    assert!(Model::from_json("not json").unwrap_err().to_string().starts_with("invalid model: not a model file"));
    assert_eq!(
        Model::from_json("{\"format\":\"onnx\",\"version\":1}").unwrap_err().to_string(),
        "invalid model: expected format \"verdict-model\", found \"onnx\""
    );

    let mut doc = digits_json();
    doc["version"] = 2.into();
    assert_eq!(error_of(&doc), "invalid model: expected format version 1, found 2");

    let mut doc = digits_json();
    doc["layers"][0]["weights"].as_array_mut().unwrap().pop();
    assert_eq!(error_of(&doc), "invalid model: layer 0: expected 32 x 64 weights, found 2047");

    let mut doc = digits_json();
    doc["layers"][0]["weights"][3] = (-128).into();
    assert!(error_of(&doc).contains("weight -128 is outside"), "{}", error_of(&doc));

    let mut doc = digits_json();
    doc["layers"][0]["weights"][3] = 300.into();
    assert!(error_of(&doc).starts_with("invalid model: "), "{}", error_of(&doc));

    // The hex form (what `save` writes): a -128 byte, a stray digit, a non-hex character.
    let hex_of = |doc: &serde_json::Value| -> String {
        let w: Vec<u8> =
            doc["layers"][0]["weights"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap() as u8).collect();
        hex_string(&w)
    };
    let mut doc = digits_json();
    let mut hex = hex_of(&doc);
    hex.replace_range(6..8, "80");
    doc["layers"][0]["weights"] = hex.clone().into();
    assert!(error_of(&doc).contains("weight -128 is outside"), "{}", error_of(&doc));
    doc["layers"][0]["weights"] = format!("{hex}0").into();
    assert!(error_of(&doc).contains("weights: not a hex string of bytes"), "{}", error_of(&doc));
    hex.replace_range(0..1, "x");
    doc["layers"][0]["weights"] = hex.into();
    assert!(error_of(&doc).contains("weights: not a hex string of bytes"), "{}", error_of(&doc));

    let mut doc = digits_json();
    doc["layers"][1]["in_dim"] = 31.into();
    assert!(error_of(&doc).contains("layer 1: expected in_dim 32"), "{}", error_of(&doc));

    let mut doc = digits_json();
    doc["layers"][0]["bias"][0] = (i32::MAX).into();
    assert!(error_of(&doc).contains("expected below 2^31"), "{}", error_of(&doc));

    let mut doc = digits_json();
    doc["layers"][0]["requant"]["shift"] = 0.into();
    assert!(error_of(&doc).contains("shift must be in [1, 62]"), "{}", error_of(&doc));

    let mut doc = digits_json();
    doc["layers"][0]["requant"] = serde_json::Value::Null;
    assert!(error_of(&doc).contains("a hidden layer must requantize"), "{}", error_of(&doc));

    let mut doc = digits_json();
    doc["layers"][1]["requant"] = doc["layers"][0]["requant"].clone();
    assert!(error_of(&doc).contains("the last layer must not requantize"), "{}", error_of(&doc));

    let mut doc = digits_json();
    doc["output"]["scales"].as_array_mut().unwrap().pop();
    assert!(error_of(&doc).contains("expected 10 output scales"), "{}", error_of(&doc));

    let mut doc = digits_json();
    doc["extra"] = 1.into();
    assert!(error_of(&doc).contains("unknown field `extra`"), "{}", error_of(&doc));

    let missing = Model::load("/nonexistent/model.json").unwrap_err();
    assert!(matches!(missing, Error::Io { .. }), "{missing}");
}

/// Lowercase hex of `bytes`.
fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_table_of_a_function_without_one_is_refused() {
    // credit_gbdt's comparisons are step tables; relabelled as a function that has no int8 table
    // (an unbounded one, proven in piecewise-linear form only), the file is refused.
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(models_dir().join("credit_gbdt.model.json")).unwrap()).unwrap();
    assert!(Model::from_json(&doc.to_string()).is_ok());
    for function in ["elu", "selu", "softplus", "silu", "gelu", "gelu_tanh", "hard_swish", "mish"] {
        doc["layers"][0]["table"]["function"] = function.into();
        let e = error_of(&doc);
        assert!(e.contains("has no int8 table"), "{function}: {e}");
    }
}
