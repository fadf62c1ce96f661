//! Reading an inference input from a command line or a file: real values (quantized with the
//! model's input scale) or int8 values as they are.

use std::path::Path;

use crate::{parse_csv_row, Error, Model, Result};

/// Input values as given: a JSON array or a CSV row of numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct InputValues(pub Vec<f64>);

impl InputValues {
    /// The values as int8, when each is an integer in [-127, 127].
    pub fn as_int8(&self) -> Result<Vec<i8>> {
        self.0
            .iter()
            .enumerate()
            .map(|(i, v)| {
                if v.fract() != 0.0 || !(-127.0..=127.0).contains(v) {
                    return Err(Error::Input(format!(
                        "value {i} is {v}, expected an integer in [-127, 127] for a quantized input"
                    )));
                }
                Ok(*v as i8)
            })
            .collect()
    }

    /// The int8 input of `model`: as it is when `quantized`, else quantized with its input scale;
    /// either way exactly the model's input width.
    pub fn for_model(&self, model: &Model, quantized: bool) -> Result<Vec<i8>> {
        if quantized {
            if self.0.len() != model.input.len {
                return Err(Error::Input(format!("expected {} values, found {}", model.input.len, self.0.len())));
            }
            self.as_int8()
        } else {
            model.quantize_input(&self.0)
        }
    }
}

/// Parses an input argument: a JSON array of numbers, a CSV row, or `@FILE` holding either.
pub fn parse_input(arg: &str) -> Result<InputValues> {
    let text = match arg.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(Path::new(path)).map_err(|source| Error::Io { path: path.into(), source })?
        }
        None => arg.to_string(),
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::Input("empty, expected a JSON array or a CSV row of numbers".into()));
    }
    let values = if text.starts_with('[') {
        serde_json::from_str::<Vec<f64>>(text)
            .map_err(|e| Error::Input(format!("expected a JSON array of numbers: {e}")))?
    } else {
        parse_csv_row(text.lines().next().unwrap_or_default()).map_err(Error::Input)?
    };
    Ok(InputValues(values))
}
