#!/usr/bin/python3
"""What gradguard.torch.Guard costs a healthy PyTorch run, against the same
step unguarded and with torch.nn.utils.clip_grad_norm_(1.0).

The Fashion-MNIST MLP (784-256-128-10, ReLU, Adam 1e-3, batch 128) in one
process at 1 thread; the three settings take turns (STEPS steps each, REPS
rounds) on the same model and data, so that a change in the machine's load
hits all three alike. Each turn's time per step is wall time of the whole
step (forward, backward, the setting's work, optimizer.step()); the table
gives each setting's median and the medians of the per-round ratios.

    /usr/bin/python3 bench/torch_guard_cost.py [--steps 200] [--reps 7] [--run-dir DIR]

With --run-dir the guard also writes its run directory (metrics.csv every
50 steps, events.jsonl, layers.csv every 100). Run it with
PYTHONPATH=python GRADGUARD_LIB=build/libgradguard.so from a source tree
(the package's own search finds build/ too).
"""
import argparse
import gzip
import os
import statistics
import struct
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python"))
import numpy as np  # noqa: E402
import torch  # noqa: E402

import gradguard  # noqa: E402
import gradguard.torch  # noqa: E402


def images(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    n, r, c = struct.unpack(">III", data[4:16])
    return np.frombuffer(data, np.uint8, offset=16).reshape(n, r * c).astype(np.float32) / 255


def labels(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    return np.frombuffer(data, np.uint8, offset=8).astype(np.int64)


def blas():
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({ln.split()[-1] for ln in f if "blas" in ln.split()[-1]})
        return ", ".join(os.path.realpath(x) for x in libs) or "unknown"
    except OSError:
        return "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200, help="steps per turn")
    ap.add_argument("--reps", type=int, default=7, help="rounds of the three turns")
    ap.add_argument("--run-dir", default=None)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(1)
    x = torch.from_numpy(images(os.path.join(args.data, "train-images-idx3-ubyte.gz")))
    y = torch.from_numpy(labels(os.path.join(args.data, "train-labels-idx1-ubyte.gz")))
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128),
                                torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    guard = gradguard.torch.Guard(model, opt, run_dir=args.run_dir, chance_loss=float(np.log(10)))
    batch = 128
    nb = len(x) // batch
    perm = torch.randperm(len(x))
    pos = [0]

    def next_batch():
        b = pos[0] % nb
        pos[0] += 1
        idx = perm[b * batch:(b + 1) * batch]
        return x[idx], y[idx]

    def plain():
        xb, yb = next_batch()
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def clipped():
        xb, yb = next_batch()
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    def guarded():
        xb, yb = next_batch()
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        r = guard.step(loss)
        if r.apply:
            opt.step()
        guard.after_step()

    settings = [("unguarded", plain), ("clip_grad_norm_(1.0)", clipped), ("gradguard.torch.Guard", guarded)]
    for _, f in settings:  # warm-up: allocator, Adam's state, first snapshot copies
        for _ in range(30):
            f()
    times = {n: [] for n, _ in settings}
    for rep in range(args.reps):
        order = settings if rep % 2 == 0 else settings[::-1]
        for name, f in order:
            t0 = time.process_time()
            for _ in range(args.steps):
                f()
            times[name].append((time.process_time() - t0) / args.steps * 1e3)
    base = times["unguarded"]
    print("PyTorch %s, 1 thread, BLAS: %s; %d rounds of %d steps per setting, taking turns" % (
        torch.__version__, blas(), args.reps, args.steps))
    print()
    print("| setting | CPU ms/step median | min | max | / unguarded (median of per-round ratios) |")
    print("|---|---|---|---|---|")
    for name, _ in settings:
        t = times[name]
        ratio = statistics.median(a / b for a, b in zip(t, base))
        print("| %s | %.3f | %.3f | %.3f | %.3f |" % (name, statistics.median(t), min(t), max(t), ratio))
    g, c = times["gradguard.torch.Guard"], times["clip_grad_norm_(1.0)"]
    print()
    print("Guard / clip_grad_norm_: %.3f (median of per-round ratios); guard events: %s" % (
        statistics.median(a / b for a, b in zip(g, c)),
        {k: v for k, v in guard.counters.items() if v} or "none"))
    guard.close()


if __name__ == "__main__":
    main()
