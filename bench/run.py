#!/usr/bin/python3
"""run.py - `make bench`: gradguard against PyTorch, in one run, on this machine.

    /usr/bin/python3 bench/run.py --build build [--quick] [--out bench/results]

(bench/run.sh builds the programs first and calls this.) Every number in the
report is measured in this run: the two sides run one after the other (never
at the same time), each as its own process, with R repetitions of N timed
steps after W warm-up steps; tables give the median and the spread (min-max
over the repetitions, as +-% of the median).

  1. the machine: CPU, cores, load, the BLAS each side really loaded
  2. the sgemm rate (large square sgemm) and the MLP's GEMM floor
     (bench/gemm_floor: the step's GEMMs alone in OpenBLAS)
  3. MLP, CNN, LSTM (adding problem), a character transformer (2 blocks,
     width 128, 4 heads, T 64, on the GPL-3 text): gradguard (bench/gg_bench) at 1 thread
     and at all cores; PyTorch (bench/torch_peer.py) at its defaults and at
     tuned thread settings, from the same initial weights, data and batch
     order; the first losses of both must agree to 1e-4 (relative)
  4. guard overhead (off / default policy / per-layer statistics every step)
  5. peak RSS of the MLP runs (gradguard must stay under 1/4 of PyTorch's)
  6. an MLP scaling sweep over width and batch, against the sgemm rate

Prints the report (Markdown) and writes it to OUT/<date>.md, with every raw
measurement in OUT/<date>.json. Exits 1 if a cross-check failed.
"""
import argparse
import shutil
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3"  # Debian's python3-torch lives here, not in the first python3 on PATH
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_WAIT_POLICY",
               "GOMP_SPINCOUNT")
LOSS_RTOL = 1e-4
WINOGRAD_RTOL = 5e-3  # gradguard's Winograd CNN against its im2col run (measured: 1.7e-3 at step 6)


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60).stdout.strip()
    except Exception as e:  # a missing tool is a note, not a failure
        return "(%s)" % e


def env_with(threads=None, omp=None, blas=None, wait=None):
    """The inherited environment with the thread variables replaced; None
    removes a variable (the library's own default). wait: OMP_WAIT_POLICY."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    if threads is not None:
        omp = blas = threads
    if omp is not None:
        env["OMP_NUM_THREADS"] = str(omp)
    if blas is not None:
        env["OPENBLAS_NUM_THREADS"] = str(blas)
    if wait is not None:
        env["OMP_WAIT_POLICY"] = wait
    return env


def gg_label(t, wait=None):
    return "1 thread" if t == 1 else "%d threads%s" % (t, ", passive" if wait else "")


def run_json(cmd, env, what, log):
    """Runs a program that prints JSON lines; returns the parsed objects."""
    t0 = time.time()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    dt = time.time() - t0
    log("  %-58s %6.1f s" % (what, dt))
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), p.returncode, (p.stderr or p.stdout).strip()[-2000:]))
    out = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    if not out:
        raise RuntimeError("%s printed no JSON: %s" % (" ".join(cmd), p.stdout[-500:]))
    return out


def spread(ms):
    """(max - min) / (2 median) in %: the +- of a median."""
    m = statistics.median(ms)
    return 100.0 * (max(ms) - min(ms)) / (2 * m) if m > 0 else 0.0


def fmt_rate(x):
    return "%.0f" % x if x >= 100 else "%.1f" % x


def wait_note(r):
    return " (passive)" if r.get("wait") == "passive" else ""


def best(runs, labels):
    """(label, run) of the fastest of runs[labels]."""
    return max(((l, runs[l]) for l in labels), key=lambda kv: kv[1]["samples_per_s"])


def cut(r, R):
    """A note when --max-time cut a run's steps."""
    n = R["config"]["steps"].get(r["model"], r["steps"])
    return " (%d steps)" % r["steps"] if r["steps"] < n else ""


def rel_diff(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def machine_info(build):
    info = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpu": sh("lscpu | sed -n 's/^Model name: *//p'"),
        "cpu_family_model": sh("lscpu | sed -n 's/^CPU family: *//p'") + "/" + sh("lscpu | sed -n 's/^Model: *//p'"),
        "cores": os.cpu_count(),
        "avx512": "avx512f" in sh("grep -m1 flags /proc/cpuinfo"),
        "kernel": platform.release(),
        "libblas_alternative": sh("update-alternatives --display libblas.so.3-x86_64-linux-gnu"),
        "gg_bench_ldd": sh("ldd %s | grep -E 'blas|gomp'" % os.path.join(build, "bench", "gg_bench")),
        "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE"),
        "thread_env": {k: os.environ.get(k) for k in THREAD_VARS},
        "git": sh("cd %s && git rev-parse --short HEAD" % ROOT) + (" (+ uncommitted changes)" if sh(
            "cd %s && git status --porcelain --untracked-files=no" % ROOT) else ""),
        "cc": sh("sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' %s/CMakeCache.txt" % build),
        "cflags": "-O3 -march=native" if "GG_NATIVE:BOOL=ON" in sh("grep GG_NATIVE %s/CMakeCache.txt" % build) else "-O3",
        "load_start": os.getloadavg(),
    }
    info["cc_version"] = sh("%s --version | head -1" % (info["cc"] or "cc"))
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="few steps and a small sweep (a smoke test, not a measurement)")
    ap.add_argument("--no-sweep", action="store_true")
    ap.add_argument("--models", default="mlp,cnn,lstm,transformer")
    ap.add_argument("--coretype", default=None,
                    help="OPENBLAS_CORETYPE for both sides (e.g. SkylakeX: OpenBLAS 0.3.21 picks AVX2 kernels "
                         "on AVX-512 AMD CPUs); default: inherited from the environment")
    ap.add_argument("--max-time", type=float, default=12.0,
                    help="cap on the timed part of one run, seconds (fewer steps on a slow or busy machine)")
    a = ap.parse_args()
    if a.coretype:  # read by machine_info() and inherited by every process of both sides
        os.environ["OPENBLAS_CORETYPE"] = a.coretype
    build = os.path.abspath(a.build)
    ggb = os.path.join(build, "bench", "gg_bench")
    floor = os.path.join(build, "bench", "gemm_floor")
    for p in (ggb, floor):
        if not os.access(p, os.X_OK):
            sys.exit("run.py: %s is missing: build it first (bench/run.sh does)" % p)
    ncpu = os.cpu_count() or 1
    reps = 2 if a.quick else a.reps
    warmup = 6 if a.quick else 10  # >= 6: the cross-check reads the first 6 losses
    steps = {"mlp": 20, "cnn": 3, "lstm": 3, "transformer": 3} if a.quick else \
        {"mlp": 200, "cnn": 20, "lstm": 20, "transformer": 20}
    work = tempfile.mkdtemp(prefix="gg-bench-")
    # run copies: a rebuild of the build directory while the bench runs must
    # not swap (or half-write) the programs under it
    for name in ("ggb", "floor"):
        src = locals()[name]
        dst = os.path.join(work, os.path.basename(src))
        shutil.copy2(src, dst)
        if name == "ggb":
            ggb = dst
        else:
            floor = dst
    t_start = time.time()

    def log(s):
        print(s, file=sys.stderr, flush=True)

    info = machine_info(build)
    R = {"machine": info, "sgemm": {}, "floor": {}, "runs": {}, "guard": {}, "sweep": [], "checks": [], "wait": {},
         "skipped": {}, "config": {"reps": reps, "warmup": warmup, "steps": steps, "quick": a.quick,
                                                       "max_time": a.max_time}}
    failures = []
    thread_set = [1] if ncpu == 1 else [1, ncpu]
    log("bench: %s, %d cores, load %.1f; work dir %s" % (info["cpu"], ncpu, info["load_start"][0], work))

    # OpenMP threads spin at barriers by default (libgomp, and OpenBLAS's
    # OpenMP build inside it); on a machine with other work that can cost far
    # more than it saves, so at N > 1 threads every OpenMP side also runs with
    # OMP_WAIT_POLICY=passive and the report shows both.
    waits = [None] if ncpu == 1 else [None, "passive"]

    # ---- sgemm rate and GEMM floor (the better of the wait policies: a floor) ------------
    for t in thread_set:
        for w in (waits if t > 1 else [None]):
            tag = ", passive" if w else ""
            sq = run_json([floor, "square", "--n", "2048", "--threads", str(t), "--reps", str(max(3, reps)),
                           "--time", "0.3"], env_with(t, wait=w), "sgemm 2048^3, %d thread(s)%s" % (t, tag), log)[0]
            fl = run_json([floor, "mlp", "--dims", "784,256,128,10", "--batch", "128", "--threads", str(t),
                           "--reps", str(max(3, reps)), "--time", "0.3"], env_with(t, wait=w),
                          "GEMM floor of the MLP step, %d thread(s)%s" % (t, tag), log)[0]
            sq["wait"] = fl["wait"] = w or "default"
            # the machine's rate is a ceiling: the best repetition, not the median
            sq["gflops_median"] = sq["gflops"]
            sq["gflops"] = sq["flops"] / (sq["ms_min"] * 1e-3) / 1e9
            if t not in R["sgemm"] or sq["gflops"] > R["sgemm"][t]["gflops"]:
                R["sgemm"][t] = sq
            if t not in R["floor"] or fl["ms_median"] < R["floor"][t]["ms_median"]:
                R["floor"][t] = fl

    # ---- the three workloads ----------------------------------------------------------
    # PyTorch settings: (label, torch.set_num_threads arg (0 = its default), OMP, OPENBLAS, foreach, wait policy)
    torch_settings = [("default", 0, None, None, False, None), ("1 thread", 1, 1, 1, True, None)]
    if ncpu > 1:
        torch_settings += [("%d torch threads, BLAS 1" % ncpu, ncpu, ncpu, 1, True, None),
                           ("%d torch threads, BLAS 1, passive" % ncpu, ncpu, ncpu, 1, True, "passive"),
                           ("1 torch thread, BLAS %d" % ncpu, 1, 1, ncpu, True, None),
                           ("%d torch threads, BLAS %d" % (ncpu, ncpu), ncpu, ncpu, ncpu, True, None)]
    for model in a.models.split(","):
        d = os.path.join(work, model)
        os.makedirs(d, exist_ok=True)
        runs = R["runs"][model] = {"gradguard": {}, "pytorch": {}}
        common = ["--warmup", str(warmup), "--steps", str(steps[model]), "--reps", str(reps), "--dir", d,
                  "--max-time", str(a.max_time)]
        try:
            for i, t in enumerate(thread_set):
                for w in (waits if t > 1 else [None]):
                    lb = gg_label(t, w)
                    runs["gradguard"][lb] = run_json([ggb, model, "--threads", str(t), "--data", a.data] + common,
                                                     env_with(t, wait=w), "gradguard %s, %s" % (model, lb), log)[0]
                    runs["gradguard"][lb]["label"] = lb
                # interleave: each gradguard run is followed by PyTorch runs
                todo = torch_settings[:2] if i == 0 else torch_settings[2:]
                for label, tt, omp, blas, fe, w in todo:
                    cmd = [PY, os.path.join(HERE, "torch_peer.py"), model, "--torch-threads", str(tt), "--data", a.data,
                           "--label", label] + common + (["--foreach"] if fe else [])
                    runs["pytorch"][label] = run_json(cmd, env_with(None, omp, blas, w),
                                                      "pytorch %s, %s" % (model, label), log)[0]
        except RuntimeError as e:
            if model == "lstm" and not runs["gradguard"]:
                R["skipped"][model] = str(e)
                log("  lstm skipped: %s" % e)
                continue
            raise
        # the cross-check: every run's first losses against gradguard at 1 thread
        ref = runs["gradguard"]["1 thread"]["losses"]
        tol = {"gradguard": LOSS_RTOL, "pytorch": LOSS_RTOL}
        if model == "cnn":
            # gradguard's CNN runs conv2 by Winograd, whose rounding differs
            # from direct convolution's at ~1e-6 and Adam's first steps
            # magnify that (an update of +-lr whatever the gradient's size);
            # PyTorch is checked against gradguard forced to im2col + GEMM,
            # the same arithmetic, and gradguard's runs against that within
            # WINOGRAD_RTOL
            im = run_json([ggb, model, "--conv", "im2col", "--threads", "1", "--data", a.data, "--warmup", str(warmup),
                           "--steps", "1", "--reps", "1", "--dir", d], env_with(1), "gradguard cnn, im2col", log)[0]
            R["cnn_im2col_losses"] = im["losses"]
            ref = im["losses"]
            tol["gradguard"] = WINOGRAD_RTOL
        for side, label, r in [("gradguard", l, r) for l, r in runs["gradguard"].items()] + \
                              [("pytorch", l, r) for l, r in runs["pytorch"].items()]:
            n = min(len(ref), len(r["losses"]))
            worst = max(rel_diff(x, y) for x, y in zip(ref[:n], r["losses"][:n]))
            ok = n >= 6 and worst <= tol[side]
            R["checks"].append({"model": model, "side": side, "run": label, "losses": r["losses"][:n],
                                "max_rel_diff": worst, "ok": ok})
            if not ok:
                failures.append("%s: %s %s: first losses %s differ from gradguard's %s (max relative difference %.3g > %g)"
                                % (model, side, label, r["losses"][:n], ref[:n], worst, tol[side]))

    # the wait policy gradguard runs the rest with at N threads: the faster one on the MLP
    for t in thread_set:
        R["wait"][t] = None
        if t > 1 and "mlp" in R["runs"]:
            gr = R["runs"]["mlp"]["gradguard"]
            if gr[gg_label(t, "passive")]["ms_median"] < gr[gg_label(t)]["ms_median"]:
                R["wait"][t] = "passive"

    # ---- guard overhead (MLP) ---------------------------------------------------------
    if "mlp" in R["runs"]:
        d = os.path.join(work, "mlp")
        common = ["--warmup", str(warmup), "--steps", str(steps["mlp"]), "--reps", str(reps), "--dir", d,
                  "--max-time", str(a.max_time)]
        for t in thread_set:
            lb = gg_label(t, R["wait"][t])
            R["guard"][t] = {"label": lb}
            # off, default and layers take turns, three rounds: a slow spell of
            # the machine then falls on all three, not on one
            got = {"off": [], "default": [], "layers": []}
            for rnd in range(3):
                for mode in ("off", "default", "layers"):
                    got[mode].append(run_json([ggb, "mlp", "--threads", str(t), "--guard", mode, "--data", a.data] +
                                              common, env_with(t, wait=R["wait"][t]),
                                              "gradguard mlp guard=%s, %s, round %d" % (mode, lb, rnd + 1), log)[0])
            for mode, rs in got.items():
                rs.sort(key=lambda r: r["ms_median"])
                R["guard"][t][mode] = rs[len(rs) // 2]
        R["guard"]["torch_clip"] = run_json(
            [PY, os.path.join(HERE, "torch_peer.py"), "mlp", "--torch-threads", "1", "--clip", "--foreach", "--data",
             a.data, "--label", "1 thread + clip"] + common, env_with(1), "pytorch mlp + clip_grad_norm_, 1 thread",
            log)[0]

    # ---- scaling sweep ----------------------------------------------------------------
    if not a.no_sweep:
        widths = [256, 1024] if a.quick else [256, 512, 1024, 2048, 4096]
        batches = [32, 256] if a.quick else [32, 128, 512, 1024]
        t = ncpu
        w = R["wait"].get(t)
        pts = run_json([ggb, "sweep", "--widths", ",".join(map(str, widths)), "--batches", ",".join(map(str, batches)),
                        "--threads", str(t), "--time", "0.2" if a.quick else "0.6", "--data", a.data],
                       env_with(t, wait=w), "gradguard MLP sweep, %s" % gg_label(t, w), log)
        for p in pts:
            fl = run_json([floor, "mlp", "--dims", "784,%d,%d,10" % (p["width"], p["width"]), "--batch", str(p["batch"]),
                           "--threads", str(t), "--reps", "3", "--time", "0.1" if a.quick else "0.25"],
                          env_with(t, wait=w), "  floor %d x %d" % (p["width"], p["batch"]), log)[0]
            p["floor_ms"] = fl["ms_median"]
            p["label"] = gg_label(t, w)
            R["sweep"].append(p)

    info["load_end"] = os.getloadavg()
    R["wall_seconds"] = time.time() - t_start
    report = render(R, thread_set, ncpu, failures)
    print(report)
    os.makedirs(a.out, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M")
    with open(os.path.join(a.out, stamp + ".md"), "w") as f:
        f.write(report)
    with open(os.path.join(a.out, stamp + ".json"), "w") as f:
        json.dump(R, f, indent=1, default=str)
    log("bench: wrote %s/%s.md and .json in %.0f s" % (a.out, stamp, R["wall_seconds"]))
    if failures:
        log("\nBENCH CROSS-CHECK FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)


def render(R, thread_set, ncpu, failures):
    m = R["machine"]
    out = []
    w = out.append
    w("# gradguard vs PyTorch - %s\n" % m["date"])
    if R["config"]["quick"]:
        w("**--quick run: a smoke test, too short to be a measurement.**\n")
    if failures:
        w("**CROSS-CHECK FAILED** - the two sides did not compute the same thing:\n")
        for f in failures:
            w("- " + f)
        w("")
    la0, la1 = m["load_start"], m.get("load_end", m["load_start"])
    w("## Machine\n")
    w("| | |\n|---|---|")
    w("| CPU | %s (family/model %s), %d cores, AVX-512 %s |" % (m["cpu"], m["cpu_family_model"], m["cores"],
                                                              "yes" if m["avx512"] else "no"))
    # the 1-minute average at the end counts the bench's own runs (the sweep
    # at all cores comes last: about ncpu), so only more than that is other load
    w("| load average (1 min) | %.2f at the start, %.2f at the end (the end counts the bench's own %d-thread runs)%s |" % (
        la0[0], la1[0], ncpu, " - **busy machine: numbers are noisy**"
        if la0[0] > 0.5 * ncpu or la1[0] > ncpu + 0.5 else ""))
    gg = next(iter(R["runs"].values()))["gradguard"]["1 thread"] if R["runs"] else R["floor"][1]
    w("| gradguard BLAS | %s (`%s`) |" % (gg.get("openblas_config", "?"), m["gg_bench_ldd"].replace("\n", "; ")))
    pt = None
    for runs in R["runs"].values():
        pt = runs["pytorch"].get("1 thread") or pt
    if pt:
        w("| PyTorch | %s; BLAS %s (%s), libs %s; oneDNN %s |" % (
            pt["torch_version"], pt.get("openblas_config", "?"), "libblas.so.3 alternative: " + " ".join(
                l.strip() for l in m["libblas_alternative"].splitlines() if "currently" in l),
            ", ".join(os.path.basename(x) for x in pt.get("blas_libs", [])), "on" if pt["mkldnn"] else "off"))
        w("| PyTorch default threads | torch.get_num_threads() = %d; OpenBLAS threads with no variable set = %s |" % (
            pt["torch_default_threads"],
            next(iter(R["runs"].values()))["pytorch"]["default"].get("openblas_threads", "?")))
    w("| OPENBLAS_CORETYPE | %s (inherited by both sides) |" % (m["openblas_coretype_env"] or "unset"))
    w("| gradguard build | %s, %s; git %s |" % (m["cc_version"], m["cflags"], m["git"]))
    w("| repetitions | %d x (steps %s) after %d warm-up steps, fewer steps (shown) where that would take over %g s; "
      "spread = (max - min) / 2 over repetitions |\n" % (
          R["config"]["reps"], ", ".join("%s %d" % kv for kv in R["config"]["steps"].items()), R["config"]["warmup"],
          R["config"]["max_time"]))

    w("## Throughput (samples/s, median +- spread; ratio = gradguard / PyTorch)\n")
    w("gradguard: guard off (the same computation as PyTorch). gradguard at N threads: OMP_NUM_THREADS=N, "
      "OPENBLAS_NUM_THREADS=N and omp/openblas_set_num_threads(N) (the trainer's train.threads); \"passive\" adds "
      "OMP_WAIT_POLICY=passive. Each side's \"best\" = the fastest of its settings for that core count (the "
      "setting is named); PyTorch \"default\" = no thread variables, no set_num_threads, Adam's default "
      "(per-tensor) implementation.\n")
    w("| workload | cores | gradguard best (setting) | PyTorch best (setting) | ratio | PyTorch default | ratio | "
      "gradguard ms/step | GFLOP/s |")
    w("|---|---|---|---|---|---|---|---|---|")
    for model, runs in R["runs"].items():
        pts = runs["pytorch"]
        for t in thread_set:
            gl, g = best(runs["gradguard"], [gg_label(t)] + ([gg_label(t, "passive")] if t > 1 else []))
            bl, b = best(pts, ["1 thread"] if t == 1 else list(pts))
            dflt = pts["default"]
            w("| %s | %d | %s +-%.0f%% (%s)%s | %s +-%.0f%% (%s)%s | **%.2f** | %s | %.2f | %.3f | %.1f |" % (
                model, t, fmt_rate(g["samples_per_s"]), spread(g["ms_per_step"]), gl, cut(g, R),
                fmt_rate(b["samples_per_s"]), spread(b["ms_per_step"]), bl, cut(b, R),
                g["samples_per_s"] / b["samples_per_s"], fmt_rate(dflt["samples_per_s"]),
                g["samples_per_s"] / dflt["samples_per_s"], g["ms_median"], g["gflops"]))
    for model, why in R["skipped"].items():
        w("| %s | - | skipped: %s | | | | | | |" % (model, why.replace("|", "/")[:300]))
    w("")
    # At 1 thread a process's CPU time is its step's own cost, whatever else
    # holds the machine's cores: on a busy machine the steadier comparison.
    w("At 1 thread, process CPU time per step (the step's own cost, robust to other load on the machine; "
      "samples/s = batch / CPU time):\n")
    w("| workload | gradguard CPU ms/step | PyTorch CPU ms/step (1 thread) | ratio (PyTorch / gradguard) | "
      "GEMM floor CPU ms | gradguard % of floor |")
    w("|---|---|---|---|---|---|")
    fl1 = R["floor"].get(1, {}).get("cpu_ms_median")
    for model, runs in R["runs"].items():
        g, p = runs["gradguard"].get(gg_label(1)), runs["pytorch"].get("1 thread")
        if g and p and g.get("cpu_ms_median") and p.get("cpu_ms_median"):
            fcol = ("%.3f | **%.0f%%**" % (fl1, 100 * fl1 / g["cpu_ms_median"])) if (model == "mlp" and fl1) \
                else "- | -"
            w("| %s | %.3f | %.3f | **%.2f** | %s |" % (model, g["cpu_ms_median"], p["cpu_ms_median"],
                                                       p["cpu_ms_median"] / g["cpu_ms_median"], fcol))
    w("")
    if len(thread_set) > 1:
        w("gradguard at %d threads with each wait policy (samples/s, median +- spread):\n" % ncpu)
        w("| workload | %s | %s |" % (gg_label(ncpu), gg_label(ncpu, "passive")))
        w("|---|---|---|")
        for model, runs in R["runs"].items():
            cells = []
            for l in (gg_label(ncpu), gg_label(ncpu, "passive")):
                r = runs["gradguard"][l]
                cells.append("%s +-%.0f%%%s" % (fmt_rate(r["samples_per_s"]), spread(r["ms_per_step"]), cut(r, R)))
            w("| %s | %s |" % (model, " | ".join(cells)))
        w("")
    w("Every PyTorch setting (samples/s, median +- spread):\n")
    labels = []
    for runs in R["runs"].values():
        for l in runs["pytorch"]:
            if l not in labels:
                labels.append(l)
    w("| workload | " + " | ".join(labels) + " |")
    w("|---|" + "---|" * len(labels))
    for model, runs in R["runs"].items():
        cells = []
        for l in labels:
            r = runs["pytorch"].get(l)
            cells.append("%s +-%.0f%%%s" % (fmt_rate(r["samples_per_s"]), spread(r["ms_per_step"]),
                                            cut(r, R)) if r else "-")
        w("| %s | %s |" % (model, " | ".join(cells)))
    w("\n(settings: \"1 thread\" = torch.set_num_threads(1), OMP_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1; "
      "\"N torch threads, BLAS k\" = set_num_threads(N), OMP_NUM_THREADS=N, OPENBLAS_NUM_THREADS=k; \"passive\" "
      "adds OMP_WAIT_POLICY=passive; all but \"default\" use Adam(foreach=True); all use "
      "zero_grad(set_to_none=True).)\n")

    w("## GEMM floor (MLP 784-256-128-10, batch 128)\n")
    w("The floor is the step's forward and backward GEMMs alone (same shapes, transposes and betas as gradguard's "
      "linear op) in OpenBLAS (gradguard's build; at N threads the better wait policy); % of GEMM floor = floor "
      "time / step time (100% = nothing but the GEMMs). Step times are each side's best setting.\n")
    w("| cores | sgemm 2048^3 GFLOP/s (best rep.) | floor ms/step | gradguard ms/step | gradguard % of floor | "
      "PyTorch best ms/step | PyTorch % of floor |")
    w("|---|---|---|---|---|---|---|")
    for t in thread_set:
        f = R["floor"][t]["ms_median"]
        line = "| %d | %.1f%s | %.3f%s |" % (t, R["sgemm"][t]["gflops"], wait_note(R["sgemm"][t]), f,
                                             wait_note(R["floor"][t]))
        if "mlp" in R["runs"]:
            gr = R["runs"]["mlp"]["gradguard"]
            g = best(gr, [gg_label(t)] + ([gg_label(t, "passive")] if t > 1 else []))[1]["ms_median"]
            pts = R["runs"]["mlp"]["pytorch"]
            p = best(pts, ["1 thread"] if t == 1 else list(pts))[1]["ms_median"]
            line += " %.3f | **%.0f%%** | %.3f | %.0f%% |" % (g, 100 * f / g, p, 100 * f / p)
        else:
            line += " - | - | - | - |"
        w(line)
    w("")

    if R["guard"]:
        w("## Guard overhead (MLP, ms/step, median +- spread)\n")
        w("default = gg_guard_defaults() (ZClip, spike/trend detection, snapshots every 100 steps, per-layer "
          "statistics every 100 steps); layers = the same with per-layer statistics every step (guard.layer_every=1), "
          "as src/train/trainer.c runs them. The three settings take turns over three rounds; each cell is the "
          "round with the median time.\n")
        w("| setting | guard off | default | overhead | layers every step | overhead |")
        w("|---|---|---|---|---|---|")
        for t in thread_set:
            gd = R["guard"][t]
            o = gd["off"]["ms_median"]
            w("| %s | %.3f +-%.0f%% | %.3f +-%.0f%% | %+.1f%% | %.3f +-%.0f%% | %+.1f%% |" % (
                gd["label"], o, spread(gd["off"]["ms_per_step"]), gd["default"]["ms_median"],
                spread(gd["default"]["ms_per_step"]), 100 * (gd["default"]["ms_median"] / o - 1),
                gd["layers"]["ms_median"], spread(gd["layers"]["ms_per_step"]),
                100 * (gd["layers"]["ms_median"] / o - 1)))
        tc = R["guard"]["torch_clip"]
        p1 = R["runs"]["mlp"]["pytorch"]["1 thread"]["ms_median"]
        w("\nFor comparison, PyTorch 1 thread + clip_grad_norm_(1.0): %.3f ms/step against %.3f without (%+.1f%%).\n" % (
            tc["ms_median"], p1, 100 * (tc["ms_median"] / p1 - 1)))

    if "mlp" in R["runs"]:
        w("## Memory (MLP training run)\n")
        w("Peak RSS (getrusage ru_maxrss) of the whole process, the uint8 training set (47 MB) included on both "
          "sides; minor page faults per timed step (ru_minflt).\n")
        w("| cores | gradguard peak RSS MiB | PyTorch peak RSS MiB | ratio | <= 1/4 | gradguard faults/step | "
          "PyTorch faults/step |")
        w("|---|---|---|---|---|---|---|")
        for t in thread_set:
            gr = R["runs"]["mlp"]["gradguard"]
            gl, g = best(gr, [gg_label(t)] + ([gg_label(t, "passive")] if t > 1 else []))
            pts = R["runs"]["mlp"]["pytorch"]
            p = best(pts, ["1 thread"] if t == 1 else [l for l in pts if l not in ("1 thread", "default")])[1]
            ratio = g["peak_rss_mib"] / p["peak_rss_mib"]
            w("| %d | %.1f (%s) | %.1f (%s) | **%.3f** | %s | %.2f | %.1f |" % (
                t, g["peak_rss_mib"], gl, p["peak_rss_mib"], p["label"], ratio, "yes" if ratio <= 0.25 else "**NO**",
                g["minflt_per_step"], p["minflt_per_step"]))
        w("")

    if R["sweep"]:
        t = R["sweep"][0]["threads"]
        rate = R["sgemm"][t]["gflops"]
        w("## MLP scaling sweep (gradguard, %s; 784-W-W-10, ReLU, Adam)\n" % R["sweep"][0]["label"])
        w("FLOPs = forward + backward GEMMs. %% of sgemm = achieved GFLOP/s / the 2048^3 sgemm rate (best repetition, %.1f GFLOP/s); "
          "%% of floor = the same GEMMs alone in OpenBLAS / the step.\n" % rate)
        w("| width | batch | ms/step | GFLOP/step | GFLOP/s | % of sgemm | floor ms | % of floor |")
        w("|---|---|---|---|---|---|---|---|")
        for p in R["sweep"]:
            w("| %d | %d | %.3f | %.3f | %.1f | %.0f%% | %.3f | %.0f%% |" % (
                p["width"], p["batch"], p["ms_median"], p["flops_per_step"] / 1e9, p["gflops"],
                100 * p["gflops"] / rate, p["floor_ms"], 100 * p["floor_ms"] / p["ms_median"]))
        w("")

    w("## Cross-check: losses of the first 6 steps (same weights, data, order, optimizer)\n")
    if "cnn_im2col_losses" in R:
        w("The CNN's reference is gradguard at 1 thread with its convolutions forced to im2col + GEMM (losses %s), "
          "the arithmetic PyTorch does (tolerance %g); gradguard's own CNN runs compute conv2 by Winograd, within %g of it "
          "(rounding at ~1e-6 per output, magnified by Adam's first steps).\n"
          % (" ".join("%.6f" % x for x in R["cnn_im2col_losses"]), LOSS_RTOL, WINOGRAD_RTOL))
    w("| workload | side | run | losses | max rel. diff vs gradguard 1 thread | ok |")
    w("|---|---|---|---|---|---|")
    for c in R["checks"]:
        w("| %s | %s | %s | %s | %.2g | %s |" % (c["model"], c["side"], c["run"],
                                                 " ".join("%.6f" % x for x in c["losses"]), c["max_rel_diff"],
                                                 "yes" if c["ok"] else "**NO**"))
    w("\nTotal bench time %.0f s.\n" % R["wall_seconds"])
    return "\n".join(out)


if __name__ == "__main__":
    main()
