//! `oracle model …`: import, inspect, run. Each command returns what it prints, so that tests
//! can check it without a process.

use std::path::Path;

use anyhow::{bail, Context};
use serde_json::{json, Value};
use verdict_circuits::{
    accuracy, import_onnx_file, parse_csv_row, quantize, Activation, Calibration, Model, Prediction,
};

use crate::cli::ModelCommand;

/// Runs a model subcommand and returns its output text (JSON when asked).
pub fn run_model_command(command: &ModelCommand) -> anyhow::Result<String> {
    match command {
        ModelCommand::Import { onnx, calibration, output, name, task, json } => {
            let mut float = import_onnx_file(onnx)?;
            if let Some(name) = name {
                float.name = name.clone();
            }
            let calibration = Calibration::load(calibration, float.input_dim)?;
            let model = quantize(&float, &calibration, task.map(Into::into))?;
            let report = accuracy(&model, &float, &calibration)?;
            model.save(output)?;
            let commitment = model.commitment();
            if *json {
                Ok(json!({
                    "model": output,
                    "name": model.name,
                    "commitment": commitment,
                    "parameters": model.parameter_count(),
                    "report": report,
                })
                .to_string())
            } else {
                Ok(format!(
                    "imported {} ({} layers, {} parameters) -> {}\ncommitment {commitment}\naccuracy: {report}",
                    model.name,
                    model.layers.len(),
                    model.parameter_count(),
                    output.display()
                ))
            }
        }
        ModelCommand::Inspect { model, json } => {
            let model = Model::load(model)?;
            Ok(if *json { inspect_json(&model).to_string() } else { inspect_text(&model) })
        }
        ModelCommand::Run { model, input, quantized, trace, json } => {
            let model = Model::load(model)?;
            let values = parse_input(input)?;
            let input_q = match values {
                _ if *quantized => values.as_int8()?,
                InputValues(v) => model.quantize_input(&v)?,
            };
            let run = model.run(&input_q)?;
            let prediction = model.predict(run.output());
            let commitments = if *trace { Some(model.step_commitments(&run)) } else { None };
            if *json {
                let mut doc = json!({
                    "model": model.name,
                    "commitment": model.commitment(),
                    "input": input_q,
                    "output": run.output(),
                    "prediction": prediction,
                });
                if let Some(c) = commitments {
                    doc["trace"] = Value::Array(
                        c.iter()
                            .zip(&run.steps)
                            .enumerate()
                            .map(|(i, (c, v))| json!({ "step": i, "commitment": c, "values": v }))
                            .collect(),
                    );
                }
                Ok(doc.to_string())
            } else {
                let mut out = format!(
                    "model      {}\ninput      {:?}\noutput     {:?}\nprediction {}",
                    model.name,
                    input_q,
                    run.output(),
                    describe(&prediction)
                );
                if let Some(c) = commitments {
                    for (i, c) in c.iter().enumerate() {
                        out.push_str(&format!("\nz_{i:<8} {c}"));
                    }
                }
                Ok(out)
            }
        }
    }
}

fn describe(p: &Prediction) -> String {
    match p {
        Prediction::Regression { values } => values.iter().map(|v| format!("{v:.6}")).collect::<Vec<_>>().join(", "),
        Prediction::Classification { class } => format!("class {class}"),
    }
}

fn inspect_text(model: &Model) -> String {
    let mut out = format!(
        "model       {}\nformat      {} v{}\ntask        {:?}\ninput       {} values, scale {:e}\nparameters  {}\ncommitment  {}\n\nlayer  shape        activation  shift  parameters  commitment\n",
        model.name,
        model.format,
        model.version,
        model.task,
        model.input.len,
        model.input.scale,
        model.parameter_count(),
        model.commitment(),
    );
    for (i, (layer, c)) in model.layers.iter().zip(model.layer_commitments()).enumerate() {
        out.push_str(&format!(
            "{i:<6} {:<12} {:<11} {:<6} {:<11} {c}\n",
            format!("{}x{}", layer.out_dim, layer.in_dim),
            match layer.activation {
                Activation::Relu => "relu",
                Activation::None => "none",
            },
            layer.requant.as_ref().map_or("-".into(), |r| r.shift.to_string()),
            layer.weights.len() + layer.bias.len(),
        ));
    }
    out.push_str(&format!("output      {} values, scales {:?}", model.output_len(), model.output.scales));
    out
}

fn inspect_json(model: &Model) -> Value {
    json!({
        "name": model.name,
        "format": model.format,
        "version": model.version,
        "task": model.task,
        "input": { "len": model.input.len, "scale": model.input.scale },
        "parameters": model.parameter_count(),
        "commitment": model.commitment(),
        "layers": model.layers.iter().zip(model.layer_commitments()).map(|(l, c)| json!({
            "in_dim": l.in_dim,
            "out_dim": l.out_dim,
            "activation": l.activation,
            "shift": l.requant.as_ref().map(|r| r.shift),
            "parameters": l.weights.len() + l.bias.len(),
            "commitment": c,
        })).collect::<Vec<_>>(),
        "output": { "len": model.output_len(), "scales": model.output.scales },
    })
}

/// Input values as given on the command line.
#[derive(Clone, Debug, PartialEq)]
pub struct InputValues(pub Vec<f64>);

impl InputValues {
    /// The values as int8, when each is an integer in [-127, 127].
    pub fn as_int8(&self) -> anyhow::Result<Vec<i8>> {
        self.0
            .iter()
            .enumerate()
            .map(|(i, v)| {
                if v.fract() != 0.0 || !(-127.0..=127.0).contains(v) {
                    bail!("invalid input: value {i} is {v}, expected an integer in [-127, 127] with --quantized");
                }
                Ok(*v as i8)
            })
            .collect()
    }
}

/// Parses `--input`: a JSON array of numbers, a CSV row, or `@FILE` holding either.
pub fn parse_input(arg: &str) -> anyhow::Result<InputValues> {
    let text = match arg.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(Path::new(path)).with_context(|| format!("cannot read input file {path}"))?
        }
        None => arg.to_string(),
    };
    let text = text.trim();
    if text.is_empty() {
        bail!("invalid input: empty, expected a JSON array or a CSV row of numbers");
    }
    let values = if text.starts_with('[') {
        serde_json::from_str::<Vec<f64>>(text)
            .map_err(|e| anyhow::anyhow!("invalid input: expected a JSON array of numbers: {e}"))?
    } else {
        let line = text.lines().next().unwrap_or_default();
        parse_csv_row(line).map_err(|e| anyhow::anyhow!("invalid input: {e}"))?
    };
    Ok(InputValues(values))
}
