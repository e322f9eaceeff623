#!/usr/bin/python3
"""What a late decay of the rate would buy the doctor's lost cases, and what
a plateau rule would see: an upper bound before building one.

For each doctor candidate ID and kernel family it runs, one thread each:
the healthy twin with the guard off (its floor, as the doctor's); the case
under the default guard with the plateau watch on (guard.plateau_window
--watch, 50; the default is off), and without it (the default guard); the
case and the twin without the watch again with the schedule halving the
rate at 1/2 and 3/4 of the step budget (an oracle that knows where the
end is); the twin with the watch on. From the per-step losses of the guarded runs without the
watch it also gives the steps where a plain plateau rule would fire,
whatever the rate's history: the exponential average (weight --alpha) of
the log loss has not fallen by --eps (relative) for --window steps after
--warm steps; after a firing the count starts again.

    /usr/bin/python3 bench/doctor/late_decay.py ID [ID ...] [--kernels Haswell,SkylakeX] [--build build]
                                               [--watch 50] [--window 50] [--eps 0.01] [--alpha 0.05] [--warm 50]

Prints a Markdown table: a row per case and kernel family.
"""
import argparse
import copy
import csv
import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases  # noqa: E402
import doctor  # noqa: E402


def run(g, cfg, kernel, out, kind, extra=()):
    env = dict(os.environ, OPENBLAS_CORETYPE=kernel, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    r = doctor.run_gg(g, cfg, out, env, extra)
    return r, doctor.metric(r, kind)


def decayed(cfg):
    """The config with the rate halved at 1/2 and 3/4 of its step budget."""
    c = copy.deepcopy(cfg)
    n = int(c["train"]["max_steps"])
    c["schedule"] = dict(c.get("schedule") or {}, name="multistep", milestones=[n // 2, 3 * n // 4], gamma=0.5)
    return c


def per_step(cfg):
    """The config logging every step's loss; the quiet monitor keeps the
    doctor's cadence (it follows train.log_every when unset)."""
    c = copy.deepcopy(cfg)
    g = c.setdefault("guard", {})
    g.setdefault("monitor_every", int(c["train"].get("log_every", 50)))
    c["train"]["log_every"] = 1
    return c


def plateau_fires(out, a):
    """Steps where the plateau rule fires on the run's last branch."""
    rows = [r for r in csv.DictReader(open(os.path.join(out, "metrics.csv"))) if r["kind"] == "step"]
    if not rows:
        return []
    last = rows[-1]["branch"]
    s, best, since, fires = None, None, 0, []
    for r in rows:
        if r["branch"] != last or not r["loss"]:
            continue
        step, x = int(r["step"]), math.log(max(float(r["loss"]), 1e-30))
        s = x if s is None else (1 - a.alpha) * s + a.alpha * x
        if best is None or step < a.warm or s < best + math.log(1 - a.eps):
            best, since = s, step
        elif step - since >= a.window:
            fires.append(step)
            best, since = s, step
    return fires


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ids", nargs="+")
    ap.add_argument("--kernels", default="Haswell,SkylakeX")
    ap.add_argument("--build", default="build")
    ap.add_argument("--watch", type=int, default=50, help="guard.plateau_window of the runs with the watch on")
    ap.add_argument("--window", type=int, default=50)
    ap.add_argument("--eps", type=float, default=0.01)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--warm", type=int, default=50)
    a = ap.parse_args()
    doctor.prepare_data()
    by_id = {c.id: c for c in cases.generate(1)}
    missing = [i for i in a.ids if i not in by_id]
    if missing:
        sys.exit(f"late_decay: no candidate {', '.join(repr(m) for m in missing)} (see `doctor.py list`)")
    g = os.path.abspath(os.path.join(a.build, "gradguard"))
    fmt = lambda m, ok: "-" if m is None else f"{m:.4f}" + ("" if ok else " *")
    print(f"plateau rule: window {a.window} steps, eps {a.eps}, alpha {a.alpha}, warm-up {a.warm}\n")
    print(f"| case (ID) | kernel | floor | case, guard with the plateau watch ({a.watch}) | case, guard without it | "
          "the same + late decay | twin, guard with the watch | twin, guard without it + late decay | "
          "a plain plateau rule would fire at (case; twin) |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="gg-decay-") as tmp:
        for cid in a.ids:
            c = by_id[cid]
            kind = cases.FAMILIES[c.fam]["kind"]
            cfg, twin = cases.fault_config(c, doctor.DATA)
            for k in a.kernels.split(","):
                d = os.path.join(tmp, cid.replace("/", "_") + "-" + k)
                r, off = run(g, twin, k, d + "-twin-off", kind, ["--set", "guard.enabled=false"])
                if off is None:
                    print(f"| `{cid}` | {k} | twin off ended {r.get('status')} | | | | | |", flush=True)
                    continue
                floor = cases.floor_of(kind, off)
                vals, fires = [], []
                on = ["--set", f"guard.plateau_window={a.watch}"]
                off_watch = ["--set", "guard.plateau_window=0"]
                for name, base, dec, extra in (("case", cfg, False, on), ("case", cfg, False, off_watch),
                                               ("case", cfg, True, off_watch), ("twin", twin, False, on),
                                               ("twin", twin, False, off_watch), ("twin", twin, True, off_watch)):
                    out = f"{d}-{name}-{'decay' if dec else 'plain'}-{'on' if extra is on else 'off'}"
                    r, m = run(g, per_step(decayed(base) if dec else base), k, out, kind, extra)
                    if name == "twin" and not dec and extra is off_watch:
                        fires.append(plateau_fires(out, a))  # the twin's figure is the watch's
                        continue
                    vals.append(fmt(m, doctor.judge(r, kind, floor, protected=True)[0]))
                    if name == "case" and not dec and extra is off_watch:
                        fires.append(plateau_fires(out, a))
                print(f"| `{cid}` | {k} | {floor[1]:.4f} | " + " | ".join(vals) + f" | {fires[0]}; {fires[1]} |",
                      flush=True)
    print("\n(* below the floor, the twin's result with the guard off minus the doctor's margin, or not completed; "
          "for the twin columns the mark only compares with the same floor)")


if __name__ == "__main__":
    main()
