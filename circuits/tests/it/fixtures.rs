//! Fixtures the Solidity tests read, generated here so they can never drift: the Poseidon
//! constants blob and commitment vectors. `VERDICT_UPDATE_FIXTURES=1 cargo test -p
//! verdict-circuits --test it fixtures` rewrites them; otherwise they must match.

use std::path::PathBuf;

use verdict_circuits::{activation_commitment, poseidon_params, Commitment};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../contracts/data")
}

fn check_or_write(name: &str, content: &str) {
    let path = data_dir().join(name);
    if std::env::var_os("VERDICT_UPDATE_FIXTURES").is_some() {
        std::fs::create_dir_all(data_dir()).unwrap();
        std::fs::write(&path, content).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(committed == content, "{} is stale: rerun with VERDICT_UPDATE_FIXTURES=1", path.display());
}

/// Deterministic pseudo-random values (xorshift), so the vectors are reproducible.
fn values(seed: u64, n: usize, bits: u32) -> Vec<i32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if bits == 8 {
                (x % 255) as i32 - 127
            } else {
                (x as u32) as i32
            }
        })
        .collect()
}

#[test]
fn fixtures_are_current() {
    let words = poseidon_params().to_words();
    let blob: String = words.iter().map(hex::encode).collect();
    check_or_write("poseidon_t9.hex", &format!("0x{blob}\n"));

    let mut cases = Vec::new();
    let shapes = [
        (0usize, 8u32, 1usize),
        (0, 8, 9),
        (0, 8, 16),
        (0, 8, 31),
        (0, 8, 32),
        (0, 8, 64),
        (1, 8, 200),
        (3, 32, 1),
        (2, 32, 7),
        (2, 32, 9),
        (5, 32, 10),
        (4, 32, 40),
    ];
    for (k, (step, bits, n)) in shapes.into_iter().enumerate() {
        let v = values(k as u64 + 1, n, bits);
        let encoded: Vec<u8> = if bits == 8 {
            v.iter().map(|x| *x as i8 as u8).collect()
        } else {
            v.iter().flat_map(|x| x.to_be_bytes()).collect()
        };
        let z = Commitment::from_field(activation_commitment(step, &v, bits));
        cases.push(serde_json::json!({
            "step": step,
            "bits": bits,
            "values": format!("0x{}", hex::encode(encoded)),
            "commitment": z.to_string(),
        }));
    }
    let doc =
        serde_json::to_string_pretty(&serde_json::json!({ "count": cases.len(), "cases": cases })).unwrap() + "\n";
    check_or_write("commitment_vectors.json", &doc);
}
