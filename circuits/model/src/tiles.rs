//! Tiles: a model's inference cut into fixed-size steps, so that a disputed step costs the same
//! whatever the model's size.
//!
//! A dense layer `W · x + b` (`W` is `m × n`) is cut into row blocks of [`BLOCK_ROWS`] (31)
//! output rows, the int8 values of one packed element of its output, and each row block into a
//! lower half (rows `0..16`) and an upper half (rows `16..31`) of at most [`TILE_ROWS`] rows; a
//! tile is a half by [`TILE_COLS`] input columns (one packed element of the input), zero-padded at
//! the edges. The trace visits a layer's tiles half by half, each half column by column, and the
//! layers in order: tile `t` of the trace adds its block's products to the half's partial
//! accumulators; the half's last column tile adds the bias, applies ReLU and requantization (or
//! keeps the int32 accumulators of the last layer) and adds the half's outputs, as digits at their
//! offsets, to the row block's packed element in the output sponge: the sponge adds what it
//! absorbs before it permutes, so the two halves' digits (16 and 15 of them, at disjoint offsets)
//! add up to the element ([`written_elements`]), which the sponge permutes after the upper half.
//! A half is a tile step's unit of work because a 16-row tile keeps the step's shape under
//! MicroSpartan's N = 2^16 (its cost doubles past it); a 31-row tile does not fit.
//!
//! **Sparse layers.** A tile also reads, without products, the column blocks around its own whose
//! weights in its half are all zero, as long as they fall in the same rate block of the
//! input sponge (its **lead** before its own block and its **span** from it, [`TileSpec::lead`],
//! [`TileSpec::span`]): their packed elements go into the sponge's lanes around its own. A
//! lowered convolution reads a band of its input in each half (the kernel's window), so most of
//! its blocks are zero and its tiles are fewer (`digits_lenet`: 1,176 half blocks, 415 tiles,
//! with its units grouped by position at import,
//! [`crate::FloatModel::ordered_for_tiles`]); a dense layer's tiles are its blocks. A private
//! model is tiled one block a tile ([`TilePlan::dense`]), so that its tile count, which the
//! registry holds, does not show where its weights are zero.
//!
//! What a tile reads and writes is carried from step to step by the **tile state** (its
//! commitment is z_t, see [`TileState::commitment`]):
//! - `x`: the commitment of the layer's input (an activation commitment, `COMMITMENTS.md`);
//! - `read`: the Poseidon sponge state of re-hashing the layer's input, one packed element (31
//!   int8 values, one column block) a tile; the half's last tile checks that the sponge's
//!   output is `x`, so the columns a half read are the layer's input (a private input's
//!   salt, in the first layer's header, is witness of the first layer's tiles only);
//! - `write`: the sponge state of hashing the layer's output, one packed element (one row
//!   block) at a time; after the layer's last tile its output is the layer's output commitment,
//!   the next layer's `x`;
//! - `acc`: the half's partial accumulators;
//! - `open` and `next`: whether a half's input sponge is open, and its next lane to read (each half
//!   reads the layer's input once, as a row block did before revision 6).
//!   A tile's lanes must start at `next` (at lane 4, after the header, when no sponge is open,
//!   and only then may the tile start one), so every half reads each lane of its input
//!   exactly once, in order: a tile cannot restart a sponge midway or read a lane that another
//!   tile also reads, which would leave the element it multiplies free (a private model's tile
//!   commitments are the owner's to choose).
//!
//! The sponge is the commitment hash itself ([`crate::poseidon_hash`]: a width-9 Poseidon
//! sponge absorbing eight elements a permutation), so the activation commitments are exactly
//! the plain ones: z_0 is the input commitment and z_L the output commitment that the contracts
//! compute (z_L's header names step L, the tile count, as the registry's step count does).
//! Between them z_t is `W(x, read, write, pack(acc) with next + 8 · open in the last element)`,
//! 22 elements, where `W` is the wide hash ([`crate::wide_hash`], width 25: one permutation where the
//! commitment hash takes three), which also hashes a tile commitment's 24 elements: no
//! contract recomputes either.
//!
//! A tile's parameters (its weights, the row block's biases and multipliers) and its place in
//! the model (the flags of [`TileSpec`]) are bound by its **tile commitment**
//! ([`tile_commitment`]), which also binds the tile's position `t`: the step circuit of tile `t`
//! takes `[t, z_t, z_{t+1}, T_t]` as public IO, and the verifier checks `T_t` against the tile
//! commitments that the model commitment binds.

use std::sync::OnceLock;

use ff::{Field, PrimeField};

use crate::{
    commit::{pack, wide_hash, Fr},
    engine::{clamp_int8, requantize},
    model::{Activation, Layer, Model, Requant, TableFunction, INT8_MAX},
    poseidon_params::{poseidon_params, sponge_tag, PoseidonParams},
    Error, Result,
};

/// Output rows a row block: the int8 values of one packed element, so a row block writes one.
pub const BLOCK_ROWS: usize = 31;
/// Output rows a tile: a row block's lower half (its rows `0..16`) or upper half (`16..31`),
/// each tile of a half adding its half's digits to the row block's element (the sponge adds
/// what it absorbs, so the two halves' digits, at disjoint offsets, sum to the element).
pub const TILE_ROWS: usize = 16;
/// Input columns a tile: one packed element of the layer's input.
pub const TILE_COLS: usize = 31;
/// Weights a tile.
pub const TILE_WEIGHTS: usize = TILE_ROWS * TILE_COLS;
/// The last layer's int32 outputs fill at most four packed elements (7 each), all absorbed in
/// the output sponge's first block: so a tiled model has at most 28 outputs.
pub const MAX_TILED_OUTPUTS: usize = 28;
/// The smallest requantization shift a tile proves: quotients stay below 2^40 (the clamp's
/// comparisons are 41 bits), see [`crate::model::Requant`].
pub const MIN_TILED_SHIFT: u32 = 22;
/// The sponge's width (rate 8 + capacity 1).
pub const SPONGE_WIDTH: usize = 9;
/// Domain tag of a tile commitment.
pub const TAG_TILE: u64 = 4;
/// Bits of a tile's packed flag word (see [`TileSpec::flag_bits`]): below 2^120, where the
/// dimensions start.
pub const FLAG_BITS: usize = 10 + 8 + 8 + 62 + TILE_ROWS + 1 + 1;

/// A tree ensemble's step tables (its comparisons and path tests, [`TableFunction::Step`]) as the
/// ReLU layers that tiles prove, exactly. A step layer's `[acc ≥ 0]` becomes `127 · [acc + 1 ≥ 1]`:
/// its bias plus 1, every multiplier `127 · 2^22` at shift 22 (`q = 127 · (acc + 1)`, exactly) and
/// ReLU's clamp to [0, 127], so that it outputs 0 or 127 where it output 0 or 1. The layer after
/// it takes 127 times its bias: a step after it keeps its sign, and the last layer's int32 outputs
/// are 127 times the original's, read through output scales 127 times finer, so the real outputs
/// and the predicted class are the same. A table of another function has no exact clamp form and
/// is refused, as is a hidden layer of its own after a step (not a tree ensemble's form).
pub fn steps_as_clamps(model: &Model) -> Result<Model> {
    const SHIFT: u32 = MIN_TILED_SHIFT;
    let scale = i64::from(INT8_MAX);
    let mut out = model.clone();
    let last = out.layers.len() - 1;
    let mut after_step = false;
    // The last layer reads a step's 0 or 127: its outputs are read 127 times as finely.
    let mut finer_outputs = false;
    for (l, layer) in out.layers.iter_mut().enumerate() {
        let step = match &layer.table {
            None => false,
            Some(t) if t.function == TableFunction::Step => true,
            Some(t) => {
                return Err(Error::Model(format!(
                    "layer {l}: {} by table has no exact form in clamps (import it with --piecewise-linear)",
                    t.function.name()
                )))
            }
        };
        if after_step && !step && l != last {
            return Err(Error::Model(format!(
                "layer {l} follows a tree's step layer but is neither a step nor the output (not a tree ensemble)"
            )));
        }
        let times = if after_step { scale } else { 1 };
        let plus = i64::from(step);
        let in_dim = layer.in_dim;
        for (o, b) in layer.bias.iter_mut().enumerate() {
            let mut bias = i64::from(*b);
            if step && after_step {
                // Of 0/1 inputs a step row reads only its sign: a bias beyond the row's reach (a
                // leaf that always or never fires, such as a tree of one leaf) is the same step
                // at the reach, which scales without overflow.
                let reach: i64 =
                    layer.weights[o * in_dim..(o + 1) * in_dim].iter().map(|w| i64::from(w.unsigned_abs())).sum();
                bias = bias.clamp(-reach - 1, reach);
            }
            *b = i32::try_from(bias * times + plus).map_err(|_| {
                Error::Model(format!("layer {l} output {o}: a bias of {b} × {times} does not fit int32"))
            })?;
        }
        if step {
            layer.table = None;
            layer.activation = Activation::Relu;
            let multiplier = i32::try_from(scale << SHIFT).expect("127 · 2^22 < 2^31");
            layer.requant = Some(Requant { multipliers: vec![multiplier; layer.out_dim], shift: SHIFT });
        }
        finer_outputs = after_step && l == last;
        after_step = step;
    }
    if finer_outputs {
        out.output.scales.iter_mut().for_each(|s| *s /= scale as f64);
    }
    out.validate()?;
    Ok(out)
}

/// The commitment hash's permutation parameters, computed once.
pub fn params() -> &'static PoseidonParams {
    static PARAMS: OnceLock<PoseidonParams> = OnceLock::new();
    PARAMS.get_or_init(poseidon_params)
}

/// Where a tile sits in its model, and so what its step does. Every field is bound by the tile
/// commitment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TileSpec {
    /// The tile's position in the trace.
    pub index: usize,
    /// The layer it computes a block of.
    pub layer: usize,
    /// Its row block (outputs `BLOCK_ROWS · row_block ..`).
    pub row_block: usize,
    /// Its half of the row block: 0 for rows `0..16`, 1 for rows `16..31` ([`TileSpec::first_row`]).
    pub half: usize,
    /// Its column block (inputs `TILE_COLS · col_block ..`).
    pub col_block: usize,
    /// The layer's input width `n`.
    pub in_dim: usize,
    /// The layer's output width `m`.
    pub out_dim: usize,
    /// Column blocks of the layer.
    pub col_blocks: usize,
    /// Column blocks the tile reads into the input sponge from its own: its own, then the blocks
    /// after it whose weights in the half are all zero, within one rate block of the sponge
    /// (at least 1, at most `8 - read_slot`). Only its own block is multiplied.
    pub span: usize,
    /// Column blocks the tile reads before its own, all of whose weights in the half are
    /// zero: from the start of its rate block (or of the half) when it multiplies the
    /// first block there with a weight, else 0.
    pub lead: usize,
    /// Row blocks of the layer.
    pub row_blocks: usize,
    /// The model's tile count.
    pub tiles: usize,
    /// The last layer: int32 outputs, no requantization.
    pub last_layer: bool,
    /// The layer applies ReLU.
    pub relu: bool,
    /// The requantization shift (0 on the last layer).
    pub shift: u32,
}

impl TileSpec {
    /// The model's first tile: its z_t is the input commitment.
    pub fn first(&self) -> bool {
        self.index == 0
    }

    /// The model's last tile: its z_{t+1} is the output commitment.
    pub fn last(&self) -> bool {
        self.index + 1 == self.tiles
    }

    /// The tile reads its half's first column block: the accumulators and the input sponge
    /// restart.
    pub fn first_col(&self) -> bool {
        self.col_block == self.lead
    }

    /// The tile reads the last column block: the half's outputs are finished and written.
    pub fn last_col(&self) -> bool {
        self.col_block + self.span == self.col_blocks
    }

    /// The layer's first tile: the output sponge starts.
    pub fn layer_start(&self) -> bool {
        self.row_block == 0 && self.half == 0 && self.first_col()
    }

    /// The layer's last tile: the output sponge's result is the next layer's input commitment.
    pub fn layer_end(&self) -> bool {
        self.row_block + 1 == self.row_blocks && self.last_half() && self.last_col()
    }

    /// The layer's first output row this tile computes.
    pub fn first_row(&self) -> usize {
        BLOCK_ROWS * self.row_block + TILE_ROWS * self.half
    }

    /// Halves of the tile's row block: 2 when it has more than 16 rows.
    pub fn halves(&self) -> usize {
        (self.out_dim - BLOCK_ROWS * self.row_block).min(BLOCK_ROWS).div_ceil(TILE_ROWS)
    }

    /// The tile computes its row block's last half: the block's element is complete after it.
    pub fn last_half(&self) -> bool {
        self.half + 1 == self.halves()
    }

    /// The input sponge's rate slot of this tile's packed element (after the 4-element header).
    pub fn read_slot(&self) -> usize {
        (4 + self.col_block) % 8
    }

    /// The input sponge's first lane this tile reads: `read_slot - lead`.
    pub fn read_start(&self) -> usize {
        self.read_slot() - self.lead
    }

    /// The input sponge's lanes this tile adds an element to: `read_start .. read_slot + span`.
    pub fn read_lanes(&self) -> [bool; 8] {
        std::array::from_fn(|j| (self.read_start()..self.read_slot() + self.span).contains(&j))
    }

    /// The input sponge permutes after this tile's elements (a full block, or the last element).
    pub fn read_permutes(&self) -> bool {
        self.read_slot() + self.span == 8 || self.last_col()
    }

    /// The output sponge's rate slot of the row block's first element (int32 outputs: 4, their
    /// four elements fill slots 4..8).
    pub fn write_slot(&self) -> usize {
        if self.last_layer {
            4
        } else {
            (4 + self.row_block) % 8
        }
    }

    /// The output sponge permutes after this tile's write (only on a row block's last tile).
    pub fn write_permutes(&self) -> bool {
        self.last_col()
            && self.last_half()
            && (self.last_layer || self.write_slot() == 7 || self.row_block + 1 == self.row_blocks)
    }

    /// Rows of the tile that are outputs of the layer (the rest are padding): at most 16 in a
    /// lower half, 15 in an upper one.
    pub fn valid_rows(&self) -> usize {
        let block = (self.out_dim - BLOCK_ROWS * self.row_block).min(BLOCK_ROWS);
        (block - TILE_ROWS * self.half).min(TILE_ROWS)
    }

    /// The input sponge's tag: the layer input's preimage has `4 + ⌈n/31⌉` elements.
    pub fn read_tag(&self) -> Fr {
        sponge_tag(4 + self.in_dim.div_ceil(31))
    }

    /// The output sponge's tag: `4 + ⌈m/31⌉` (int8) or `4 + ⌈m/7⌉` (int32) elements.
    pub fn write_tag(&self) -> Fr {
        sponge_tag(4 + if self.last_layer { self.out_dim.div_ceil(7) } else { self.out_dim.div_ceil(31) })
    }

    /// The output's bit width.
    pub fn out_bits(&self) -> u32 {
        if self.last_layer {
            32
        } else {
            8
        }
    }

    /// The input sponge's state before the layer input's first packed element: the header
    /// `[TAG_ACTIVATIONS, layer, n, 8]` absorbed, with the first layer's width element
    /// `8 + 2^64 · salt` (a private input's salted z_0, [`crate::salted_input_commitment`]; zero
    /// salt: the plain one).
    pub fn read_init(&self, salt: Fr) -> [Fr; SPONGE_WIDTH] {
        let mut init = sponge_init(self.read_tag(), self.layer, self.in_dim, 8);
        if self.layer == 0 {
            init[4] = crate::commit::salted_width(salt);
        }
        init
    }

    /// The step index in the output's activation header: `layer + 1`, and for the last layer
    /// the tile count `L`, so that z_L is the output commitment of step L that the contracts
    /// compute from the registered step count.
    pub fn write_step(&self) -> usize {
        if self.last_layer {
            self.tiles
        } else {
            self.layer + 1
        }
    }

    /// The output sponge's state before the first output element.
    pub fn write_init(&self) -> [Fr; SPONGE_WIDTH] {
        sponge_init(self.write_tag(), self.write_step(), self.out_dim, self.out_bits())
    }

    /// The flag word's bits, low first: `first, last, first_col, last_col, layer_start,
    /// layer_end, read_permutes, write_permutes, last_layer, relu`, the read slot one-hot (8),
    /// the write slot one-hot (8), the shift as a thermometer (bit `k` set for `k < shift`, 62),
    /// the valid rows as a thermometer (16), the first layer, the upper half.
    pub fn flag_bits(&self) -> Vec<bool> {
        let mut bits = vec![
            self.first(),
            self.last(),
            self.first_col(),
            self.last_col(),
            self.layer_start(),
            self.layer_end(),
            self.read_permutes(),
            self.write_permutes(),
            self.last_layer,
            self.relu,
        ];
        bits.extend((0..8).map(|s| s == self.read_slot()));
        bits.extend((0..8).map(|s| s == self.write_slot()));
        bits.extend((0..62).map(|k| k < self.shift as usize));
        bits.extend((0..TILE_ROWS).map(|r| r < self.valid_rows()));
        bits.push(self.layer == 0);
        bits.push(self.half == 1);
        debug_assert_eq!(bits.len(), FLAG_BITS);
        bits
    }

    /// The word of the tile commitment: the flag bits (`Σ 2^k · bit_k`, below 2^120) and
    /// `2^120 · layer + 2^152 · n + 2^184 · m + 2^216 · L` (each below 2^32).
    pub fn word(&self) -> Fr {
        let mut word = Fr::ZERO;
        let mut weight = Fr::ONE;
        for bit in self.flag_bits() {
            if bit {
                word += weight;
            }
            weight = weight.double();
        }
        let at = |k: u32| Fr::from(2u64).pow_vartime([u64::from(k)]);
        word + at(120) * Fr::from(self.layer as u64)
            + at(152) * Fr::from(self.in_dim as u64)
            + at(184) * Fr::from(self.out_dim as u64)
            + at(216) * Fr::from(self.tiles as u64)
    }
}

/// `[tag, TAG_ACTIVATIONS, step, len, bits, 0, 0, 0, 0]`: a sponge that absorbed an activation
/// header.
pub fn sponge_init(tag: Fr, step: usize, len: usize, bits: u32) -> [Fr; SPONGE_WIDTH] {
    let mut s = [Fr::ZERO; SPONGE_WIDTH];
    s[0] = tag;
    s[1] = Fr::from(crate::commit::TAG_ACTIVATIONS);
    s[2] = Fr::from(step as u64);
    s[3] = Fr::from(len as u64);
    s[4] = Fr::from(u64::from(bits));
    s
}

/// A tile's parameters, zero-padded to the tile's size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TileParams {
    /// Row-major `TILE_ROWS × TILE_COLS` int8 weights.
    pub weights: Vec<i8>,
    /// The tile's rows' biases (zero on padding rows).
    pub bias: Vec<i32>,
    /// The tile's rows' multipliers (zero on padding rows and on the last layer).
    pub multipliers: Vec<i32>,
}

/// A model's tiles: where each sits.
#[derive(Clone, Debug)]
pub struct TilePlan {
    /// One spec a tile, in trace order.
    pub tiles: Vec<TileSpec>,
}

impl TilePlan {
    /// The tiles of `model`, or why it cannot be tiled: each tile reads the all-zero column
    /// blocks after its own ([`TileSpec::span`]).
    pub fn new(model: &Model) -> Result<Self> {
        Self::build(model, true)
    }

    /// The tiles of `model` one block each, whatever its zeros: a private model's tile count
    /// then depends on its dimensions only, not on where its weights are zero.
    pub fn dense(model: &Model) -> Result<Self> {
        Self::build(model, false)
    }

    fn build(model: &Model, sparse: bool) -> Result<Self> {
        let last = model.layers.len() - 1;
        let out = model.layers[last].out_dim;
        if out > MAX_TILED_OUTPUTS {
            return Err(Error::Model(format!(
                "the last layer has {out} outputs; tiled proofs take at most {MAX_TILED_OUTPUTS}"
            )));
        }
        let mut tiles = Vec::new();
        for (l, layer) in model.layers.iter().enumerate() {
            if let Some(t) = &layer.table {
                return Err(Error::Model(format!(
                    "layer {l}: {} by table; tiled proofs take ReLU and linear layers only (prove it by layers, or import \
                     it with --piecewise-linear)",
                    t.function.name()
                )));
            }
            let shift = layer.requant.as_ref().map_or(0, |r| r.shift);
            if l != last && shift < MIN_TILED_SHIFT {
                return Err(Error::Model(format!(
                    "layer {l}: requantization shift {shift}; tiled proofs need at least {MIN_TILED_SHIFT}"
                )));
            }
            let (row_blocks, col_blocks) = (layer.out_dim.div_ceil(BLOCK_ROWS), layer.in_dim.div_ceil(TILE_COLS));
            let halves =
                |row_block: usize| (layer.out_dim - BLOCK_ROWS * row_block).min(BLOCK_ROWS).div_ceil(TILE_ROWS);
            for (row_block, half) in (0..row_blocks).flat_map(|b| (0..halves(b)).map(move |h| (b, h))) {
                let first_row = BLOCK_ROWS * row_block + TILE_ROWS * half;
                let rows = first_row..(first_row + TILE_ROWS).min(BLOCK_ROWS * (row_block + 1)).min(layer.out_dim);
                let zero = sparse.then(|| zero_blocks(layer, rows));
                // The sponge's rate blocks of this input: the first holds 4 column blocks after
                // the header, the others 8.
                let mut start = 0;
                while start < col_blocks {
                    let end = (((4 + start) / 8 + 1) * 8 - 4).min(col_blocks);
                    // Dense: a tile a block. Sparse: a tile a block with a weight, reading the
                    // zero blocks after it, the first also those before it; a rate block without
                    // a weight is read by one tile.
                    let multiplied: Vec<usize> = match &zero {
                        None => (start..end).collect(),
                        Some(z) => (start..end).filter(|b| !z[*b]).collect(),
                    };
                    let multiplied = if multiplied.is_empty() { vec![start] } else { multiplied };
                    for (k, col_block) in multiplied.iter().enumerate() {
                        let next = multiplied.get(k + 1).copied().unwrap_or(end);
                        tiles.push(TileSpec {
                            index: tiles.len(),
                            layer: l,
                            row_block,
                            half,
                            col_block: *col_block,
                            in_dim: layer.in_dim,
                            out_dim: layer.out_dim,
                            col_blocks,
                            row_blocks,
                            span: next - col_block,
                            lead: if k == 0 { col_block - start } else { 0 },
                            tiles: 0,
                            last_layer: l == last,
                            relu: layer.activation == Activation::Relu,
                            shift,
                        });
                    }
                    start = end;
                }
            }
        }
        let count = tiles.len();
        if count > usize::from(u16::MAX) {
            return Err(Error::Model(format!("the model has {count} tiles; a trace has at most 65535 steps")));
        }
        for t in &mut tiles {
            t.tiles = count;
        }
        Ok(Self { tiles })
    }

    /// Number of tiles (steps of the trace).
    pub fn len(&self) -> usize {
        self.tiles.len()
    }

    /// Whether the plan has no tile (never, for a valid model).
    pub fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }
}

/// Whether each column block of output rows `rows` of `layer` has only zero weights.
fn zero_blocks(layer: &Layer, rows: std::ops::Range<usize>) -> Vec<bool> {
    let mut zero = vec![true; layer.in_dim.div_ceil(TILE_COLS)];
    for o in rows {
        for (i, w) in layer.row(o).iter().enumerate() {
            if *w != 0 {
                zero[i / TILE_COLS] = false;
            }
        }
    }
    zero
}

/// The parameters of tile `spec` of `model`.
pub fn tile_params(model: &Model, spec: &TileSpec) -> TileParams {
    let layer = &model.layers[spec.layer];
    let mut weights = vec![0i8; TILE_WEIGHTS];
    let (mut bias, mut multipliers) = (vec![0i32; TILE_ROWS], vec![0i32; TILE_ROWS]);
    for r in 0..spec.valid_rows() {
        let o = spec.first_row() + r;
        let row = layer.row(o);
        for c in 0..TILE_COLS {
            let i = TILE_COLS * spec.col_block + c;
            if i < layer.in_dim {
                weights[r * TILE_COLS + c] = row[i];
            }
        }
        bias[r] = layer.bias[o];
        multipliers[r] = layer.requant.as_ref().map_or(0, |q| q.multipliers[o]);
    }
    TileParams { weights, bias, multipliers }
}

/// The lanes element of a tile commitment: `Σ 2^j` over the input sponge's lanes `j` the tile
/// reads ([`TileSpec::read_lanes`]).
pub fn lanes_element(lanes: &[bool; 8]) -> Fr {
    Fr::from(lanes.iter().enumerate().filter(|(_, l)| **l).map(|(j, _)| 1u64 << j).sum::<u64>())
}

/// Where a tile commitment's first element holds the lanes the tile reads, above the flags.
pub const LANES_BIT: u64 = FLAG_BITS as u64;
const _: () = assert!(FLAG_BITS + 8 <= 120, "the lanes fit below the dimensions");
/// A tile commitment's first element: the flag word and dimensions ([`TileSpec::word`]) plus
/// `2^LANES_BIT ·` the lanes the tile reads ([`lanes_element`]; 8 bits, below the dimensions).
pub fn tile_word(spec: &TileSpec, lanes: &[bool; 8]) -> Fr {
    spec.word() + Fr::from(2u64).pow_vartime([LANES_BIT]) * lanes_element(lanes)
}

/// The input and output sponges' tags (each below 2^128), 16 little-endian bytes each.
pub fn tag_bytes(spec: &TileSpec) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[..16].copy_from_slice(&spec.read_tag().to_repr().as_ref()[..16]);
    b[16..].copy_from_slice(&spec.write_tag().to_repr().as_ref()[..16]);
    b
}

/// The preimage of a tile commitment, 24 elements (one permutation of the wide hash):
/// `[word, tags, pack(weights, 8)…, pack(bias ‖ multipliers ‖ [t, TAG_TILE, last tag byte],
/// 32)…, blinding]`, where `word` is [`tile_word`] and `tags` the first 31 of the [`tag_bytes`]
/// (little-endian; their last byte is the last 32-bit digit). The position `t`, the domain tag
/// and that byte are unsigned digits (`t`, not `t + 2^31`). The first element is at least 2^152
/// (the input width is at least 1), so it is never the small domain tag that starts the other
/// preimages of the same length (activations, layers, the model).
pub fn tile_preimage(spec: &TileSpec, params: &TileParams, blinding: Fr) -> Vec<Fr> {
    let tags = tag_bytes(spec);
    let tags_element = tags[..31].iter().rev().fold(Fr::ZERO, |e, b| e * Fr::from(256u64) + Fr::from(u64::from(*b)));
    let mut e = vec![tile_word(spec, &spec.read_lanes()), tags_element];
    e.extend(pack(params.weights.iter().map(|w| i64::from(*w)), 8));
    let unsigned = |v: u64| v as i64 - (1i64 << 31);
    let words = params.bias.iter().chain(&params.multipliers).map(|v| i64::from(*v));
    let last = [unsigned(spec.index as u64), unsigned(TAG_TILE), unsigned(u64::from(tags[31]))];
    e.extend(pack(words.chain(last), 32));
    e.push(blinding);
    debug_assert_eq!(e.len(), 24, "one permutation of the wide hash");
    e
}

/// The commitment `T_t` of tile `spec` (blinding 0 for public models): the wide hash
/// ([`crate::wide_hash`]) of [`tile_preimage`].
pub fn tile_commitment(spec: &TileSpec, params: &TileParams, blinding: Fr) -> Fr {
    wide_hash(&tile_preimage(spec, params, blinding))
}

/// The state a tile reads and writes (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TileState {
    /// The current layer's input commitment.
    pub x: Fr,
    /// The input sponge.
    pub read: [Fr; SPONGE_WIDTH],
    /// The output sponge.
    pub write: [Fr; SPONGE_WIDTH],
    /// The half's partial accumulators.
    pub acc: [i64; TILE_ROWS],
    /// A half's input sponge is open: its first tile has read, its last not yet.
    pub open: bool,
    /// The input sponge's next lane to read (0..8; 0 when no sponge is open).
    pub next: usize,
}

/// Where `next + 8 · open` sits in the state's last packed accumulator element: after its
/// `TILE_ROWS mod 7` accumulators of 32 bits.
pub const STATE_POSITION_BIT: u64 = 32 * (TILE_ROWS % 7) as u64;
const _: () = assert!(!TILE_ROWS.is_multiple_of(7) && STATE_POSITION_BIT + 4 <= 248, "room for the position");

impl TileState {
    /// The state before tile 0: `x` is the input commitment z_0 (the sponges start at the first
    /// tile).
    pub fn initial(z0: Fr) -> Self {
        Self {
            x: z0,
            read: [Fr::ZERO; SPONGE_WIDTH],
            write: [Fr::ZERO; SPONGE_WIDTH],
            acc: [0; TILE_ROWS],
            open: false,
            next: 0,
        }
    }

    /// The preimage of the state's commitment.
    pub fn preimage(&self) -> Vec<Fr> {
        let mut e = vec![self.x];
        e.extend(self.read);
        e.extend(self.write);
        e.extend(pack(self.acc.iter().copied(), 32));
        let position = Fr::from((self.next + 8 * usize::from(self.open)) as u64);
        *e.last_mut().expect("the accumulators' elements") +=
            Fr::from(2u64).pow_vartime([STATE_POSITION_BIT]) * position;
        e
    }

    /// `H(x, read, write, pack(acc, 32) + 2^STATE_POSITION_BIT · (next + 8 · open))`: z_t of an
    /// inner step. It needs no domain tag: its length (22) is its own, and the position is bound by
    /// the tile commitment of the step.
    pub fn commitment(&self) -> Fr {
        wide_hash(&self.preimage())
    }
}

fn permute(state: &mut [Fr; SPONGE_WIDTH]) {
    params().permute(state);
}

/// One output of a half from its accumulator: bias, ReLU, requantization (padding rows,
/// whose parameters are zero, give 0).
fn finish(layer: &Layer, params: &TileParams, r: usize, acc: i64) -> i64 {
    let pre = acc + i64::from(params.bias[r]);
    match &layer.requant {
        None => match layer.activation {
            Activation::Relu => pre.max(0),
            Activation::None => pre,
        },
        Some(q) => {
            // ReLU folds into the clamp: multipliers are non-negative.
            i64::from(clamp_int8(requantize(pre, i64::from(params.multipliers[r]), q.shift), layer.activation))
        }
    }
}

/// What a tile adds to the packed elements of its row block: its rows' digits at their
/// offsets, in one int8 element (an upper half's from digit 16 on), or in the last layer's four
/// int32 elements (row `16 · half + r` is digit `(16 · half + r) mod 7` of element
/// `⌊(16 · half + r) / 7⌋`). Padding rows are absent: their digits are zero.
pub fn written_elements(spec: &TileSpec, outputs: &[i64; TILE_ROWS]) -> [Fr; 4] {
    let mut out = [Fr::ZERO; 4];
    let (bits, per) = if spec.last_layer { (32, 7) } else { (8, 31) };
    for (r, y) in outputs[..spec.valid_rows()].iter().enumerate() {
        let g = TILE_ROWS * spec.half + r;
        let digit = Fr::from((y + (1i64 << (bits - 1))) as u64);
        out[g / per] += Fr::from(2u64).pow_vartime([(bits * (g % per)) as u64]) * digit;
    }
    out
}

/// The layer input's column block `spec.col_block`: 31 values, -128 past the input's end (the
/// packed element's absent digits are zero, and -128 is the value of digit 0).
pub fn input_chunk(spec: &TileSpec, input: &[i32]) -> [i32; TILE_COLS] {
    column_block(input, spec.col_block)
}

/// Column block `block` of a layer input: 31 values, -128 past the input's end.
fn column_block(input: &[i32], block: usize) -> [i32; TILE_COLS] {
    let mut chunk = [-128; TILE_COLS];
    for (c, v) in chunk.iter_mut().enumerate() {
        if let Some(x) = input.get(TILE_COLS * block + c) {
            *v = *x;
        }
    }
    chunk
}

/// The packed elements the tile adds to the input sponge's eight lanes: at lane `read_start + k`
/// the element of column block `col_block - lead + k` (`k < lead + span`), zero elsewhere.
pub fn read_elements(spec: &TileSpec, input: &[i32]) -> [Fr; 8] {
    let mut out = [Fr::ZERO; 8];
    for k in 0..spec.lead + spec.span {
        let chunk = column_block(input, spec.col_block - spec.lead + k);
        out[spec.read_start() + k] = pack(chunk.iter().map(|v| i64::from(*v)), 8)[0];
    }
    out
}

/// What a tile's step computes: the next state, and the accumulators the circuit's witness
/// needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TileStep {
    /// The state after the tile.
    pub state: TileState,
    /// The accumulators after this tile's products (before any bias).
    pub acc: [i64; TILE_ROWS],
}

/// Tile `spec` of `model` applied to `state`, reading `input` (the layer's whole input, from the
/// engine's trace); `salt` is the input commitment's (zero for a public input).
pub fn apply(
    model: &Model,
    spec: &TileSpec,
    params: &TileParams,
    state: &TileState,
    input: &[i32],
    salt: Fr,
) -> TileStep {
    let layer = &model.layers[spec.layer];
    let chunk = input_chunk(spec, input);
    let x = state.x;
    let mut read = if spec.first_col() { spec.read_init(salt) } else { state.read };
    let mut write = if spec.layer_start() { spec.write_init() } else { state.write };
    for (lane, e) in read[1..].iter_mut().zip(read_elements(spec, input)) {
        *lane += e;
    }
    if spec.read_permutes() {
        permute(&mut read);
    }
    // The lane after the last one read, for the next tile; 0 once the sponge permuted (a full
    // rate block, or the row block's end).
    let lanes = spec.read_lanes().iter().filter(|l| **l).count();
    let next = if spec.read_permutes() { 0 } else { spec.read_start() + lanes };
    let mut acc = if spec.first_col() { [0; TILE_ROWS] } else { state.acc };
    for (r, a) in acc.iter_mut().enumerate() {
        let row = &params.weights[r * TILE_COLS..(r + 1) * TILE_COLS];
        *a += row.iter().zip(&chunk).map(|(w, v)| i64::from(*w) * i64::from(*v)).sum::<i64>();
    }
    let mut next_acc = acc;
    let mut next_x = x;
    if spec.last_col() {
        let mut outputs = [0i64; TILE_ROWS];
        for r in 0..TILE_ROWS {
            outputs[r] = finish(layer, params, r, acc[r]);
        }
        let e = written_elements(spec, &outputs);
        write[1 + spec.write_slot()] += e[0];
        for k in 1..4 {
            write[5 + k] += e[k];
        }
        if spec.write_permutes() {
            permute(&mut write);
        }
        next_acc = [0; TILE_ROWS];
        if spec.layer_end() {
            next_x = write[1];
        }
    }
    let open = !spec.last_col();
    TileStep { state: TileState { x: next_x, read, write, acc: next_acc, open, next }, acc }
}

/// A tiled trace: every tile's state, and the step commitments z_0..z_L.
#[derive(Clone, Debug)]
pub struct TiledTrace {
    /// The state before each tile, and after the last (`L + 1` of them).
    pub states: Vec<TileState>,
    /// z_0 (the input commitment), the inner state commitments, z_L (the output commitment).
    pub commitments: Vec<Fr>,
}

/// The tiled trace of `model` on the engine's `trace` (its activations); z_0 is the input's
/// commitment salted with `salt` (zero: the plain z_0 of a public input).
///
/// On one thread: the services compute it for every request on their async workers, where
/// waiting for rayon's shared pool behind a proof that holds it would stall them (a
/// million-weight model's trace, 2,881 tiles, takes a few tenths of a second so).
pub fn tiled_trace(model: &Model, plan: &TilePlan, trace: &crate::Trace, salt: Fr) -> TiledTrace {
    let z0 = crate::salted_input_commitment(&trace.steps[0], salt);
    let mut states = Vec::with_capacity(plan.len() + 1);
    let mut commitments = Vec::with_capacity(plan.len() + 1);
    states.push(TileState::initial(z0));
    commitments.push(z0);
    for spec in &plan.tiles {
        let params = tile_params(model, spec);
        let state = states.last().expect("the initial state");
        let step = apply(model, spec, &params, state, &trace.steps[spec.layer], salt);
        commitments.push(if spec.last() { step.state.write[1] } else { step.state.commitment() });
        states.push(step.state);
    }
    TiledTrace { states, commitments }
}

/// The tile commitments of `model` (public: blinding 0).
pub fn tile_commitments(model: &Model, plan: &TilePlan) -> Vec<Fr> {
    blinded_tile_commitments(model, plan, |_| Fr::ZERO)
}

/// The tile commitments of `model`, tile `t` blinded with `blinding(spec)`, computed in
/// parallel.
pub fn blinded_tile_commitments(model: &Model, plan: &TilePlan, blinding: impl Fn(&TileSpec) -> Fr + Sync) -> Vec<Fr> {
    use rayon::prelude::*;
    plan.tiles.par_iter().map(|s| tile_commitment(s, &tile_params(model, s), blinding(s))).collect()
}

/// A synthetic MLP of the given widths (`dims[0]` inputs, then each layer's outputs) with
/// deterministic pseudo-random int8 weights, ReLU hidden layers and requantization that keeps
/// activations spread over int8: for benchmarks and tests at sizes no shipped model has.
pub fn synthetic_mlp(dims: &[usize], seed: u64) -> Model {
    use crate::model::{InputSpec, OutputSpec, Requant, Task, MODEL_FORMAT, MODEL_FORMAT_VERSION};
    assert!(dims.len() >= 2, "an input width and at least one layer");
    // splitmix64: deterministic across platforms.
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let last = dims.len() - 2;
    let layers = dims
        .windows(2)
        .enumerate()
        .map(|(l, w)| {
            let (n, m) = (w[0], w[1]);
            let weights: Vec<i8> = (0..n * m).map(|_| ((next() % 129) as i32 - 64) as i8).collect();
            let bias: Vec<i32> = (0..m).map(|_| (next() % 20_001) as i32 - 10_000).collect();
            // acc's spread is about √n · 73 · 37 (uniform inputs and weights): map it to ±40.
            let real = 40.0 / ((n as f64).sqrt() * 73.0 * 37.0);
            // The largest shift whose multipliers (up to 1.25 · real · 2^shift) stay below 2^31.
            let shift = ((2f64.powi(31) - 1.0) / (1.25 * real)).log2().floor().clamp(22.0, 62.0) as u32;
            let requant = (l != last).then(|| Requant {
                multipliers: (0..m)
                    .map(|_| ((real * (0.75 + (next() % 1000) as f64 / 2000.0)) * 2f64.powi(shift as i32)) as i32)
                    .collect(),
                shift,
            });
            Layer {
                in_dim: n,
                out_dim: m,
                activation: if l == last { Activation::None } else { Activation::Relu },
                weights,
                bias,
                requant,
                table: None,
            }
        })
        .collect();
    let model = Model {
        format: MODEL_FORMAT.into(),
        version: MODEL_FORMAT_VERSION,
        name: format!("synthetic-{}", dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("-")),
        task: Task::Classification,
        input: InputSpec { len: dims[0], scale: 1.0 / 127.0, normalize: None },
        layers,
        output: OutputSpec { scales: vec![1.0; dims[dims.len() - 1]] },
    };
    model.validate().expect("a synthetic model is valid");
    model
}
