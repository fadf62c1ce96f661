//! The importer's order of hidden units (`FloatModel::ordered_for_tiles`): the same function,
//! fewer tiles for a lowered convolution, a dense model untouched.

use rand::{seq::SliceRandom, SeedableRng};
use verdict_circuits::{
    import_onnx_file, quantize, tiles::TilePlan, tiles::TILE_COLS, Calibration, Error, FloatModel, Model,
};

use crate::models_dir;

fn float(name: &str) -> (FloatModel, Calibration) {
    let dir = models_dir();
    let float = import_onnx_file(dir.join(format!("{name}.onnx"))).unwrap();
    let calibration = Calibration::load(dir.join(format!("{name}.calibration.csv")), float.input_dim).unwrap();
    (float, calibration)
}

fn tiles(model: &Model) -> usize {
    TilePlan::new(model).unwrap().len()
}

/// The first and last column block each unit of `layer` reads.
fn spans(float: &FloatModel, l: usize) -> Vec<(usize, usize)> {
    let layer = &float.layers[l];
    (0..layer.out_dim)
        .map(|o| {
            let row = &layer.weights[o * layer.in_dim..(o + 1) * layer.in_dim];
            let block = |c: Option<usize>| c.map_or(usize::MAX, |c| c / TILE_COLS);
            (block(row.iter().position(|w| *w != 0.0)), block(row.iter().rposition(|w| *w != 0.0)))
        })
        .collect()
}

#[test]
fn shuffled_hidden_units_compute_the_same_and_are_ordered_back_into_fewer_tiles() {
    // The shipped CNNs as lowered, and ordered (as shipped), then with every hidden layer's units shuffled: the
    // float function is the same, the quantized outputs are the same on every calibration row,
    // the shuffled model takes more tiles, and ordering it again gives back the imported tile
    // count, with each hidden layer's spans sorted.
    let mut rng = rand::rngs::StdRng::seed_from_u64(16);
    for (name, lowered, imported) in [("digits_cnn", 87, 64), ("digits_lenet", 532, 415)] {
        // The importer lowers a convolution channel by channel; `oracle model import` orders it.
        let (direct, calibration) = float(name);
        assert_eq!(tiles(&quantize(&direct, &calibration, None).unwrap()), lowered, "{name}");
        let ordered = direct.ordered_for_tiles();
        let model = quantize(&ordered, &calibration, None).unwrap();
        assert_eq!(tiles(&model), imported, "{name}");
        assert_eq!(&model, &crate::step::shipped(name), "{name}: the shipped file is the ordered import");
        let mut shuffled = ordered.clone();
        for l in 0..shuffled.layers.len() - 1 {
            let mut order: Vec<usize> = (0..shuffled.layers[l].out_dim).collect();
            order.shuffle(&mut rng);
            shuffled.permute_units(l, &order).unwrap();
        }
        assert_ne!(shuffled, ordered);
        let shuffled_model = quantize(&shuffled, &calibration, None).unwrap();
        assert!(tiles(&shuffled_model) > imported, "{name}: {} shuffled tiles", tiles(&shuffled_model));
        for row in calibration.rows.iter().take(100) {
            let (a, b) = (ordered.forward(row), shuffled.forward(row));
            assert!(a.iter().zip(&b).all(|(a, b)| (a - b).abs() <= 1e-9 * (1.0 + a.abs())), "{name}: {a:?} vs {b:?}");
        }
        for row in &calibration.rows {
            let x = model.quantize_input(row).unwrap();
            assert_eq!(model.run(&x).unwrap().output(), shuffled_model.run(&x).unwrap().output(), "{name}");
        }
        let again = shuffled.ordered_for_tiles();
        for l in 0..again.layers.len() - 1 {
            let spans = spans(&again, l);
            assert!(spans.windows(2).all(|w| w[0] <= w[1]), "{name}: layer {l}'s units are ordered by span");
        }
        assert_eq!(tiles(&quantize(&again, &calibration, None).unwrap()), imported, "{name}");
    }
}

#[test]
fn a_dense_model_keeps_its_order() {
    // Every unit of an MLP reads every column block: ordering changes nothing, so the shipped
    // MLPs' files (and commitments) are what they were.
    for name in ["price_feed", "digits", "digits_1m"] {
        let (float, _) = float(name);
        assert_eq!(float.clone().ordered_for_tiles(), float, "{name}");
    }
}

#[test]
fn only_a_permutation_of_a_hidden_layers_units_is_taken() {
    let (mut float, _) = float("digits");
    let n = float.layers[0].out_dim;
    let model_error = |e: Error| match e {
        Error::Model(m) => m,
        e => panic!("{e}"),
    };
    let last = float.layers.len() - 1;
    let e = model_error(float.permute_units(last, &(0..10).collect::<Vec<_>>()).unwrap_err());
    assert!(e.contains("not a hidden layer"), "{e}");
    let mut twice: Vec<usize> = (0..n).collect();
    twice[1] = 0;
    for (order, what) in
        [((0..n - 1).collect::<Vec<_>>(), "short"), (twice, "a unit twice"), ((1..=n).collect(), "out of range")]
    {
        let e = model_error(float.permute_units(0, &order).unwrap_err());
        assert!(e.contains("not a permutation of its 32 units"), "{what}: {e}");
    }
    // A refused order leaves the model as it was.
    assert_eq!(float, self::float("digits").0);
}
