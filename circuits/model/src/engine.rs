//! The bit-exact integer reference engine. Circuits, oracle and watchtower all compute exactly
//! these integers.

use serde::{Deserialize, Serialize};

use crate::{
    model::{Activation, Layer, Model, Task, INT8_MAX},
    Error, Result,
};

/// `floor((acc · m + 2^(shift-1)) / 2^shift)`: `acc · m / 2^shift` rounded half toward +infinity.
///
/// Exact for every `|acc| < 2^31`, `0 ≤ m < 2^31`, `1 ≤ shift ≤ 62` (computed in i128).
pub fn requantize(acc: i64, multiplier: i64, shift: u32) -> i64 {
    let product = i128::from(acc) * i128::from(multiplier);
    let rounded = (product + (1i128 << (shift - 1))) >> shift;
    // |rounded| ≤ 2^62 / 2 + 1 by the bounds above.
    rounded as i64
}

/// Clamps a requantized value to int8: `[0, 127]` after ReLU, `[-127, 127]` otherwise.
pub fn clamp_int8(value: i64, activation: Activation) -> i32 {
    let lo = match activation {
        Activation::Relu => 0,
        Activation::None => -i64::from(INT8_MAX),
    };
    value.clamp(lo, i64::from(INT8_MAX)) as i32
}

/// The activations after every step: `steps[0]` is the int8 input, `steps[i]` the output of
/// layer `i` (int8 for hidden layers, int32 accumulators for the last). These are the preimages
/// of the step commitments z_0..z_L.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// z_0..z_L before commitment.
    pub steps: Vec<Vec<i32>>,
}

impl Trace {
    /// The model's int32 output (the last step).
    pub fn output(&self) -> &[i32] {
        self.steps.last().map_or(&[], Vec::as_slice)
    }
}

/// A model output read in real units.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Prediction {
    /// Real-valued outputs.
    Regression {
        /// `acc_o · scale_o` for each output.
        values: Vec<f64>,
    },
    /// The argmax class.
    Classification {
        /// Index of the largest accumulator; ties go to the lowest index.
        class: usize,
    },
}

impl Model {
    /// Quantizes a real input: `clamp(round_half_away(x / scale), -127, 127)`.
    pub fn quantize_input(&self, input: &[f64]) -> Result<Vec<i8>> {
        if input.len() != self.input.len {
            return Err(Error::Input(format!("expected {} values, found {}", self.input.len, input.len())));
        }
        if let Some((i, x)) = input.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(Error::Input(format!("value {i} is not a finite number: {x}")));
        }
        let normalized = self.input.normalize.as_ref().map(|n| n.apply(input));
        normalized
            .as_deref()
            .unwrap_or(input)
            .iter()
            .map(|x| {
                let q = (x / self.input.scale).round().clamp(-127.0, 127.0);
                Ok(q as i8)
            })
            .collect()
    }

    /// Runs the model on an int8 input and returns the full trace.
    pub fn run(&self, input: &[i8]) -> Result<Trace> {
        if input.len() != self.input.len {
            return Err(Error::Input(format!("expected {} int8 values, found {}", self.input.len, input.len())));
        }
        if let Some(i) = input.iter().position(|v| *v == i8::MIN) {
            return Err(Error::Input(format!("value {i} is -128, outside the symmetric int8 range [-127, 127]")));
        }
        let mut steps = Vec::with_capacity(self.layers.len() + 1);
        steps.push(input.iter().map(|v| i32::from(*v)).collect::<Vec<_>>());
        for layer in &self.layers {
            let next = layer.forward(steps.last().expect("at least the input"));
            steps.push(next);
        }
        Ok(Trace { steps })
    }

    /// Reads an int32 output in real units.
    pub fn predict(&self, output: &[i32]) -> Prediction {
        match self.task {
            Task::Regression => Prediction::Regression {
                values: output.iter().zip(&self.output.scales).map(|(v, s)| f64::from(*v) * s).collect(),
            },
            Task::Classification => Prediction::Classification { class: argmax(output) },
        }
    }
}

impl Layer {
    /// The int32 accumulators `W·x + b` with the activation applied (before requantization).
    pub fn accumulate(&self, x: &[i32]) -> Vec<i64> {
        (0..self.out_dim)
            .map(|o| {
                let dot: i64 = self.row(o).iter().zip(x).map(|(w, v)| i64::from(*w) * i64::from(*v)).sum();
                let acc = dot + i64::from(self.bias[o]);
                match self.activation {
                    Activation::Relu => acc.max(0),
                    Activation::None => acc,
                }
            })
            .collect()
    }

    /// One step: accumulate, activate, requantize and look up the table if any (hidden layers), or
    /// keep int32 (last layer).
    ///
    /// `x` must hold values in [-127, 127]; then every accumulator is below 2^31 in magnitude
    /// (checked by [`Model::validate`]), so the casts below are exact.
    pub fn forward(&self, x: &[i32]) -> Vec<i32> {
        let acc = self.accumulate(x);
        match &self.requant {
            None => acc.into_iter().map(|a| a as i32).collect(),
            Some(r) => acc
                .into_iter()
                .zip(&r.multipliers)
                .map(|(a, m)| {
                    let q = clamp_int8(requantize(a, i64::from(*m), r.shift), self.activation);
                    self.table.as_ref().map_or(q, |t| t.lookup(q))
                })
                .collect(),
        }
    }
}

/// Index of the largest value; ties go to the lowest index. Empty input gives 0.
pub fn argmax(values: &[i32]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}
