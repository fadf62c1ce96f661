//! The `fraud-prover` command line, run as a process: prove, verify, reject, explain; and the
//! watchtower against a real chain and a real operator.

mod lending;
mod operator;
mod private;
mod tiled;
mod watch;
mod workers;

use std::{path::PathBuf, process::Command};

use serde_json::Value;

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

/// Runs the binary; returns (success, stdout, stderr).
fn fraud_prover(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fraud-prover")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

const INPUT: &str = "[1.5, -2.0, 0.25, 3.0, -1.0, 0.0, 2.5, -0.5, 1.0, 1.0, -3.0, 0.75, 2.0, -2.5, 0.5, 1.25]";

#[test]
fn prove_then_verify_and_reject_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let proof = dir.path().join("proof.json");
    let model = models().join("price_feed.model.json");
    let (m, k, p) = (model.to_str().unwrap(), keys.to_str().unwrap(), proof.to_str().unwrap());
    let common = ["--keys-dir", k, "--insecure-test-setup"];

    let mut args = vec!["prove", "--model", m, "--input", INPUT, "--request-id", "77", "-o", p, "--json"];
    args.extend(common);
    let (ok, out, err) = fraud_prover(&args);
    assert!(ok, "{err}");
    assert!(err.contains("INSECURE TEST SETUP"), "the insecure setup must warn: {err}");
    assert!(err.contains("3/3 steps"), "progress per step: {err}");
    let doc: Value = serde_json::from_str(out.trim()).expect("stdout is exactly one JSON document");
    assert_eq!(doc["segment"], serde_json::json!([0, 3]));
    assert_eq!(doc["insecure_setup"], true);
    assert!(doc["keys"].as_str().unwrap().starts_with("generated"));

    let mut verify = vec!["verify", "--model", m, "--proof", p];
    verify.extend(common);
    let (ok, out, err) = fraud_prover(&verify);
    assert!(ok, "{err}");
    assert!(out.starts_with("ok: steps 0..3 of request 0x"), "{out}");

    // A second proof reuses the cached keys.
    let mut args = vec!["prove", "--model", m, "--input", INPUT, "--segment", "1..3", "-o", p, "--json"];
    args.extend(common);
    let (ok, out, err) = fraud_prover(&args);
    assert!(ok, "{err}");
    let doc: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(doc["keys"].as_str().unwrap().starts_with("cached"), "{doc}");

    // Tampered files are rejected with a reason and a non-zero exit.
    let original: Value = serde_json::from_str(&std::fs::read_to_string(&proof).unwrap()).unwrap();
    let mut cases: Vec<(&str, Value)> = Vec::new();
    let mut c = original.clone();
    c["request_id"] = Value::from("78");
    cases.push(("another request id", c));
    let mut c = original.clone();
    c["steps"][1] = original["steps"][0].clone();
    cases.push(("a changed step commitment", c));
    let mut c = original.clone();
    let hex = c["proof"].as_str().unwrap().to_string();
    let i = hex.len() / 2;
    let flipped = if &hex[i..i + 1] == "0" { "1" } else { "0" };
    c["proof"] = Value::from(format!("{}{}{}", &hex[..i], flipped, &hex[i + 1..]));
    cases.push(("a flipped proof byte", c));
    for (what, doc) in cases {
        std::fs::write(&proof, doc.to_string()).unwrap();
        let (ok, out, err) = fraud_prover(&verify);
        assert!(!ok, "accepted {what}: {out}");
        let last = err.lines().last().unwrap();
        assert!(last.starts_with("error: "), "{what}: {err}");
    }
}

#[test]
fn private_weights_verify_against_the_registered_commitment() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let proof = dir.path().join("proof.json");
    let blinding = dir.path().join("blinding.json");
    let model = models().join("price_feed.model.json");
    let (m, k, p, b) =
        (model.to_str().unwrap(), keys.to_str().unwrap(), proof.to_str().unwrap(), blinding.to_str().unwrap());
    let (ok, out, err) = fraud_prover(&["blinding", "--model", m, "-o", b]);
    assert!(ok, "{err}");
    let commitment = out.lines().find_map(|l| l.strip_prefix("commitment ")).unwrap().trim().to_string();

    let args = ["prove", "--model", m, "--input", INPUT, "--private", b, "--segment", "0..2", "-o", p];
    let (ok, _, err) = fraud_prover(&[&args[..], &["--keys-dir", k, "--insecure-test-setup"]].concat());
    assert!(ok, "{err}");

    let verify = ["verify", "--model", m, "--proof", p, "--keys-dir", k, "--insecure-test-setup"];
    let (ok, _, err) = fraud_prover(&verify);
    assert!(!ok && err.contains("pass --commitment"), "{err}");
    let (ok, out, err) = fraud_prover(&[&verify[..], &["--commitment", &commitment]].concat());
    assert!(ok, "{err}");
    assert!(out.starts_with("ok: steps 0..2"), "{out}");
    let public = "0x0000000000000000000000000000000000000000000000000000000000000001";
    let (ok, _, err) = fraud_prover(&[&verify[..], &["--commitment", public]].concat());
    assert!(!ok && err.contains("rejected"), "{err}");
}

#[test]
fn bad_arguments_fail_with_one_clear_line() {
    let model = models().join("price_feed.model.json");
    let m = model.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["prove", "--model", m, "--input", INPUT, "-o", "/tmp/x"], "no key setup: pass --ptau-dir"),
        (
            vec!["prove", "--model", m, "--input", INPUT, "-o", "/tmp/x", "--insecure-test-setup", "--segment", "2..2"],
            "invalid segment \"2..2\"",
        ),
        (
            vec!["prove", "--model", m, "--input", INPUT, "-o", "/tmp/x", "--insecure-test-setup", "--segment", "0..4"],
            "0 <= a < b <= 3",
        ),
        (vec!["prove", "--model", m, "--input", "1,2", "-o", "/tmp/x", "--insecure-test-setup"], "expected 16 values"),
        (
            vec!["prove", "--model", m, "--input", INPUT, "-o", "/tmp/x", "--insecure-test-setup", "--request-id", "x"],
            "request id \"x\"",
        ),
        (
            vec!["verify", "--model", m, "--proof", "/nonexistent.json", "--insecure-test-setup"],
            "cannot access /nonexistent.json",
        ),
        (vec!["verify", "--model", m, "--proof", m, "--insecure-test-setup"], "is not a segment proof file"),
    ];
    for (args, expected) in cases {
        let (ok, out, err) = fraud_prover(&args);
        assert!(!ok, "{args:?} succeeded: {out}");
        let last = err.lines().last().unwrap_or_default();
        assert!(last.starts_with("error: ") && last.contains(expected), "{args:?}: {err}");
    }
}

/// `prove --salt`: a private input's proof carries the salted z_0 and verifies; a salt that is
/// not a field element is refused with one clear line.
#[test]
fn a_salted_private_input_is_proven_with_its_salted_commitment() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let (plain, salted) = (dir.path().join("plain.json"), dir.path().join("salted.json"));
    let model = models().join("price_feed.model.json");
    let (m, k) = (model.to_str().unwrap(), keys.to_str().unwrap());
    let salt = "0x00000000000000000000000000000000000000000000000000000000c0ffee42";
    let run = |out: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["prove", "--model", m, "--input", INPUT, "-o", out.to_str().unwrap()];
        args.extend(["--keys-dir", k, "--insecure-test-setup"]);
        args.extend(extra);
        fraud_prover(&args)
    };
    assert!(run(&plain, &[]).0);
    let (ok, _, err) = run(&salted, &["--salt", salt]);
    assert!(ok, "{err}");
    let read = |p: &std::path::Path| -> Value { serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap() };
    let (plain_doc, salted_doc) = (read(&plain), read(&salted));
    assert_ne!(plain_doc["steps"][0], salted_doc["steps"][0], "the salt changes z_0");
    assert_eq!(plain_doc["steps"][1], salted_doc["steps"][1], "and nothing else");
    let verify =
        ["verify", "--model", m, "--proof", salted.to_str().unwrap(), "--keys-dir", k, "--insecure-test-setup"];
    let (ok, out, err) = fraud_prover(&verify);
    assert!(ok && out.starts_with("ok: "), "{out}{err}");
    let (ok, _, err) = run(&salted, &["--salt", "0xnot-hex"]);
    assert!(!ok);
    assert!(err.lines().last().unwrap().contains("--salt 0xnot-hex"), "{err}");
}

#[test]
fn prove_and_verify_over_tiles_public_and_private() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let proof = dir.path().join("tiles.json");
    let blinding = dir.path().join("blinding.json");
    let model = models().join("price_feed.model.json");
    let (m, k, p, b) =
        (model.to_str().unwrap(), keys.to_str().unwrap(), proof.to_str().unwrap(), blinding.to_str().unwrap());
    let common = ["--keys-dir", k, "--insecure-test-setup"];

    // price_feed (16-32-16-1) is 6 tiles: 3 (two halves of rows 0..31, then row 31) + 2 + 1.
    let args = ["prove", "--tiles", "--model", m, "--input", INPUT, "--segment", "2..3", "-o", p, "--json"];
    let (ok, out, err) = fraud_prover(&[&args[..], &common].concat());
    assert!(ok, "{err}");
    let doc: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(doc["tiles"], 6);
    assert_eq!(doc["mode"], "tiled");
    assert_eq!(doc["segment"], serde_json::json!([2, 3]));
    let verify = ["verify", "--model", m, "--proof", p];
    let (ok, out, err) = fraud_prover(&[&verify[..], &common].concat());
    assert!(ok, "{err}");
    assert!(out.starts_with("ok: tiles 2..3 of request 0x"), "{out}");
    // A changed step commitment is rejected.
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&proof).unwrap()).unwrap();
    doc["steps"][1] = doc["steps"][0].clone();
    std::fs::write(&proof, doc.to_string()).unwrap();
    let (ok, _, err) = fraud_prover(&[&verify[..], &common].concat());
    assert!(!ok && !err.trim().is_empty(), "a changed step commitment was accepted: {err}");

    // Private weights: the proof is bound to the blinded tiled commitment, which verify needs.
    let (ok, _, err) = fraud_prover(&["blinding", "--model", m, "-o", b]);
    assert!(ok, "{err}");
    let args =
        ["prove", "--tiles", "--model", m, "--input", INPUT, "--private", b, "--segment", "4..5", "-o", p, "--json"];
    let (ok, out, err) = fraud_prover(&[&args[..], &common].concat());
    assert!(ok, "{err}");
    let doc: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(doc["mode"], "tiled-private");
    let commitment = doc["model"].as_str().unwrap().to_string();
    let (ok, _, err) = fraud_prover(&[&verify[..], &common].concat());
    assert!(!ok && err.contains("pass --commitment"), "{err}");
    let with = ["verify", "--model", m, "--proof", p, "--commitment", &commitment];
    let (ok, out, err) = fraud_prover(&[&with[..], &common].concat());
    assert!(ok, "{err}");
    assert!(out.starts_with("ok: tiles 4..5"), "{out}");
    // Against the public model's tiled commitment it is rejected.
    let public = fraud_prover(
        &[
            &["prove", "--tiles", "--model", m, "--input", INPUT, "--segment", "4..5", "-o", "/dev/null", "--json"][..],
            &common,
        ]
        .concat(),
    );
    let public: Value = serde_json::from_str(public.1.trim()).unwrap();
    let against = ["verify", "--model", m, "--proof", p, "--commitment", public["model"].as_str().unwrap()];
    let (ok, _, _) = fraud_prover(&[&against[..], &common].concat());
    assert!(!ok, "a private proof accepted under the public commitment");
}
