#!/usr/bin/python3
"""The PyTorch peer of a gauntlet case: the same model (built from the same
gradguard YAML config), the same data, optimizer, epochs, batch size and
injected faults, trained one of three ways:
  --clip 1.0    torch.nn.utils.clip_grad_norm_(max_norm) after every backward
                (the default; --clip 0: no clipping);
  --guard       gradguard.torch.Guard with the default policy (the
                library's guard decision core, as the gradguard command
                uses it): clips, skips, backs off and rolls back; a rollback
                rewinds the data to the snapshot's position and skips the
                batch that failed (and guard.skip_batches - 1 before it) on
                the replay, and the initialisation check runs on the first
                batch (Guard.check_init), as the gradguard command does.
The data order is drawn per epoch from the seed (so a rollback replays the
same order), and a cosine schedule is computed from the step, in all modes.

Prints one JSON line: status, first_loss, max_loss, nonfinite_steps,
test_loss, test_accuracy (or test_mse for regression); with --guard also
the guard's counters.

Run with Debian's python3-torch: /usr/bin/python3 bench/gauntlet/torch_peer.py CONFIG

    /usr/bin/python3 bench/gauntlet/torch_peer.py --table [--seeds 1,2,3] [--jobs 1] [CASE ...]

runs each case (default: the exploding cases 1-5 of configs/gauntlet) for
each seed three ways (no clip, clip_grad_norm_(1.0), the Guard), one
process each at 1 thread, and prints a Markdown table (written to
bench/results/torch-guard-<date>.md).
"""
import argparse
import gzip
import json
import math
import os
import struct
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import yaml


def read_idx(path):
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def idx_pair(d, test):
    pre = "t10k" if test else "train"
    for ext in (".gz", ""):
        img = os.path.join(d, f"{pre}-images-idx3-ubyte{ext}")
        if os.path.exists(img):
            lab = os.path.join(d, f"{pre}-labels-idx1-ubyte{ext}")
            return read_idx(img), read_idx(lab)
    raise SystemExit(f"no IDX files in {d}")


def adding(n, T, rng):
    """Sum of two uniforms: values U(0,1), one marker in each half."""
    x = np.zeros((n, T, 2), np.float32)
    x[:, :, 0] = rng.random((n, T))
    a = rng.integers(0, T // 2, n)
    b = rng.integers(T // 2, T, n)
    x[np.arange(n), a, 1] = 1
    x[np.arange(n), b, 1] = 1
    y = x[np.arange(n), a, 0] + x[np.arange(n), b, 0]
    return x, y.astype(np.float32).reshape(n, 1)


def he_init(w, fan_in, gain, normal):
    std = gain * math.sqrt(2.0 / fan_in)
    with torch.no_grad():
        if normal:
            w.normal_(0, std)
        else:
            w.uniform_(-std * math.sqrt(3), std * math.sqrt(3))


def init_layer(mod, spec, act):
    """The same initialisers as gradguard's defaults and config keys."""
    init = spec.get("init")
    gain = float(spec.get("gain", 1.0)) or 1.0
    w = mod.weight
    fan_in = w[0].numel()
    fan_out = w.shape[0] * (w[0].numel() // w.shape[1])
    if init is None:
        init = "he_uniform" if act in ("relu", "leaky_relu", "elu", "gelu") else "xavier_uniform"
    if init in ("he_uniform", "he_normal"):
        he_init(w, fan_in, gain, init == "he_normal")
    elif init == "xavier_uniform":
        r = gain * math.sqrt(6.0 / (fan_in + fan_out))
        nn.init.uniform_(w, -r, r)
    elif init == "xavier_normal":
        nn.init.normal_(w, 0, gain * math.sqrt(2.0 / (fan_in + fan_out)))
    elif init == "normal":
        nn.init.normal_(w, float(spec.get("init_a", 0)), float(spec.get("std", spec.get("init_b", 1))))
    elif init == "lecun_uniform":
        nn.init.uniform_(w, -gain / math.sqrt(fan_in), gain / math.sqrt(fan_in))
    else:
        raise SystemExit(f"torch_peer: init '{init}' not mapped")
    if mod.bias is not None:
        nn.init.zeros_(mod.bias)


ACTS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU, "elu": nn.ELU,
        "leaky_relu": nn.LeakyReLU}


class Last(nn.Module):
    def __init__(self, rnn, last):
        super().__init__()
        self.rnn, self.last = rnn, last

    def forward(self, x):
        y, _ = self.rnn(x)
        return y[:, -1] if self.last else y


def build(cfg, in_shape, n_out):
    layers = []
    shape = list(in_shape)  # sample shape
    specs = cfg["model"]
    for i, s in enumerate(specs):
        t = s["type"]
        last = i == len(specs) - 1
        if t == "dense":
            act = s.get("act", "none" if last else "relu")
            if len(shape) > 1 and len(shape) != 2:
                layers.append(nn.Flatten())
                shape = [int(np.prod(shape))]
            units = int(s.get("units", n_out if last else 0))
            lin = nn.Linear(shape[-1], units, bias=s.get("bias", True))
            init_layer(lin, s, act)
            layers.append(lin)
            if act != "none":
                layers.append(ACTS[act]())
            shape = shape[:-1] + [units]
        elif t == "conv2d":
            act = s.get("act", "relu")
            k = int(s.get("kernel", 3))
            pad = int(s.get("pad", (k - 1) // 2))
            st = int(s.get("stride", 1))
            conv = nn.Conv2d(shape[0], int(s["filters"]), k, st, pad)
            init_layer(conv, s, act)
            layers.append(conv)
            if act != "none":
                layers.append(ACTS[act]())
            shape = [int(s["filters"]), (shape[1] + 2 * pad - k) // st + 1, (shape[2] + 2 * pad - k) // st + 1]
        elif t == "maxpool":
            k = int(s.get("size", 2))
            layers.append(nn.MaxPool2d(k, int(s.get("stride", k))))
            shape = [shape[0], shape[1] // k, shape[2] // k]
        elif t in ("rnn", "lstm", "gru"):
            h = int(s["hidden"])
            cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[t]
            kw = {"nonlinearity": "relu" if s.get("act") == "relu" else "tanh"} if t == "rnn" else {}
            rnn = cls(shape[-1], h, batch_first=True, **kw)
            ri = s.get("recurrent_init")
            g = float(s.get("recurrent_gain", 1.0))
            with torch.no_grad():
                G = rnn.weight_hh_l0.shape[0] // h
                for b in range(G):
                    blk = rnn.weight_hh_l0[b * h:(b + 1) * h]
                    if ri == "orthogonal":
                        nn.init.orthogonal_(blk, gain=g)
                    elif ri == "identity":
                        blk.copy_(torch.eye(h) * g)
                    elif ri == "spectral":
                        m = torch.randn(h, h) / math.sqrt(h)
                        rho = torch.linalg.eigvals(m).abs().max().item()
                        blk.copy_(m * g / rho)
                if t == "lstm" and float(s.get("forget_bias", 1.0)) != 0:
                    rnn.bias_ih_l0[h:2 * h] = float(s.get("forget_bias", 1.0))
                    rnn.bias_hh_l0[h:2 * h] = 0
            layers.append(Last(rnn, bool(s.get("last", False))))
            shape = [h] if s.get("last", False) else shape[:-1] + [h]
        elif t == "flatten":
            layers.append(nn.Flatten())
            shape = [int(np.prod(shape))]
        else:
            raise SystemExit(f"torch_peer: layer type '{t}' not mapped")
    return nn.Sequential(*layers)


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def guard_module():
    """gradguard.torch from this source tree (python/), with this tree's
    build/libgradguard.so unless GRADGUARD_LIB names another."""
    sys.path.insert(0, os.path.join(ROOT, "python"))
    import gradguard.torch

    return gradguard.torch


def add_grad_noise(model, eta, gamma, step):
    """Annealed Gaussian gradient noise (Neelakantan et al. 2015): variance
    eta / (1 + step)^gamma, added to every parameter's .grad."""
    sd = math.sqrt(eta / (1.0 + step) ** gamma)
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p.grad.add_(torch.randn_like(p.grad), alpha=sd)


def evaluate(model, loss_fn, xte, yte, regression):
    """The test set's mean loss and, for a classifier, accuracy (None for a regression), in
    batches of 1000 with the model in eval mode (bench/doctor/torch_case.py uses it too)."""
    model.eval()
    with torch.no_grad():
        tl, hit = 0.0, 0
        for i in range(0, len(xte), 1000):
            out = model(torch.from_numpy(xte[i:i + 1000]))
            yb = torch.from_numpy(yte[i:i + 1000])
            tl += loss_fn(out, yb).item() * len(yb)
            if not regression:
                hit += (out.argmax(1) == yb).sum().item()
    return tl / len(xte), None if regression else hit / len(xte)


def train(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    with open(args.config) as f:
        cfg = yaml.safe_load(f)
    data = cfg.get("data", {})
    fmt = data.get("format", "idx")
    tr = cfg.get("train", {})
    epochs, batch = int(tr.get("epochs", 5)), int(tr.get("batch", 128))
    regression = fmt == "adding"
    if fmt == "adding":
        T = int(data.get("length", 100))
        xtr, ytr = adding(int(data.get("train_size", 100000)), T, rng)
        xte, yte = adding(int(data.get("test_size", 10000)), T, rng)
        in_shape, n_out = [T, 2], 1
    else:
        d = data.get("train", "/usr/share/datasets/fashion-mnist")
        xi, yi = idx_pair(d, False)
        xt, yt = idx_pair(data.get("test", d), True)
        xtr = (xi.astype(np.float32) / 255).reshape(-1, 1, 28, 28)
        xte = (xt.astype(np.float32) / 255).reshape(-1, 1, 28, 28)
        ytr, yte = yi.astype(np.int64), yt.astype(np.int64)
        in_shape, n_out = [1, 28, 28], 10
    model = build(cfg, in_shape, n_out)
    o = cfg.get("optimizer", {})
    name, lr = o.get("name", "adam"), float(o.get("lr", 1e-3))
    if name == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=float(o.get("momentum", 0)),
                              nesterov=bool(o.get("nesterov", False)))
    elif name == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    elif name == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=float(o.get("weight_decay", 0.01)))
    else:
        raise SystemExit(f"torch_peer: optimizer {name} not mapped")
    n = len(xtr)
    spe = (n + batch - 1) // batch
    max_steps = args.max_steps or int(tr.get("max_steps", 0))
    # the schedule, as a function of the optimizer step (so that a rollback rewinds it, as gradguard's)
    sc = cfg.get("schedule") or {}
    sname = sc.get("name", "constant")
    rate = None
    if sname == "cosine":
        if sc.get("warmup_steps") or sc.get("t0"):
            raise SystemExit("torch_peer: cosine warm-up and restarts are not mapped")
        total = epochs * spe
        if 0 < max_steps < total:
            total = max_steps
        total = int(sc.get("total_steps", 0)) or total
        lo = float(sc.get("min_lr", 0))

        def rate(t):
            return lo + (lr - lo) * (1 + math.cos(math.pi * min(t, total) / total)) / 2
    elif sname != "constant":
        raise SystemExit(f"torch_peer: schedule {sname} not mapped")
    loss_fn = nn.MSELoss() if regression else nn.CrossEntropyLoss()
    faults = {int(f["batch"]): f for f in (cfg.get("guard") or {}).get("faults", [])}
    xtr_t, ytr_t = torch.from_numpy(xtr), torch.from_numpy(ytr)
    guard = None
    if args.guard:
        gt = guard_module()
        guard = gt.Guard(model, opt, run_dir=args.run_dir, chance_loss=None if regression else math.log(n_out),
                         log_every=int(tr.get("log_every", 50)))
        skip_k = max(1, guard.policy["skip_batches"])
    bad_batches = set()

    def order(ep):
        # the epoch's permutation from the seed alone: a replay after a rollback sees the same order
        return torch.randperm(n, generator=torch.Generator().manual_seed(args.seed * 100003 + ep))

    first, mx, bad, step = None, 0.0, 0, 0
    ep, b = 0, 0
    perm = order(0)
    if guard is not None:
        # the initialisation check on the first batch, as the gradguard command does before step 0
        guard.check_init(xtr_t[perm[:batch]])
    stopped = False
    while ep < epochs and not stopped:
        while b < spe:
            if max_steps and step >= max_steps:
                break
            if (ep, b) in bad_batches:
                b += 1
                continue
            idx = perm[b * batch:(b + 1) * batch]
            xb, yb = xtr_t[idx].clone(), ytr_t[idx]
            f = faults.get(ep * spe + b)
            if f is not None:
                if f.get("nan"):
                    xb.view(-1)[xb.numel() // 2] = float("nan")
                else:
                    xb *= float(f.get("scale", 1))
            if rate is not None:
                for g in opt.param_groups:
                    g["lr"] = rate(step)
            loss = loss_fn(model(xb), yb)
            lv = loss.item()
            first = lv if first is None else first
            if not math.isfinite(lv):
                bad += 1
            else:
                mx = max(mx, lv)
            opt.zero_grad()
            loss.backward()
            if guard is not None:
                r = guard.step(loss, epoch=ep, batch=b, samples=len(yb))
                if r.apply:
                    opt.step()
                guard.after_step()
                if r.stop:
                    stopped = True
                    break
                if r.rolled_back:
                    # as the gradguard command: the batches that led to it are skipped on the replay
                    # (none for an undone trial, r.failed None)
                    for k in range(skip_k if r.failed is not None else 0):
                        if r.failed.batch - k >= 0:
                            bad_batches.add((r.failed.epoch, r.failed.batch - k))
                    step, ep, b = r.position.step, r.position.epoch, r.position.batch
                    perm = order(ep)
                    continue
                step = guard.step_count
                b += 1
                continue
            if args.clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            if args.noise > 0:
                add_grad_noise(model, args.noise, args.gamma, step)
            opt.step()
            step += 1
            b += 1
        if stopped or (max_steps and step >= max_steps):
            break
        ep, b = ep + 1, 0
        perm = order(ep)
    test_loss, test_acc = evaluate(model, loss_fn, xte, yte, regression)
    res = {"status": "diverged" if bad or (first and mx > 10 * first) else "completed",
           "first_loss": first, "max_loss": mx, "nonfinite_steps": bad, "test_loss": test_loss}
    if guard is not None:
        # the guard's run: diverged when it stopped it or the weights end non-finite (a non-finite
        # batch loss it rolled back is in nonfinite_steps, not in the status)
        res["status"] = guard.close(test_loss=res["test_loss"], test_accuracy=test_acc)
        res["guard"] = {k: v for k, v in guard.counters.items() if v}
        if getattr(guard, "init_events", None):
            res["guard"]["init_rescaled"] = int(any(e["action"] == "rescale" for e in guard.init_events))
        res["steps"] = guard.step_count
    if regression:
        res["test_mse"] = res["test_loss"]
    else:
        res["test_accuracy"] = test_acc
    print(json.dumps(res))


MODES = [("none", ["--clip", "0"], "PyTorch, no clip"), ("clip", ["--clip", "1.0"], "PyTorch + clip_grad_norm_(1.0)"),
         ("guard", ["--guard"], "PyTorch + gradguard.torch.Guard (default policy)")]


def cell(r):
    if r is None:
        return "failed"
    v = ("%.4f" % r["test_accuracy"]) if "test_accuracy" in r else ("MSE %.4f" % r["test_mse"])
    extra = "" if r["status"] == "completed" else " (%s)" % r["status"]
    if "guard" in r:
        acts = ", ".join("%s %d" % kv for kv in sorted(r["guard"].items()) if kv[0] in
                         ("clipped", "skipped", "rollbacks", "backoffs", "collapses", "init_rescaled"))
        extra += " [%s]" % acts if acts else ""
    return v + extra


def table(args):
    cases = args.cases or sorted(os.path.basename(p)[:-5] for p in os.listdir(os.path.join(ROOT, "configs", "gauntlet"))
                                 if p[0] in "12345" and p.endswith(".yaml"))
    cases = [c if c.endswith(".yaml") else os.path.join(ROOT, "configs", "gauntlet", c + ".yaml") for c in cases]
    seeds = [int(s) for s in args.seeds.split(",")]
    modes = [m for m in MODES if m[0] in args.modes.split(",")]
    # each finished run is appended to the record as one JSON line; a run
    # already in it is not run again (a table taken in several sittings)
    record = args.record or os.path.join(ROOT, "bench", "results", "torch-guard-runs.jsonl")
    results = {}
    if os.path.exists(record):
        with open(record) as f:
            for ln in f:
                r = json.loads(ln)
                if r.get("max_steps", 0) == args.max_steps:
                    results[(r["case"], r["seed"], r["mode"])] = r["result"]
    jobs = []
    for c in cases:
        for s in seeds:
            for mode, flags, _ in modes:
                if (os.path.basename(c)[:-5], s, mode) in results:
                    continue
                jobs.append((c, s, mode, [sys.executable, os.path.abspath(__file__), c, "--seed", str(s),
                                          "--threads", "1", "--max-steps", str(args.max_steps)] + flags))
    # the longest runs first (the RNN's 150k steps), so that with --jobs 2 the
    # others fill the second slot meanwhile
    jobs.sort(key=lambda j: "rnn" not in os.path.basename(j[0]))
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    t0 = time.time()
    running = []

    def reap(block):
        for j in list(running):
            proc, key, out = j
            if block or proc.poll() is not None:
                stdout, stderr = proc.communicate()
                try:
                    results[key] = json.loads(stdout.strip().splitlines()[-1])
                except (ValueError, IndexError):
                    results[key] = None
                    sys.stderr.write("%s: failed: %s\n" % (key, stderr[-2000:]))
                running.remove(j)
                if results[key] is not None:
                    os.makedirs(os.path.dirname(os.path.abspath(record)), exist_ok=True)
                    with open(record, "a") as f:
                        f.write(json.dumps({"case": key[0], "seed": key[1], "mode": key[2],
                                            "max_steps": args.max_steps, "result": results[key]}) + "\n")
                sys.stderr.write("%s: %s (%.0f s)\n" % (key, cell(results[key]), time.time() - t0))
                if not block:
                    return

    for c, s, mode, cmd in jobs:
        while len(running) >= args.jobs:
            time.sleep(0.5)
            reap(False)
        running.append((subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env),
                        (os.path.basename(c)[:-5], s, mode), None))
    while running:
        reap(True)
    lines = ["| case | seed | " + " | ".join(t for _, _, t in modes) + " |", "|---" * (2 + len(modes)) + "|"]
    for c in cases:
        name = os.path.basename(c)[:-5]
        for s in seeds:
            lines.append("| %s | %d | " % (name, s) + " | ".join(cell(results.get((name, s, m))) for m, _, _ in modes)
                         + " |")
    # the bar: the Guard at least as good as the clip on every case and seed
    worse = []
    for c in cases:
        name = os.path.basename(c)[:-5]
        for s in seeds:
            g, k = results.get((name, s, "guard")), results.get((name, s, "clip"))
            if not g or not k:
                continue
            if "test_accuracy" in g and g["test_accuracy"] < k["test_accuracy"]:
                worse.append("%s seed %d (%.4f < %.4f)" % (name, s, g["test_accuracy"], k["test_accuracy"]))
            if "test_mse" in g and not g["test_mse"] <= k["test_mse"]:
                worse.append("%s seed %d (MSE %.4f > %.4f)" % (name, s, g["test_mse"], k["test_mse"]))
    lines.append("")
    lines.append("Guard below clip_grad_norm_(1.0): " + ("; ".join(worse) if worse else "none"))
    lines.append("(%s, torch %s, 1 thread per run, %d at a time, %.0f s%s)" % (
        time.strftime("%Y-%m-%d %H:%M"), torch.__version__, args.jobs, time.time() - t0,
        ", budget cut to %d steps" % args.max_steps if args.max_steps else ""))
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    out = os.path.join(ROOT, "bench", "results", "torch-guard-%s.md" % time.strftime("%Y%m%d-%H%M"))
    with open(out, "w") as f:
        f.write(text)
    print("table in", out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config", nargs="?")
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--guard", action="store_true", help="gradguard.torch.Guard, default policy (--clip is ignored)")
    ap.add_argument("--run-dir", default=None, help="with --guard: the guard's run directory (events, metrics, report)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-steps", type=int, default=0, help="a shorter budget than the config's (a smoke run)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--noise", type=float, default=0.0,
                    help="annealed Gaussian gradient noise from step 0, variance NOISE / (1 + t)^GAMMA "
                         "(Neelakantan et al. 2015), added after clipping, as gradguard's guard.noise_eta")
    ap.add_argument("--gamma", type=float, default=0.55)
    ap.add_argument("--table", action="store_true", help="the three-way table over cases and seeds")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--modes", default="none,clip,guard", help="with --table: the columns (none, clip, guard)")
    ap.add_argument("--record", default=None,
                    help="with --table: the JSON-lines record of finished runs (default bench/results/torch-guard-runs.jsonl)")
    ap.add_argument("cases", nargs="*", help="with --table: case names (configs/gauntlet/NAME.yaml)")
    args = ap.parse_args()
    if args.table:
        if args.config:
            args.cases = [args.config] + args.cases
        return table(args)
    if not args.config:
        ap.error("a config (or --table)")
    return train(args)


if __name__ == "__main__":
    sys.exit(main())
