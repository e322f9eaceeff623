#!/usr/bin/python3
"""The guard's default policy against the alternatives, on the gauntlet's
exploding cases (configs/gauntlet/1-* to 5-*): each case under each policy
below, gradguard only, at 1 thread, for the seeds given (default 1, the
configs' own). This is the measurement behind the default (docs/results.md,
"Why the default policy is what it is"; docs/guard.md).

    /usr/bin/python3 bench/gauntlet/policies.py [--build build] [--seeds 1,2,3] [--jobs 2]
                                               [--policies a,b] [CASE ...]

Each cell is the test accuracy (MSE for the adding problem) of each seed
and, when a run did not complete, its status; with several seeds, then
their median. Writes bench/results/policies-<date>.md and keeps the runs in
a temporary directory (printed).
"""
import argparse
import concurrent.futures
import glob
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quiet import ROOT, run_gg  # noqa: E402

# Every response that is not a clip, turned into a warning: what is left
# is the clip alone.
NO_ACTIONS = ["guard.on_nonfinite=skip", "guard.on_blowup=warn", "guard.on_trend=warn", "guard.on_collapse=warn",
              "guard.init_check=warn"]
POLICIES = [
    ("default", "the default policy (no guard section)", []),
    ("zclip-only", "the z-score clip alone: no rollback, back-off or init fix; a non-finite step skipped",
     ["guard.clip=zscore"] + NO_ACTIONS),
    ("norm1-only", "PyTorch's remedy inside gradguard: clip the global norm at 1.0, nothing else",
     ["guard.clip=norm", "guard.max_norm=1"] + NO_ACTIONS),
    ("no-clip", "the default without its clip", ["guard.clip=none", "guard.on_spike=warn"]),
    ("zclip-z1", "the default with the z-score clip at 1 standard deviation", ["guard.clip_z=1"]),
    ("zclip-z2.5", "the default with the z-score clip at 2.5 standard deviations", ["guard.clip_z=2.5"]),
    ("autoclip", "the default with AutoClip (10th percentile of the last 1000 norms) for its clip",
     ["guard.clip=percentile"]),
    ("norm1", "the default with a clip of the global norm at 1.0 for its clip", ["guard.clip=norm",
                                                                                "guard.max_norm=1"]),
    ("backoff-not-rollback", "the default, but a blow-up or collapse backs the rate off in place of a rollback",
     ["guard.on_blowup=backoff", "guard.on_collapse=backoff", "guard.on_nonfinite=skip"]),
    ("no-init-fix", "the default, but the initialisation check only warns", ["guard.init_check=warn"]),
]


def value(r):
    """(the number, its text) of one run: accuracy, or MSE for the adding problem."""
    if r.get("test_accuracy") is not None:
        v, t = r["test_accuracy"], "%.4f" % r["test_accuracy"]
    elif r.get("test_loss") is not None:
        v, t = r["test_loss"], "%.4f" % r["test_loss"]
    elif r.get("status") == "failed":  # no summary.json: the run did not start or crashed
        return None, "failed (see the run's directory)"
    else:
        v, t = None, "non-finite"
    return v, t if r.get("status") == "completed" else "%s (%s)" % (t, r.get("status"))


def cell(runs):
    """One seed: its value; several: each seed's, then their median."""
    vals = [value(r) for r in runs]
    if len(vals) == 1:
        return vals[0][1]
    nums = [v for v, _ in vals if v is not None]
    med = "%.4f" % statistics.median(nums) if len(nums) == len(vals) else "-"
    return ", ".join(t for _, t in vals) + " (median %s)" % med


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--seeds", default="1", help="train.seed of the runs, comma-separated (the configs' own is 1)")
    ap.add_argument("--jobs", type=int, default=1, help="runs at a time (each is single-threaded and deterministic)")
    ap.add_argument("--policies", default=",".join(p[0] for p in POLICIES))
    ap.add_argument("cases", nargs="*")
    a = ap.parse_args()
    g = os.path.join(ROOT, a.build, "gradguard")
    if not os.access(g, os.X_OK):
        sys.exit(f"policies: build first ({g} missing)")
    names = a.policies.split(",")
    unknown = [n for n in names if n not in [p[0] for p in POLICIES]]
    if unknown:
        sys.exit("policies: unknown policy %s (known: %s)" % (", ".join(unknown), ", ".join(p[0] for p in POLICIES)))
    try:
        seeds = [int(x) for x in a.seeds.split(",")]
    except ValueError:
        sys.exit(f"policies: --seeds '{a.seeds}' is not a comma-separated list of integers")
    if a.jobs < 1:
        sys.exit(f"policies: --jobs {a.jobs} must be >= 1")
    pols = [p for p in POLICIES if p[0] in names]
    os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = "1"
    cases = a.cases or sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(ROOT, "configs/gauntlet/[1-5]-*.yaml")))
    for c in cases:
        if not os.path.exists(os.path.join(ROOT, "configs/gauntlet", c + ".yaml")):
            sys.exit(f"policies: no configs/gauntlet/{c}.yaml")
    tmp = tempfile.mkdtemp(prefix="gg-policies-")
    os.makedirs(os.path.join(ROOT, "bench/results"), exist_ok=True)
    res = os.path.join(ROOT, "bench/results", "policies-%s.md" % time.strftime("%Y%m%d-%H%M"))
    pool = concurrent.futures.ThreadPoolExecutor(a.jobs)
    with open(res, "w") as out:
        def emit(line):
            print(line, flush=True)
            out.write(line + "\n")
            out.flush()

        emit("seeds %s; accuracy, or test MSE for 4-rnn-adding\n" % a.seeds)
        emit("| policy | " + " | ".join(cases) + " | what it is |")
        emit("|---|" + "---|" * len(cases) + "---|")
        for name, what, sets in pols:
            extra = [x for kv in sets for x in ("--set", kv)]
            cells = []
            for c in cases:
                cfg = os.path.join(ROOT, "configs/gauntlet", c + ".yaml")
                futs = [pool.submit(run_gg, g, cfg, os.path.join(tmp, f"{c}-{name}-s{s}"), s, extra) for s in seeds]
                cells.append(cell([f.result() for f in futs]))
            emit(f"| {name} | " + " | ".join(cells) + f" | {what} |")
    pool.shutdown()
    print(f"\nruns kept in {tmp}; table in {res}")


if __name__ == "__main__":
    main()
