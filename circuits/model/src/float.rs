//! The float model an ONNX file describes, before quantization.

use crate::{Error, Result};

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
