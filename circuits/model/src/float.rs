//! The float model an ONNX file describes, before quantization.

use crate::{model::TableFunction, tiles::TILE_COLS, Error, Result};

/// Knots of a smooth activation's piecewise-linear form by default
/// ([`FloatModel::piecewise_linear`]): the largest error is within 0.4% of the function's range
/// (`Sigmoid` 0.0037, from its tail beyond the saturation; `Tanh` 0.0058 of its range 2).
pub const DEFAULT_KNOTS: usize = 16;
/// The most knots a piecewise-linear form takes (each knot is a copy of the layer's width).
pub const MAX_KNOTS: usize = 64;

/// A dense layer in float: `y = f(W·x + b)` with `f` ReLU, a table function or the identity.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatLayer {
    /// Input width.
    pub in_dim: usize,
    /// Output width.
    pub out_dim: usize,
    /// Row-major `[out_dim, in_dim]`.
    pub weights: Vec<f32>,
    /// One per output.
    pub bias: Vec<f32>,
    /// Whether a ReLU follows.
    pub relu: bool,
    /// A smooth activation that follows instead (`Sigmoid`, `Tanh`), proven by table.
    pub table: Option<crate::model::TableFunction>,
    /// Integer weights in [-127, 127] on the previous layer's int8 values, kept at that layer's
    /// scale: quantized as they are, with a multiplier of exactly 1, so that the layer is exact
    /// in integers (max pooling's `relu(b − a)` tournament).
    pub exact: bool,
    /// For a hidden linear layer whose outputs matter only within `±reach` (the pre-activation
    /// of a smooth function's piecewise-linear form, flat beyond, see
    /// [`FloatModel::piecewise_linear`]): its int8 scale is at most `reach / 127`, and the
    /// int8 clamp saturates the rest.
    pub reach: Option<f64>,
}

/// A chain of dense layers, as imported from ONNX.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatModel {
    /// Name (from the file name).
    pub name: String,
    /// Input width.
    pub input_dim: usize,
    /// The layers, in order.
    pub layers: Vec<FloatLayer>,
    /// The input's normalization (a scaler in front of the first layer), applied to real inputs
    /// before anything else.
    pub normalize: Option<crate::model::Normalize>,
    /// The int8 input scale, when the importer fixes it (a tree ensemble normalizes each
    /// feature so that its thresholds lie in [-0.95, 0.95]: scale 1/127, whatever the
    /// calibration rows); otherwise quantization takes it from the calibration rows.
    pub input_scale: Option<f64>,
}

impl FloatModel {
    /// Checks shapes and that every parameter is finite.
    pub fn validate(&self) -> Result<()> {
        let mut width = self.input_dim;
        for (i, l) in self.layers.iter().enumerate() {
            if l.in_dim != width || l.weights.len() != l.in_dim * l.out_dim || l.bias.len() != l.out_dim {
                return Err(Error::Model(format!("float layer {i} has inconsistent shapes")));
            }
            if l.relu && l.table.is_some() {
                return Err(Error::Model(format!("float layer {i} has both ReLU and a table")));
            }
            let integral = |v: &f32| v.fract() == 0.0 && v.abs() <= 127.0;
            if l.exact && (l.table.is_some() || !l.weights.iter().chain(&l.bias).all(integral)) {
                return Err(Error::Model(format!("float layer {i} is exact but not of int8 integers")));
            }
            if l.weights.iter().chain(&l.bias).any(|v| !v.is_finite()) {
                return Err(Error::Model(format!("float layer {i} has a non-finite parameter")));
            }
            width = l.out_dim;
        }
        Ok(())
    }

    /// The same model with each hidden layer's units in the order that tiles best, and the same
    /// outputs: units sorted by the span of input columns their weights read (the first nonzero
    /// column block, then the last), ties kept in order; the next layer's columns follow.
    /// `oracle model import` applies it; [`crate::import_onnx`] itself keeps the lowered layout.
    ///
    /// A tiled proof multiplies a block of 31 consecutive units by each block of 31 input
    /// columns that any of them reads ([`crate::tiles::TilePlan`]), so units that read the same
    /// columns belong in the same block. A convolution lowered channel by channel gets its units
    /// grouped by position instead, all channels of a position together, and the next
    /// convolution then reads each position's channels as one run of columns: the shipped
    /// LeNet-style CNN goes from 317 tiles to 227, the small CNN from 63 to 43. A dense layer,
    /// whose units all read every column block, keeps its order.
    pub fn ordered_for_tiles(mut self) -> Self {
        for l in 0..self.layers.len().saturating_sub(1) {
            let layer = &self.layers[l];
            let span = |o: usize| {
                let row = &layer.weights[o * layer.in_dim..(o + 1) * layer.in_dim];
                let block = |c: Option<usize>| c.map_or(usize::MAX, |c| c / TILE_COLS);
                // A unit that reads nothing goes last.
                (block(row.iter().position(|w| *w != 0.0)), block(row.iter().rposition(|w| *w != 0.0)))
            };
            let mut order: Vec<usize> = (0..layer.out_dim).collect();
            order.sort_by_key(|o| span(*o));
            if order.iter().enumerate().any(|(k, o)| k != *o) {
                self.permute_units(l, &order).expect("a permutation of a hidden layer's units");
            }
        }
        self
    }

    /// Reorders the units of hidden layer `l`: new unit `k` is old unit `order[k]` (its weights,
    /// bias and activation), and the next layer reads it in column `k`. The model computes the
    /// same function.
    pub fn permute_units(&mut self, l: usize, order: &[usize]) -> Result<()> {
        if l + 1 >= self.layers.len() {
            return Err(Error::Model(format!(
                "layer {l} is not a hidden layer of this {}-layer model: only hidden units can be reordered",
                self.layers.len()
            )));
        }
        let n = self.layers[l].out_dim;
        let mut seen = vec![false; n];
        if order.len() != n || !order.iter().all(|o| *o < n && !std::mem::replace(&mut seen[*o], true)) {
            return Err(Error::Model(format!("the order of layer {l}'s units is not a permutation of its {n} units")));
        }
        let layer = &mut self.layers[l];
        let width = layer.in_dim;
        layer.weights = order.iter().flat_map(|o| layer.weights[o * width..(o + 1) * width].to_vec()).collect();
        layer.bias = order.iter().map(|o| layer.bias[*o]).collect();
        let next = &mut self.layers[l + 1];
        next.weights = next.weights.chunks(n).flat_map(|row| order.iter().map(|o| row[*o])).collect();
        Ok(())
    }

    /// `input` normalized (itself without a normalization).
    pub fn normalized(&self, input: &[f64]) -> Vec<f64> {
        self.normalize.as_ref().map_or_else(|| input.to_vec(), |n| n.apply(input))
    }

    /// The output width.
    pub fn output_dim(&self) -> usize {
        self.layers.last().map_or(self.input_dim, |l| l.out_dim)
    }

    /// Every layer's output (after its activation), computed in f64.
    pub fn activations(&self, input: &[f64]) -> Vec<Vec<f64>> {
        self.activations_and_pre(input).into_iter().map(|(post, _)| post).collect()
    }

    /// Every layer's output after and before its activation, computed in f64.
    pub fn activations_and_pre(&self, input: &[f64]) -> Vec<(Vec<f64>, Vec<f64>)> {
        let input = &self.normalized(input);
        let mut out: Vec<(Vec<f64>, Vec<f64>)> = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let x = out.last().map_or(input.as_slice(), |(post, _)| post.as_slice());
            let pre: Vec<f64> = (0..layer.out_dim)
                .map(|o| {
                    let row = &layer.weights[o * layer.in_dim..(o + 1) * layer.in_dim];
                    row.iter().zip(x).map(|(w, x)| f64::from(*w) * x).sum::<f64>() + f64::from(layer.bias[o])
                })
                .collect();
            let post = pre
                .iter()
                .map(|v| match layer.table {
                    Some(f) => f.apply(*v),
                    None if layer.relu => v.max(0.0),
                    None => *v,
                })
                .collect();
            out.push((post, pre));
        }
        out
    }

    /// The model's output, computed in f64.
    pub fn forward(&self, input: &[f64]) -> Vec<f64> {
        self.activations(input).pop().unwrap_or_else(|| input.to_vec())
    }
}

/// A smooth function's piecewise-linear interpolant: `f(k_0) + Σ_j d_j · relu(z − k_j)`, equal
/// to `f` at each knot `k_j`, linear between them, flat before `k_0` and of the function's end
/// slope after `k_{K-1}` ([`TableFunction::knot_range`]: for `Sigmoid` and `Tanh` `[-r, r]`, `r`
/// the saturation beyond which their int8 output no longer changes; for `Elu`, `Softplus`, SiLU,
/// `Gelu`, `Selu`, `HardSwish` and `Mish` where they are within 0.4% of their asymptotes). The knots are spread so that each interval holds an equal share of
/// `∫ √|f''|`, which evens out the interpolation error (`h² · |f''| / 8` on an interval of width
/// `h`): denser where the function bends.
#[derive(Clone, Debug, PartialEq)]
pub struct Interpolant {
    /// The knots `k_0 < … < k_{K-1}`.
    pub knots: Vec<f64>,
    /// The slope changes `d_j` at each knot (they sum to the function's end slope: flat on the
    /// left, [`TableFunction::end_slope`] on the right).
    pub slopes: Vec<f64>,
    /// `f(k_0)`.
    pub offset: f64,
}

impl Interpolant {
    /// `function`'s interpolant on `knots` knots (2 to [`MAX_KNOTS`]); any smooth function (a
    /// tree's comparison is a step, not continuous).
    pub fn new(function: TableFunction, knots: usize) -> Result<Self> {
        // |f''|: in closed form for Sigmoid and Tanh, by central differences for the others.
        let curvature = |z: f64| match function {
            TableFunction::Sigmoid => {
                let s = 1.0 / (1.0 + (-z).exp());
                (s * (1.0 - s) * (1.0 - 2.0 * s)).abs()
            }
            TableFunction::Tanh => {
                let t = z.tanh();
                (2.0 * t * (1.0 - t * t)).abs()
            }
            f => {
                const H: f64 = 1e-3;
                ((f.apply(z + H) - 2.0 * f.apply(z) + f.apply(z - H)) / (H * H)).abs()
            }
        };
        if function == TableFunction::Step {
            return Err(Error::Model("a tree's comparisons have no piecewise-linear form (a step)".into()));
        }
        if !(2..=MAX_KNOTS).contains(&knots) {
            return Err(Error::Model(format!("a piecewise-linear form takes 2 to {MAX_KNOTS} knots, not {knots}")));
        }
        let (lo, hi) = function.knot_range();
        // The cumulative share of √|f''| (plus a floor, so that flat stretches get knots too)
        // on a fine grid, inverted at K evenly spaced levels.
        const GRID: usize = 4096;
        let z_at = |g: usize| lo + (hi - lo) * g as f64 / GRID as f64;
        let density = |z: f64| curvature(z).sqrt() + 0.02;
        let mut cumulative = vec![0.0; GRID + 1];
        for g in 1..=GRID {
            cumulative[g] =
                cumulative[g - 1] + 0.5 * (density(z_at(g - 1)) + density(z_at(g))) * ((hi - lo) / GRID as f64);
        }
        let total = cumulative[GRID];
        let mut points = Vec::with_capacity(knots);
        let mut g = 0;
        for k in 0..knots {
            let level = total * k as f64 / (knots - 1) as f64;
            while g + 1 < GRID && cumulative[g + 1] < level {
                g += 1;
            }
            let span = cumulative[g + 1] - cumulative[g];
            let t = if span > 0.0 { ((level - cumulative[g]) / span).clamp(0.0, 1.0) } else { 0.0 };
            points.push(z_at(g) + t * (z_at(g + 1) - z_at(g)));
        }
        points[0] = lo;
        points[knots - 1] = hi;
        let values: Vec<f64> = points.iter().map(|z| function.apply(*z)).collect();
        let segment: Vec<f64> =
            points.windows(2).zip(values.windows(2)).map(|(k, v)| (v[1] - v[0]) / (k[1] - k[0])).collect();
        // Slope 0 before the first knot, the function's end slope after the last.
        let slopes = (0..knots)
            .map(|j| {
                segment.get(j).copied().unwrap_or(function.end_slope()) - if j == 0 { 0.0 } else { segment[j - 1] }
            })
            .collect();
        Ok(Self { knots: points, slopes, offset: values[0] })
    }

    /// The interpolant at `z`.
    pub fn apply(&self, z: f64) -> f64 {
        self.offset + self.knots.iter().zip(&self.slopes).map(|(k, d)| d * (z - k).max(0.0)).sum::<f64>()
    }
}
