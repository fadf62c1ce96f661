#![allow(missing_docs)] // criterion_group! generates an undocumented function
//! The folding prover's MSM against halo2curves' `msm_best` (what nova-snark's MSM hands its
//! full-size scalars to), at a tile step's size: 16,384 bases, with 6,800 full-size scalars (a
//! cross term, the rest zero) or 8,200 and 2,700 bytes (a witness). `cargo bench -p
//! verdict-circuits --bench msm`.

use criterion::{criterion_group, criterion_main, Criterion};
use ff::Field;
use halo2curves::{
    bn256::{G1Affine, G1},
    group::Curve,
};
use rand::{rngs::StdRng, SeedableRng};
use verdict_circuits::Fr;

fn msm(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let n = 16_384;
    let g = G1::generator();
    let mut bases = vec![G1Affine::default(); n];
    let points: Vec<G1> = (0..n).map(|_| g * Fr::random(&mut rng)).collect();
    G1::batch_normalize(&points, &mut bases);
    for (name, full, bytes) in [("cross_term", 6_800, 0), ("witness", 8_200, 2_700)] {
        let scalars: Vec<Fr> = (0..n)
            .map(|i| {
                if i < full {
                    Fr::random(&mut rng)
                } else if i < full + bytes {
                    Fr::from(i as u64 % 256)
                } else {
                    Fr::ZERO
                }
            })
            .collect();
        let mut group = c.benchmark_group(name);
        group.sample_size(20);
        group.bench_function("verdict", |b| b.iter(|| verdict_circuits::msm::msm(&scalars, &bases)));
        for bits in [12, 13, 14] {
            let table = verdict_circuits::msm::FixedBases::new(&bases, bits);
            group.bench_function(format!("verdict_fixed_c{bits}"), |b| b.iter(|| table.msm(0, &scalars)));
        }
        group.bench_function("halo2curves_msm_best", |b| b.iter(|| halo2curves::msm::msm_best(&scalars, &bases)));
        group.finish();
    }
}

criterion_group!(benches, msm);
criterion_main!(benches);
