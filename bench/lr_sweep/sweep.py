#!/usr/bin/python3
"""sweep.py - a transformer at too-high learning rates: the learning-rate sweep.

    /usr/bin/python3 bench/lr_sweep/sweep.py [--quick] [--variants none,guard] [--build build] [--out DIR]

Trains the character transformer of bench/lr_sweep/transformer.yaml (2
blocks, width 64, 4 heads, context 64, batch 32, on Debian's fortunes) at
learning rates log-spaced over [3e-4, 3e-1] (7; --quick: 3, the lowest, the
middle and the highest), AdamW with beta2 0.95, a linear warm-up over 10% of
the steps and a cosine decay to lr / 10, for a fixed number of steps (1000;
--quick 300), one thread per run, --jobs runs at a time (1). Variants:

  none          gradguard, guard off
  torch_clip    PyTorch 1.13 + clip_grad_norm_(1.0): the same model in
                torch.nn (torch_lm.py), its own random draw
  guard         gradguard's default guard (no model change)
  qk_ln         guard off, qk-layernorm (attention qk_norm)
  qk_ln_z       guard off, qk-layernorm and a z-loss of 1e-4
  guard_qk_ln   the default guard with qk-layernorm

Seed 1 runs at every rate; the full sweep adds seed 2 at the two rates on
either side of each variant's stability edge (the highest stable rate and
the next one up). Each run's record is OUT/runs/NAME.json: a run already
recorded is not run again, so a variant (--variants) can run on its own, and
an interrupted sweep continues where it stopped. The report always covers
every record in OUT.

Output (OUT/report.md, printed too; OUT/sweep.svg, OUT/attention.svg):
- the final validation loss (cross-entropy, nats per byte) per rate and variant;
- LR sensitivity (Wortsman et al. 2023): the mean over the rates of
  min(loss(eta), loss_0) - loss*, loss_0 the loss at initialisation (the
  median first-step training loss of all runs), loss* the best final loss
  of all runs; a non-finite loss counts as loss_0;
- the highest stable rate of each variant: the highest rate whose runs
  (every seed run there) stayed finite and ended below loss* + (loss_0 -
  loss*) / 4, i.e. kept three quarters of the possible improvement (a run
  whose attention collapsed to one-hot plateaus far above that);
- for each run that was not stable: its largest attention logit and
  smallest attention entropy (over layers and heads) over the steps.
"""
import argparse
import concurrent.futures
import csv
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PY = "/usr/bin/python3"  # Debian's python3-torch
VARIANTS = ["none", "torch_clip", "guard", "qk_ln", "qk_ln_z", "guard_qk_ln"]
LABEL = {"none": "no guard", "torch_clip": "PyTorch + clip 1.0", "guard": "gradguard guard",
         "qk_ln": "qk-layernorm", "qk_ln_z": "qk-layernorm + z-loss", "guard_qk_ln": "guard + qk-layernorm"}
COLOR = {"none": "#e15759", "torch_clip": "#f28e2b", "guard": "#4e79a7", "qk_ln": "#59a14f",
         "qk_ln_z": "#76b7b2", "guard_qk_ln": "#b07aa1"}
FULL_RATES = [3e-4 * 1000 ** (i / 6) for i in range(7)]


def gg_keys(variant):
    """--set keys of a gradguard variant."""
    keys = []
    if variant in ("none", "qk_ln", "qk_ln_z"):
        keys.append("guard.enabled=false")
    if variant in ("qk_ln", "qk_ln_z", "guard_qk_ln"):
        keys += ["model.2.qk_norm=true", "model.4.qk_norm=true"]
    if variant == "qk_ln_z":
        keys.append("loss.z_loss=1e-4")
    return keys


def run_name(variant, lr, seed):
    return "%s-lr%.2e-s%d" % (variant, lr, seed)


def read_gg(run_dir, lr, seed, steps):
    """The record of a gradguard run directory."""
    with open(os.path.join(run_dir, "summary.json")) as f:
        summ = json.load(f)
    curve, val = [], float("nan")
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        for row in csv.DictReader(f):
            if row["kind"] != "step":
                continue
            curve.append([int(row["step"]), float(row["loss"]) if row["loss"] else float("nan")])
            if row["val_loss"]:
                val = float(row["val_loss"])
    attn = {}
    lp = os.path.join(run_dir, "layers.csv")
    if os.path.exists(lp):
        with open(lp) as f:
            for row in csv.DictReader(f):
                s = int(row["step"])
                e = attn.setdefault(s, {"step": s, "heads": [], "log_z": float("nan")})
                if row.get("head"):
                    ml = float(row["max_logit"]) if row["max_logit"] else float("nan")
                    en = float(row["entropy"]) if row["entropy"] else float("nan")
                    e["heads"].append([row["layer"], int(row["head"]), ml, en])
                elif row.get("log_z"):
                    e["log_z"] = float(row["log_z"])
    status = summ.get("status")
    if int(summ.get("steps") or 0) < steps:
        val = float("nan")  # stopped early: no final validation
    return {"side": "gradguard", "lr": lr, "seed": seed, "status": status, "first_loss": summ.get("first_loss"),
            "val_loss": val, "nonfinite_steps": summ.get("nonfinite_steps"), "steps_done": summ.get("steps"),
            "guard": summ.get("guard"), "wall_seconds": summ.get("wall_seconds"), "curve": curve,
            "attn": [attn[k] for k in sorted(attn)]}


def run_timed(cmd, env, cpu):
    """Runs cmd (output captured) and adds its own CPU seconds to cpu[0]: the
    child's rusage from wait4, right with several runs at a time."""
    with tempfile.TemporaryFile("w+") as fo, tempfile.TemporaryFile("w+") as fe:
        p = subprocess.Popen(cmd, env=env, stdout=fo, stderr=fe, text=True)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        cpu[0] += ru.ru_utime + ru.ru_stime
        fo.seek(0)
        fe.seek(0)
        return subprocess.CompletedProcess(cmd, p.returncode, fo.read(), fe.read())


def run_one(a, variant, lr, seed, log):
    """Runs (or reads back) one run; returns its record."""
    name = run_name(variant, lr, seed)
    rec_path = os.path.join(a.out, "runs", name + ".json")
    if os.path.exists(rec_path):
        with open(rec_path) as f:
            return json.load(f)
    warm = max(1, a.steps // 10)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    t0, cpu = time.time(), [0.0]
    if variant == "torch_clip":
        cmd = [PY, os.path.join(HERE, "torch_lm.py"), "--lr", repr(lr), "--steps", str(a.steps), "--warmup",
               str(warm), "--seed", str(seed), "--clip", "1.0", "--out", rec_path + ".tmp"]
        p = run_timed(cmd, env, cpu)
        if p.returncode != 0:
            raise RuntimeError("%s failed: %s" % (" ".join(cmd), p.stderr[-2000:]))
        with open(rec_path + ".tmp") as f:
            rec = json.load(f)
        os.unlink(rec_path + ".tmp")
    else:
        rd = os.path.join(a.out, "gg", name)
        shutil.rmtree(rd, ignore_errors=True)
        sets = ["optimizer.lr=%r" % lr, "schedule.min_lr=%r" % (lr / 10), "schedule.warmup_steps=%d" % warm,
                "train.max_steps=%d" % a.steps, "train.eval_every=%d" % a.steps, "train.seed=%d" % seed]
        cmd = [a.gradguard, "train", os.path.join(HERE, "transformer.yaml"), "-o", rd, "--quiet"]
        for k in sets + gg_keys(variant):
            cmd += ["--set", k]
        p = run_timed(cmd, env, cpu)
        # 0 completed, 3 diverged (the guard stopped it): both are results
        if p.returncode not in (0, 3):
            raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), p.returncode, (p.stderr or p.stdout)[-2000:]))
        rec = read_gg(rd, lr, seed, a.steps)
        if not a.keep_runs:
            shutil.rmtree(rd, ignore_errors=True)
    rec.update({"variant": variant, "wall_total": time.time() - t0,
                "cpu_total": cpu[0],
                "steps": a.steps})
    with open(rec_path, "w") as f:
        json.dump(rec, f)
    log("  %-34s val %-8s %-10s %6.1f s" % (name, "%.4f" % rec["val_loss"] if finite(rec["val_loss"]) else "-",
                                           rec.get("status"), rec["wall_total"]))
    return rec


def finite(x):
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


# ---- analysis ----------------------------------------------------------------------------------


def load_records(out):
    recs = []
    d = os.path.join(out, "runs")
    for n in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if n.endswith(".json"):
            with open(os.path.join(d, n)) as f:
                recs.append(json.load(f))
    return recs


def analyse(recs):
    firsts = [r["first_loss"] for r in recs if finite(r.get("first_loss"))]
    loss0 = statistics.median(firsts) if firsts else float("nan")
    finals = [r["val_loss"] for r in recs if finite(r["val_loss"])]
    best = min(finals) if finals else float("nan")
    bar = best + (loss0 - best) / 4
    table = {}  # variant -> rate -> [val losses over seeds]
    for r in recs:
        table.setdefault(r["variant"], {}).setdefault(r["lr"], []).append(r)
    res = {}
    for v, by in table.items():
        rates = sorted(by)
        seed1 = {lr: next((x for x in by[lr] if x["seed"] == 1), by[lr][0]) for lr in rates}

        def clipped(x):
            return min(x, loss0) if finite(x) else loss0

        sens = statistics.mean(clipped(seed1[lr]["val_loss"]) - best for lr in rates)
        stable = [lr for lr in rates if all(finite(x["val_loss"]) and x["val_loss"] < bar for x in by[lr])]
        # the highest stable rate below the first unstable one (a stable rate past an unstable one counts too:
        # the highest rate that trains is what the question asks)
        res[v] = {"rates": rates, "by": by, "sensitivity": sens, "highest_stable": max(stable) if stable else None,
                  "best": min((seed1[lr]["val_loss"] for lr in rates if finite(seed1[lr]["val_loss"])),
                              default=float("nan"))}
    return loss0, best, bar, res


def edge_rates(info, all_rates):
    """The rates on either side of a variant's stability edge."""
    hs = info["highest_stable"]
    if hs is None:
        return [all_rates[0]]
    i = min(range(len(all_rates)), key=lambda k: abs(all_rates[k] - hs))
    return [all_rates[k] for k in (i, i + 1) if k < len(all_rates)]


# ---- pictures (plain SVG) ----------------------------------------------------------------------


def svg_chart(series, title, xlabel, ylabel, logx=False, logy=False, w=720, h=380, hline=None):
    """series: [(label, color, [(x, y)], dashed)] -> SVG text. Non-finite y break the line."""
    L, R, T, B = 70, 215, 30, 50
    xs = [x for _, _, pts, _ in series for x, y in pts if finite(y)]
    ys = [y for _, _, pts, _ in series for x, y in pts if finite(y) and (y > 0 or not logy)]
    if hline is not None:
        ys.append(hline[0])
    if not xs or not ys:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="60"><text x="10" y="30">%s: no data</text></svg>' % (w, title)
    fx = (lambda v: math.log10(v)) if logx else (lambda v: v)
    fy = (lambda v: math.log10(v)) if logy else (lambda v: v)
    x0, x1 = fx(min(xs)), fx(max(xs))
    y0, y1 = fy(min(ys)), fy(max(ys))
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y1 = y0 + 1
    pad = 0.05 * (y1 - y0)
    y0, y1 = y0 - pad, y1 + pad
    px = lambda v: L + (fx(v) - x0) / (x1 - x0) * (w - L - R)
    py = lambda v: T + (1 - (fy(v) - y0) / (y1 - y0)) * (h - T - B)
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">' % (w, h),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="18" font-size="14" font-weight="bold">%s</text>' % (L, title),
         '<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>' % (L, T, w - L - R, h - T - B)]

    def ticks(lo, hi, log):
        if log:
            return [10 ** k for k in range(math.floor(lo), math.ceil(hi) + 1) if lo <= k <= hi]
        step = 10 ** math.floor(math.log10((hi - lo) / 4 or 1))
        for m in (1, 2, 5, 10):
            if (hi - lo) / (step * m) <= 6:
                step *= m
                break
        v = math.ceil(lo / step) * step
        out = []
        while v <= hi + 1e-12:
            out.append(v)
            v += step
        return out

    for tv in ticks(x0, x1, logx):
        X = px(tv)
        o.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>' % (X, T, X, h - B))
        o.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (X, h - B + 15, "%g" % tv))
    for tv in ticks(y0, y1, logy):
        Y = py(tv)
        o.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>' % (L, Y, w - R, Y))
        o.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (L - 4, Y + 4, "%g" % round(tv, 6)))
    o.append('<text x="%d" y="%d" text-anchor="middle">%s</text>' % ((L + w - R) // 2, h - 12, xlabel))
    o.append('<text x="14" y="%d" transform="rotate(-90 14 %d)" text-anchor="middle">%s</text>' % (
        (T + h - B) // 2, (T + h - B) // 2, ylabel))
    if hline is not None:
        Y = py(hline[0])
        o.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#888" stroke-dasharray="2,3"/>' % (L, Y, w - R, Y))
        o.append('<text x="%d" y="%.1f" fill="#666" text-anchor="end">%s</text>' % (w - R - 4, Y - 4, hline[1]))
    for k, (label, color, pts, dashed) in enumerate(series):
        segs, cur = [], []
        for x, y in pts:
            if finite(y) and (y > 0 or not logy):
                cur.append("%.1f,%.1f" % (px(x), py(y)))
            elif cur:
                segs.append(cur)
                cur = []
        if cur:
            segs.append(cur)
        for sgm in segs:
            o.append('<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>' % (
                color, ' stroke-dasharray="6,3"' if dashed else "", " ".join(sgm)))
        for x, y in pts:
            if finite(y) and (y > 0 or not logy) and len(pts) <= 12:
                o.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (px(x), py(y), color))
            elif not finite(y) and len(pts) <= 12:  # a diverged run: a cross at the top
                o.append('<text x="%.1f" y="%d" fill="%s" text-anchor="middle">x</text>' % (px(x), T + 12, color))
        Y = T + 10 + 18 * k
        o.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>' % (
            w - R + 10, Y, w - R + 30, Y, color, ' stroke-dasharray="6,3"' if dashed else ""))
        o.append('<text x="%d" y="%d">%s</text>' % (w - R + 34, Y + 4, label))
    o.append("</svg>")
    return "\n".join(o)


def attention_series(rec):
    """(step, max logit over heads), (step, min entropy over heads) of a run."""
    ml, en = [], []
    for e in rec.get("attn", []):
        hs = e["heads"]
        m = [h[2] for h in hs if finite(h[2])]
        n = [h[3] for h in hs if finite(h[3])]
        ml.append((e["step"], max(m) if m and len(m) == len(hs) else float("nan")))
        en.append((e["step"], min(n) if n and len(n) == len(hs) else float("nan")))
    return ml, en


# ---- the report --------------------------------------------------------------------------------


def fmt(x, f="%.3f"):
    return f % x if finite(x) else "diverged"


def report(a, recs, rates_run):
    loss0, best, bar, res = analyse(recs)
    order = [v for v in VARIANTS if v in res]
    rates = sorted({r["lr"] for r in recs})
    o = []
    w = o.append
    w("# Learning-rate sweep: a character transformer at too-high rates\n")
    w("Model: bench/lr_sweep/transformer.yaml (2 blocks, width 64, 4 heads, context 64, batch 32, Debian's "
      "fortunes); AdamW beta2 0.95, no weight decay; warm-up 10%% of the steps, cosine to lr / 10; %s steps; "
      "1 thread per run. Final validation cross-entropy (nats per byte) on the last 5%% of the text.\n" % (
          ", ".join(sorted({str(r["steps"]) for r in recs}))))
    w("loss_0 (median first-step loss) = %.3f; loss* (best final loss of all runs) = %.3f; a run is stable when "
      "it stays finite and ends below %.3f.\n" % (loss0, best, bar))
    w("| rate | " + " | ".join(LABEL[v] for v in order) + " |")
    w("|---|" + "---|" * len(order))
    for lr in rates:
        cells = []
        for v in order:
            rs = res[v]["by"].get(lr, [])
            s1 = [r for r in rs if r["seed"] == 1]
            c = fmt(s1[0]["val_loss"]) if s1 else "-"
            more = [fmt(r["val_loss"]) for r in rs if r["seed"] != 1]
            if more:
                c += " (seed 2: %s)" % ", ".join(more)
            cells.append(c)
        w("| %.2g | %s |" % (lr, " | ".join(cells)))
    w("")
    w("| variant | LR sensitivity | highest stable rate | best final loss |")
    w("|---|---|---|---|")
    for v in order:
        r = res[v]
        w("| %s | %.3f | %s | %.3f |" % (LABEL[v], r["sensitivity"],
                                         "%.2g" % r["highest_stable"] if r["highest_stable"] else "none",
                                         r["best"]))
    w("")
    # the runs that failed on the high side of their variant's best rate
    best_lr = {v: min((lr for lr in res[v]["rates"] if finite(res[v]["by"][lr][0]["val_loss"])),
                      key=lambda lr: res[v]["by"][lr][0]["val_loss"], default=0) for v in res}
    unstable = [r for r in recs if not (finite(r["val_loss"]) and r["val_loss"] < bar) and r.get("attn")
                and r["lr"] > best_lr[r["variant"]]]
    if unstable:
        w("Runs above their variant's best rate that were not stable: the largest attention logit and the smallest attention entropy (over layers "
          "and heads) at the logged steps (attention.svg, with the unguarded run at its best rate dashed); first and last logged values, and the step where the "
          "smallest entropy first fell under 0.1 nats:\n")
        w("| run | status | max logit (first -> peak) | min entropy (first -> lowest) | entropy < 0.1 at step |")
        w("|---|---|---|---|---|")
        for r in sorted(unstable, key=lambda r: (VARIANTS.index(r["variant"]), r["lr"], r["seed"])):
            ml, en = attention_series(r)
            fm = [y for _, y in ml if finite(y)]
            fe = [y for _, y in en if finite(y)]
            low = next((s for s, y in en if finite(y) and y < 0.1), None)
            w("| %s | %s | %s | %s | %s |" % (
                run_name(r["variant"], r["lr"], r["seed"]), r.get("status"),
                "%.1f -> %.1f" % (fm[0], max(fm)) if fm else "-", "%.2f -> %.3f" % (fe[0], min(fe)) if fe else "-",
                low if low is not None else "-"))
        w("")
    mp = os.path.join(a.out, "machine.json")
    m = json.load(open(mp)) if os.path.exists(mp) else {"cpu": a.cpu, "blas": a.blas,
                                                          "coretype": os.environ.get("OPENBLAS_CORETYPE")}
    w("Machine (when the runs started): %s; OpenBLAS %s (OPENBLAS_CORETYPE %s).\n" % (
        m["cpu"], m["blas"], m.get("coretype") or "unset"))
    wall = sum(r.get("wall_total", 0) for r in recs)
    cpu = sum(r.get("cpu_total", 0) for r in recs)
    w("%d runs, %.0f s of wall time, %.0f s of CPU time in the runs." % (len(recs), wall, cpu))
    text = "\n".join(o) + "\n"
    with open(os.path.join(a.out, "report.md"), "w") as f:
        f.write(text)
    series = []
    for v in order:
        pts = [(lr, res[v]["by"][lr][0]["val_loss"] if finite(res[v]["by"][lr][0]["val_loss"]) else float("nan"))
               for lr in res[v]["rates"]]
        series.append((LABEL[v], COLOR[v], pts, v == "torch_clip"))
    with open(os.path.join(a.out, "sweep.svg"), "w") as f:
        f.write(svg_chart(series, "final validation loss per learning rate (x: diverged)", "peak learning rate",
                          "validation loss (nats/byte)", logx=True, hline=(loss0, "loss_0")))
    if unstable:
        s1, s2 = [], []
        palette = ["#e15759", "#f28e2b", "#4e79a7", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f"]
        for k, r in enumerate(sorted(unstable, key=lambda r: (VARIANTS.index(r["variant"]), r["lr"]))[:8]):
            ml, en = attention_series(r)
            lab = "%s %.2g%s" % (LABEL[r["variant"]], r["lr"], ", seed %d" % r["seed"] if r["seed"] != 1 else "")
            s1.append((lab, palette[k % 8], ml, False))
            s2.append((lab, palette[k % 8], en, False))
        # a healthy run for contrast: the unguarded model at its best rate
        ref = [r for r in recs if r["variant"] == "none" and r["lr"] == best_lr.get("none") and r["seed"] == 1]
        if ref and ref[0].get("attn"):
            ml, en = attention_series(ref[0])
            lab = "%s %.2g (healthy)" % (LABEL["none"], ref[0]["lr"])
            s1.append((lab, "#888888", ml, True))
            s2.append((lab, "#888888", en, True))
        top = svg_chart(s1, "unstable runs: largest attention logit", "step", "max |q.k| / sqrt(dh) (log)", logy=True)
        bot = svg_chart(s2, "unstable runs: smallest attention entropy", "step", "entropy (nats)")
        with open(os.path.join(a.out, "attention.svg"), "w") as f:
            f.write('<svg xmlns="http://www.w3.org/2000/svg" width="720" height="760">\n<g>%s</g>\n'
                    '<g transform="translate(0,380)">%s</g>\n</svg>\n' % (top, bot))
    return text


def machine(prog):
    """(CPU model and load average, the OpenBLAS gradguard loads and the kernel it picks)."""
    import ctypes

    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cpu += ", %d cores, load %.1f" % (os.cpu_count() or 0, os.getloadavg()[0])
    blas = "?"
    p = subprocess.run(["ldd", prog], capture_output=True, text=True).stdout
    for line in p.splitlines():
        if "blas" in line and "=>" in line:
            path = line.split("=>")[1].split("(")[0].strip()
            try:
                lib = ctypes.CDLL(path)
                lib.openblas_get_corename.restype = ctypes.c_char_p
                lib.openblas_get_config.restype = ctypes.c_char_p
                blas = "%s, kernel %s" % (lib.openblas_get_config().decode(), lib.openblas_get_corename().decode())
            except (OSError, AttributeError):
                blas = path
            break
    return cpu, blas


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 rates, 1 seed, 300 steps")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=None, help="default: bench/results/lr-sweep[-quick]")
    ap.add_argument("--steps", type=int, default=0, help="steps per run (default 1000; --quick 300)")
    ap.add_argument("--keep-runs", action="store_true", help="keep gradguard's run directories (OUT/gg/)")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--jobs", type=int, default=1, help="runs at a time, one thread each (the machine's cores at most)")
    a = ap.parse_args()
    if a.jobs < 1:
        sys.exit("sweep.py: --jobs must be at least 1")
    a.steps = a.steps or (300 if a.quick else 1000)
    a.out = a.out or os.path.join(ROOT, "bench", "results", "lr-sweep-quick" if a.quick else "lr-sweep")
    a.gradguard = os.path.join(os.path.abspath(a.build), "gradguard")
    a.cpu, a.blas = machine(a.gradguard)
    os.makedirs(os.path.join(a.out, "runs"), exist_ok=True)

    def log(s):
        print(s, file=sys.stderr, flush=True)

    variants = [v for v in a.variants.split(",") if v]
    for v in variants:
        if v not in VARIANTS:
            sys.exit("sweep.py: unknown variant '%s' (one of %s)" % (v, ", ".join(VARIANTS)))
    rates = [FULL_RATES[0], FULL_RATES[3], FULL_RATES[6]] if a.quick else FULL_RATES
    if not a.report_only:
        if subprocess.run([os.path.join(ROOT, "scripts", "install-deps.sh"), "--with-fortunes"]).returncode:
            sys.exit("sweep.py: could not install the fortunes (scripts/install-deps.sh --with-fortunes)")
        if not os.access(a.gradguard, os.X_OK):
            sys.exit("sweep.py: %s is missing: build first" % a.gradguard)
        t0 = time.time()
        with open(os.path.join(a.out, "machine.json"), "w") as f:
            json.dump({"cpu": a.cpu, "blas": a.blas, "coretype": os.environ.get("OPENBLAS_CORETYPE")}, f)
        log("lr sweep: %s; rates %s; %d steps; out %s" % (", ".join(variants), ", ".join("%.2g" % r for r in rates),
                                                          a.steps, a.out))
        # seed 1 at every rate, then (the full sweep) a second seed on either
        # side of each variant's stability edge, judged against every seed-1 run
        # (loss* and the bar are the whole sweep's); --jobs runs at a time
        with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as pool:
            list(pool.map(lambda vr: run_one(a, vr[0], vr[1], 1, log), [(v, lr) for v in variants for lr in rates]))
            if not a.quick:
                _, _, _, res = analyse(load_records(a.out))
                edge = [(v, lr) for v in variants for lr in edge_rates(res[v], rates)]
                list(pool.map(lambda vr: run_one(a, vr[0], vr[1], 2, log), edge))
        log("lr sweep: %.0f s" % (time.time() - t0))
    print(report(a, load_records(a.out), rates))


if __name__ == "__main__":
    main()
