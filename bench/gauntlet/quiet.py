#!/usr/bin/python3
"""The quiet-failure cases of the gauntlet (configs/gauntlet/6-*, 6b-*, 7-*):
runs that do not blow up but stop learning. Each case, for each seed, three
ways one after the other: gradguard with the guard off, gradguard with the
config's guard section (the default policy unless the config sets keys), and
PyTorch (Debian's python3-torch, bench/gauntlet/torch_peer.py) on the same
model, data, optimizer and budget, without clipping and with
clip_grad_norm_(1.0). Everything at 1 thread.

For each gradguard run the table shows the step of the first report of each
quiet signal (stall, vanishing_gradient, collapse, dead_units) and the guard
actions taken; then the median test accuracy over the seeds.

    /usr/bin/python3 bench/gauntlet/quiet.py [--build build] [--seeds 1,2,3] [CASE ...]

CASE is a config name without .yaml (default: every 6*/7* config). Writes
the table to bench/results/quiet-<date>.md and keeps the runs in a
temporary directory (printed).
"""
import argparse
import collections
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUIET = ("stall", "vanishing_gradient", "collapse", "dead_units", "saturation", "update_ratio")


def run_gg(g, cfg, out, seed, extra):
    cmd = [g, "train", cfg, "-o", out, "--set", "train.threads=1", "--set", f"train.seed={seed}", "--quiet"] + extra
    t0 = time.time()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dt = time.time() - t0
    try:
        s = json.load(open(os.path.join(out, "summary.json")))
    except (OSError, ValueError):
        return {"status": "failed", "test_accuracy": None, "test_loss": None, "seconds": dt, "first": {},
                "actions": {}}
    first, actions = {}, collections.Counter()
    try:
        for line in open(os.path.join(out, "events.jsonl")):
            e = json.loads(line)
            if e.get("type") != "guard":
                continue
            sig = e["signal"]
            if sig in QUIET and sig not in first:
                first[sig] = e["step"]
            if e["action"] not in ("warn", "info"):
                actions[sig + ":" + e["action"]] += 1
    except OSError:
        pass
    return {"status": s.get("status"), "test_accuracy": s.get("test_accuracy"), "test_loss": s.get("test_loss"),
            "seconds": dt, "first": first, "actions": actions}


def run_torch(cfg, seed, clip):
    p = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench/gauntlet/torch_peer.py"), cfg, "--clip",
                        str(clip), "--threads", "1", "--seed", str(seed)], capture_output=True, text=True)
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"status": "error: " + (p.stderr.strip().splitlines() or ["?"])[-1], "test_accuracy": None}


def acc(r):
    a = r.get("test_accuracy")
    return "-" if a is None else "%.4f" % a


def med(xs):
    xs = [x for x in xs if x is not None]
    return "%.4f" % statistics.median(xs) if xs else "-"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("cases", nargs="*")
    a = ap.parse_args()
    g = os.path.join(ROOT, a.build, "gradguard")
    if not os.access(g, os.X_OK):
        sys.exit(f"quiet: build first ({g} missing)")
    os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = "1"
    cases = a.cases or sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(ROOT, "configs/gauntlet/[67]*.yaml")))
    seeds = [int(s) for s in a.seeds.split(",")]
    tmp = tempfile.mkdtemp(prefix="gg-quiet-")
    os.makedirs(os.path.join(ROOT, "bench/results"), exist_ok=True)
    res = os.path.join(ROOT, "bench/results", "quiet-%s.md" % time.strftime("%Y%m%d-%H%M"))
    out = open(res, "w")

    def emit(line):
        print(line, flush=True)
        out.write(line + "\n")
        out.flush()

    emit("| case | seed | gradguard, guard off | gradguard, guard (config's policy) | first report (step) | guard actions | PyTorch | PyTorch + clip_grad_norm_(1.0) |")
    emit("|---|---|---|---|---|---|---|---|")
    summary = []
    for c in cases:
        cfg = os.path.join(ROOT, "configs/gauntlet", c + ".yaml")
        offs, ons, tps, tcs = [], [], [], []
        for s in seeds:
            off = run_gg(g, cfg, os.path.join(tmp, f"{c}-s{s}-off"), s, ["--set", "guard.enabled=false"])
            on = run_gg(g, cfg, os.path.join(tmp, f"{c}-s{s}-on"), s, [])
            tp = tc = {"test_accuracy": None, "status": "skipped"}
            if not a.no_torch:
                tp = run_torch(cfg, s, 0)
                tc = run_torch(cfg, s, 1.0)
            offs.append(off["test_accuracy"])
            ons.append(on["test_accuracy"])
            tps.append(tp.get("test_accuracy"))
            tcs.append(tc.get("test_accuracy"))
            first = ", ".join(f"{k} {v}" for k, v in sorted(on["first"].items(), key=lambda kv: kv[1])) or "none"
            acts = ", ".join("%s x%d" % kv for kv in sorted(on["actions"].items())) or "none"
            emit(f"| {c} | {s} | acc {acc(off)} ({off['status']}) | acc {acc(on)} ({on['status']}) | {first} | {acts} "
                 f"| acc {acc(tp)} ({tp.get('status')}) | acc {acc(tc)} ({tc.get('status')}) |")
        summary.append(f"| {c} | median of {len(seeds)} | acc {med(offs)} | acc {med(ons)} | | | acc {med(tps)} | acc {med(tcs)} |")
    for line in summary:
        emit(line)
    print(f"\nruns kept in {tmp}; table in {res}")


if __name__ == "__main__":
    main()
