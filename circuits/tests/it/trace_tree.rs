//! The trace tree: proofs verify for every step and fail for anything else; the root matches the
//! Solidity library's vector.

use verdict_circuits::{Commitment, Fr, TraceTree};

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

#[test]
fn range_proofs_open_any_consecutive_leaves_and_nothing_else() {
    use verdict_circuits::{range_proof_len, range_root, trace_leaf};
    for count in [1usize, 2, 3, 5, 8, 13] {
        let zs: Vec<Commitment> = (0..count).map(|i| Commitment::from_field(Fr::from(100 + i as u64))).collect();
        let tree = TraceTree::new(&zs);
        let depth = count.next_power_of_two().trailing_zeros() as usize;
        for lo in 0..count {
            for hi in lo..count {
                let leaves: Vec<[u8; 32]> = (lo..=hi).map(|i| trace_leaf(i, &zs[i])).collect();
                let proof = tree.range_proof(lo, hi);
                assert_eq!(proof.len(), range_proof_len(lo, hi, depth));
                assert!(proof.len() <= 2 * depth);
                assert_eq!(range_root(lo, &leaves, &proof, depth), Some(tree.root()), "{count}: {lo}..={hi}");
                // Another leaf, a shifted range or a short proof does not reach the root.
                let mut wrong = leaves.clone();
                wrong[0] = trace_leaf(lo, &Commitment::from_field(Fr::from(7u64)));
                assert_ne!(range_root(lo, &wrong, &proof, depth), Some(tree.root()));
                if hi + 1 < count {
                    assert_ne!(range_root(lo + 1, &leaves, &proof, depth), Some(tree.root()));
                }
                if !proof.is_empty() {
                    assert_eq!(range_root(lo, &leaves, &proof[1..], depth), None);
                }
            }
        }
    }
}
