#!/usr/bin/python3
"""How much of a doctor case's result is the draw: the case's one fault
moved to other batches, each run under the default guard, beside the
healthy twin (guard off and on) and the case's floor.

A single bad batch that the guard skips leaves a run trained on the data
minus that batch. Where that run ends depends on the batch as much as on
the guard: this script measures the spread, so a case lost by the draw is
told apart from one lost by the mechanism.

    /usr/bin/python3 bench/doctor/fault_spread.py ID [--batches 100,120,...] [--kernels Haswell,SkylakeX]
                                                    [--build build]

ID is a doctor candidate with one fault (`doctor.py list`). Prints a
Markdown table: a row per kernel family, the accuracy with the fault at
each batch, its median and range, the twin's and the floor.
"""
import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases  # noqa: E402
import doctor  # noqa: E402


def train(build, cfg, kernel, tmp, name, extra=()):
    path = os.path.join(tmp, name + ".yaml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    out = os.path.join(tmp, name)
    env = dict(os.environ, OPENBLAS_CORETYPE=kernel, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    r = subprocess.run([os.path.join(build, "gradguard"), "train", path, "-o", out, "--overwrite", *extra],
                       env=env, capture_output=True, text=True)
    try:
        with open(os.path.join(out, "summary.json")) as f:
            s = json.load(f)
    except (OSError, ValueError):
        sys.exit(f"fault_spread: {name} under {kernel} left no summary (exit {r.returncode}): {r.stderr[-400:]}")
    return s.get("test_accuracy")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("id")
    ap.add_argument("--batches", default="100,120,140,145,149,150,151,155,160,180,200,250")
    ap.add_argument("--kernels", default="Haswell,SkylakeX")
    ap.add_argument("--build", default="build")
    a = ap.parse_args()
    doctor.prepare_data()
    found = [c for c in cases.generate(1) if c.id == a.id]
    if not found:
        sys.exit(f"fault_spread: no candidate '{a.id}' (see `doctor.py list`)")
    kind = cases.FAMILIES[found[0].fam]["kind"]
    if kind not in ("image", "csv"):
        sys.exit(f"fault_spread: {a.id} is a {kind} model; this measures the test accuracy of image and CSV "
                 "classifiers")
    cfg, twin = cases.fault_config(found[0], doctor.DATA)
    faults = (cfg.get("guard") or {}).get("faults") or []
    if len(faults) != 1:
        sys.exit(f"fault_spread: {a.id} has {len(faults)} faults; this measures a case with one")
    try:
        batches = [int(b) for b in a.batches.split(",")]
    except ValueError:
        sys.exit(f"fault_spread: --batches '{a.batches}' is not a list of integers")
    print(f"# {a.id}: its fault ({json.dumps(faults[0])}) at each batch, default guard\n")
    print("| kernel | " + " | ".join(f"batch {b}" for b in batches) +
          " | median (range) | twin, guard off | twin, guard on | floor |")
    print("|---" * (len(batches) + 5) + "|")
    with tempfile.TemporaryDirectory(prefix="gg-spread-") as tmp:
        for k in a.kernels.split(","):
            accs = []
            for b in batches:
                c = copy.deepcopy(cfg)
                c["guard"]["faults"][0]["batch"] = b
                accs.append(train(a.build, c, k, tmp, f"b{b}"))
            off = train(a.build, twin, k, tmp, "twin-off", ["--set", "guard.enabled=false"])
            on = train(a.build, twin, k, tmp, "twin-on")
            floor = cases.floor_of("cls", off)[1]
            cells = " | ".join(f"{x:.4f}" + (" *" if x < floor else "") for x in accs)
            print(f"| {k} | {cells} | {statistics.median(accs):.4f} ({min(accs):.4f}-{max(accs):.4f}) | "
                  f"{off:.4f} | {on:.4f} | {floor:.4f} |", flush=True)
    print("\n(* below the floor: the twin's accuracy with the guard off, minus the doctor's margin)")


if __name__ == "__main__":
    main()
