//! Tiles: the tiled trace ends at the engine's commitments on every shipped model and on
//! synthetic ones, every tile step is satisfied, and every false claim (a wrong weight, a tile at
//! another position, a skipped or repeated tile, a wrong partial output, a wrong padding value,
//! a lane read twice or a sponge restarted midway) leaves the tile circuit unsatisfied. The shape is the same for every model, and pinned.

use ff::Field;
use nova_snark::frontend::{util_cs::test_cs::TestConstraintSystem, Circuit};
use verdict_circuits::{
    activation_commitment,
    folding::shape_size_of,
    tile::TileCircuit,
    tiles::{
        apply, synthetic_mlp, tile_commitments, tile_params, tiled_trace, written_elements, TileParams, TilePlan,
        TileSpec, TileState, TiledTrace,
    },
    Fr, Model,
};

use crate::step::{sample_input, shipped};

fn trace_of(model: &Model, seed: i32) -> (crate::TraceOf, TilePlan, TiledTrace) {
    let trace = model.run(&sample_input(model, seed)).unwrap();
    let plan = TilePlan::new(model).unwrap();
    let tiled = tiled_trace(model, &plan, &trace, Fr::ZERO);
    (trace, plan, tiled)
}

fn circuit(model: &Model, plan: &TilePlan, tiled: &TiledTrace, trace: &crate::TraceOf, t: usize) -> TileCircuit {
    let spec = &plan.tiles[t];
    let input = &trace.steps[spec.layer];
    TileCircuit::new(model, spec, tile_params(model, spec), Fr::ZERO, &tiled.states[t], input, Fr::ZERO)
}

fn satisfied(c: TileCircuit) -> bool {
    let mut cs = TestConstraintSystem::<Fr>::new();
    c.synthesize(&mut cs).unwrap();
    cs.is_satisfied()
}

fn models() -> Vec<Model> {
    let mut models: Vec<Model> = ["price_feed", "tictactoe", "digits", "digits_cnn"].into_iter().map(shipped).collect();
    models.push(synthetic_mlp(&[100, 70, 40, 12], 7));
    models.push(synthetic_mlp(&[31, 31, 28], 8));
    models
}

#[test]
fn tiled_traces_end_at_the_engine_commitments() {
    for model in models() {
        let (trace, plan, tiled) = trace_of(&model, 3);
        let zs = model.step_commitments(&trace);
        assert_eq!(tiled.commitments[0], zs[0].to_field().unwrap(), "{}: z_0", model.name);
        // z_L is the output's commitment as step L, the tile count (what the registry holds).
        let z_l = activation_commitment(plan.len(), trace.output(), 32);
        assert_eq!(tiled.commitments[plan.len()], z_l, "{}: z_L", model.name);
        // Each layer's last tile leaves the layer output's commitment as the next x.
        for spec in plan.tiles.iter().filter(|s| s.layer_end() && !s.last()) {
            assert_eq!(tiled.states[spec.index + 1].x, zs[spec.layer + 1].to_field().unwrap(), "{}", model.name);
        }
        assert_eq!(tile_commitments(&model, &plan).len(), plan.len());
    }
}

/// A step's witness and public inputs, synthesized as the prover does.
fn assignment(c: &TileCircuit) -> (Vec<Fr>, Vec<Fr>) {
    use nova_snark::frontend::{solver::SatisfyingAssignment, ConstraintSystem};
    let mut cs = SatisfyingAssignment::<verdict_circuits::folding::E>::new();
    c.clone().synthesize(&mut cs).unwrap();
    (cs.aux_assignment().to_vec(), cs.input_assignment().to_vec())
}

#[test]
fn a_tiles_challenged_values_are_its_witness_under_the_challenge() {
    use verdict_circuits::challenged::ChallengedStep;
    // The prover synthesizes a tile once, under the challenge it holds, and computes the values
    // that depend on the one drawn: they must be the witness of a synthesis under that one.
    for model in [shipped("digits_cnn"), synthetic_mlp(&[40, 33, 10], 1)] {
        let (trace, plan, tiled) = trace_of(&model, 4);
        for t in [0, plan.len() / 2, plan.len() - 1] {
            let c = circuit(&model, &plan, &tiled, &trace, t);
            let (mut before, _) = assignment(&c);
            let alpha = Fr::from(0x1234_5678_9abc_u64) + Fr::from(t as u64);
            let (after, inputs) = assignment(&c.with_challenge(alpha));
            assert_ne!(before, after, "{}: tile {t}: the witness depends on the challenge", model.name);
            let s = c.prefix_len();
            let (at, values) = c.challenged_values(&before[..s], alpha).unwrap();
            assert_eq!(at, s);
            before[at..at + values.len()].copy_from_slice(&values);
            assert_eq!(before, after, "{}: tile {t}", model.name);
            assert_eq!(inputs[1], alpha);
        }
    }
    // A prefix shorter than the lookups' layout gives none, not a panic.
    let model = synthetic_mlp(&[40, 33, 10], 1);
    let (trace, plan, tiled) = trace_of(&model, 4);
    let c = circuit(&model, &plan, &tiled, &trace, 0);
    let (w, _) = assignment(&c);
    assert!(c.challenged_values(&w[..c.prefix_len() - 1], Fr::ONE).is_none());
}

#[test]
fn every_tile_of_a_small_model_is_satisfied() {
    for model in [synthetic_mlp(&[40, 33, 10], 1), shipped("price_feed")] {
        let (trace, plan, tiled) = trace_of(&model, 5);
        for t in 0..plan.len() {
            let c = circuit(&model, &plan, &tiled, &trace, t);
            assert_eq!(c.io()[1], tiled.commitments[t]);
            assert_eq!(c.io()[2], tiled.commitments[t + 1]);
            assert!(satisfied(c), "{}: tile {t}", model.name);
        }
    }
}

#[test]
fn the_tiles_of_a_convolution_are_satisfied() {
    // A CNN's convolution is a dense layer with a kernel's pattern of zeros: its tiles are
    // ordinary tiles, which also read the zero blocks after them. The 8×8 CNN's every fifth tile
    // and the LeNet-style CNN's every 33rd (of 227), and each layer's ends. The LeNet's trace
    // ends at the engine's output commitment.
    for (name, every) in [("digits_cnn", 5), ("digits_lenet", 33)] {
        let model = shipped(name);
        let (trace, plan, tiled) = trace_of(&model, 2);
        let z_l = activation_commitment(plan.len(), trace.output(), 32);
        assert_eq!(tiled.commitments[plan.len()], z_l, "{name}: z_L");
        for spec in plan.tiles.iter().filter(|s| s.index % every == 0 || s.layer_end() || s.layer_start()) {
            assert!(satisfied(circuit(&model, &plan, &tiled, &trace, spec.index)), "{name}: tile {}", spec.index);
        }
    }
}

#[test]
fn the_tiles_of_a_smooth_model_in_piecewise_linear_form_are_satisfied() {
    // scikit-learn's logistic MLP (64-32-10) as a ReLU network: its pre-activation, 16 hinges a
    // unit, and the output layer reading them. Every tile is satisfied, and the trace ends at the
    // engine's output commitment.
    let model = crate::piecewise::piecewise_corpus_model("mlp_logistic_digits");
    let (trace, plan, tiled) = trace_of(&model, 6);
    assert_eq!(model.layers.len(), 3);
    assert_eq!(tiled.commitments[plan.len()], activation_commitment(plan.len(), trace.output(), 32));
    for t in 0..plan.len() {
        assert!(satisfied(circuit(&model, &plan, &tiled, &trace, t)), "tile {t} of {}", plan.len());
    }
}

#[test]
fn exporter_patterns_are_satisfied_tile_by_tile() {
    // Gelu in piecewise-linear form, a reflect pad, a dilated and a depthwise convolution, and a
    // 1-D CNN over two series with its batch norm, max pool and global average pool (lowered, the
    // units ordered for tiles): every tile satisfied, the trace ending at the engine's output
    // commitment. And five nets with shortcuts (a residual MLP of two blocks, a ResNet basic
    // block with its batch norms, a downsampling one with its projection shortcut, a Wide & Deep
    // net, its shortcut from the input, a DenseNet-style block that concatenates its input and
    // output, and a tabular ResNet's stream with no activation between blocks), their shortcuts
    // carried through the blocks' layers. And two PyTorch exports that upsample: a
    // U-Net's skip connection over a ConvTranspose, and a bilinear Resize; and an Inception
    // block's two towers, imported one after the other.
    let gelu = crate::tables::corpus_model_ordered("gelu_mlp");
    let depthwise = crate::tables::corpus_model_ordered("pad_dilated_depthwise");
    let series = crate::tables::corpus_model_ordered("conv1d_series");
    let residual = crate::tables::corpus_model_ordered("residual_mlp");
    let resnet = crate::tables::corpus_model_ordered("resnet_block_cnn");
    let downsample = crate::tables::corpus_model_ordered("resnet_downsample_cnn");
    let wide_deep = crate::tables::corpus_model_ordered("wide_deep");
    let dense_block = crate::tables::corpus_model_ordered("dense_block_cnn");
    let tabular = crate::tables::corpus_model_ordered("tabular_resnet");
    let unet = crate::tables::corpus_model_ordered("torch_unet");
    let bilinear = crate::tables::corpus_model_ordered("torch_upsample_bilinear");
    let inception = crate::tables::corpus_model_ordered("torch_inception");
    let nets = [
        (gelu, 1),
        (depthwise, 1),
        (series, 1),
        (residual, 1),
        (resnet, 7),
        (downsample, 3),
        (wide_deep, 1),
        (dense_block, 3),
        (tabular, 1),
        (unet, 9),
        (bilinear, 9),
        (inception, 9),
    ];
    for (model, every) in nets {
        let (trace, plan, tiled) = trace_of(&model, 5);
        assert_eq!(tiled.commitments[plan.len()], activation_commitment(plan.len(), trace.output(), 32));
        // The CNNs' tens of tiles: a sample, and the last.
        for t in (0..plan.len()).filter(|t| t % every == 0 || *t == plan.len() - 1) {
            assert!(satisfied(circuit(&model, &plan, &tiled, &trace, t)), "{}: tile {t} of {}", model.name, plan.len());
        }
    }
}

#[test]
fn a_weight_outside_a_kernels_window_is_unsatisfied() {
    // The LeNet's first convolution (5×5, stride 2) lowered to a dense layer: a row reads 25 of
    // the 784 inputs. A tile of its middle claims its committed weights; a nonzero weight where the
    // kernel's window has none (a padding value of the lowered matrix) fails the tile commitment.
    let model = shipped("digits_lenet");
    let (trace, plan, tiled) = trace_of(&model, 4);
    let middle = plan.tiles.iter().filter(|s| s.layer == 0).nth(plan.tiles.iter().filter(|s| s.layer == 0).count() / 2);
    let t = middle.unwrap().index;
    let honest = circuit(&model, &plan, &tiled, &trace, t);
    let zeros = tile_params(&model, &plan.tiles[t]).weights.iter().filter(|w| **w == 0).count();
    assert!(zeros > 0, "a convolution's tile has weights outside the kernel's window");
    assert!(satisfied(honest.clone()));
    let edited = honest.with_witness(|p, _, _| {
        let k = p.weights.iter().position(|w| *w == 0).unwrap();
        p.weights[k] = 1;
    });
    assert!(!satisfied(edited), "a nonzero weight outside the kernel's window");
}

/// A change of a tile circuit's witness: its parameters, the state it opens, its input block.
type Edit = Box<dyn Fn(&mut TileParams, &mut TileState, &mut [i32; 31])>;

#[test]
fn false_claims_and_wrong_witnesses_are_unsatisfied() {
    let model = synthetic_mlp(&[40, 33, 10], 2);
    let (trace, plan, tiled) = trace_of(&model, 9);
    let ts = tile_commitments(&model, &plan);
    let z = &tiled.commitments;
    let at = |t: usize| circuit(&model, &plan, &tiled, &trace, t);
    // Tiles: the 33 rows are a row block's two halves (16 and 15 rows) and a half of 2 rows,
    // each × 2 column blocks, then the 10 outputs × 2. Tile 1 ends a half, tile 2 starts one;
    // tile 5 ends the layer.
    for t in [1, 2, 5] {
        let honest = *at(t).io();
        assert!(satisfied(at(t)));
        // The challenge is the transcript's: any value outside the table is as good.
        assert!(satisfied(at(t).with_io([Fr::from(1u64 << 40), honest[1], honest[2], honest[3]])));
        let claims = [
            ("another tile's commitment", [honest[0], honest[1], honest[2], ts[t + 1]]),
            ("a skipped tile", [honest[0], z[t - 1], honest[2], honest[3]]),
            ("a repeated tile", [honest[0], honest[1], honest[1], honest[3]]),
            ("the next tile's output", [honest[0], honest[1], z[t + 2], honest[3]]),
        ];
        for (what, io) in claims {
            assert!(!satisfied(at(t).with_io(io)), "tile {t}: {what}");
        }
        // The position is a witness that T_t binds (the verifier takes T_t at position t).
        assert!(!satisfied(at(t).with_position(t + 1)), "tile {t}: another position");
        // So are the sponges' tags: a byte of the packed element's, and the one in the last digit.
        for k in [0, 17, 30, 31] {
            assert!(!satisfied(at(t).with_tag_bytes(|b| b[k] ^= 1)), "tile {t}: tag byte {k}");
        }
        let witnesses: [(&str, Edit); 5] = [
            ("a wrong weight", Box::new(|p: &mut TileParams, _: &mut _, _: &mut _| p.weights[3] ^= 1)),
            ("a wrong bias", Box::new(|p: &mut TileParams, _: &mut _, _: &mut _| p.bias[0] += 1)),
            ("a wrong multiplier", Box::new(|p: &mut TileParams, _: &mut _, _: &mut _| p.multipliers[1] += 1)),
            ("a wrong partial accumulator", Box::new(|_: &mut _, s: &mut TileState, _: &mut _| s.acc[2] += 1)),
            ("a wrong input value", Box::new(|_: &mut _, _: &mut _, c: &mut [i32; 31]| c[4] = -c[4] - 1)),
        ];
        for (what, edit) in witnesses {
            assert!(!satisfied(at(t).with_witness(|p, s, c| edit(p, s, c))), "tile {t}: {what}");
        }
    }
    // A wrong padding value: the 40-wide input's second column block has 9 values, then padding.
    assert_eq!(plan.tiles[1].col_block, 1);
    let padded = at(1).with_witness(|_, _, c| c[20] = 0);
    assert!(!satisfied(padded), "a padding value other than -128");
}

#[test]
fn tiles_that_do_not_permute_a_sponge_repeat_its_permutations_values() {
    // A dense layer of ten column blocks: a half's first tile reads lane 4 of the input sponge,
    // its fourth lane 7 and permutes; the output sponge permutes only after a row block.
    let model = synthetic_mlp(&[310, 20, 10], 3);
    let (trace, plan, tiled) = trace_of(&model, 1);
    let witness = |t: usize| assignment(&circuit(&model, &plan, &tiled, &trace, t)).0;
    // The runs of at least 256 equal values at the same positions, as the prover commits them
    // once (`challenged::Repeats`), with their lengths.
    let runs = |a: &[Fr], b: &[Fr]| -> Vec<usize> {
        let mut runs = Vec::new();
        let mut k = 0;
        while k < a.len() {
            let start = k;
            while k < a.len() && a[k] == b[k] && a[k] != Fr::ZERO {
                k += 1;
            }
            if k - start >= 256 {
                runs.push(k - start);
            }
            k += 1;
        }
        runs
    };
    let (one, two, three) = (witness(1), witness(2), witness(3));
    assert_eq!(one.len(), two.len());
    // Tiles 1 and 2 permute neither sponge: both permutations (405 variables each with their
    // gates, the gates zero) hold the permutation of zeros at both tiles.
    let both = runs(&one, &two);
    assert_eq!(both.len(), 2, "{both:?}");
    assert!(both.iter().all(|r| *r >= 380), "{both:?}");
    // Tile 3 permutes the input sponge: only the output sponge's permutation repeats.
    let read = runs(&two, &three);
    assert_eq!(read.len(), 1, "{read:?}");
}

#[test]
fn the_tile_shape_is_the_same_for_every_model_and_pinned() {
    let mut sizes = Vec::new();
    for model in [synthetic_mlp(&[40, 33, 10], 1), shipped("digits")] {
        let (trace, plan, tiled) = trace_of(&model, 1);
        sizes.push(shape_size_of(&circuit(&model, &plan, &tiled, &trace, plan.len() - 1)).unwrap());
        sizes.push(shape_size_of(&circuit(&model, &plan, &tiled, &trace, 0)).unwrap());
    }
    assert!(sizes.windows(2).all(|w| w[0] == w[1]), "{sizes:?}");
    println!("tile shape (constraints, variables, nonzeros): {:?}", sizes[0]);
    assert!(sizes[0].2 <= 1 << 16, "MicroSpartan's N would double: {sizes:?}");
    assert_eq!(sizes[0], (5964, 7358, 59093), "pinned: raise TILE_CIRCUIT_VERSION when the shape changes");
}

#[test]
fn a_sparse_layer_reads_its_zero_blocks_without_products() {
    // The LeNet's lowered convolutions: a tile reads the all-zero column blocks before and after
    // its own, within the input sponge's rate block; each row block still reads every column
    // block once, in order. A dense model's tiles are its blocks.
    let dense = synthetic_mlp(&[100, 70, 40, 12], 7);
    assert!(TilePlan::new(&dense).unwrap().tiles.iter().all(|s| s.span == 1 && s.lead == 0));
    let model = shipped("digits_lenet");
    let plan = TilePlan::new(&model).unwrap();
    let blocks: usize = model.layers.iter().map(|l| l.out_dim.div_ceil(31) * l.in_dim.div_ceil(31)).sum();
    eprintln!("digits_lenet: {} tiles for {blocks} blocks", plan.len());
    assert_eq!((blocks, plan.len()), (601, 415));
    assert!(plan.tiles.iter().any(|s| s.lead > 0), "some tile reads zero blocks before its own");
    let mut next = 0;
    for spec in &plan.tiles {
        assert_eq!(spec.col_block - spec.lead, next, "tile {}: column blocks in order, each once", spec.index);
        assert!(spec.span >= 1 && spec.read_slot() + spec.span <= 8, "tile {}: within a rate block", spec.index);
        assert!(spec.lead <= spec.read_slot(), "tile {}: within a rate block", spec.index);
        let layer = &model.layers[spec.layer];
        let read = |b: usize| (31 * b).min(layer.in_dim)..(31 * (b + 1)).min(layer.in_dim);
        for o in spec.first_row()..spec.first_row() + spec.valid_rows() {
            for b in (spec.col_block - spec.lead..spec.col_block + spec.span).filter(|b| *b != spec.col_block) {
                assert!(
                    layer.row(o)[read(b)].iter().all(|w| *w == 0),
                    "tile {}: a read block has a weight",
                    spec.index
                );
            }
        }
        next = if spec.last_col() { 0 } else { spec.col_block + spec.span };
    }
}

/// The name of the first unsatisfied constraint of `c`, if any.
fn unsatisfied(c: TileCircuit) -> Option<String> {
    let mut cs = TestConstraintSystem::<Fr>::new();
    c.synthesize(&mut cs).unwrap();
    cs.which_is_unsatisfied().map(String::from)
}

#[test]
fn the_lanes_a_tile_reads_are_bound() {
    // The LeNet's tiles read zero blocks before and after their own. Each way of claiming other
    // lanes, under a tile commitment recomputed for them, fails the constraint named, on the
    // first tile where it applies.
    let model = shipped("digits_lenet");
    let (trace, plan, tiled) = trace_of(&model, 6);
    // (what, whether it applies to a tile, its lanes, the constraint).
    type Variant = (&'static str, fn(&TileSpec) -> bool, fn(&TileSpec) -> [bool; 8], &'static str);
    let variants: [Variant; 5] = [
        (
            "the slot not read",
            |s| s.lead + s.span >= 2,
            |s| {
                let mut l = s.read_lanes();
                l[s.read_slot()] = false;
                l
            },
            "the slot is read",
        ),
        (
            "a gap",
            |s| s.span >= 3,
            |s| {
                let mut l = s.read_lanes();
                l[s.read_slot() + 1] = false;
                l
            },
            "one run of lanes",
        ),
        (
            "a lane before the next one",
            |s| s.read_start() > 0,
            |s| {
                let mut l = s.read_lanes();
                l[s.read_start() - 1] = true;
                l
            },
            "the run starts at the next lane",
        ),
        (
            "the next lane skipped",
            |s| s.lead >= 1,
            |s| {
                let mut l = s.read_lanes();
                l[s.read_start()] = false;
                l
            },
            "the run starts at the next lane",
        ),
        (
            "no permutation at the block's end",
            |s| s.read_slot() + s.span == 8 && s.span >= 2 && !s.last_col(),
            |s| {
                let mut l = s.read_lanes();
                l[7] = false;
                l
            },
            "the read permutes at a block's end",
        ),
    ];
    for (what, applies, lanes, constraint) in variants {
        let spec = plan.tiles.iter().find(|s| applies(s)).unwrap_or_else(|| panic!("no tile for {what}"));
        let t = spec.index;
        let at = || circuit(&model, &plan, &tiled, &trace, t);
        assert_eq!(unsatisfied(at()), None);
        let found = unsatisfied(at().with_lanes(lanes(spec))).unwrap_or_else(|| panic!("tile {t}: {what} satisfied"));
        assert!(found.contains(constraint), "tile {t}, {what}: {found}");
        // The honest lanes under a recomputed commitment are satisfied (the hook changes nothing else).
        assert_eq!(unsatisfied(at().with_lanes(spec.read_lanes())), None);
    }
    // Another element in a read lane after the slot: the sponge state, or x, no longer opens.
    for closing in [false, true] {
        let spec = plan.tiles.iter().find(|s| s.span >= 2 && s.last_col() == closing).unwrap();
        let wrong =
            circuit(&model, &plan, &tiled, &trace, spec.index).with_read(|e| e[spec.read_slot() + 1] += Fr::ONE);
        let found = unsatisfied(wrong).expect("a wrong read element");
        assert!(found.contains(if closing { "the input read is x" } else { "z_out" }), "tile {}: {found}", spec.index);
    }
}

#[test]
fn a_row_block_reads_each_lane_of_its_input_once_in_order() {
    // Tile commitments a private model's owner could choose, each well formed alone, chained
    // from the honest states of a dense 200-input layer (row block 0: column blocks 0..7 on lanes
    // 4, 5, 6, 7, then 0, 1, 2). None can be proven: each would leave the element a tile
    // multiplies free, or skip the layer input's check.
    let model = synthetic_mlp(&[200, 33, 10], 3);
    let (trace, plan, tiled) = trace_of(&model, 2);
    let input = &trace.steps[0];
    let build = |spec: &TileSpec, state: &TileState| {
        TileCircuit::new(&model, spec, tile_params(&model, spec), Fr::ZERO, state, input, Fr::ZERO)
    };
    let state = |t: usize| tiled.states[t].clone();
    assert_eq!((state(1).open, state(1).next, state(7).open), (true, 5, false));
    // Two tiles reading lane 5: tile 0 also reads block 1, then tile 1 reads it again (the two
    // elements would only have to sum to the input's).
    let mut wide = plan.tiles[0].clone();
    wide.span = 2;
    let after = apply(&model, &wide, &tile_params(&model, &wide), &state(0), input, Fr::ZERO).state;
    assert_eq!(after.next, 6);
    assert_eq!(unsatisfied(build(&wide, &state(0))), None, "the wider tile alone is well formed");
    let again = &plan.tiles[1];
    let found = unsatisfied(build(again, &after)).expect("lane 5 read twice");
    assert!(found.contains("the run starts at the next lane"), "{found}");
    // ... with the position it would need, the state no longer opens z_in.
    let mut forged = after.clone();
    forged.next = 5;
    let c = build(again, &forged);
    let io = *c.io();
    let found = unsatisfied(c.with_io([io[0], after.commitment(), io[2], io[3]])).expect("a forged position");
    assert!(found.contains("z_in opens"), "{found}");
    // A sponge restarted midway (tile 2 claims the row block's start, reading blocks 0..3 again).
    let mut restart = plan.tiles[2].clone();
    restart.lead = 2;
    assert!(restart.first_col());
    let found = unsatisfied(build(&restart, &state(2))).expect("a restart midway");
    assert!(found.contains("a row block starts when none is open"), "{found}");
    // The model's first tile must start a row block, and a layer.
    let mut inner = plan.tiles[1].clone();
    inner.index = 0;
    let found = unsatisfied(build(&inner, &state(0))).expect("a first tile inside a row block");
    assert!(found.contains("a row block starts when none is open"), "{found}");
    let mut second_row_block = plan.tiles[7].clone();
    assert!(second_row_block.first_col() && !second_row_block.layer_start());
    second_row_block.index = 0;
    let found = unsatisfied(build(&second_row_block, &state(0))).expect("a first tile in a second row block");
    assert!(found.contains("the first tile starts a layer"), "{found}");
}

#[test]
fn a_half_writes_only_its_own_digits() {
    // A row block's two halves add their digits to one packed element: the lower half rows 0..16
    // (digits 0..16), the upper half rows 16..31 (digits 16..31). An upper half claiming 16 rows
    // would reach past the element's 31 digits, and the last layer's upper half past its 28
    // int32 outputs (7 an element, 4 elements): each is unsatisfied at its own constraint.
    let model = synthetic_mlp(&[40, 31, 28], 5);
    let (trace, plan, tiled) = trace_of(&model, 7);
    let at = |t: usize| circuit(&model, &plan, &tiled, &trace, t);
    let upper = |layer: usize| plan.tiles.iter().find(|s| s.layer == layer && s.half == 1 && s.last_col()).unwrap();
    let (hidden, last) = (upper(0).index, upper(1).index);
    assert_eq!((plan.tiles[hidden].valid_rows(), plan.tiles[last].valid_rows()), (15, 12));
    assert!(satisfied(at(hidden)) && satisfied(at(last)));
    let found = unsatisfied(at(hidden).with_valid_rows(16)).expect("16 rows in an upper half");
    assert!(found.contains("an upper half has at most 15 rows"), "{found}");
    let found = unsatisfied(at(last).with_valid_rows(13)).expect("29 outputs");
    assert!(found.contains("the last layer has at most 28 rows"), "{found}");
    // The halves' digits are the row block's: the output sponge after the upper half holds the
    // element the engine packs, so the layer ends at the engine's output commitment.
    let zs = model.step_commitments(&trace);
    let end = plan.tiles.iter().find(|s| s.layer == 0 && s.layer_end()).unwrap().index;
    assert_eq!(tiled.states[end + 1].x, zs[1].to_field().unwrap());
    // The upper half's digits are the lower half's shifted by 16 digits (2^128), the last layer's
    // by 16 int32 digits across its elements.
    let outs: [i64; 16] = std::array::from_fn(|r| r as i64 * 7 - 50);
    let digits = |rows: std::ops::Range<usize>, at: u64| {
        rows.map(|r| Fr::from((outs[r] + 128) as u64) * Fr::from(2u64).pow_vartime([8 * (at + r as u64)])).sum::<Fr>()
    };
    let mut moved = plan.tiles[1].clone();
    assert_eq!(written_elements(&moved, &outs)[0], digits(0..16, 0));
    moved.half = 1;
    assert_eq!(written_elements(&moved, &outs)[0], digits(0..15, 16));
    let last_lower = written_elements(&plan.tiles[last - 1].clone(), &outs);
    assert_eq!(plan.tiles[last - 1].half, 0);
    let last_upper = written_elements(&plan.tiles[last], &outs);
    // Rows 0..16 fill elements 0, 1 and digits 0, 1 of element 2; rows 16..28 the rest.
    assert!(last_lower[3] == Fr::ZERO && last_upper[0] == Fr::ZERO && last_upper[1] == Fr::ZERO);
    assert!(last_lower[2] != Fr::ZERO && last_upper[2] != Fr::ZERO);
}

#[test]
fn models_that_cannot_be_tiled_are_refused_by_name() {
    let wide = synthetic_mlp(&[8, 40], 1);
    let e = TilePlan::new(&wide).unwrap_err().to_string();
    assert!(e.contains("40 outputs"), "{e}");
    let mut low = synthetic_mlp(&[8, 8, 4], 1);
    low.layers[0].requant.as_mut().unwrap().shift = 12;
    let e = TilePlan::new(&low).unwrap_err().to_string();
    assert!(e.contains("shift 12"), "{e}");
}

/// The tile keys under the insecure test source, set up once for the test binary.
fn tile_keys() -> &'static verdict_circuits::tiled::TileKeys {
    static KEYS: std::sync::OnceLock<verdict_circuits::tiled::TileKeys> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        verdict_circuits::tiled::TileKeys::load_or_setup(&verdict_circuits::folding::KeySource::InsecureTest, None)
            .unwrap()
            .0
    })
}

#[test]
fn a_hinge_tile_of_a_smooth_model_is_proven_and_verified() {
    // The tanh MLP in piecewise-linear form: a tile of its first layer of hinges (the ReLU
    // layer that stands for tanh), proven alone as a one-step dispute would be.
    use verdict_circuits::{prover::RequestId, tiled::TiledModel};
    let tiled = TiledModel::new(crate::piecewise::piecewise_corpus_model("mlp_tanh_digits")).unwrap();
    let run = tiled.run(&sample_input(tiled.model(), 8)).unwrap();
    let t = tiled.plan().tiles.iter().position(|s| s.layer == 1).unwrap() + 1;
    let keys = tile_keys();
    let (proof, _) = tiled.prove(keys, RequestId::from_u64(9), &run, t..t + 1, |_| {}).unwrap();
    tiled.verify(keys.verifier(), &proof).unwrap();
    let mut other = proof.clone();
    other.steps[1] = other.steps[0];
    assert!(tiled.verify(keys.verifier(), &other).is_err(), "a claimed step output that is not the tile's");
}

#[test]
fn tiled_segment_proofs_verify_and_every_false_claim_is_rejected() {
    use verdict_circuits::{prover::RequestId, tiled::TiledModel, Commitment};
    let tiled = TiledModel::new(shipped("price_feed")).unwrap();
    let model = tiled.model().clone();
    let run = tiled.run(&sample_input(&model, 4)).unwrap();
    let keys = tile_keys();
    // Tiles 1..4 of price_feed: the end of layer 0 and layer 1's first row block.
    let (proof, _) = tiled.prove(keys, RequestId::from_u64(7), &run, 1..4, |_| {}).unwrap();
    assert_eq!(proof.steps.len(), 4);
    tiled.verify(keys.verifier(), &proof).unwrap();

    let rejected = |what: &str, edit: &dyn Fn(&mut verdict_circuits::prover::SegmentProof)| {
        let mut p = proof.clone();
        edit(&mut p);
        assert!(tiled.verify(keys.verifier(), &p).is_err(), "{what} was accepted");
    };
    let z = |t: usize| Commitment::from_field(run.tiled.commitments[t]);
    rejected("another request", &|p| p.request_id = RequestId::from_u64(8));
    rejected("the segment moved by one tile", &|p| (p.from, p.to) = (2, 5));
    rejected("a wrong partial output", &|p| p.steps[2] = z(4));
    rejected("a skipped tile", &|p| p.steps = vec![z(0), z(2), z(3), z(4)]);
    rejected("a repeated tile", &|p| p.steps = vec![z(1), z(1), z(3), z(4)]);
    rejected("a tampered proof", &|p| {
        let n = p.proof.len();
        p.proof[n / 2] ^= 1;
    });
    rejected("another model", &|p| p.model = shipped("digits").commitment());
    // The tile data after the folding proof: T_1, T_2, T_3, then the range proof's siblings.
    let depth = (tiled.steps() + 1).next_power_of_two().trailing_zeros() as usize;
    let siblings = verdict_circuits::range_proof_len(2, 4, depth);
    assert!(siblings > 0);
    let trailer = proof.proof.len() - 32 * (3 + siblings);
    rejected("a wrong sibling in the tiles' range proof", &|p| p.proof[trailer + 3 * 32 + 8] ^= 1);
    rejected("another tile's commitment", &|p| {
        let t3 = Commitment::from_field(tiled.tile_commitments()[3]).0;
        p.proof[trailer + 32..trailer + 64].copy_from_slice(&t3);
    });
    rejected("a truncated range proof", &|p| {
        p.proof.truncate(p.proof.len() - 32);
    });
    // A model that differs in one weight of tile 2 (layer 1, row 0) has another commitment and
    // another T_2: the proof fails against it.
    let mut other = model.clone();
    other.layers[1].weights[5] = if other.layers[1].weights[5] == 3 { 4 } else { 3 };
    let other = TiledModel::new(other).unwrap();
    let mut p = proof.clone();
    p.model = other.commitment();
    assert!(other.verify(keys.verifier(), &p).is_err(), "a proof checked against another tile's weights");
}

#[test]
fn private_tiles_are_blinded_and_proofs_check_against_the_blinded_commitments_only() {
    use verdict_circuits::{
        prover::RequestId,
        step::Blinding,
        tiled::{verify_tiled, TiledModel},
    };
    let model = shipped("tictactoe");
    let blinding = Blinding::random(&model);
    let private = TiledModel::private(model.clone(), &blinding).unwrap();
    let public = TiledModel::new(model.clone()).unwrap();
    // Every tile commitment differs from the public one (the blinding hides the weights).
    assert!(private.tile_commitments().iter().zip(public.tile_commitments()).all(|(a, b)| a != b));
    let blinded = blinding.model_commitment(&model).unwrap();
    assert_eq!(private.commitment(), verdict_circuits::tiled::tiled_commitment(blinded, private.tile_commitments()));
    let run = private.run(&sample_input(&model, 1)).unwrap();
    let keys = tile_keys();
    let last = private.steps() - 1;
    let (proof, _) = private.prove(keys, RequestId::from_u64(3), &run, last..last + 1, |_| {}).unwrap();
    assert_eq!(proof.mode, "tiled-private");
    // A verifier with only the registered commitment accepts it; against the public model's
    // or another blinding's commitment it is rejected.
    let steps = private.steps();
    verify_tiled(keys.verifier(), private.commitment(), steps, &proof).unwrap();
    assert!(verify_tiled(keys.verifier(), public.commitment(), steps, &proof).is_err());
    let other = TiledModel::private(model, &Blinding::random(&shipped("tictactoe"))).unwrap();
    assert!(verify_tiled(keys.verifier(), other.commitment(), steps, &proof).is_err());
}

#[test]
fn a_private_models_tile_count_depends_on_its_dimensions_only() {
    // Public: the LeNet's tiles read its zero blocks (415 tiles). Private: one block a tile (1176
    // half blocks of 16 or 15 rows), so the registered tile count says nothing of where the hidden
    // weights are zero; the private tiled trace still ends at the output commitment as step 1176.
    use verdict_circuits::{step::Blinding, tiled::TiledModel};
    let model = shipped("digits_lenet");
    let private = TiledModel::private(model.clone(), &Blinding::random(&model)).unwrap();
    assert_eq!((TiledModel::new(model.clone()).unwrap().steps(), private.steps()), (415, 1176));
    assert!(private.plan().tiles.iter().all(|s| s.span == 1 && s.lead == 0));
    let run = private.run(&sample_input(&model, 2)).unwrap();
    let z_l = activation_commitment(1176, run.trace.output(), 32);
    assert_eq!(run.tiled.commitments[1176], z_l);
}

#[test]
fn a_private_inputs_salt_opens_z0_in_the_first_layer_only() {
    use verdict_circuits::{prover::RequestId, salted_input_commitment, tiled::TiledModel};
    let model = shipped("tictactoe");
    let tiled = TiledModel::new(model.clone()).unwrap();
    let input = sample_input(&model, 2);
    let salt = Fr::from(0x5a17_u64);
    let run = tiled.run_salted(&input, salt).unwrap();
    let trace = &run.trace;
    assert_eq!(run.tiled.commitments[0], salted_input_commitment(&trace.steps[0], salt));
    assert_ne!(run.tiled.commitments[0], tiled.run(&input).unwrap().tiled.commitments[0]);
    let plan = TilePlan::new(&model).unwrap();
    let at = |t: usize, salt: Fr| {
        let spec = &plan.tiles[t];
        let params = tile_params(&model, spec);
        TileCircuit::new(&model, spec, params, Fr::ZERO, &run.tiled.states[t], &trace.steps[spec.layer], salt)
    };
    // tictactoe: layer 0 is 9 -> 64 (3 row blocks of one column each), layer 1 is 64 -> 9.
    for t in 0..plan.len() {
        assert!(satisfied(at(t, salt)), "tile {t}");
    }
    // Another salt does not open z_0 (each of layer 0's row blocks checks it); a salt in a
    // later layer is refused.
    assert!(!satisfied(at(0, salt + Fr::ONE)), "another salt at tile 0");
    assert!(!satisfied(at(2, Fr::ZERO)), "no salt at layer 0's last row block");
    let later = plan.tiles.iter().position(|s| s.layer == 1).unwrap();
    assert!(!satisfied(at(later, Fr::ZERO).with_salt(salt)), "a salt in layer 1");
    // And a salted proof verifies.
    let (proof, _) = tiled.prove(tile_keys(), RequestId::from_u64(2), &run, 0..1, |_| {}).unwrap();
    tiled.verify(tile_keys().verifier(), &proof).unwrap();
}

#[test]
fn a_tree_ensemble_tiles_exactly_with_its_steps_as_clamps() {
    // The shipped credit_gbdt (40 trees): by table it is refused by tiles; with its comparisons
    // and path tests as clamps (outputs 0 or 127 where a step gave 0 or 1) it computes, on every
    // calibration row, int32 outputs exactly 127 times the original's, read through scales 127
    // times as fine: the same real outputs and classes. One path test of it always fires and one
    // never (a bias far beyond the row's reach, as a tree of one leaf has): the same too. Every
    // tile is satisfied, the trace ends at the engine's output commitment, and a tile of the
    // path tests is proven and verified.
    use verdict_circuits::{prover::RequestId, tiled::TiledModel, tiles::steps_as_clamps, Calibration};
    let mut model = shipped("credit_gbdt");
    let err = TiledModel::new(model.clone()).err().unwrap().to_string();
    assert!(err.contains("a tree's comparison by table"), "{err}");
    let n = model.layers[1].in_dim;
    for (row, bias) in [(0, 1 << 29), (1, -(1 << 29))] {
        model.layers[1].weights[row * n..(row + 1) * n].fill(0);
        model.layers[1].bias[row] = bias;
    }
    model.validate().unwrap();
    let clamps = steps_as_clamps(&model).unwrap();
    assert!(clamps.layers.iter().all(|l| l.table.is_none()));
    let rows = Calibration::load(crate::models_dir().join("credit_gbdt.calibration.csv"), model.input.len).unwrap();
    let mut classes = [0usize; 2];
    for x in &rows.rows {
        let x = model.quantize_input(x).unwrap();
        let (a, b) = (model.run(&x).unwrap(), clamps.run(&x).unwrap());
        let scaled: Vec<i64> = a.output().iter().map(|v| i64::from(*v) * 127).collect();
        assert_eq!(b.output().iter().map(|v| i64::from(*v)).collect::<Vec<_>>(), scaled);
        for i in 0..a.output().len() {
            let real = f64::from(a.output()[i]) * model.output.scales[i];
            assert!((f64::from(b.output()[i]) * clamps.output.scales[i] - real).abs() <= 1e-9 * (1.0 + real.abs()));
        }
        assert_eq!(model.predict(a.output()), clamps.predict(b.output()));
        classes[usize::from(a.output()[1] > a.output()[0])] += 1;
        assert_eq!(b.steps[2][0], 127, "the path test that always fires");
        assert_eq!(b.steps[2][1], 0, "the path test that never fires");
    }
    assert!(classes.iter().all(|c| *c > 0), "both classes occur: {classes:?}");
    let (trace, plan, tiled) = trace_of(&clamps, 4);
    assert_eq!(tiled.commitments[plan.len()], activation_commitment(plan.len(), trace.output(), 32));
    for t in 0..plan.len() {
        assert!(satisfied(circuit(&clamps, &plan, &tiled, &trace, t)), "tile {t} of {}", plan.len());
    }
    let tiled = TiledModel::new(clamps).unwrap();
    let run = tiled.run(&sample_input(tiled.model(), 5)).unwrap();
    let t = tiled.plan().tiles.iter().position(|s| s.layer == 1).unwrap() + 2;
    let keys = tile_keys();
    let (proof, _) = tiled.prove(keys, RequestId::from_u64(12), &run, t..t + 1, |_| {}).unwrap();
    tiled.verify(keys.verifier(), &proof).unwrap();
    // Private: its weights (thresholds, paths, leaf values) blinded, one block a tile, and a tile
    // proven against the blinded commitment only.
    let clamps = tiled.model().clone();
    let private = TiledModel::private(clamps.clone(), &verdict_circuits::step::Blinding::random(&clamps)).unwrap();
    eprintln!("credit_gbdt by tiles: {} public, {} private", tiled.steps(), private.steps());
    let run = private.run(&sample_input(&clamps, 6)).unwrap();
    let (proof, _) = private.prove(keys, RequestId::from_u64(13), &run, t..t + 1, |_| {}).unwrap();
    verdict_circuits::tiled::verify_tiled(keys.verifier(), private.commitment(), private.steps(), &proof).unwrap();
    assert!(
        verdict_circuits::tiled::verify_tiled(keys.verifier(), tiled.commitment(), private.steps(), &proof).is_err()
    );
    // A table of a function that has no exact clamp form is refused by name.
    let sigmoid = crate::tables::corpus_model("sigmoid_mlp");
    let err = steps_as_clamps(&sigmoid).err().unwrap().to_string();
    assert!(err.contains("Sigmoid by table has no exact form in clamps"), "{err}");
}

#[test]
fn an_svms_votes_and_merged_ensembles_tile_exactly_with_their_steps_as_clamps() {
    // A three-class linear SVM (its pairwise decisions under a step, then the votes), a bagged
    // and a voting ensemble of trees (their members merged into one ensemble at import): with
    // their steps as clamps, every calibration row's int32 outputs are exactly 127 times the
    // model's and its real outputs the same; every tile of each is satisfied, and the trace ends
    // at the engine's output commitment.
    use verdict_circuits::{tiles::steps_as_clamps, Calibration};
    for name in ["svc_linear_scaled_wine", "bagging_trees_iris", "voting_trees_diabetes"] {
        let model = crate::tables::corpus_model_ordered(name);
        assert!(model.layers.iter().any(|l| l.table.is_some()), "{name}: a step layer");
        let clamps = steps_as_clamps(&model).unwrap();
        let dir = crate::models_dir().join("corpus");
        let rows = Calibration::load(dir.join(format!("{name}.calibration.csv")), model.input.len).unwrap();
        for x in &rows.rows {
            let x = model.quantize_input(x).unwrap();
            let (a, b) = (model.run(&x).unwrap(), clamps.run(&x).unwrap());
            let scaled: Vec<i64> = a.output().iter().map(|v| i64::from(*v) * 127).collect();
            assert_eq!(b.output().iter().map(|v| i64::from(*v)).collect::<Vec<_>>(), scaled, "{name}");
            for i in 0..a.output().len() {
                let real = f64::from(a.output()[i]) * model.output.scales[i];
                let got = f64::from(b.output()[i]) * clamps.output.scales[i];
                assert!((got - real).abs() <= 1e-9 * (1.0 + real.abs()), "{name}: {got} against {real}");
            }
        }
        let (trace, plan, tiled) = trace_of(&clamps, 3);
        assert_eq!(tiled.commitments[plan.len()], activation_commitment(plan.len(), trace.output(), 32), "{name}");
        for t in 0..plan.len() {
            assert!(satisfied(circuit(&clamps, &plan, &tiled, &trace, t)), "{name}: tile {t} of {}", plan.len());
        }
        eprintln!("{name}: {} tiles", plan.len());
    }
}
