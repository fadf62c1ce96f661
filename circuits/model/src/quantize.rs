//! Post-training static quantization of a [`FloatModel`] from a calibration set.
//!
//! - Input: one symmetric scale `s_x = max|x| / 127` over the calibration set.
//! - Weights: int8, symmetric, per output channel: `s_w[o] = max_i |W[o,i]| / 127`,
//!   `w_q = round_half_away(W / s_w[o])`.
//! - Bias: int32, `b_q = round_half_away(b / (s_w[o] · s_in))`. A dead or nearly dead unit (a
//!   row of weights that training drove to about zero, so that its scale is tiny and its bias
//!   in accumulator units enormous) has its scale raised until the bias fits in 2^29 units and
//!   the row's accumulator bound holds; its weights then round to (nearly) zero, which is what
//!   they were. Each such row is reported ([`Adjustment`]).
//! - Hidden activations: `s_y = max|y| / 127` over the calibration set (after ReLU); the real
//!   multiplier `s_w[o] · s_in / s_y` becomes `m_o / 2^shift` with one shift a layer, the largest
//!   that keeps every `m_o` below 2^31 (and at most 62).
//! - A hidden layer ending in `Sigmoid` or `Tanh` requantizes its pre-activation to int8 at
//!   `s_q = min(max|pre|, saturation) / 127` and maps it through the function's table
//!   ([`crate::model::Table`]) to int8 at 1/127, the next layer's input scale.
//! - A hidden linear layer with a reach (the pre-activation of a smooth function's
//!   piecewise-linear form, [`FloatModel::piecewise_linear`]) requantizes at
//!   `min(max|y|, reach) / 127`: the int8 clamp is where the form turns flat.
//! - The last layer keeps its int32 accumulators; output `o` reads as `acc · s_w[o] · s_in`.
//!
//! Every accumulator bound is checked (see [`Model::validate`]), so no intermediate can overflow.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{
    engine::Prediction,
    float::FloatModel,
    model::{
        Activation, InputSpec, Layer, Model, OutputSpec, Requant, Table, TableFunction, Task, ACC_BOUND, INT8_MAX,
        MAX_SHIFT, MODEL_FORMAT, MODEL_FORMAT_VERSION,
    },
    Error, Result,
};

/// Rows of real inputs used to fix the scales and to measure accuracy.
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    /// One input vector a row.
    pub rows: Vec<Vec<f64>>,
}

impl Calibration {
    /// Parses CSV (one row a line, an optional non-numeric header line) or JSON (an array of
    /// arrays, or `{"inputs": [[...], ...]}`), and checks that every row has `width` values.
    pub fn parse(text: &str, width: usize) -> Result<Self> {
        let trimmed = text.trim_start();
        let rows = if trimmed.starts_with('[') || trimmed.starts_with('{') {
            #[derive(Deserialize)]
            #[serde(untagged)]
            enum Doc {
                Rows(Vec<Vec<f64>>),
                Object { inputs: Vec<Vec<f64>> },
            }
            match serde_json::from_str::<Doc>(trimmed)
                .map_err(|e| Error::Calibration(format!("expected JSON rows of numbers: {e}")))?
            {
                Doc::Rows(r) | Doc::Object { inputs: r } => r,
            }
        } else {
            let mut rows = Vec::new();
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                match parse_csv_row(line) {
                    Ok(row) => rows.push(row),
                    Err(_) if rows.is_empty() && n == 0 => continue, // header
                    Err(e) => return Err(Error::Calibration(format!("line {}: {e}", n + 1))),
                }
            }
            rows
        };
        if rows.is_empty() {
            return Err(Error::Calibration("no rows".into()));
        }
        for (i, row) in rows.iter().enumerate() {
            if row.len() != width {
                return Err(Error::Calibration(format!("row {}: expected {width} values, found {}", i + 1, row.len())));
            }
            if let Some(v) = row.iter().find(|v| !v.is_finite()) {
                return Err(Error::Calibration(format!("row {}: value {v} is not finite", i + 1)));
            }
        }
        Ok(Self { rows })
    }

    /// Reads a calibration file.
    pub fn load(path: impl AsRef<Path>, width: usize) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, width).map_err(|e| match e {
            Error::Calibration(m) => Error::Calibration(format!("{}: {m}", path.display())),
            e => e,
        })
    }
}

/// Parses one comma-separated row of numbers.
pub fn parse_csv_row(line: &str) -> std::result::Result<Vec<f64>, String> {
    line.split(',')
        .map(|f| {
            let f = f.trim();
            f.parse::<f64>().map_err(|_| format!("`{f}` is not a number"))
        })
        .collect()
}

/// How well the quantized model follows the float model on the calibration set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "task")]
pub enum AccuracyReport {
    /// Regression: error in output units.
    Regression {
        /// Rows compared.
        rows: usize,
        /// Largest absolute error over rows and outputs.
        max_abs_error: f64,
        /// Mean absolute error over rows and outputs.
        mean_abs_error: f64,
        /// Largest |float output|, for scale.
        max_abs_output: f64,
        /// Each layer's error ([`layer_errors`]).
        layers: Vec<f64>,
    },
    /// Classification: top-1 agreement with the float model.
    Classification {
        /// Rows compared.
        rows: usize,
        /// Rows whose argmax agrees.
        agree: usize,
        /// `agree / rows`.
        agreement: f64,
        /// Each layer's error ([`layer_errors`]).
        layers: Vec<f64>,
    },
}

impl AccuracyReport {
    /// The layer whose quantized activations stray furthest from the float model's, with its
    /// relative error ([`layer_errors`]).
    pub fn worst_layer(&self) -> Option<(usize, f64)> {
        let (Self::Regression { layers, .. } | Self::Classification { layers, .. }) = self;
        layers.iter().copied().enumerate().max_by(|a, b| a.1.total_cmp(&b.1))
    }
}

impl std::fmt::Display for AccuracyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Regression { rows, max_abs_error, mean_abs_error, max_abs_output, .. } => write!(
                f,
                "regression on {rows} calibration rows: max |error| {max_abs_error:.6}, mean |error| {mean_abs_error:.6} (output units; max |output| {max_abs_output:.6})"
            )?,
            Self::Classification { rows, agree, agreement, .. } => write!(
                f,
                "classification on {rows} calibration rows: top-1 agreement with the float model {agree}/{rows} ({:.2}%)",
                agreement * 100.0
            )?,
        }
        if let Some((layer, error)) = self.worst_layer() {
            write!(f, "; worst layer {layer}: relative RMS error {:.2}% of its activations", error * 100.0)?;
        }
        Ok(())
    }
}

/// A row whose weight scale quantization raised so that its bias fits (a dead or nearly dead
/// unit).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Adjustment {
    /// The layer.
    pub layer: usize,
    /// The output (row).
    pub output: usize,
    /// The row's largest |weight| in float.
    pub max_abs_weight: f64,
    /// The weight scale the row's weights would have had.
    pub scale_from: f64,
    /// The weight scale it got.
    pub scale_to: f64,
    /// Weights of the row that are not zero after quantization.
    pub nonzero_weights: usize,
}

impl std::fmt::Display for Adjustment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "layer {} output {}: a dead unit (max |weight| {:.3e}): weight scale raised from {:.3e} to {:.3e} so that \
             its bias fits; {} of its weights stay non-zero",
            self.layer, self.output, self.max_abs_weight, self.scale_from, self.scale_to, self.nonzero_weights
        )
    }
}

/// The shift of an exact layer's multiplier of 1 (`2^22 / 2^22`).
const EXACT_SHIFT: u32 = 22;

/// The bias budget of a row, in accumulator units: a quarter of the int32 range, leaving the rest
/// to the products.
const BIAS_BUDGET: f64 = (1u64 << 29) as f64;

/// Quantizes a float model; `task` defaults to regression for one output, classification
/// otherwise.
pub fn quantize(float: &FloatModel, calibration: &Calibration, task: Option<Task>) -> Result<Model> {
    quantize_with_report(float, calibration, task).map(|(model, _)| model)
}

/// [`quantize`], with the rows whose scale it raised (dead units), for the import report.
pub fn quantize_with_report(
    float: &FloatModel,
    calibration: &Calibration,
    task: Option<Task>,
) -> Result<(Model, Vec<Adjustment>)> {
    float.validate()?;
    if let Some((i, f)) =
        float.layers.iter().enumerate().find_map(|(i, l)| l.table.filter(|f| !f.has_table()).map(|f| (i, f)))
    {
        return Err(Error::Model(format!(
            "layer {i}: {} has no int8 table; quantize the model's piecewise-linear form \
             (FloatModel::piecewise_linear_untabled, which `oracle model import` applies)",
            f.name()
        )));
    }
    if calibration.rows.iter().any(|r| r.len() != float.input_dim) {
        return Err(Error::Calibration(format!("every row must have {} values", float.input_dim)));
    }
    let task = task.unwrap_or(if float.output_dim() == 1 { Task::Regression } else { Task::Classification });
    let balanced = balanced_input(float, calibration);
    let float = balanced.as_ref().unwrap_or(float);

    let input_scale = match float.input_scale {
        Some(s) => s,
        None => {
            let input_max = max_abs(&mut calibration.rows.iter().flat_map(|r| float.normalized(r)));
            if input_max == 0.0 {
                return Err(Error::Calibration("every calibration input is zero: cannot fix the input scale".into()));
            }
            input_max / f64::from(INT8_MAX)
        }
    };
    let activations: Vec<Vec<(Vec<f64>, Vec<f64>)>> = {
        use rayon::prelude::*;
        calibration.rows.par_iter().map(|r| float.activations_and_pre(r)).collect()
    };
    if let Some(l) = float.layers.last().filter(|l| l.table.is_some()) {
        return Err(Error::Model(format!(
            "the last layer ends in {}: a table applies to hidden layers only",
            l.table.map_or("", |f| f.name())
        )));
    }

    let last = float.layers.len() - 1;
    let mut in_scale = input_scale;
    let mut layers = Vec::with_capacity(float.layers.len());
    let mut output_scales = Vec::new();
    let mut adjustments = Vec::new();
    for (index, fl) in float.layers.iter().enumerate() {
        if fl.exact && index != last {
            // Integer weights on the previous int8 values, at their scale: exact (multiplier 1,
            // as 2^22 / 2^22, a shift the tiled step takes too).
            layers.push(Layer {
                in_dim: fl.in_dim,
                out_dim: fl.out_dim,
                activation: if fl.relu { Activation::Relu } else { Activation::None },
                weights: fl.weights.iter().map(|w| *w as i8).collect(),
                bias: fl.bias.iter().map(|b| *b as i32).collect(),
                requant: Some(Requant { multipliers: vec![1 << EXACT_SHIFT; fl.out_dim], shift: EXACT_SHIFT }),
                table: None,
            });
            continue;
        }
        let mut weights = Vec::with_capacity(fl.weights.len());
        let mut bias = Vec::with_capacity(fl.out_dim);
        let mut acc_scales = Vec::with_capacity(fl.out_dim);
        let row_of = |o: usize| &fl.weights[o * fl.in_dim..(o + 1) * fl.in_dim];
        let natural_of = |o: usize| {
            let w_max = max_abs(&mut row_of(o).iter().map(|w| f64::from(*w)));
            if w_max == 0.0 {
                1.0
            } else {
                w_max / f64::from(INT8_MAX)
            }
        };
        // A row of zero weights and a zero bias: a dead unit that constrains no scale.
        let dead = |o: usize| fl.bias[o] == 0.0 && row_of(o).iter().all(|w| *w == 0.0);
        let scale_of = |o: usize| {
            // A dead unit: raise the scale until the bias fits its budget and the row's bound
            // (products of int8 inputs plus the bias) stays below 2^31. A row of zero weights
            // takes its scale from its bias alone.
            let bias_f = f64::from(fl.bias[o]).abs();
            let weighted = row_of(o).iter().any(|w| *w != 0.0);
            let natural = if weighted { natural_of(o) } else { 0.0 };
            let mut w_scale = natural.max(bias_f / (BIAS_BUDGET * in_scale));
            if w_scale == 0.0 {
                w_scale = 1.0;
            }
            let bound = |scale: f64| {
                let products: f64 = row_of(o).iter().map(|w| (f64::from(*w) / scale).round().abs().min(127.0)).sum();
                products * f64::from(INT8_MAX) + (bias_f / (scale * in_scale)).round()
            };
            while bound(w_scale) >= ACC_BOUND as f64 && w_scale.is_finite() {
                w_scale *= 2.0;
            }
            w_scale
        };
        let mut scales: Vec<f64> = (0..fl.out_dim).map(scale_of).collect();
        if index == last && task == Task::Classification {
            // The label is the argmax of the int32 outputs: they must share one scale, or rows
            // with smaller weights would be compared in smaller units. A dead row (all zero, as a
            // two-class head's constant logit is) outputs 0 at any scale: it does not set it.
            let shared = (0..fl.out_dim).filter(|o| !dead(*o)).map(|o| scales[o]).fold(0.0f64, f64::max);
            let shared = if shared == 0.0 { 1.0 } else { shared };
            scales.iter_mut().for_each(|s| *s = shared);
        }
        for (o, w_scale) in scales.into_iter().enumerate() {
            let row = row_of(o);
            let (natural, w_max) = (natural_of(o), max_abs(&mut row.iter().map(|w| f64::from(*w))));
            let quantized: Vec<i8> =
                row.iter().map(|w| (f64::from(*w) / w_scale).round().clamp(-127.0, 127.0) as i8).collect();
            if w_scale > natural && (index != last || task != Task::Classification) {
                adjustments.push(Adjustment {
                    layer: index,
                    output: o,
                    max_abs_weight: w_max,
                    scale_from: natural,
                    scale_to: w_scale,
                    nonzero_weights: quantized.iter().filter(|w| **w != 0).count(),
                });
            }
            weights.extend(quantized);
            let acc_scale = w_scale * in_scale;
            let b = (f64::from(fl.bias[o]) / acc_scale).round();
            if b.abs() >= ACC_BOUND as f64 {
                return Err(Error::Bounds(format!(
                    "layer {index} output {o}: the bias is {b} accumulator units, expected below 2^31 in magnitude"
                )));
            }
            bias.push(b as i32);
            acc_scales.push(acc_scale);
        }
        let activation = if fl.relu { Activation::Relu } else { Activation::None };
        let mut table = None;
        let requant = if index == last {
            output_scales = acc_scales;
            None
        } else {
            let out_scale = match fl.table {
                // q = acc exactly (multiplier 1): the step reads the accumulator's sign.
                Some(TableFunction::Step) => acc_scales.iter().copied().fold(0.0f64, f64::max),
                None => activation_scale(
                    max_abs(&mut activations.iter().flat_map(|a| a[index].0.iter().copied())),
                    fl.reach,
                ),
                Some(f) => {
                    // Requantize the pre-activation to int8, no coarser than the calibration
                    // needs and no finer than where the function's int8 output stops changing.
                    let pre_max = max_abs(&mut activations.iter().flat_map(|a| a[index].1.iter().copied()));
                    let reach = if pre_max == 0.0 { f.saturation() } else { pre_max.min(f.saturation()) };
                    reach / f64::from(INT8_MAX)
                }
            };
            let real: Vec<f64> = acc_scales.iter().map(|s| s / out_scale).collect();
            let largest = real.iter().copied().fold(0.0f64, f64::max);
            let mut shift = MAX_SHIFT;
            while shift > 1 && (largest * 2f64.powi(shift as i32)).round() >= ACC_BOUND as f64 {
                shift -= 1;
            }
            if (largest * 2f64.powi(shift as i32)).round() >= ACC_BOUND as f64 {
                return Err(Error::Bounds(format!(
                    "layer {index}: requantization multiplier {largest} is too large for int32 fixed point"
                )));
            }
            let mut multipliers: Vec<i32> = real.iter().map(|r| (r * 2f64.powi(shift as i32)).round() as i32).collect();
            if fl.table == Some(TableFunction::Step) {
                // Exactly 1 a row, whatever its scale: only the sign matters, and it survives.
                multipliers = vec![2; fl.out_dim];
                shift = 1;
            }
            in_scale = out_scale;
            if let Some(f) = fl.table {
                let t = Table::new(f, out_scale);
                in_scale = t.output_scale;
                table = Some(t);
            }
            Some(Requant { multipliers, shift })
        };
        layers.push(Layer { in_dim: fl.in_dim, out_dim: fl.out_dim, activation, weights, bias, requant, table });
    }
    let model = Model {
        format: MODEL_FORMAT.into(),
        version: MODEL_FORMAT_VERSION,
        name: float.name.clone(),
        task,
        input: InputSpec { len: float.input_dim, scale: input_scale, normalize: float.normalize.clone() },
        layers,
        output: OutputSpec { scales: output_scales },
    };
    model.validate().map_err(|e| match e {
        Error::Model(m) => Error::Bounds(m),
        e => e,
    })?;
    Ok((model, adjustments))
}

/// Compares the quantized model with the float model on every calibration row.
pub fn accuracy(model: &Model, float: &FloatModel, calibration: &Calibration) -> Result<AccuracyReport> {
    let runs = Runs::of(model, float, calibration)?;
    let layers = layer_errors_of(model, float, &runs);
    output_report(model, &runs, layers)
}

/// Each calibration row's float activations and quantized trace, computed once (rows on every
/// core: a large model's report is most of its import) and read by both reports.
struct Runs {
    floats: Vec<Vec<Vec<f64>>>,
    traces: Vec<crate::Trace>,
}

impl Runs {
    fn of(model: &Model, float: &FloatModel, calibration: &Calibration) -> Result<Self> {
        use rayon::prelude::*;
        let (floats, traces): (Vec<_>, Vec<_>) = calibration
            .rows
            .par_iter()
            .map(|row| Ok((float.activations(row), model.run(&model.quantize_input(row)?)?)))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .unzip();
        Ok(Self { floats, traces })
    }

    /// The float model's output on row `i`.
    fn expected(&self, i: usize) -> &[f64] {
        self.floats[i].last().map_or(&[], Vec::as_slice)
    }
}

/// Compares the quantized model's outputs with those of a float model whose layers are not its
/// own (the original of a [`FloatModel::piecewise_linear`] form): the report without layer
/// errors.
pub fn output_accuracy(model: &Model, float: &FloatModel, calibration: &Calibration) -> Result<AccuracyReport> {
    if float.output_dim() != model.output.scales.len() || float.input_dim != model.input.len {
        return Err(Error::Model(format!(
            "the float model maps {} inputs to {} outputs, the quantized one {} to {}",
            float.input_dim,
            float.output_dim(),
            model.input.len,
            model.output.scales.len()
        )));
    }
    let runs = Runs::of(model, float, calibration)?;
    output_report(model, &runs, Vec::new())
}

fn output_report(model: &Model, runs: &Runs, layers: Vec<f64>) -> Result<AccuracyReport> {
    let rows = runs.traces.len();
    match model.task {
        Task::Classification => {
            let agree = (0..rows)
                .filter(|i| crate::engine::argmax(runs.traces[*i].output()) == argmax_f64(runs.expected(*i)))
                .count();
            Ok(AccuracyReport::Classification { rows, agree, agreement: agree as f64 / rows as f64, layers })
        }
        Task::Regression => {
            let (mut max_err, mut sum_err, mut count, mut max_out) = (0.0f64, 0.0f64, 0usize, 0.0f64);
            for (i, trace) in runs.traces.iter().enumerate() {
                let expected = runs.expected(i);
                let Prediction::Regression { values } = model.predict(trace.output()) else {
                    unreachable!("a regression model predicts values")
                };
                for (e, v) in expected.iter().zip(&values) {
                    let err = (e - v).abs();
                    max_err = max_err.max(err);
                    sum_err += err;
                    count += 1;
                    max_out = max_out.max(e.abs());
                }
            }
            Ok(AccuracyReport::Regression {
                rows,
                max_abs_error: max_err,
                mean_abs_error: sum_err / count as f64,
                max_abs_output: max_out,
                layers,
            })
        }
    }
}

/// Each layer's quantization error on the calibration rows: the RMS difference between its
/// dequantized int activations and the float model's, over the float activations' RMS (0 for a
/// layer that is exact, 1 for one that is all noise). A hidden layer's int8 activations are read
/// at the scale quantization fixed for them (the calibration's largest |activation| / 127), the
/// last layer's int32 outputs at the output scales. Names the layer to look at when a model's
/// accuracy falls short.
pub fn layer_errors(model: &Model, float: &FloatModel, calibration: &Calibration) -> Result<Vec<f64>> {
    Ok(layer_errors_of(model, float, &Runs::of(model, float, calibration)?))
}

fn layer_errors_of(model: &Model, float: &FloatModel, runs: &Runs) -> Vec<f64> {
    let n = model.layers.len();
    let floats = &runs.floats;
    let mut scales: Vec<Vec<f64>> = Vec::with_capacity(n);
    for l in 0..n {
        let out = model.layers[l].out_dim;
        let s = if l + 1 == n {
            model.output.scales.clone()
        } else if let Some(t) = &model.layers[l].table {
            vec![t.output_scale; out]
        } else if float.layers[l].exact {
            // The previous layer's scale (the model input's for the first).
            vec![scales.last().map_or(model.input.scale, |p: &Vec<f64>| p[0]); out]
        } else {
            let y_max = max_abs(&mut floats.iter().flat_map(|a| a[l].iter().copied()));
            vec![activation_scale(y_max, float.layers[l].reach); out]
        };
        scales.push(s);
    }
    let (mut err, mut norm) = (vec![0.0f64; n], vec![0.0f64; n]);
    for (trace, expected) in runs.traces.iter().zip(floats) {
        for l in 0..n {
            // A layer with a reach is compared where it matters: within it (the clamp holds the rest).
            let reach = float.layers[l].reach.unwrap_or(f64::INFINITY);
            for ((q, e), s) in trace.steps[l + 1].iter().zip(&expected[l]).zip(&scales[l]) {
                let e = e.clamp(-reach, reach);
                let d = f64::from(*q) * s - e;
                err[l] += d * d;
                norm[l] += e * e;
            }
        }
    }
    err.iter()
        .zip(&norm)
        .map(|(e, z)| {
            if *z == 0.0 {
                if *e == 0.0 {
                    0.0
                } else {
                    1.0
                }
            } else {
                (e / z).sqrt()
            }
        })
        .collect()
}

/// A hidden activation's int8 scale: `max|y| / 127`, capped at `reach / 127` for a layer with a
/// reach ([`crate::FloatLayer::reach`]: a piecewise-linear function's pre-activation, flat
/// beyond it, where the int8 clamp holds); 1 for an all-zero activation.
fn activation_scale(y_max: f64, reach: Option<f64>) -> f64 {
    let y_max = reach.map_or(y_max, |r| if y_max == 0.0 { r } else { y_max.min(r) });
    if y_max == 0.0 {
        1.0
    } else {
        y_max / f64::from(INT8_MAX)
    }
}

/// The largest |v|.
/// How many times the typical input value's range the widest may be before the input is
/// balanced ([`balanced_input`]): beyond it the typical value takes fewer than 8 of the int8
/// input's levels.
const INPUT_SPREAD: f64 = 16.0;

/// `float` with each input value centred and scaled to the typical value's range (the median
/// over the input's values of their largest magnitude on the calibration rows), its first layer
/// compensating exactly, when the input's values have ranges that far apart (raw tabular
/// features: an amount in thousands beside a ratio in hundredths; a `ColumnTransformer` that
/// passes some columns through unscaled): the int8 input has one scale, and without this the
/// narrow values would take a few of its levels. `None` when the ranges are alike (a scaler's
/// output, an image), the importer fixed the input scale (tree ensembles) or the first layer is
/// exact (a max pool's tournament).
fn balanced_input(float: &FloatModel, calibration: &Calibration) -> Option<FloatModel> {
    let first = float.layers.first()?;
    if float.input_scale.is_some() || first.exact || calibration.rows.is_empty() {
        return None;
    }
    let mut bounds = vec![(f64::INFINITY, f64::NEG_INFINITY); float.input_dim];
    for row in &calibration.rows {
        for ((lo, hi), x) in bounds.iter_mut().zip(float.normalized(row)) {
            (*lo, *hi) = (lo.min(x), hi.max(x));
        }
    }
    let mut ranges: Vec<f64> = bounds.iter().map(|(lo, hi)| lo.abs().max(hi.abs())).filter(|r| *r > 0.0).collect();
    ranges.sort_by(f64::total_cmp);
    let typical = *ranges.get(ranges.len() / 2)?;
    if ranges.last().is_none_or(|widest| *widest <= INPUT_SPREAD * typical) {
        return None;
    }
    let mut normalize = float.normalize.clone().unwrap_or_else(|| crate::model::Normalize::identity(float.input_dim));
    let mut layer = first.clone();
    let mut bias: Vec<f64> = layer.bias.iter().map(|b| f64::from(*b)).collect();
    for (i, (lo, hi)) in bounds.iter().enumerate() {
        // x'' = (x' - mid) · k, so x' = x'' / k + mid: the layer's column i over k, and its
        // value at mid into the bias.
        let (mid, half) = ((lo + hi) / 2.0, (hi - lo) / 2.0);
        let k = if half > 0.0 { typical / half } else { 1.0 };
        normalize.scale[i] *= k;
        normalize.offset[i] = (normalize.offset[i] - mid) * k;
        for (r, b) in bias.iter_mut().enumerate() {
            let w = &mut layer.weights[r * layer.in_dim + i];
            *b += f64::from(*w) * mid;
            *w = (f64::from(*w) / k) as f32;
        }
    }
    layer.bias = bias.into_iter().map(|b| b as f32).collect();
    let mut balanced = float.clone();
    balanced.normalize = Some(normalize);
    balanced.layers[0] = layer;
    Some(balanced)
}

fn max_abs(it: &mut dyn Iterator<Item = f64>) -> f64 {
    it.fold(0.0f64, |m, v| m.max(v.abs()))
}

/// Index of the largest float (ties to the lowest index).
pub fn argmax_f64(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}
