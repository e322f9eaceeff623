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
Markdown table: a row per kernel family, the result with the fault at
each batch (accuracy; MSE for the adding problem), its median and range,
the twin's and the floor. Runs go through doctor.run_gg, as the doctor's.
"""
import argparse
import copy
import json
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases  # noqa: E402
import doctor  # noqa: E402


def result(g, cfg, kernel, out, kind, extra=()):
    """The run's record and its accuracy (MSE for the adding problem), as
    the doctor reads them; None when it ended with no finite result."""
    env = dict(os.environ, OPENBLAS_CORETYPE=kernel, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    r = doctor.run_gg(g, cfg, out, env, extra)
    return r, doctor.metric(r, kind)


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
    g = os.path.abspath(os.path.join(a.build, "gradguard"))
    with tempfile.TemporaryDirectory(prefix="gg-spread-") as tmp:
        for k in a.kernels.split(","):
            tw = [result(g, twin, k, os.path.join(tmp, f"{k}-twin-{x}"), kind,
                         ["--set", "guard.enabled=false"] if x == "off" else []) for x in ("off", "on")]
            for (r, m), x in zip(tw, ("off", "on")):
                if m is None:
                    sys.exit(f"fault_spread: the healthy twin, guard {x}, under {k} ended {r.get('status')} with no "
                             f"result ({r.get('error', 'no error given')})")
            off, on = tw[0][1], tw[1][1]
            floor = cases.floor_of(kind, off)
            cells, vals = [], []
            for b in batches:
                c = copy.deepcopy(cfg)
                c["guard"]["faults"][0]["batch"] = b
                r, m = result(g, c, k, os.path.join(tmp, f"{k}-b{b}"), kind)
                ok = doctor.judge(r, kind, floor, protected=True)[0]
                cells.append((f"{m:.4f}" if m is not None else str(r.get("status"))) + ("" if ok else " *"))
                if m is not None:
                    vals.append(m)
            spread = f"{statistics.median(vals):.4f} ({min(vals):.4f}-{max(vals):.4f})" if vals else "-"
            print(f"| {k} | {' | '.join(cells)} | {spread} | {off:.4f} | {on:.4f} | {floor[1]:.4f} |", flush=True)
    print("\n(* not rescued by the doctor's rule: below the floor, the twin's result with the guard off minus the doctor's margin, or not completed)")


if __name__ == "__main__":
    main()
