#!/usr/bin/env python3
"""Side-by-side proving benchmark: Verdict's folding prover and EZKL on the same ONNX models
and inputs, on this machine, in one run.

    scripts/bench_prove.sh            # installs EZKL into .venv-bench, builds, runs
    python3 scripts/bench_prove.py --skip-ezkl

For every shipped model (or `corpus/<name>`, or a synthetic `mlp-`, `sigmoid-` or `tanh-64-32-10`;
a tree ensemble goes to EZKL in its GEMM form, see `gemm_form`) it proves the whole inference with
  * Verdict, public weights and private weights (`fraud-prover prove`), fresh keys;
  * EZKL, param visibility `fixed` (its default: public weights as constants) and `hashed`
    (weights private, their Poseidon hash public), with a locally generated SRS (`gen_srs`).
Each phase runs in its own process, so that its peak memory (max RSS) is its own.
Verdict's setup is its key generation (an insecure test tau, like EZKL's `gen_srs`); prove is
witness + folds + final proof; verify is a fresh `fraud-prover verify` process.

    scripts/bench_prove.sh --tiles    # the tiled prover at model sizes users bring

With --tiles, for each model (shipped names, or `mlp-64-128-10`-style widths: a seeded random
float MLP written to ONNX here and imported with `oracle model import`; `sigmoid-` and `tanh-`
ones with `--piecewise-linear`, the form tiles prove) it runs, each in its own
process, Verdict's one-step dispute proof (the middle tile, keys loaded from the cache, included
in the wall time) and its whole-inference proof (every tile folded), with the tiled prover of
`circuits/examples/tiles.rs`, and EZKL `fixed` on the same ONNX file and input.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["price_feed", "tictactoe", "digits"]


def measured(cmd):
    """Runs `cmd` under this script's `measure` helper: (seconds, peak RSS in MB, stdout)."""
    proc = subprocess.run([sys.executable, __file__, "measure", "--", *map(str, cmd)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))[:300]} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    out = proc.stdout
    doc = json.loads(out.strip().splitlines()[-1])
    return doc["seconds"], doc["max_rss_mb"], doc["stdout"]


def measure(cmd):
    """Runs `cmd` as this process's only child and prints its time, peak RSS and stdout."""
    with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out_f, stderr=err_f, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read(), err_f.read()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.stderr.write(err[-4000:])
        sys.exit(code or 1)
    print(json.dumps({"seconds": elapsed, "max_rss_mb": usage.ru_maxrss / 1024, "stdout": out}))


def first_row_of(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    start = 1 if any(c and not c.lstrip("-").replace(".", "", 1).replace("e-", "", 1).isdigit() for c in rows[0]) else 0
    return [float(v) for v in rows[start]]


SYNTHETIC = ("mlp-", "sigmoid-", "tanh-")


def sources(name, work):
    """The ONNX file and calibration rows of a shipped model, of `corpus/<name>` (an export of
    the importer's corpus), or of a seeded synthetic MLP (`mlp-64-32-10`; `sigmoid-64-32-10` and
    `tanh-64-32-10` with those activations), written to `work`."""
    if name.startswith(SYNTHETIC):
        return synthetic_onnx(name, work)
    if name.startswith("corpus/"):
        stem = ROOT / "models" / "corpus" / name.removeprefix("corpus/")
        return stem.with_suffix(".onnx"), Path(f"{stem}.calibration.csv")
    return ROOT / "models" / f"{name}.onnx", ROOT / "models" / f"{name}.calibration.csv"


def model_file(name, oracle, work):
    """The shipped model file, or a corpus or synthetic model imported here with `oracle model
    import`."""
    if not name.startswith(("corpus/", *SYNTHETIC)):
        return ROOT / "models" / f"{name}.model.json"
    onnx_path, csv_path = sources(name, work)
    model = work / f"{name.replace('/', '-')}.model.json"
    if not model.exists():
        subprocess.run([oracle, "model", "import", onnx_path, "--calibration", csv_path, "-o", model],
                       check=True, capture_output=True)
    return model


def verdict(binary, name, private, work, oracle):
    model = model_file(name, oracle, work)
    row = first_row_of(sources(name, work)[1])
    name = name.replace("/", "-")
    keys = work / f"keys-{name}-{private}"
    proof = work / f"verdict-{name}-{private}.json"
    common = ["--keys-dir", keys, "--insecure-test-setup"]
    extra = []
    if private:
        blinding = work / f"blinding-{name}.json"
        out = subprocess.run([binary, "blinding", "--model", model, "-o", blinding], check=True,
                             capture_output=True, text=True).stdout
        commitment = next(l.split()[1] for l in out.splitlines() if l.startswith("commitment"))
        extra = ["--private", blinding]
    prove = [binary, "prove", "--model", model, "--input", json.dumps(row), "-o", proof, "--json",
             *extra, *common]
    # First run: key setup (then cached); second run: the proof, with keys from the cache.
    _, setup_mb, out = measured(prove)
    setup_s = json.loads(out)["setup_ms"] / 1000
    _, prove_mb, out = measured(prove)
    doc = json.loads(out)
    verify = [binary, "verify", "--model", model, "--proof", proof, *common]
    if private:
        verify += ["--commitment", commitment]
    verify_s, verify_mb, _ = measured(verify)
    return {
        "setup_s": setup_s,
        "prove_s": (doc["witness_ms"] + doc["fold_ms"] + doc["compress_ms"]) / 1000,
        "phases": f"witness {doc['witness_ms']} ms, folds {doc['fold_ms']} ms, final {doc['compress_ms']} ms",
        "verify_s": verify_s,
        "proof_bytes": doc["proof_bytes"],
        "peak_mb": max(setup_mb, prove_mb, verify_mb),
        "shape": doc["shape"],
    }


def ezkl_step(step, args):
    """One EZKL phase, in its own process (called through `measure`)."""
    import ezkl

    a = json.loads(args)
    if step == "settings":
        # The same ONNX file with its batch dimension fixed to 1 (EZKL needs static shapes).
        import onnx

        graph = onnx.load(a["source_onnx"])
        for value in list(graph.graph.input) + list(graph.graph.output):
            dim = value.type.tensor_type.shape.dim[0]
            dim.Clear()
            dim.dim_value = 1
        onnx.save(graph, a["onnx"])
        run_args = ezkl.PyRunArgs()
        run_args.param_visibility = a["visibility"]
        assert ezkl.gen_settings(a["onnx"], a["settings"], py_run_args=run_args)
        assert ezkl.calibrate_settings(a["data"], a["onnx"], a["settings"], "resources")
        assert ezkl.compile_circuit(a["onnx"], a["compiled"], a["settings"])
        with open(a["settings"]) as f:
            print(json.load(f)["run_args"]["logrows"])
    elif step == "srs":
        ezkl.gen_srs(a["srs"], a["logrows"])
    elif step == "setup":
        ezkl.gen_witness(a["data"], a["compiled"], a["witness"])
        assert ezkl.setup(a["compiled"], a["vk"], a["pk"], a["srs"])
    elif step == "prove":
        ezkl.gen_witness(a["data"], a["compiled"], a["witness"])
        ezkl.prove(a["witness"], a["compiled"], a["pk"], a["proof"], a["srs"])
    elif step == "verify":
        assert ezkl.verify(a["proof"], a["settings"], a["vk"], a["srs"])


def ezkl(python, name, visibility, work):
    onnx_path, csv_path = sources(name, work)
    # EZKL does not read ai.onnx.ml tree ensembles: give it their GEMM form (the same trees).
    gemm = work / f"{name.replace('/', '-')}.gemm.onnx"
    if gemm.exists() or gemm_form(onnx_path, gemm):
        onnx_path = gemm
    return ezkl_on(python, name.replace("/", "-"), onnx_path, csv_path, visibility, work)


def gemm_form(source_onnx, out_path):
    """A tree ensemble (ai.onnx.ml TreeEnsembleClassifier/Regressor) rewritten as the plain ONNX
    graph of its GEMM formulation (Hummingbird's, which EZKL proves): MatMul/Add, GreaterOrEqual,
    Cast, twice, then the leaf values. Returns False for any other model."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = onnx.load(source_onnx).graph
    nodes = [n for n in graph.node if n.op_type.startswith("TreeEnsemble")]
    if not nodes:
        return False
    node = nodes[0]
    a = {x.name: x for x in node.attribute}
    ints = lambda k: list(a[k].ints) if k in a else []  # noqa: E731
    floats = lambda k: list(a[k].floats) if k in a else []  # noqa: E731
    modes = [m.decode() for m in a["nodes_modes"].strings]
    width = graph.input[0].type.tensor_type.shape.dim[1].dim_value
    table = {(t, n): k for k, (t, n) in enumerate(zip(ints("nodes_treeids"), ints("nodes_nodeids")))}
    internal, leaves = [], []
    for tree in dict.fromkeys(ints("nodes_treeids")):
        children = {c for (t, n), k in table.items() if t == tree and modes[k] != "LEAF"
                    for c in (ints("nodes_truenodeids")[k], ints("nodes_falsenodeids")[k])}
        root = next(n for (t, n) in table if t == tree and n not in children)
        stack = [((tree, root), [])]
        while stack:
            key, path = stack.pop()
            k = table[key]
            if modes[k] == "LEAF":
                leaves.append((key, path))
                continue
            sign, true_is = {"BRANCH_LEQ": (-1, 1), "BRANCH_GTE": (1, 1), "BRANCH_LT": (1, 0), "BRANCH_GT": (-1, 0)}[modes[k]]
            i = len(internal)
            internal.append((ints("nodes_featureids")[k], floats("nodes_values")[k], sign))
            stack.append(((tree, ints("nodes_falsenodeids")[k]), path + [(i, 1 - true_is)]))
            stack.append(((tree, ints("nodes_truenodeids")[k]), path + [(i, true_is)]))
    classifier = node.op_type == "TreeEnsembleClassifier"
    prefix = "class" if classifier else "target"
    ids, weights = ints(f"{prefix}_ids"), floats(f"{prefix}_weights")
    outputs = max(ids) + 1
    leaf_index = {key: l for l, (key, _) in enumerate(leaves)}
    w1 = np.zeros((width, len(internal)), np.float32)
    b1 = np.zeros(len(internal), np.float32)
    for i, (f, t, sign) in enumerate(internal):
        w1[f, i], b1[i] = sign, -sign * t
    w2 = np.zeros((len(internal), len(leaves)), np.float32)
    b2 = np.zeros(len(leaves), np.float32)
    for l, (_, path) in enumerate(leaves):
        for i, goes in path:
            w2[i, l] = 1 if goes else -1
        b2[l] = sum(1 for _, g in path if not g) - len(path) + 0.5
    w3 = np.zeros((len(leaves), outputs), np.float32)
    for t, n, o, w in zip(ints(f"{prefix}_treeids"), ints(f"{prefix}_nodeids"), ids, weights):
        w3[leaf_index[(t, n)], o] += w
    b3 = np.array(floats("base_values") or [0.0] * outputs, np.float32)
    inits = [numpy_helper.from_array(v, k) for k, v in
             {"w1": w1, "b1": b1, "w2": w2, "b2": b2, "w3": w3, "b3": b3, "zero": np.zeros(1, np.float32)}.items()]
    ops = [
        helper.make_node("MatMul", ["input", "w1"], ["m1"]), helper.make_node("Add", ["m1", "b1"], ["a1"]),
        helper.make_node("GreaterOrEqual", ["a1", "zero"], ["g1"]), helper.make_node("Cast", ["g1"], ["c1"], to=1),
        helper.make_node("MatMul", ["c1", "w2"], ["m2"]), helper.make_node("Add", ["m2", "b2"], ["a2"]),
        helper.make_node("GreaterOrEqual", ["a2", "zero"], ["g2"]), helper.make_node("Cast", ["g2"], ["c2"], to=1),
        helper.make_node("MatMul", ["c2", "w3"], ["m3"]), helper.make_node("Add", ["m3", "b3"], ["output"]),
    ]
    g = helper.make_graph(ops, "gemm_form", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, width])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, outputs])], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, out_path)
    return True


def ezkl_on(python, name, source_onnx, calibration, visibility, work):
    d = work / f"ezkl-{name}-{visibility.replace('/', '-')}"
    d.mkdir()
    data = d / "input.json"
    data.write_text(json.dumps({"input_data": [first_row_of(calibration)]}))
    a = {
        "source_onnx": str(source_onnx), "onnx": str(d / "model.onnx"), "data": str(data),
        "visibility": visibility,
        "settings": str(d / "settings.json"), "compiled": str(d / "model.compiled"), "srs": str(d / "kzg.srs"),
        "vk": str(d / "vk.key"), "pk": str(d / "pk.key"), "witness": str(d / "witness.json"),
        "proof": str(d / "proof.json"),
    }

    def step(s):
        return measured([python, __file__, "ezkl-step", s, json.dumps(a)])

    _, m0, out = step("settings")
    a["logrows"] = int(out.strip().splitlines()[-1])
    srs_s, m1, _ = step("srs")
    setup_s, m2, _ = step("setup")
    prove_s, m3, _ = step("prove")
    verify_s, m4, _ = step("verify")
    proof = json.loads(Path(a["proof"]).read_text())
    size = len(bytes(proof["proof"])) if isinstance(proof["proof"], list) else len(bytes.fromhex(proof["proof"].removeprefix("0x")))
    return {
        "setup_s": srs_s + setup_s, "prove_s": prove_s, "verify_s": verify_s, "proof_bytes": size,
        "peak_mb": max(m0, m1, m2, m3, m4), "phases": f"logrows {a['logrows']}",
    }


TILE_MODELS = ["digits", "digits_cnn", "digits_lenet", "mlp-64-128-10", "mlp-784-128-10", "mlp-784-1024-512-10"]


def synthetic_onnx(name, work):
    """A seeded random float MLP `mlp-a-b-...` as ONNX with 64 calibration rows; returns the
    (onnx, calibration csv) paths."""
    import numpy as np
    sys.path.insert(0, str(ROOT / "scripts"))
    from train_models import gemm_onnx
    import onnx

    kind, *widths = name.split("-")
    dims = [int(d) for d in widths]
    act = {"mlp": True, "sigmoid": "Sigmoid", "tanh": "Tanh"}[kind]
    rng = np.random.default_rng(sum(dims))
    layers = []
    for i, (n, m) in enumerate(zip(dims, dims[1:])):
        w = rng.normal(0, 1 / np.sqrt(n), (m, n))
        layers.append((w, rng.normal(0, 0.1, m), act if i < len(dims) - 2 else False))
    onnx_path, csv_path = work / f"{name}.onnx", work / f"{name}.calibration.csv"
    if onnx_path.exists():
        return onnx_path, csv_path
    onnx.save(gemm_onnx(name, layers, dims[0]), onnx_path)
    rows = rng.uniform(-1, 1, (64, dims[0]))
    np.savetxt(csv_path, rows, delimiter=",", fmt="%.6g", header=",".join(f"x{i}" for i in range(dims[0])), comments="")
    return onnx_path, csv_path


def tiles_rows(args, work):
    """The --tiles benchmark: rows of (model, prover, result)."""
    rows = []
    for name in args.models or TILE_MODELS:
        onnx_path, csv_path = sources(name, work)
        model = work / f"{name}.model.json"
        # Smooth activations are tiled in piecewise-linear form (EZKL proves them by lookup).
        smooth = ["--piecewise-linear"] if name.startswith(("sigmoid-", "tanh-")) else []
        subprocess.run([args.oracle, "model", "import", onnx_path, "--calibration", csv_path, "-o", model, *smooth],
                       check=True, capture_output=True)
        doc = json.loads(model.read_text())
        # Weights are a hex string (two digits a weight) or, in older files, an array.
        weights = sum(len(l["weights"]) // (2 if isinstance(l["weights"], str) else 1) + len(l["bias"])
                      for l in doc["layers"])
        # Warm the key cache once (the tile keys are the same for every model).
        subprocess.run([args.tiles_binary, model, "step", "--keys", work / "keys"], check=True, capture_output=True)
        for mode in ("step", "whole"):
            print(f"{name}: verdict tiled {mode} ...", file=sys.stderr, flush=True)
            seconds, mb, out = measured([args.tiles_binary, model, mode, "--keys", work / "keys"])
            r = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
            rows.append((name, weights, f"verdict {mode}", {
                "wall_s": seconds, "prove_s": r["prove_s"], "peak_mb": mb,
                "phases": f"{r['tiles']} tiles, {r['steps']} proven; keys {r['key_s']} s, witness {r['witness_s']} s, "
                          f"folds {r['fold_s']} s ({r['cross_term_s']} s of it cross terms), final {r['compress_s']} s; {r['proof_bytes']} B"}))
        if not args.skip_ezkl:
            print(f"{name}: ezkl fixed ...", file=sys.stderr, flush=True)
            source = work / f"{name}.source.onnx"
            source.write_bytes(Path(onnx_path).read_bytes())
            try:
                r = ezkl_on(args.ezkl_python, name, source, csv_path, "fixed", work)
                rows.append((name, weights, "ezkl fixed", {"wall_s": r["prove_s"], "prove_s": r["prove_s"],
                                                          "peak_mb": r["peak_mb"], "phases": r["phases"]}))
            except Exception as e:  # noqa: BLE001 - a failed baseline is a result to print
                rows.append((name, weights, "ezkl fixed", {"wall_s": float("nan"), "prove_s": float("nan"),
                                                          "peak_mb": float("nan"), "phases": f"failed: {str(e)[-200:]}"}))
    header = f"{'model':<22} {'weights':>9} {'prover':<14} {'wall s':>8} {'prove s':>8} {'peak MB':>8}  phases"
    print(header)
    print("-" * len(header))
    for name, weights, label, r in rows:
        print(f"{name:<22} {weights:>9} {label:<14} {r['wall_s']:>8.2f} {r['prove_s']:>8.2f} {r['peak_mb']:>8.0f}  {r['phases']}")
    print("\nwall s: the whole process (model load, trace, key load, proof, verification); "
          "verdict step: the middle tile alone (a one-step dispute); verdict whole: every tile.")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "measure":
        return measure(sys.argv[3:])
    if len(sys.argv) > 1 and sys.argv[1] == "ezkl-step":
        return ezkl_step(sys.argv[2], sys.argv[3])
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="*", help=f"default: {' '.join(MODELS)} (with --tiles: {' '.join(TILE_MODELS)}); "
                   "corpus/<name> for a corpus export (corpus/mlp_logistic_digits: Sigmoid)")
    p.add_argument("--binary", default=str(ROOT / "target" / "debug" / "fraud-prover"))
    p.add_argument("--ezkl-python", default=str(ROOT / ".venv-bench" / "bin" / "python"))
    p.add_argument("--skip-ezkl", action="store_true")
    p.add_argument("--public-only", action="store_true",
                   help="only Verdict public vs EZKL fixed (a private tree ensemble witnesses every zero of its leaf layer)")
    p.add_argument("--tiles", action="store_true", help="the tiled prover at 10k-1M weights (see above)")
    p.add_argument("--oracle", default=str(ROOT / "target" / "debug" / "oracle"))
    p.add_argument("--tiles-binary", default=str(ROOT / "target" / "release" / "examples" / "tiles"))
    args = p.parse_args()
    if args.tiles:
        with tempfile.TemporaryDirectory(prefix="verdict-bench-") as tmp:
            return tiles_rows(args, Path(tmp))

    rows = []
    with tempfile.TemporaryDirectory(prefix="verdict-bench-") as tmp:
        work = Path(tmp)
        for name in args.models or MODELS:
            results = {}
            for private in (False,) if args.public_only else (False, True):
                label = f"verdict {'private' if private else 'public'}"
                print(f"{name}: {label} ...", file=sys.stderr, flush=True)
                results[label] = verdict(args.binary, name, private, work, args.oracle)
            if not args.skip_ezkl:
                for vis in ("fixed",) if args.public_only else ("fixed", "hashed"):
                    label = f"ezkl {vis}"
                    print(f"{name}: {label} ...", file=sys.stderr, flush=True)
                    try:
                        results[label] = ezkl(args.ezkl_python, name, vis, work)
                    except Exception as e:  # noqa: BLE001 - a failed baseline is a result to print
                        nan = float("nan")
                        results[label] = {"setup_s": nan, "prove_s": nan, "verify_s": nan, "proof_bytes": 0,
                                          "peak_mb": nan, "phases": f"failed: {str(e)[-160:]}"}
            for label, r in results.items():
                pair = {"verdict public": "ezkl fixed", "verdict private": "ezkl hashed"}.get(label)
                ratio = r["prove_s"] / results[pair]["prove_s"] if pair in results else None
                rows.append((name, label, r, ratio))

    header = f"{'model':<26} {'prover':<16} {'setup s':>8} {'prove s':>8} {'verify s':>9} {'proof B':>8} {'peak MB':>8} {'prove ratio':>12}  phases"
    print(header)
    print("-" * len(header))
    for name, label, r, ratio in rows:
        ratio_s = f"{ratio:.2f}x" if ratio is not None else ""
        print(f"{name:<26} {label:<16} {r['setup_s']:>8.2f} {r['prove_s']:>8.2f} {r['verify_s']:>9.3f} "
              f"{r['proof_bytes']:>8} {r['peak_mb']:>8.0f} {ratio_s:>12}  {r['phases']}")
    print("\nprove ratio = Verdict prove time / EZKL prove time in the comparable mode "
          "(public vs fixed, private vs hashed); Verdict's proofs were checked by `fraud-prover verify`, EZKL's by `ezkl.verify`.")


if __name__ == "__main__":
    main()
