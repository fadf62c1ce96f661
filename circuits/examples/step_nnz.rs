//! Where a step circuit's nonzeros go: `cargo run --release -p verdict-circuits --example step_nnz
//! -- [MODEL.json] [private|tile] [depth=N]` prints the nonzeros (A+B+C entries) and constraints of
//! the step shape by namespace (numbers in names merged), largest first. MicroSpartan's size
//! parameter, and with it the final proof's time, follows the total (DESIGN.md).

use std::collections::{BTreeMap, HashMap};

use ff::Field;

use nova_snark::{
    frontend::{test_shape_cs::TestShapeCS, Circuit, LinearCombination},
    provider::Bn256EngineKZG,
};
use verdict_circuits::{
    step::{Blinding, StepCircuit, WeightMode},
    tile::TileCircuit,
    tiles::{tile_params, TilePlan, TileState},
    Fr, Model,
};

fn nnz(lc: &LinearCombination<Fr>) -> usize {
    let mut terms: HashMap<String, Fr> = HashMap::new();
    for (var, coeff) in lc.iter() {
        *terms.entry(format!("{:?}", var.get_unchecked())).or_default() += *coeff;
    }
    terms.values().filter(|c| !bool::from(ff::Field::is_zero(*c))).count()
}

/// A namespace path with its numbers merged: `layer 0/weights/w 17/range` → `layer #/weights/w #/range`.
fn group(name: &str, depth: usize) -> String {
    name.split('/')
        .take(depth)
        .map(|part| {
            part.split(' ').map(|w| if w.parse::<u64>().is_ok() { "#" } else { w }).collect::<Vec<_>>().join(" ")
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args.iter().find(|a| a.ends_with(".json")).cloned().unwrap_or("models/price_feed.model.json".into());
    let model = Model::load(&path)?;
    let mode = if args.iter().any(|a| a == "private") {
        WeightMode::Private(Blinding::random(&model))
    } else {
        WeightMode::Public
    };
    let depth = args.iter().find_map(|a| a.strip_prefix("depth=").and_then(|d| d.parse().ok())).unwrap_or(3);
    let mut cs = TestShapeCS::<Bn256EngineKZG>::new();
    let mode_name = if args.iter().any(|a| a == "tile") {
        // The tile circuit's shape is the same for every model: its first tile.
        let plan = TilePlan::new(&model)?;
        let spec = &plan.tiles[0];
        let state = TileState::initial(Fr::ZERO);
        let input = vec![0; model.input.len];
        TileCircuit::new(&model, spec, tile_params(&model, spec), Fr::ZERO, &state, &input, Fr::ZERO)
            .synthesize(&mut cs)?;
        "tile"
    } else {
        StepCircuit::for_setup(&model, &mode)?.synthesize(&mut cs)?;
        mode.name()
    };
    let mut by: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut total = 0;
    for (a, b, c, name) in &cs.constraints {
        let n = nnz(a) + nnz(b) + nnz(c);
        total += n;
        let e = by.entry(group(name, depth)).or_default();
        e.0 += n;
        e.1 += 1;
    }
    let mut rows: Vec<_> = by.into_iter().collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.1 .0));
    // Written at once, and a closed pipe (`| head`) is not an error.
    let mut report = format!("{} {mode_name}: {} constraints, {total} nonzeros\n", model.name, cs.num_constraints());
    for (name, (n, k)) in rows.iter().take(40) {
        report.push_str(&format!("{n:>9} {k:>7}  {name}\n"));
    }
    let _ = std::io::Write::write_all(&mut std::io::stdout(), report.as_bytes());
    Ok(())
}
