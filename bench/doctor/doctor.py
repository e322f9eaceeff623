#!/usr/bin/python3
"""The doctor benchmark: does the guard rescue failing runs, across the
whole distribution of them rather than chosen draws?

A generator (bench/doctor/cases.py) makes candidate runs, each a family x
fault x severity x seed, with a healthy twin (the same model, data, batch,
seed and budget without the fault). Each candidate is trained with the
guard off; it is a *case* only if it fails: status not completed, a
non-finite loss on any step or a non-finite result, or a result below its
floor (the twin's, guard off, minus a stated margin). Each case then runs
under the default guard (the stall family under its own policy,
on_stall: noise and init_check: off), and each twin of a case too (a false
alarm is an acting guard event on a healthy run). With --torch, the
families PyTorch can build also run each case with clip_grad_norm_(1.0),
judged against PyTorch's own healthy twin (unclipped).

    /usr/bin/python3 bench/doctor/doctor.py [run] [--quick] [--family NAME[,NAME]] [--seed N]
                                            [--kernels Haswell,SkylakeX] [--jobs 2] [--torch|--torch-only]
                                            [--build build]
    /usr/bin/python3 bench/doctor/doctor.py summary      # merge the newest result of every part
    /usr/bin/python3 bench/doctor/doctor.py list [--family NAME] [--quick]
    /usr/bin/python3 bench/doctor/doctor.py show ID [--twin]   # the YAML config of one candidate (and its twin)
    /usr/bin/python3 bench/doctor/doctor.py render RESULT.json...  # the Markdown of results again (merged)

Every part writes bench/results/doctor-<part>-<kernel>-<date>.md and a
.json beside it; `summary` merges the newest .json of each part into
bench/results/doctor-summary-<date>.md. Every run is one thread; --jobs runs
that many at a time.
"""
import argparse
import collections
import concurrent.futures
import glob
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import cases  # noqa: E402

RESULTS = os.path.join(ROOT, "bench", "results")
DATA = os.path.join(tempfile.gettempdir(), "gg-doctor-data")
PASSIVE = ("warn", "info", "nothing")


def prepare_data():
    cases.make_fashion_subset(os.path.join(DATA, "fashion"))
    cases.make_csv(os.path.join(DATA, "blobs"))


def quick_pick(cands, seed):
    """About 30 candidates that cover every fault kind and family, drawn by
    the seed; the slow families (cnn, the character models) at most twice."""
    rng = random.Random(seed)
    by_kind = collections.defaultdict(list)
    for c in cands:
        by_kind[c.kind].append(c)
    slow = {"cnn": 0, "char-lstm": 0, "char-transformer": 0}
    out = []
    for kind in sorted(by_kind):
        pool = by_kind[kind][:]
        rng.shuffle(pool)
        n = 6 if kind in ("lr", "scale", "nonfinite") else 3
        for c in pool:
            if n == 0:
                break
            if c.fam in slow:
                if slow[c.fam] >= 2:
                    continue
                slow[c.fam] += 1
            out.append(c)
            n -= 1
    return sorted(out, key=lambda c: c.id)


def select(a):
    cands = cases.generate(a.seed)
    if a.family:
        fams = a.family.split(",")
        bad = [f for f in fams if f not in cases.FAMILIES]
        if bad:
            sys.exit("doctor: unknown family %s (families: %s)" % (", ".join(bad), ", ".join(cases.FAMILIES)))
        cands = [c for c in cands if c.fam in fams]
    if a.quick:
        cands = quick_pick(cands, a.seed)
    return cands


# ---- running ----------------------------------------------------------------

def run_gg(g, cfg, out, env, extra=()):
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "config.in.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    t0 = time.time()
    p = subprocess.run([g, "train", path, "-o", out, "--quiet"] + list(extra), env=env, capture_output=True, text=True)
    dt = time.time() - t0
    r = {"rc": p.returncode, "wall": dt, "config": path}
    try:
        s = json.load(open(os.path.join(out, "summary.json")))
    except (OSError, ValueError):
        r.update(status="failed", error=(p.stderr.strip().splitlines() or ["?"])[-1])
        return r
    r.update(status=s.get("status"), nonfinite=s.get("nonfinite_steps") or 0, guard=s.get("guard"),
             acc=s.get("test_accuracy") if s.get("test_accuracy") is not None else s.get("val_accuracy"),
             mse=s.get("test_loss") if cfg["loss"]["name"] == "mse" else None, seconds=s.get("wall_seconds"))
    ev = []
    try:
        for line in open(os.path.join(out, "events.jsonl")):
            e = json.loads(line)
            if e.get("type") == "guard":
                ev.append({"step": e["step"], "signal": e["signal"], "action": e["action"]})
    except OSError:
        pass
    r["events"] = ev
    if p.returncode not in (0, 3):
        r["error"] = (p.stderr.strip().splitlines() or ["?"])[-1]
    return r


def run_torch(cfg, out, env, clip, noise=0.0):
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "config.in.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    p = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "torch_case.py"), path, "--clip", str(clip),
                        "--noise", str(noise)], env=env, capture_output=True, text=True)
    try:
        d = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"status": "failed", "error": (p.stderr.strip().splitlines() or ["?"])[-1]}
    return {"status": d["status"], "nonfinite": d["nonfinite_steps"], "acc": d.get("test_accuracy"),
            "mse": d.get("test_mse"), "wall": d["seconds"]}


def metric(r, kind):
    v = r.get("mse") if kind == "adding" else r.get("acc")
    return v if v is not None and math.isfinite(v) else None


def judge(r, kind, fl, protected=False):
    """(passes, why not) of a finished run against its floor. An unprotected
    run with a non-finite loss on any step fails (its user saw the run go
    NaN); a protected one (the guard, PyTorch + clip) is judged on its end:
    a batch whose loss was non-finite and whose step was skipped harmed
    nothing."""
    if r.get("status") != "completed":
        return False, r.get("status") or "failed"
    if r.get("nonfinite") and not protected:
        return False, "non-finite loss on %d steps" % r["nonfinite"]
    m = metric(r, kind)
    if m is None:
        return False, "non-finite result"
    if fl is None:
        return True, ""
    if fl[0] == "acc" and m < fl[1]:
        return False, "acc %.4f below floor %.4f" % (m, fl[1])
    if fl[0] == "mse" and m > fl[1]:
        return False, "MSE %.4f above ceiling %.4f" % (m, fl[1])
    return True, ""


def acting(ev, from_step=-1):
    return [e for e in ev if e["action"] not in PASSIVE and e["step"] >= from_step]


def blas_line(g, env):
    p = subprocess.run([g, "--version"], env=env, capture_output=True, text=True)
    for line in p.stdout.splitlines():
        if line.startswith("blas kernels:"):
            return line.split(":", 1)[1].strip()
    return "?"


def system_blas():
    p = subprocess.run(["update-alternatives", "--display", "libblas.so.3-x86_64-linux-gnu"], capture_output=True,
                       text=True)
    for line in p.stdout.splitlines():
        if "link currently points to" in line:
            return line.split("points to", 1)[1].strip()
    return "?"


def run_part(a, cands, kernel, g):
    """Runs one part (the selected candidates under one kernel family)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    if kernel:
        env["OPENBLAS_CORETYPE"] = kernel
    kline = blas_line(g, env)
    work = tempfile.mkdtemp(prefix="gg-doctor-")
    pool = concurrent.futures.ThreadPoolExecutor(a.jobs)
    fam_kind = {f: cases.FAMILIES[f]["kind"] for f in cases.FAMILIES}
    twins, cfgs = {}, {}
    for c in cands:
        cfg, twin = cases.fault_config(c, DATA)
        cfgs[c.id] = cfg
        twins.setdefault(c.twin_key(), (c, twin))
    slug = lambda s: s.replace("/", "_").replace(" ", "").replace("|", "_").replace("'", "").replace(",", "")[:150]
    res = {"candidates": {}, "twins": {}}
    print(f"doctor: {len(cands)} candidates, {len(twins)} healthy twins, kernel {kernel or 'default'} ({kline}); "
          f"runs in {work}", flush=True)
    t_start = time.time()
    do_gg = not (a.torch_only or a.noise_peer)
    reused = None
    if do_gg and a.reuse_off:
        # the unguarded runs of this part's newest result under this kernel
        # family: a change to the guard leaves them as they were (the guard
        # is not built with guard.enabled=false)
        reused = newest_part_json(part_name(a), kernel)
        prev = json.load(open(reused)) if reused else {"twins": {}, "candidates": {}}
        print(f"doctor: unguarded runs reused from {reused or 'nothing (none yet)'}", flush=True)

    def off_run(sec, key, cfg, d):
        old = prev[sec].get(key, {}).get("off") if reused else None
        if old:
            f = concurrent.futures.Future()
            f.set_result(old)
            return f
        return pool.submit(run_gg, g, cfg, os.path.join(work, d), env, ["--set", "guard.enabled=false"])
    if do_gg:
        # 1. guard off: every twin and every candidate
        tf = {k: off_run("twins", k, tw, "twin-off-" + slug(k)) for k, (c, tw) in twins.items()}
        cf = {c.id: off_run("candidates", c.id, cfgs[c.id], "off-" + slug(c.id)) for c in cands}
        for k, f in tf.items():
            res["twins"][k] = {"off": f.result()}
        # 2. which are cases; 3. the guarded runs of cases and of their twins
        on_f, twin_on_f = {}, {}
        for c in cands:
            off = cf[c.id].result()
            kind = fam_kind[c.fam]
            tw_off = res["twins"][c.twin_key()]["off"]
            fl = cases.floor_of(kind, metric(tw_off, kind))
            ok, why = judge(off, kind, fl)
            rec = {"id": c.id, "family": c.fam, "kind": c.kind, "severity": c.severity, "seed": c.seed,
                   "onset": c.onset, "twin": c.twin_key(), "floor": fl, "off": off, "case": not ok, "why": why,
                   "policy": c.guard}
            if fl is None or tw_off.get("status") != "completed":
                rec["case"], rec["why"] = False, "twin failed: " + str(tw_off.get("status"))
            res["candidates"][c.id] = rec
            if rec["case"]:
                gcfg = json.loads(json.dumps(cfgs[c.id]))
                gcfg.setdefault("guard", {}).update(c.guard)
                on_f[c.id] = pool.submit(run_gg, g, gcfg, os.path.join(work, "on-" + slug(c.id)), env)
                if c.twin_key() not in twin_on_f:
                    tw = json.loads(json.dumps(twins[c.twin_key()][1]))
                    twin_on_f[c.twin_key()] = pool.submit(run_gg, g, tw, os.path.join(work, "twin-on-" + slug(c.twin_key())),
                                                          env)
        for cid, f in on_f.items():
            rec = res["candidates"][cid]
            on = f.result()
            ok, why = judge(on, fam_kind[rec["family"]], rec["floor"], protected=True)
            rec.update(on=on, rescued=ok, on_why=why)
            after = [e for e in on.get("events", []) if e["step"] >= rec["onset"]]
            rec["first_event"] = after[0]["step"] - rec["onset"] if after else None
            act = acting(on.get("events", []), rec["onset"])
            rec["first_action"] = act[0]["step"] - rec["onset"] if act else None
        for k, f in twin_on_f.items():
            res["twins"][k]["on"] = f.result()
        if reused and not a.torch:
            # the PyTorch runs do not depend on the guard either
            for cid, rec in res["candidates"].items():
                for key in ("torch", "torch_noise"):
                    if rec.get("case") and key in prev["candidates"].get(cid, {}):
                        rec[key] = prev["candidates"][cid][key]
            if prev.get("torch_twins"):
                res["torch_twins"] = prev["torch_twins"]
    if a.torch or a.torch_only or a.noise_peer:
        # the PyTorch part: every case of a family it can build, with
        # clip_grad_norm_(1.0); its floor from its own healthy twin. The
        # stall cases also run with the guard's stall remedy in PyTorch:
        # annealed gradient noise of the same eta and gamma, from step 0
        if a.torch_only or a.noise_peer:
            prev = newest_part_json(part_name(a), kernel)
            if not prev:
                sys.exit("doctor: --torch-only needs a gradguard result of this part first (run without it)")
            res = json.load(open(prev))
        tc = [c for c in cands if c.torch_ok and res["candidates"].get(c.id, {}).get("case")]
        tn = [c for c in tc if c.kind == "stall"]
        if a.noise_peer:
            tc = []  # the clipped runs are kept from the result
        res.setdefault("torch_twins", {})
        tt = {c.twin_key(): twins[c.twin_key()][1] for c in tc + tn if c.twin_key() not in res["torch_twins"] or tc}
        print(f"doctor: PyTorch part, {len(tc)} cases with the clip, {len(tn)} with the noise, {len(tt)} twins",
              flush=True)
        ttf = {k: pool.submit(run_torch, tw, os.path.join(work, "torch-twin-" + slug(k)), env, 0) for k, tw in tt.items()}
        tcf = {c.id: pool.submit(run_torch, cfgs[c.id], os.path.join(work, "torch-" + slug(c.id)), env, 1.0)
               for c in tc}
        eta = cases.STALL_NOISE_ETA
        tnf = {c.id: pool.submit(run_torch, cfgs[c.id], os.path.join(work, "torch-noise-" + slug(c.id)), env, 0, eta)
               for c in tn}
        for k, f in ttf.items():
            res["torch_twins"][k] = f.result()
        for key, futs in (("torch", tcf), ("torch_noise", tnf)):
            for c in tc if key == "torch" else tn:
                r = futs[c.id].result()
                kind = fam_kind[c.fam]
                fl = cases.floor_of(kind, metric(res["torch_twins"][c.twin_key()], kind))
                ok, why = judge(r, kind, fl, protected=True)
                res["candidates"][c.id][key] = dict(r, floor=fl, rescued=ok, why=why)
    pool.shutdown()
    res["meta"] = {"kernel": kernel or "default", "blas_kernels": kline, "system_blas": system_blas(),
                   "cpu": cpu_model(), "seed": a.seed, "quick": a.quick, "families": a.family or "all",
                   "command": " ".join(["/usr/bin/python3", "bench/doctor/doctor.py"] + sys.argv[1:]),
                   "date": time.strftime("%Y-%m-%d %H:%M"), "wall_seconds": time.time() - t_start, "jobs": a.jobs,
                   "version": subprocess.run([g, "--version"], capture_output=True, text=True).stdout.splitlines()[0],
                   "work": work, "off_reused_from": os.path.basename(reused) if reused else None}
    return res


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def part_name(a):
    if a.quick:
        return "quick"
    return a.family.replace(",", "+") if a.family else "all"


def newest_part_json(part, kernel):
    fs = sorted(glob.glob(os.path.join(RESULTS, f"doctor-{part}-{kernel or 'default'}-*.json")))
    return fs[-1] if fs else None


# ---- reporting ----------------------------------------------------------------

def fam_of(twin_key):
    return twin_key.replace("|", ";").split(";")[0]


def pct(n, d):
    return "-" if d == 0 else "%.1f%% (%d/%d)" % (100.0 * n / d, n, d)


def fmt_run(r, kind):
    if not r:
        return "-"
    m = metric(r, kind)
    v = "-" if m is None else ("MSE %.4f" % m if kind == "adding" else "acc %.4f" % m)
    return f"{v} ({r.get('status')})"


def actions_of(r):
    c = collections.Counter(e["signal"] + ":" + e["action"] for e in r.get("events", []) if e["action"] not in PASSIVE)
    return ", ".join("%s x%d" % kv for kv in sorted(c.items())) or "none"


def report(results, title, parts=None):
    """Markdown tables of one or several results (result dicts, one per
    kernel family at most); parts: the metas of the runs merged into them."""
    fam_kind = {f: cases.FAMILIES[f]["kind"] for f in cases.FAMILIES}
    recs = [r for res in results for r in res["candidates"].values()]
    kernels = sorted({res["meta"]["kernel"] for res in results})
    L = [f"# {title}", ""]
    for m in parts or [res["meta"] for res in results]:
        L.append(f"- part `{m['families']}`{' (quick)' if m['quick'] else ''}, kernel family `{m['kernel']}` "
                 f"(`gradguard --version`: blas kernels: {m['blas_kernels']}), {m['date']}, "
                 f"{m['wall_seconds'] / 60:.1f} min at {m['jobs']} run(s) at a time; command `{m['command']}`"
                 + (f"; unguarded runs from `{m['off_reused_from']}`" if m.get("off_reused_from") else ""))
    if results:
        m = results[0]["meta"]
        L += [f"- {m['version']}; CPU {m['cpu']}; system BLAS {m['system_blas']}; generator seed {m['seed']}; "
              "every run 1 thread (OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=1)",
              f"- a candidate is a case when, with the guard off, it does not complete, has a non-finite loss on any "
              f"step or a non-finite result, or ends below its floor: the healthy twin's accuracy (guard off) minus "
              f"{cases.ACC_MARGIN_REL:.0%} of it (at least {cases.ACC_MARGIN_MIN * 100:.0f} points), or above its "
              f"MSE x {1 + cases.MSE_MARGIN_REL:g} + {cases.MSE_MARGIN_ABS:g} (adding problem). Rescued: the guarded "
              "run completes, finite, at or above the same floor. Text models are judged on validation accuracy.",
              ""]
    for kern in kernels:
        rk = [r for res in results if res["meta"]["kernel"] == kern for r in res["candidates"].values()]
        cs = [r for r in rk if r["case"] and "on" in r]
        if not rk:
            continue
        L += [f"## Kernel family `{kern}`", ""]
        resc = sum(r["rescued"] for r in cs)
        nf = [r for r in cs if r["kind"] in ("nonfinite", "scale")]
        L.append(f"**Rescued {pct(resc, len(cs))} of the failing runs** ({len(rk)} candidates, {len(cs)} failed "
                 f"unguarded); non-finite and scale faults: {pct(sum(r['rescued'] for r in nf), len(nf))}.")
        tcs = [r for r in cs if "torch" in r]
        if tcs:
            L.append(f"On the {len(tcs)} cases PyTorch can build: gradguard {pct(sum(r['rescued'] for r in tcs), len(tcs))}, "
                     f"PyTorch + clip_grad_norm_(1.0) {pct(sum(r['torch']['rescued'] for r in tcs), len(tcs))}.")
        L.append("")
        for key, label in (("family", "family"), ("kind", "fault kind")):
            L += [f"| {label} | candidates | cases | rescued by the guard | PyTorch + clip on the same cases | "
                  "steps onset -> first event (median, max; undetected) |", "|---|---|---|---|---|---|"]
            for v in sorted({r[key] for r in rk}):
                a = [r for r in rk if r[key] == v]
                c = [r for r in cs if r[key] == v]
                t = [r for r in c if "torch" in r]
                fe = [r["first_event"] for r in c if r.get("first_event") is not None]
                lat = ("%d, %d" % (statistics.median(fe), max(fe)) if fe else "-") + "; %d" % (len(c) - len(fe))
                tt = "%s (gradguard %s)" % (pct(sum(r["torch"]["rescued"] for r in t), len(t)),
                                            pct(sum(r["rescued"] for r in t), len(t))) if t else "-"
                L.append(f"| {v} | {len(a)} | {len(c)} | {pct(sum(r['rescued'] for r in c), len(c))} | {tt} | {lat} |")
            L.append("")
        # the stall remedy against PyTorch with the same annealed noise
        sn = [r for r in cs if "torch_noise" in r]
        if sn:
            L += stall_table(sn, fam_kind)
        # false alarms and overhead, from the healthy twins
        tws = [(k, t) for res in results if res["meta"]["kernel"] == kern for k, t in res["twins"].items() if "on" in t]
        L += ["False alarms (an acting guard event on a healthy twin) and the guard's time overhead (guarded / "
              "unguarded wall time of the twins, summed; runs share the machine, so small families are noisy):", "",
              "| family | healthy twins | with an acting event | change of those (worst; points, + is better) | "
              "change over all twins (median; points, + is better) | time overhead (all twins' wall time, on / off) |", "|---|---|---|---|---|---|"]
        for fam in sorted({fam_of(k) for k, _ in tws}):
            ft = [t for k, t in tws if fam_of(k) == fam]
            kind = fam_kind[fam]
            sign = -1 if kind == "adding" else 1

            def delta(t):
                a, b = metric(t["on"], kind), metric(t["off"], kind)
                return None if a is None or b is None else sign * (a - b) * (100 if kind != "adding" else 1)
            fa = [t for t in ft if acting(t["on"].get("events", []))]
            worst = [delta(t) for t in fa if delta(t) is not None]
            allc = [delta(t) for t in ft if delta(t) is not None]
            won = sum(t["on"]["wall"] for t in ft if t["off"].get("wall"))
            woff = sum(t["off"]["wall"] for t in ft if t["off"].get("wall"))
            unit = " (MSE)" if kind == "adding" else ""
            L.append(f"| {fam} | {len(ft)} | {len(fa)} | {('%+.2f' % min(worst)) + unit if worst else '-'} | "
                     f"{('%+.2f' % statistics.median(allc)) + unit if allc else '-'} | "
                     f"{('%+.1f%% (%.0f s / %.0f s)' % (100 * (won / woff - 1), won, woff)) if woff else '-'} |")
        L.append("")
        alarms = [(k, t) for k, t in tws if acting(t["on"].get("events", []))]
        if alarms:
            L += ["False alarms (reproduce: `bench/doctor/doctor.py show ID --twin`, the part after `---`):", "",
                  "| healthy twin | twin of (ID) | guard off | guard on | actions |", "|---|---|---|---|---|"]
            for k, t in alarms:
                kind = fam_kind[fam_of(k)]
                of = sorted(r["id"] for r in rk if r["twin"] == k)
                L.append(f"| {k.replace('|', '; ')} | `{of[0] if of else '-'}` | {fmt_run(t['off'], kind)} | {fmt_run(t['on'], kind)} | {actions_of(t['on'])} |")
            L.append("")
        miss = [r for r in cs if not r["rescued"]]
        if miss:
            L += ["Cases the guard did not rescue (reproduce: `bench/doctor/doctor.py show ID > c.yaml && "
                  "build/gradguard train c.yaml -o runs/c`):", "",
                  "| case (ID) | guard off | guard on | why not | guard actions |", "|---|---|---|---|---|"]
            for r in sorted(miss, key=lambda r: r["id"]):
                kind = fam_kind[r["family"]]
                L.append(f"| `{r['id']}` | {fmt_run(r['off'], kind)} | {fmt_run(r['on'], kind)} | {r['on_why']} | "
                         f"{actions_of(r['on'])} |")
            L.append("")
    # the two kernel families side by side
    if len(kernels) > 1:
        L += ["## Kernel families side by side", "", "| family | " + " | ".join(f"rescued, `{k}`" for k in kernels) + " |",
              "|---|" + "---|" * len(kernels)]
        fams = sorted({r["family"] for r in recs})
        for fam in fams + ["all"]:
            row = []
            for kern in kernels:
                c = [r for res in results if res["meta"]["kernel"] == kern for r in res["candidates"].values()
                     if r["case"] and "on" in r and (fam == "all" or r["family"] == fam)]
                row.append(pct(sum(r["rescued"] for r in c), len(c)))
            L.append(f"| {fam} | " + " | ".join(row) + " |")
        L.append("")
    return "\n".join(L) + "\n"


def stall_table(sn, fam_kind):
    """The stall family: the guard's noise remedy against PyTorch with the
    same annealed noise from step 0 (and against PyTorch + clip), run by run,
    with the medians of the classifiers' accuracies."""
    L = [f"The stall family ({len(sn)} cases), the guard's `noise` remedy against PyTorch with the same annealed "
         f"gradient noise (eta {cases.STALL_NOISE_ETA:g}, gamma 0.55, from step 0, no clip):", "",
         "| case (ID) | floor | guard off | guard (on_stall: noise) | PyTorch + noise | PyTorch + clip |",
         "|---|---|---|---|---|---|"]
    cols = {"on": [], "torch_noise": [], "torch": []}
    for r in sorted(sn, key=lambda r: r["id"]):
        kind = fam_kind[r["family"]]
        fl = r["floor"][1] if r.get("floor") else None
        L.append(f"| `{r['id']}` | {'%.4f' % fl if fl is not None else '-'} | {fmt_run(r['off'], kind)} | "
                 f"{fmt_run(r['on'], kind)} | {fmt_run(r['torch_noise'], kind)} | "
                 f"{fmt_run(r['torch'], kind) if 'torch' in r else '-'} |")
        if kind != "adding":
            for k in cols:
                if k in r:
                    v = metric(r[k], kind)
                    cols[k].append(v if v is not None else 0.0)
    med = lambda v: "%.4f" % statistics.median(v) if v else "-"
    L += [f"| median accuracy (classifiers, {len(cols['on'])}) | | | {med(cols['on'])} | {med(cols['torch_noise'])} | "
          f"{med(cols['torch'])} |", ""]
    return L


def write(res_list, stem, title, parts=None):
    os.makedirs(RESULTS, exist_ok=True)
    md = report(res_list, title, parts)
    with open(stem + ".md", "w") as f:
        f.write(md)
    return md


def cmd_run(a):
    g = os.path.join(ROOT, a.build, "gradguard")
    if not os.access(g, os.X_OK):
        sys.exit(f"doctor: build first ({g} missing)")
    if a.jobs < 1:
        sys.exit("doctor: --jobs must be >= 1")
    prepare_data()
    cands = select(a)
    kernels = a.kernels.split(",") if a.kernels else [""]
    for k in kernels:
        res = run_part(a, cands, k, g)
        stem = os.path.join(RESULTS, "doctor-%s-%s-%s" % (part_name(a), k or "default", time.strftime("%Y%m%d-%H%M%S")))
        with open(stem + ".json", "w") as f:
            json.dump(res, f, indent=1)
        md = write([res], stem, "Doctor benchmark, part `%s`, kernel family `%s`" % (part_name(a), k or "default"))
        print(md)
        print(f"doctor: wrote {stem}.md and .json; runs kept in {res['meta']['work']}")


def cmd_summary(a):
    """Merges every part's result, per kernel family, candidate by candidate:
    where parts overlap (a family run alone and again in a larger part) the
    newest run of a candidate or twin counts, once."""
    files = [p for p in glob.glob(os.path.join(RESULTS, "doctor-*.json")) if "summary" not in os.path.basename(p)]
    loaded = []
    for p in files:
        d = json.load(open(p))
        if bool(d["meta"].get("quick")) != bool(a.quick):
            continue
        loaded.append(d)
    if not loaded:
        sys.exit("doctor: no %sresults in bench/results/doctor-*.json yet" % ("quick " if a.quick else ""))
    loaded.sort(key=lambda d: d["meta"]["date"])
    merged, parts = {}, []
    for d in loaded:  # oldest first: newer runs overwrite
        k = d["meta"]["kernel"]
        m = merged.setdefault(k, {"candidates": {}, "twins": {}, "torch_twins": {}, "meta": d["meta"]})
        for sec in ("candidates", "twins", "torch_twins"):
            m[sec].update(d.get(sec, {}))
        m["meta"] = d["meta"]
        parts.append(d["meta"])
    stem = os.path.join(RESULTS, "doctor-summary-%s" % time.strftime("%Y%m%d-%H%M%S"))
    print(write(list(merged.values()), stem, "Doctor benchmark: summary of %d part(s)" % len(parts), parts))
    print(f"doctor: wrote {stem}.md")


def cmd_render(a):
    """Re-renders the Markdown of one or more result .json files (merged)."""
    res = [json.load(open(p)) for p in a.paths]
    stem = a.paths[0][:-5] if len(a.paths) == 1 else os.path.join(RESULTS, "doctor-merged-%s" %
                                                                      time.strftime("%Y%m%d-%H%M%S"))
    print(write(res, stem, "Doctor benchmark" if len(res) > 1 else "Doctor benchmark, part `%s`, kernel family `%s`"
                % ("quick" if res[0]["meta"]["quick"] else res[0]["meta"]["families"], res[0]["meta"]["kernel"])))


def cmd_list(a):
    for c in select(a):
        print(c.id, "onset", c.onset, "twin", c.twin_key(), "policy", c.guard or "default")


def cmd_show(a):
    prepare_data()
    for c in cases.generate(a.seed):
        if c.id == a.id:
            cfg, twin = cases.fault_config(c, DATA)
            if c.guard:
                print("# the guarded run adds: " + json.dumps(c.guard))
            print("# %s (onset step %d); unguarded: --set guard.enabled=false" % (c.id, c.onset))
            print(yaml.safe_dump(cfg, sort_keys=False), end="")
            if a.twin:
                print("---\n# healthy twin\n" + yaml.safe_dump(twin, sort_keys=False), end="")
            return
    sys.exit(f"doctor: no candidate '{a.id}' (see `doctor.py list`)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", nargs="?", default="run", choices=["run", "summary", "list", "show", "render"])
    ap.add_argument("id", nargs="?", help="show: the candidate's ID")
    ap.add_argument("paths", nargs="*", help="render: result .json files")
    ap.add_argument("--quick", action="store_true", help="about 30 candidates covering every kind (10 minutes)")
    ap.add_argument("--family", help="only these families (comma-separated): " + ", ".join(cases.FAMILIES))
    ap.add_argument("--seed", type=int, default=1, help="the generator's seed (default 1)")
    ap.add_argument("--kernels", default="", help="OPENBLAS_CORETYPE values to run under, e.g. Haswell,SkylakeX "
                                                  "(default: the kernels the command picks itself)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--torch", action="store_true", help="also PyTorch + clip_grad_norm_(1.0) on the same cases")
    ap.add_argument("--torch-only", action="store_true", help="only the PyTorch part, on the cases of this part's "
                                                              "newest gradguard result")
    ap.add_argument("--noise-peer", action="store_true", help="only PyTorch + the stall remedy's annealed noise, on "
                    "the stall cases of this part's newest result (added to it)")
    ap.add_argument("--twin", action="store_true", help="show: also print the healthy twin")
    ap.add_argument("--build", default="build")
    ap.add_argument("--reuse-off", action="store_true", help="take the unguarded runs (and the PyTorch ones, if any) "
                    "from this part's newest result under the same kernel family (after a change to the guard only)")
    a = ap.parse_args()
    if a.command == "show" and not a.id:
        sys.exit("doctor: show needs a candidate ID")
    if a.command == "render":
        a.paths = ([a.id] if a.id else []) + a.paths
        if not a.paths:
            sys.exit("doctor: render needs result .json files")
    {"run": cmd_run, "summary": cmd_summary, "list": cmd_list, "show": cmd_show, "render": cmd_render}[a.command](a)


if __name__ == "__main__":
    main()
