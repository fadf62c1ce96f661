"""What scripts/torch_exports.py and scripts/keras_exports.py share: the data their models train
on, and how an exported model joins the importer's corpus (models/corpus/): onnxruntime's labels
or outputs on the held-back rows, the calibration rows, and its entry in corpus.json."""
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from sklearn.datasets import load_digits

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "corpus")
# Rows before this one train the model (and the first 300 calibrate the import); the rest are held back.
HELD_BACK = 1500


def data(kind, width, rng):
    """`digits`: sklearn's 8x8 digits (pixels / 16) and their labels; `series`: the last `width`
    steps of seeded random walks and the next step; `volatility`: the same walks and the next
    step's absolute move (positive)."""
    if kind == "digits":
        x, y = load_digits(return_X_y=True)
        order = rng.permutation(len(x))
        return (x[order] / 16.0).astype(np.float32), y[order]
    walk = rng.normal(0, 1, (1800, 33)).cumsum(axis=1)
    walk /= np.abs(walk).max(axis=1, keepdims=True)
    x = np.ascontiguousarray(walk[:, -1 - width:-1].astype(np.float32))
    if kind == "volatility":
        return x, np.abs(walk[:, -1] - walk[:, -2]).astype(np.float32)
    return x, walk[:, -1].astype(np.float32)


def record(name, kind, path, x, y, shape, refused=None):
    """Runs the exported model at `path` on the held-back rows of `x` (reshaped to `shape`) and
    returns its corpus entry, writing its held-back outputs and calibration rows (not for a graph
    the importer must refuse) and printing what it scored."""
    entry = {"name": name, "kind": "classifier" if kind == "digits" else "regressor"}
    if refused:
        return {**entry, "refused": refused}
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = session.get_inputs()
    if len(feeds) == 1:
        rows = x.reshape(len(x), *shape)
        run = lambda i: session.run(None, {feeds[0].name: rows[i:i + 1]})  # noqa: E731
    else:
        # Flat inputs that the model concatenates in their order: a row is their values in turn.
        cuts = np.cumsum([f.shape[1] for f in feeds])[:-1]
        run = lambda i: session.run(None, {f.name: part for f, part in zip(feeds, np.split(x[i:i + 1], cuts, axis=1))})  # noqa: E731
    outputs = np.concatenate([run(i)[0].reshape(1, -1) for i in range(HELD_BACK, len(x))])
    doc = {"inputs": x[HELD_BACK:].astype(float).tolist()}
    if kind == "digits":
        doc["labels"] = [int(v) for v in outputs.argmax(1)]
        note = f"held-out accuracy {float((outputs.argmax(1) == y[HELD_BACK:]).mean()):.1%}"
    else:
        doc["outputs"] = outputs.astype(float).tolist()
        note = f"held-out RMS error {float(np.sqrt(((outputs[:, 0] - y[HELD_BACK:]) ** 2).mean())):.3f}"
    with open(os.path.join(OUT, f"{name}.heldout.json"), "w") as f:
        json.dump(doc, f)
        f.write("\n")
    np.savetxt(os.path.join(OUT, f"{name}.calibration.csv"), x[:300], delimiter=",", fmt="%.7g")
    print(f"  {name}: {note}; ops {sorted({n.op_type for n in onnx.load(path).graph.node})}")
    return entry


def merge(added):
    """Adds the entries to corpus.json, replacing those of the same names in their places."""
    with open(os.path.join(OUT, "corpus.json")) as f:
        manifest = json.load(f)
    by_name = {e["name"]: e for e in added}
    names = {e["name"] for e in manifest}
    manifest = [by_name.get(e["name"], e) for e in manifest] + [e for e in added if e["name"] not in names]
    with open(os.path.join(OUT, "corpus.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
