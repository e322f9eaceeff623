#!/usr/bin/python3
"""How much of a gauntlet case with injected faults is the draw: the case's
faults all moved by the same offset (so the guard skips other batches),
under the default guard, beside the same run with no faults.

    /usr/bin/python3 bench/gauntlet/fault_shift.py [--build build] [--case 5-faults] [--seed 2]
                                                  [--offsets -3,-2,-1,0,1,2,3,5] [--kernels Haswell,SkylakeX]

Prints a Markdown table: a row per kernel family, the test accuracy at each
offset, their median and range, and the run without faults. One thread.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "doctor"))
import doctor  # noqa: E402


def accuracy(g, cfg, kernel, seed, out):
    """The run's test accuracy, run as the doctor runs its cases (doctor.run_gg)."""
    env = dict(os.environ, OPENBLAS_CORETYPE=kernel, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    r = doctor.run_gg(g, cfg, out, env, ["--set", f"train.seed={seed}", "--set", "train.threads=1"])
    if r.get("acc") is None:
        sys.exit(f"fault_shift: {os.path.basename(out)} under {kernel} ended {r.get('status')} with no accuracy "
                 f"({r.get('error', 'no error given')})")
    return r["acc"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--case", default="5-faults")
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--offsets", default="-3,-2,-1,0,1,2,3,5")
    ap.add_argument("--kernels", default="Haswell,SkylakeX")
    a = ap.parse_args()
    path = os.path.join(ROOT, "configs", "gauntlet", a.case + ".yaml")
    try:
        with open(path) as f:
            base = yaml.safe_load(f)
    except OSError as e:
        sys.exit(f"fault_shift: no gauntlet case '{a.case}' ({path}: {e.strerror})")
    faults = (base.get("guard") or {}).get("faults") or []
    if not faults:
        sys.exit(f"fault_shift: {a.case} injects no faults")
    try:
        offsets = [int(x) for x in a.offsets.split(",")]
    except ValueError:
        sys.exit(f"fault_shift: --offsets '{a.offsets}' is not a list of integers")
    g = os.path.abspath(os.path.join(a.build, "gradguard"))
    print(f"# {a.case}, seed {a.seed}: its faults at batches {[f['batch'] for f in faults]} moved by each offset\n")
    print("| kernel | " + " | ".join(f"{o:+d}" for o in offsets) + " | median (range) | no faults |")
    print("|---" * (len(offsets) + 3) + "|")
    with tempfile.TemporaryDirectory(prefix="gg-shift-") as tmp:
        for k in a.kernels.split(","):
            accs = []
            for o in offsets:
                cfg = json.loads(json.dumps(base))
                for f in cfg["guard"]["faults"]:
                    f["batch"] += o
                accs.append(accuracy(g, cfg, k, a.seed, os.path.join(tmp, f"{k}-o{o}")))
            clean = json.loads(json.dumps(base))
            del clean["guard"]["faults"]
            none = accuracy(g, clean, k, a.seed, os.path.join(tmp, f"{k}-clean"))
            print(f"| {k} | " + " | ".join(f"{x:.4f}" for x in accs) +
                  f" | {statistics.median(accs):.4f} ({min(accs):.4f}-{max(accs):.4f}) | {none:.4f} |", flush=True)

if __name__ == "__main__":
    main()
