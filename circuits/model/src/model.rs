use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The `format` field of every model file.
pub const MODEL_FORMAT: &str = "verdict-model";
/// The model format version this build reads and writes.
pub const MODEL_FORMAT_VERSION: u32 = 1;

/// The largest magnitude of an int8 value in Verdict: int8 is symmetric, -128 is never used.
pub const INT8_MAX: i32 = 127;
/// Every accumulator stays strictly below this magnitude (proven at import and on load).
pub const ACC_BOUND: i64 = 1 << 31;
/// The largest requantization shift.
pub const MAX_SHIFT: u32 = 62;

/// A quantized, integer-only model: the unit that is registered, committed, run and proven.
///
/// Version 1 holds a chain of dense layers. Hidden layers requantize their int32 accumulators to
/// int8; the last layer's int32 accumulators are the output, read in real units through
/// [`OutputSpec::scales`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// Always [`MODEL_FORMAT`].
    pub format: String,
    /// Always [`MODEL_FORMAT_VERSION`].
    pub version: u32,
    /// A human-readable name; not committed.
    pub name: String,
    /// How the output is read.
    pub task: Task,
    /// The input vector and its quantization.
    pub input: InputSpec,
    /// The layers, in order; one layer is one step of the trace.
    pub layers: Vec<Layer>,
    /// How the int32 output is read in real units.
    pub output: OutputSpec,
}

/// How a model's output is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// The outputs are real values (`acc · scale`).
    Regression,
    /// The output is the index of the largest accumulator (ties go to the lowest index).
    Classification,
}

/// The model's input vector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Number of input values.
    pub len: usize,
    /// Real value of one int8 step: `x_q = clamp(round_half_away(x' / scale), -127, 127)`,
    /// where `x'` is `x` normalized.
    pub scale: f64,
    /// A per-value normalization of real inputs before quantization, `x'_i = x_i · scale_i +
    /// offset_i` (a scikit-learn scaler in front of the model); absent: `x' = x`. Committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<Normalize>,
}

/// A per-value affine normalization of the input (see [`InputSpec::normalize`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalize {
    /// One factor per input value.
    pub scale: Vec<f64>,
    /// One offset per input value.
    pub offset: Vec<f64>,
}

impl Normalize {
    /// The identity on `n` values.
    pub fn identity(n: usize) -> Self {
        Self { scale: vec![1.0; n], offset: vec![0.0; n] }
    }

    /// `x'` of a real input `x`.
    pub fn apply(&self, x: &[f64]) -> Vec<f64> {
        x.iter().zip(self.scale.iter().zip(&self.offset)).map(|(x, (k, o))| x * k + o).collect()
    }
}

/// A dense layer `acc = W·x + b` followed by an optional ReLU and requantization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// Input width.
    pub in_dim: usize,
    /// Output width.
    pub out_dim: usize,
    /// Applied to the int32 accumulator (before requantization).
    pub activation: Activation,
    /// int8 weights in [-127, 127], row-major: `weights[o * in_dim + i]`. In the file: a hex
    /// string of their two's-complement bytes (two digits a weight), or a JSON array of numbers.
    #[serde(with = "int8_weights")]
    pub weights: Vec<i8>,
    /// int32 bias, one per output.
    pub bias: Vec<i32>,
    /// Present on hidden layers, absent on the last layer.
    pub requant: Option<Requant>,
    /// A function applied to each requantized int8 output by table (`Sigmoid`, `Tanh`): hidden
    /// layers without ReLU only. Absent: the requantized value is the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<Table>,
}

/// The number of entries of an activation table: one per int8 value in [-127, 127].
pub const TABLE_LEN: usize = 255;

/// An elementwise function over int8, by table: `y = values[q + 127]` for the requantized
/// `q ∈ [-127, 127]`. The values are committed (they are part of the layer's commitment); the
/// function names what they were made from, at the scales below.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// What the table computes.
    pub function: TableFunction,
    /// Real value of one step of `q` (the pre-activation scale).
    pub input_scale: f64,
    /// Real value of one step of `y`.
    pub output_scale: f64,
    /// [`TABLE_LEN`] int8 values in [-127, 127], `values[q + 127]`. In the file: hex, as weights.
    #[serde(with = "int8_weights")]
    pub values: Vec<i8>,
}

/// A smooth activation proven by table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableFunction {
    /// `1 / (1 + e^-x)`, in (0, 1).
    Sigmoid,
    /// `tanh(x)`, in (-1, 1).
    Tanh,
    /// `1` for `x ≥ 0`, else `0`: a tree ensemble's comparisons. Its layer requantizes with a
    /// multiplier of exactly 1 (`m = 2`, `shift = 1`), so that the step reads the accumulator's
    /// sign (the clamp keeps it), and its output is 0 or 1 at scale 1.
    Step,
    /// `x` for `x > 0`, else `e^x − 1` (ONNX `Elu`, `alpha` 1). Unbounded, so no int8 table:
    /// proven in piecewise-linear form only ([`crate::FloatModel::piecewise_linear`]), as are the
    /// functions below.
    Elu,
    /// `γ · (x` for `x > 0`, else `α · (e^x − 1))` with the self-normalizing constants
    /// ([`SELU_ALPHA`], [`SELU_GAMMA`]; ONNX `Selu`'s defaults).
    Selu,
    /// `ln(1 + e^x)` (ONNX `Softplus`).
    Softplus,
    /// `x · sigmoid(x)` (SiLU or Swish: `Sigmoid` then `Mul` with its input, as PyTorch exports
    /// `nn.SiLU`).
    Silu,
    /// `x · Φ(x)` with `Φ` the standard normal CDF (ONNX `Gelu`, exact form).
    Gelu,
    /// `x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³)))` (ONNX `Gelu` with `approximate="tanh"`,
    /// PyTorch's `nn.GELU(approximate="tanh")`): within 5e-4 of [`Self::Gelu`], but not it.
    GeluTanh,
    /// `x · relu6(x + 3) / 6` (ONNX `HardSwish`, MobileNetV3's).
    HardSwish,
    /// `x · tanh(ln(1 + e^x))` (ONNX `Mish`).
    Mish,
}

/// `Selu`'s α (ONNX's default, to the float32 it is written in).
pub const SELU_ALPHA: f64 = 1.673_263_192_176_818_8;
/// `Selu`'s γ (ONNX's default).
pub const SELU_GAMMA: f64 = 1.050_701_022_148_132_3;

/// `erf(x)`, to about 1e-15 (a Taylor series near 0, a continued fraction for `erfc` beyond).
pub(crate) fn erf(x: f64) -> f64 {
    let a = x.abs();
    let value = if a < 2.5 {
        // erf(a) = 2/√π · Σ (−1)^n a^(2n+1) / (n! (2n+1)).
        let (mut term, mut sum, mut n) = (a, a, 0.0);
        while term.abs() > 1e-17 * sum.abs() {
            n += 1.0;
            term *= -a * a / n;
            sum += term / (2.0 * n + 1.0);
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        // erfc(a) = e^(−a²)/√π · 1/(a + 1/2/(a + 1/(a + 3/2/(a + …)))), evaluated from the tail.
        let mut fraction = 0.0;
        for k in (1..60).rev() {
            fraction = (f64::from(k) / 2.0) / (a + fraction);
        }
        1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / (a + fraction)
    };
    value.copysign(x)
}

impl TableFunction {
    /// The function in float.
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Self::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Self::Tanh => x.tanh(),
            Self::Step => f64::from(u8::from(x >= 0.0)),
            Self::Elu => {
                if x > 0.0 {
                    x
                } else {
                    x.exp_m1()
                }
            }
            Self::Selu => SELU_GAMMA * if x > 0.0 { x } else { SELU_ALPHA * x.exp_m1() },
            // ln(1 + e^x) = max(x, 0) + ln(1 + e^−|x|), without overflow.
            Self::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
            Self::Silu => x / (1.0 + (-x).exp()),
            Self::Gelu => 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2)),
            Self::GeluTanh => {
                let sqrt_2_over_pi = (2.0 / std::f64::consts::PI).sqrt();
                0.5 * x * (1.0 + (sqrt_2_over_pi * (x + 0.044_715 * x * x * x)).tanh())
            }
            Self::HardSwish => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
            Self::Mish => x * Self::Softplus.apply(x).tanh(),
        }
    }

    /// Whether the function has an int8 table ([`Table`]): bounded in [-1, 1] (`Sigmoid`,
    /// `Tanh`) or a step. The others grow like `x` and are proven in piecewise-linear form.
    pub fn has_table(self) -> bool {
        matches!(self, Self::Sigmoid | Self::Tanh | Self::Step)
    }

    /// The slope for large `x` (0 when the function levels off).
    pub fn end_slope(self) -> f64 {
        match self {
            Self::Sigmoid | Self::Tanh | Self::Step => 0.0,
            Self::Elu | Self::Softplus | Self::Silu | Self::Gelu | Self::GeluTanh | Self::HardSwish | Self::Mish => 1.0,
            Self::Selu => SELU_GAMMA,
        }
    }

    /// Where a piecewise-linear form puts its knots: beyond them the function is flat on the
    /// left and of slope [`Self::end_slope`] on the right, within 0.4% of its scale.
    pub fn knot_range(self) -> (f64, f64) {
        match self {
            Self::Sigmoid | Self::Tanh | Self::Step => (-self.saturation(), self.saturation()),
            // e^−6 − 1 is within 0.0025 of −1; linear from 0 exactly.
            Self::Elu | Self::Selu => (-6.0, 0.0),
            Self::Softplus => (-6.0, 6.0),
            Self::Silu => (-8.0, 8.0),
            Self::Gelu | Self::GeluTanh => (-4.0, 4.0),
            // Exactly 0 below -3 and x above 3.
            Self::HardSwish => (-3.0, 3.0),
            Self::Mish => (-8.0, 6.0),
        }
    }

    /// The ONNX operator's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sigmoid => "Sigmoid",
            Self::Tanh => "Tanh",
            Self::Step => "a tree's comparison",
            Self::Elu => "Elu",
            Self::Selu => "Selu",
            Self::Softplus => "Softplus",
            Self::Silu => "SiLU (Sigmoid then Mul)",
            Self::Gelu => "Gelu",
            Self::GeluTanh => "Gelu (tanh approximation)",
            Self::HardSwish => "HardSwish",
            Self::Mish => "Mish",
        }
    }

    /// The largest |x| worth resolving: beyond it the int8 output at scale 1/127 no longer
    /// changes (sigmoid(5.6) · 127 and tanh(3.2) · 127 round to 127), so a pre-activation scale
    /// of at most `saturation / 127` spends no int8 step on the flat tails.
    pub fn saturation(self) -> f64 {
        match self {
            Self::Sigmoid => 5.6,
            Self::Tanh => 3.2,
            Self::Step => f64::from(INT8_MAX),
            _ => self.knot_range().1.max(-self.knot_range().0),
        }
    }
}

impl Table {
    /// The table of `function` for pre-activations at `input_scale`, with outputs at 1/127:
    /// `values[q + 127] = round_half_away(f(q · input_scale) · 127)`.
    ///
    /// The step's table ([`TableFunction::Step`]) reads `q` alone: `values[q + 127] = [q ≥ 0]`,
    /// at output scale 1.
    pub fn new(function: TableFunction, input_scale: f64) -> Self {
        if function == TableFunction::Step {
            let values = (-INT8_MAX..=INT8_MAX).map(|q| i8::from(q >= 0)).collect();
            return Self { function, input_scale, output_scale: 1.0, values };
        }
        let output_scale = 1.0 / f64::from(INT8_MAX);
        let values = (-INT8_MAX..=INT8_MAX)
            .map(|q| (function.apply(f64::from(q) * input_scale) / output_scale).round().clamp(-127.0, 127.0) as i8)
            .collect();
        Self { function, input_scale, output_scale, values }
    }

    /// `y` for a requantized `q ∈ [-127, 127]`.
    pub fn lookup(&self, q: i32) -> i32 {
        i32::from(self.values[(q + INT8_MAX) as usize])
    }
}

/// A layer's weights in a model file: written as a hex string of their two's-complement bytes
/// (a 1M-weight model is 2.7 MB, not 16), read from that or from a JSON array of numbers (files
/// written before, and ones made by hand).
mod int8_weights {
    use serde::{de, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(weights: &[i8], s: S) -> Result<S::Ok, S::Error> {
        let bytes: Vec<u8> = weights.iter().map(|w| *w as u8).collect();
        s.serialize_str(&hex::encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i8>, D::Error> {
        d.deserialize_any(Weights)
    }

    struct Weights;

    impl<'de> de::Visitor<'de> for Weights {
        type Value = Vec<i8>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a hex string of int8 bytes or an array of int8 numbers")
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<Vec<i8>, E> {
            let bytes = hex::decode(s).map_err(|e| E::custom(format!("weights: not a hex string of bytes ({e})")))?;
            Ok(bytes.into_iter().map(|b| b as i8).collect())
        }

        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<i8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(w) = seq.next_element::<i8>()? {
                out.push(w);
            }
            Ok(out)
        }
    }
}

/// An activation function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Identity.
    None,
    /// `max(x, 0)`.
    Relu,
}

/// Fixed-point requantization of an int32 accumulator to int8:
/// `q = clamp(floor((acc · m_o + 2^(shift-1)) / 2^shift), lo, 127)`, i.e. `acc · m_o / 2^shift`
/// rounded half toward +infinity, with `lo = 0` after ReLU and `-127` otherwise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requant {
    /// One multiplier per output, in [0, 2^31).
    pub multipliers: Vec<i32>,
    /// The shared shift, in [1, 62].
    pub shift: u32,
}

/// The real-unit reading of the output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// Real value of one unit of each output accumulator.
    pub scales: Vec<f64>,
}

impl Model {
    /// Parses and validates a model from its JSON text.
    pub fn from_json(text: &str) -> Result<Self> {
        // Read the header first, so that a file of another version says so instead of failing
        // on an unknown field.
        #[derive(Deserialize)]
        struct Header {
            format: Option<String>,
            version: Option<u32>,
        }
        let header: Header = serde_json::from_str(text).map_err(|e| Error::Model(format!("not a model file: {e}")))?;
        if header.format.as_deref() != Some(MODEL_FORMAT) {
            return Err(Error::Model(format!(
                "expected format \"{MODEL_FORMAT}\", found {:?}",
                header.format.unwrap_or_default()
            )));
        }
        if header.version != Some(MODEL_FORMAT_VERSION) {
            return Err(Error::Model(format!(
                "expected format version {MODEL_FORMAT_VERSION}, found {}",
                header.version.map_or("none".into(), |v| v.to_string())
            )));
        }
        let model: Self = serde_json::from_str(text).map_err(|e| Error::Model(e.to_string()))?;
        model.validate()?;
        Ok(model)
    }

    /// Reads and validates a model file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text).map_err(|e| {
            if let Error::Model(m) = e {
                Error::Model(format!("{}: {m}", path.display()))
            } else {
                e
            }
        })
    }

    /// The model as pretty JSON (the file format).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a model always serializes");
        text.push('\n');
        text
    }

    /// Writes the model file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.to_json()).map_err(|e| Error::io(path, e))
    }

    /// Number of weights and biases.
    pub fn parameter_count(&self) -> usize {
        self.layers.iter().map(|l| l.weights.len() + l.bias.len()).sum()
    }

    /// Number of steps of a trace (one per layer).
    pub fn steps(&self) -> usize {
        self.layers.len()
    }

    /// The output width.
    pub fn output_len(&self) -> usize {
        self.layers.last().map_or(0, |l| l.out_dim)
    }

    /// Checks every structural rule and every bound that the engine and the circuits rely on.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::Model(msg));
        if self.format != MODEL_FORMAT || self.version != MODEL_FORMAT_VERSION {
            return bad(format!(
                "expected {MODEL_FORMAT} v{MODEL_FORMAT_VERSION}, found {} v{}",
                self.format, self.version
            ));
        }
        if self.input.len == 0 {
            return bad("input length must be at least 1".into());
        }
        if let Some(n) = &self.input.normalize {
            if n.scale.len() != self.input.len || n.offset.len() != self.input.len {
                return bad(format!("input normalization must have {} factors and offsets", self.input.len));
            }
            if n.scale.iter().chain(&n.offset).any(|v| !v.is_finite()) {
                return bad("input normalization must be finite".into());
            }
        }
        if !(self.input.scale.is_finite() && self.input.scale > 0.0) {
            return bad(format!("input scale must be finite and positive, found {}", self.input.scale));
        }
        if self.layers.is_empty() {
            return bad("a model needs at least one layer".into());
        }
        let mut width = self.input.len;
        let last = self.layers.len() - 1;
        for (index, layer) in self.layers.iter().enumerate() {
            layer.validate(index, width, index == last)?;
            width = layer.out_dim;
        }
        if self.output.scales.len() != width {
            return bad(format!("expected {width} output scales, found {}", self.output.scales.len()));
        }
        if let Some(s) = self.output.scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return bad(format!("output scales must be finite and positive, found {s}"));
        }
        if self.task == Task::Classification && width < 2 {
            return bad(format!("a classifier needs at least 2 outputs, found {width}"));
        }
        Ok(())
    }
}

impl Layer {
    fn validate(&self, index: usize, in_width: usize, last: bool) -> Result<()> {
        let bad = |msg: String| Err(Error::Model(format!("layer {index}: {msg}")));
        if self.in_dim != in_width {
            return bad(format!("expected in_dim {in_width} (the previous width), found {}", self.in_dim));
        }
        if self.out_dim == 0 {
            return bad("out_dim must be at least 1".into());
        }
        let cells = self.in_dim.checked_mul(self.out_dim);
        if cells != Some(self.weights.len()) {
            return bad(format!("expected {} x {} weights, found {}", self.out_dim, self.in_dim, self.weights.len()));
        }
        if self.weights.contains(&i8::MIN) {
            return bad("weight -128 is outside the symmetric int8 range [-127, 127]".into());
        }
        if self.bias.len() != self.out_dim {
            return bad(format!("expected {} biases, found {}", self.out_dim, self.bias.len()));
        }
        for o in 0..self.out_dim {
            let bound = self.accumulator_bound(o);
            if bound >= ACC_BOUND {
                return bad(format!("output {o} can reach |acc| = {bound}, expected below 2^31 (int32 accumulation)"));
            }
        }
        if last && self.table.is_some() {
            return bad("the last layer cannot apply a table (its int32 output is the result)".into());
        }
        match (&self.requant, last) {
            (Some(_), true) => bad("the last layer must not requantize (its int32 output is the result)".into()),
            (None, false) => bad("a hidden layer must requantize to int8".into()),
            (None, true) => Ok(()),
            (Some(r), false) => {
                if let Some(t) = &self.table {
                    self.validate_table(t).or_else(&bad)?;
                }
                if r.multipliers.len() != self.out_dim {
                    return bad(format!(
                        "expected {} requantization multipliers, found {}",
                        self.out_dim,
                        r.multipliers.len()
                    ));
                }
                if let Some(m) = r.multipliers.iter().find(|m| **m < 0) {
                    return bad(format!("multipliers must be non-negative, found {m}"));
                }
                if !(1..=MAX_SHIFT).contains(&r.shift) {
                    return bad(format!("shift must be in [1, {MAX_SHIFT}], found {}", r.shift));
                }
                Ok(())
            }
        }
    }

    fn validate_table(&self, t: &Table) -> std::result::Result<(), String> {
        if self.activation != Activation::None {
            return Err("a layer with a table must not also apply ReLU".into());
        }
        if t.values.len() != TABLE_LEN {
            return Err(format!(
                "expected {TABLE_LEN} table values (one per int8 in [-127, 127]), found {}",
                t.values.len()
            ));
        }
        if t.values.contains(&i8::MIN) {
            return Err("table value -128 is outside the symmetric int8 range [-127, 127]".into());
        }
        if !(t.input_scale.is_finite() && t.input_scale > 0.0 && t.output_scale.is_finite() && t.output_scale > 0.0) {
            return Err("table scales must be finite and positive".into());
        }
        if !t.function.has_table() {
            return Err(format!("{} has no int8 table (it is proven in piecewise-linear form)", t.function.name()));
        }
        // Sigmoid and Tanh are non-decreasing: a table that is not was not made from them.
        if t.values.windows(2).any(|w| w[0] > w[1]) {
            return Err(format!("the {} table is not non-decreasing", t.function.name()));
        }
        Ok(())
    }

    /// The largest |acc| output `o` can reach for any int8 input in [-127, 127].
    pub fn accumulator_bound(&self, o: usize) -> i64 {
        let row = &self.weights[o * self.in_dim..(o + 1) * self.in_dim];
        let weights: i64 = row.iter().map(|w| i64::from(w.unsigned_abs())).sum();
        weights * i64::from(INT8_MAX) + i64::from(self.bias[o].unsigned_abs())
    }

    /// Row `o` of the weight matrix.
    pub fn row(&self, o: usize) -> &[i8] {
        &self.weights[o * self.in_dim..(o + 1) * self.in_dim]
    }
}
