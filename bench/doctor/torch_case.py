#!/usr/bin/python3
"""The PyTorch peer of one doctor case: the model of a generated gradguard
config (built by bench/gauntlet/torch_peer.py's builder), the same data
files, optimizer (SGD, momentum, Adam, RMSprop, Adagrad with PyTorch's
defaults, which are gradguard's), multistep schedule, batch, step budget,
biases (`bias_init`) and injected faults (nan, inf, scale, labels), trained
with torch.nn.utils.clip_grad_norm_(CLIP) after every backward (no clipping
with --clip 0). The data order and initial weights are PyTorch's own draw.
With --noise ETA, annealed Gaussian noise is added to every gradient after
the backward (and after the clip), variance ETA / (1 + t)^GAMMA at step t
from the first step (Neelakantan et al. 2015): the peer of the guard's
`noise` remedy for a stall (its eta and gamma: remedy_noise_eta,
noise_gamma).

    /usr/bin/python3 bench/doctor/torch_case.py CONFIG [--clip 1.0] [--noise ETA [--noise-gamma 0.55]] [--threads 1]

Prints one JSON line: status (completed, or diverged: a non-finite loss),
nonfinite_steps, seconds, test_accuracy or test_mse.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gauntlet"))
import torch_peer  # noqa: E402


def load(cfg, rng):
    d = cfg["data"]
    fmt = d.get("format", "idx")
    if fmt == "adding":
        T = int(d.get("length", 100))
        xtr, ytr = torch_peer.adding(int(d["train_size"]), T, rng)
        xte, yte = torch_peer.adding(int(d["test_size"]), T, rng)
        return xtr, ytr, xte, yte, [T, 2], 1, True
    if fmt == "csv":
        def rd(p):
            a = np.loadtxt(p, delimiter=",", skiprows=1, dtype=np.float32)
            return a[:, :-1].copy(), a[:, -1].astype(np.int64)
        xtr, ytr = rd(d["train"])
        xte, yte = rd(d["test"])
        return xtr, ytr, xte, yte, [xtr.shape[1]], int(max(ytr.max(), yte.max())) + 1, False
    xi, yi = torch_peer.idx_pair(d["train"], False)
    xt, yt = torch_peer.idx_pair(d["test"], True)
    xtr = (xi.astype(np.float32) / 255).reshape(-1, 1, 28, 28)
    xte = (xt.astype(np.float32) / 255).reshape(-1, 1, 28, 28)
    return xtr, yi.astype(np.int64), xte, yt.astype(np.int64), [1, 28, 28], 10, False


def set_biases(model, specs):
    """bias_init of each dense/conv2d spec, in order, onto the Linear/Conv2d modules."""
    mods = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    weighted = [s for s in specs if s["type"] in ("dense", "conv2d")]
    with torch.no_grad():
        for m, s in zip(mods, weighted):
            if "bias_init" in s and m.bias is not None:
                m.bias.fill_(float(s["bias_init"]))


def optimizer(params, o):
    """The config's optimizer section in torch.optim (PyTorch's defaults, which are gradguard's)."""
    name, lr = o["name"], float(o["lr"])
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=float(o.get("momentum", 0)))
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr)
    raise SystemExit(f"torch_case: optimizer {name} not mapped")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--noise", type=float, default=0.0, help="annealed gradient noise eta (0: none)")
    ap.add_argument("--noise-gamma", type=float, default=0.55)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = yaml.safe_load(open(a.config))
    tr = cfg["train"]
    seed = int(tr.get("seed", 1))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    xtr, ytr, xte, yte, in_shape, n_out, regression = load(cfg, rng)
    model = torch_peer.build(cfg, in_shape, n_out)
    set_biases(model, cfg["model"])
    opt = optimizer(model.parameters(), cfg["optimizer"])
    sc = cfg.get("schedule") or {}
    sched = None
    if sc.get("name") == "multistep":
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(sc["milestones"]), gamma=float(sc["gamma"]))
    elif sc:
        raise SystemExit(f"torch_case: schedule {sc.get('name')} not mapped")
    loss_fn = nn.MSELoss() if regression else nn.CrossEntropyLoss()
    faults = {}
    for f in (cfg.get("guard") or {}).get("faults", []):
        faults.setdefault(int(f["batch"]), []).append(f)
    batch, budget = int(tr["batch"]), int(tr["max_steps"])
    xtr_t, ytr_t = torch.from_numpy(xtr), torch.from_numpy(ytr)
    n = len(xtr)
    spe = (n + batch - 1) // batch
    bad, step, t0 = 0, 0, time.time()
    while step < budget:
        perm = torch.randperm(n)
        for b in range(spe):
            if step >= budget:
                break
            idx = perm[b * batch:(b + 1) * batch]
            xb, yb = xtr_t[idx].clone(), ytr_t[idx].clone()
            for f in faults.get(step, []):  # faults are keyed on the global batch index, which is the step
                if f.get("labels"):
                    k = torch.arange(len(yb))
                    yb = (yb + 1 + k % (n_out - 1)) % n_out
                if f.get("nan"):
                    xb.view(-1)[xb.numel() // 2] = float("nan")
                elif f.get("inf"):
                    xb.view(-1)[xb.numel() // 2] = float("inf")
                elif "scale" in f:
                    xb *= float(f["scale"])
            loss = loss_fn(model(xb), yb)
            if not math.isfinite(loss.item()):
                bad += 1
            opt.zero_grad()
            loss.backward()
            if a.clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
            if a.noise > 0:
                torch_peer.add_grad_noise(model, a.noise, a.noise_gamma, step)
            opt.step()
            if sched is not None:
                sched.step()
            step += 1
    tl, acc = torch_peer.evaluate(model, loss_fn, xte, yte, regression)
    res = {"status": "diverged" if bad else "completed", "nonfinite_steps": bad, "seconds": time.time() - t0}
    if regression:
        res["test_mse"] = tl if math.isfinite(tl) else None
    else:
        res["test_accuracy"] = acc
    print(json.dumps(res))


if __name__ == "__main__":
    sys.exit(main())
