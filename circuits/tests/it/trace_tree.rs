//! The trace tree: proofs verify for every step and fail for anything else; the root matches the
//! Solidity library's vector.

use verdict_circuits::{Commitment, TraceTree};

fn zs(n: usize) -> Vec<Commitment> {
    (0..n)
        .map(|i| {
            let mut b = [0u8; 32];
            b[31] = (i + 1) as u8;
            b[0] = (i * 7 % 31) as u8;
            Commitment(b)
        })
        .collect()
}

#[test]
fn root_matches_the_solidity_vector() {
    let mut v = Vec::new();
    for i in 1..=3u8 {
        let mut b = [0u8; 32];
        b[31] = i;
        v.push(Commitment(b));
    }
    // contracts/test/TraceMerkle.t.sol: RUST_ROOT_1_2_3
    assert_eq!(
        hex::encode(TraceTree::new(&v).root()),
        "31d1e94fe6639e2fea95b9f9c7bf102664563e4b53d7c60c31e1cae8c5619992"
    );
}

#[test]
fn every_step_proves_and_nothing_else_does() {
    for n in 1..=17 {
        let steps = zs(n);
        let tree = TraceTree::new(&steps);
        let root = tree.root();
        for (i, z) in steps.iter().enumerate() {
            let proof = tree.proof(i).unwrap();
            assert!(TraceTree::verify(&root, n, i, z, &proof), "n {n} step {i}");
            let mut wrong = *z;
            wrong.0[5] ^= 1;
            assert!(!TraceTree::verify(&root, n, i, &wrong, &proof));
            if n > 1 {
                assert!(!TraceTree::verify(&root, n, (i + 1) % n, z, &proof), "moved index");
                let mut bad = proof.clone();
                bad[0][0] ^= 1;
                assert!(!TraceTree::verify(&root, n, i, z, &bad));
                assert!(!TraceTree::verify(&root, n, i, z, &proof[1..]));
            }
        }
        assert!(tree.proof(n).is_none());
    }
}
