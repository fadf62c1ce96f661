//! `oracle model …`: import, inspect, run. Each command returns what it prints, so that tests
//! can check it without a process.

use serde_json::{json, Value};
use verdict_circuits::{
    accuracy, import_onnx_file, output_accuracy, parse_input, quantize_with_report, tiles::steps_as_clamps, Activation,
    Calibration, Commitment, Model, Prediction, DEFAULT_KNOTS,
};

use crate::cli::ModelCommand;

/// Runs a model subcommand and returns its output text (JSON when asked).
pub fn run_model_command(command: &ModelCommand) -> crate::Result<String> {
    match command {
        ModelCommand::Import { onnx, calibration, output, name, task, piecewise_linear, json } => {
            let cli_piecewise_linear = *piecewise_linear;
            // Progress on a terminal's stderr (a large model's import takes a while): each phase
            // as it starts. Piped, stderr stays one line, an error's.
            let started = std::time::Instant::now();
            let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let phase = |what: String| {
                if terminal {
                    eprintln!("[{:6.1} s] {what}", started.elapsed().as_secs_f64());
                }
            };
            phase(format!("reading {}", onnx.display()));
            let mut original = import_onnx_file(onnx)?;
            if let Some(name) = name {
                original.name = name.clone();
            }
            // Functions without an int8 table (Elu, Softplus, SiLU, Gelu, Selu) are always
            // imported in piecewise-linear form; Sigmoid and Tanh when asked.
            let piecewise_linear = piecewise_linear.or(original.needs_piecewise_linear().then_some(DEFAULT_KNOTS));
            let form = match (cli_piecewise_linear, piecewise_linear) {
                (Some(knots), _) => Some(original.piecewise_linear(knots)?),
                (None, Some(knots)) => Some(original.piecewise_linear_untabled(knots)?),
                (None, None) => None,
            };
            // Hidden units in the order that tiles best (the same function); the model as exported
            // is kept only to report a piecewise-linear form against.
            let (float, original) = match form {
                // A form that changed nothing (a tree ensemble: its steps stay) has no second report.
                Some(form) if form == original => (original.ordered_for_tiles(), None),
                Some(form) => (form.ordered_for_tiles(), Some(original)),
                None => (original.ordered_for_tiles(), None),
            };
            let calibration = Calibration::load(calibration, float.input_dim)?;
            phase(format!(
                "quantizing {} layers ({} weights) on {} calibration rows",
                float.layers.len(),
                float.layers.iter().map(|l| l.weights.len()).sum::<usize>(),
                calibration.rows.len()
            ));
            let (model, adjustments) = quantize_with_report(&float, &calibration, task.map(Into::into))?;
            phase("comparing the quantized model with the float model".into());
            let report = accuracy(&model, &float, &calibration)?;
            // Against the model as exported, not its piecewise-linear form.
            let against_original =
                original.as_ref().map(|original| output_accuracy(&model, original, &calibration)).transpose()?;
            // Asked for the form tiles prove: step layers as clamps (exact, the same
            // real outputs; the reports above are of the same model with its steps by table).
            let steps = cli_piecewise_linear.is_some() && model.layers.iter().any(|l| l.table.is_some());
            let model = if steps { steps_as_clamps(&model)? } else { model };
            phase(format!("writing {} and its commitment", output.display()));
            model.save(output)?;
            let commitment = model.commitment();
            phase("done".into());
            if *json {
                Ok(json!({
                    "model": output,
                    "name": model.name,
                    "commitment": commitment,
                    "parameters": model.parameter_count(),
                    "report": report,
                    "piecewise_linear": piecewise_linear.map(|knots| json!({ "knots": knots, "report": against_original })),
                    "steps_as_clamps": steps,
                    "adjustments": adjustments,
                })
                .to_string())
            } else {
                let mut text = format!(
                    "imported {} ({} layers, {} parameters) -> {}\ncommitment {commitment}\naccuracy: {report}",
                    model.name,
                    model.layers.len(),
                    model.parameter_count(),
                    output.display()
                );
                if let (Some(knots), Some(r)) = (piecewise_linear, &against_original) {
                    text.push_str(&format!("\npiecewise-linear ({knots} knots), against the original: {r}"));
                }
                if steps {
                    text.push_str(
                        "\nthe steps (a tree ensemble's comparisons, an SVM's pairwise decisions) as clamps, for tiles: \
                         int32 outputs 127 times as large at scales 127 times as fine (the same real outputs and classes)",
                    );
                }
                for a in &adjustments {
                    text.push_str(&format!("\nadjusted: {a}"));
                }
                Ok(text)
            }
        }
        ModelCommand::Inspect { model, json } => {
            let model = Model::load(model)?;
            Ok(if *json { inspect_json(&model).to_string() } else { inspect_text(&model) })
        }
        ModelCommand::Run { model, input, quantized, trace, json } => {
            let model = Model::load(model)?;
            let input_q = parse_input(input)?.for_model(&model, *quantized)?;
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
        ModelCommand::CommitInput { model, input, quantized, salt, json } => {
            let model = Model::load(model)?;
            let input_q = parse_input(input)?.for_model(&model, *quantized)?;
            let salt = match salt {
                Some(s) => verdict_circuits::parse_salt(s).ok_or_else(|| {
                    verdict_circuits::Error::Input(format!(
                        "--salt {s}: expected 0x-hex of 32 bytes below the BN254 scalar modulus"
                    ))
                })?,
                None => verdict_circuits::step::random_salt(),
            };
            let z0 = verdict_circuits::private_input_commitment(&input_q, salt);
            let salt = Commitment::from_field(salt);
            Ok(if *json {
                json!({ "model": model.name, "input": input_q, "salt": salt, "input_commitment": z0 }).to_string()
            } else {
                format!(
                    "model            {}\ninput            {input_q:?}\nsalt             {salt} (secret: deliver it with the input)\ninput_commitment {z0} (z_0: request with it and an empty input)",
                    model.name
                )
            })
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
            match (layer.activation, &layer.table) {
                (_, Some(t)) => match t.function {
                    verdict_circuits::TableFunction::Sigmoid => "sigmoid",
                    verdict_circuits::TableFunction::Tanh => "tanh",
                    verdict_circuits::TableFunction::Step => "step",
                    // The format refuses them (no table).
                    f => f.name(),
                },
                (Activation::Relu, None) => "relu",
                (Activation::None, None) => "none",
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
