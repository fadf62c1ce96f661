#!/usr/bin/env python3
"""Side-by-side proving benchmark: Verdict's folding prover and EZKL on the same ONNX models
and inputs, on this machine, in one run.

    scripts/bench_prove.sh            # installs EZKL into .venv-bench, builds, runs
    python3 scripts/bench_prove.py --skip-ezkl

For every shipped model it proves the whole inference with
  * Verdict, public weights and private weights (`fraud-prover prove`), fresh keys;
  * EZKL, param visibility `fixed` (its default: public weights as constants) and `hashed`
    (weights private, their Poseidon hash public), with a locally generated SRS (`gen_srs`).
Each phase runs in its own process, so that its peak memory (max RSS) is its own.
Verdict's setup is its key generation (an insecure test tau, like EZKL's `gen_srs`); prove is
witness + folds + final proof; verify is a fresh `fraud-prover verify` process.
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


def first_row(name):
    with open(ROOT / "models" / f"{name}.calibration.csv") as f:
        rows = list(csv.reader(f))
    start = 1 if any(c and not c.lstrip("-").replace(".", "", 1).replace("e-", "", 1).isdigit() for c in rows[0]) else 0
    return [float(v) for v in rows[start]]


def verdict(binary, name, private, work):
    model = ROOT / "models" / f"{name}.model.json"
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
    prove = [binary, "prove", "--model", model, "--input", json.dumps(first_row(name)), "-o", proof, "--json",
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
    d = work / f"ezkl-{name}-{visibility.replace('/', '-')}"
    d.mkdir()
    data = d / "input.json"
    data.write_text(json.dumps({"input_data": [first_row(name)]}))
    a = {
        "source_onnx": str(ROOT / "models" / f"{name}.onnx"), "onnx": str(d / "model.onnx"), "data": str(data),
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


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "measure":
        return measure(sys.argv[3:])
    if len(sys.argv) > 1 and sys.argv[1] == "ezkl-step":
        return ezkl_step(sys.argv[2], sys.argv[3])
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="*", default=MODELS)
    p.add_argument("--binary", default=str(ROOT / "target" / "debug" / "fraud-prover"))
    p.add_argument("--ezkl-python", default=str(ROOT / ".venv-bench" / "bin" / "python"))
    p.add_argument("--skip-ezkl", action="store_true")
    args = p.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="verdict-bench-") as tmp:
        work = Path(tmp)
        for name in args.models:
            results = {}
            for private in (False, True):
                label = f"verdict {'private' if private else 'public'}"
                print(f"{name}: {label} ...", file=sys.stderr, flush=True)
                results[label] = verdict(args.binary, name, private, work)
            if not args.skip_ezkl:
                for vis in ("fixed", "hashed"):
                    label = f"ezkl {vis}"
                    print(f"{name}: {label} ...", file=sys.stderr, flush=True)
                    results[label] = ezkl(args.ezkl_python, name, vis, work)
            for label, r in results.items():
                pair = {"verdict public": "ezkl fixed", "verdict private": "ezkl hashed"}.get(label)
                ratio = r["prove_s"] / results[pair]["prove_s"] if pair in results else None
                rows.append((name, label, r, ratio))

    header = f"{'model':<11} {'prover':<16} {'setup s':>8} {'prove s':>8} {'verify s':>9} {'proof B':>8} {'peak MB':>8} {'prove ratio':>12}  phases"
    print(header)
    print("-" * len(header))
    for name, label, r, ratio in rows:
        ratio_s = f"{ratio:.2f}x" if ratio is not None else ""
        print(f"{name:<11} {label:<16} {r['setup_s']:>8.2f} {r['prove_s']:>8.2f} {r['verify_s']:>9.3f} "
              f"{r['proof_bytes']:>8} {r['peak_mb']:>8.0f} {ratio_s:>12}  {r['phases']}")
    print("\nprove ratio = Verdict prove time / EZKL prove time in the comparable mode "
          "(public vs fixed, private vs hashed); Verdict's proofs were checked by `fraud-prover verify`, EZKL's by `ezkl.verify`.")


if __name__ == "__main__":
    main()
