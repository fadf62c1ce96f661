#![allow(missing_docs)] // criterion_group! generates an undocumented function
//! Reference inference of each shipped model (engine only, and engine + step commitments).

use criterion::{criterion_group, criterion_main, Criterion};
use verdict_circuits::Model;

fn inference(c: &mut Criterion) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    for name in ["price_feed", "tictactoe", "digits"] {
        let model = Model::load(dir.join(format!("{name}.model.json"))).expect("shipped model");
        let input: Vec<i8> = (0..model.input.len).map(|i| ((i * 37) % 255) as i8 / 2).collect();
        c.bench_function(&format!("run/{name}"), |b| b.iter(|| model.run(std::hint::black_box(&input)).unwrap()));
        c.bench_function(&format!("run_and_commit/{name}"), |b| {
            b.iter(|| {
                let trace = model.run(std::hint::black_box(&input)).unwrap();
                model.step_commitments(&trace)
            })
        });
    }
}

criterion_group!(benches, inference);
criterion_main!(benches);
