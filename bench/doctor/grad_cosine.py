#!/usr/bin/python3
"""Does the direction of successive steps tell a rate (or momentum) too
high from a healthy one? A probe, run in PyTorch on a doctor case and its
healthy twin (the same model, data and optimizer as torch_case.py, no
clipping): for every step t it records

  g  cos(g_t, g_{t-1})       successive gradients (hypergradient descent's
                             signal: negative when steps overshoot)
  u  cos(-g_t, u_{t-1})      the new descent direction against the last
                             update (negative: the last step went uphill
                             along the new gradient)

and prints the loss and both cosines averaged over blocks of 50 steps.

    /usr/bin/python3 bench/doctor/grad_cosine.py ID [--threads 1]

ID is a doctor candidate (`doctor.py list`); the twin is its healthy one.
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gauntlet"))
import cases  # noqa: E402
import doctor  # noqa: E402
import torch_case  # noqa: E402
import torch_peer  # noqa: E402

def cos(a, b):
    return float(a @ b / (a.norm() * b.norm() + 1e-30))


def probe(cfg):
    tr = cfg["train"]
    seed = int(tr.get("seed", 1))
    torch.manual_seed(seed)
    xtr, ytr, _, _, in_shape, n_out, regression = torch_case.load(cfg, np.random.default_rng(seed))
    model = torch_peer.build(cfg, in_shape, n_out)
    torch_case.set_biases(model, cfg["model"])
    ps = list(model.parameters())
    opt = torch_case.optimizer(ps, cfg["optimizer"])
    loss_fn = nn.MSELoss() if regression else nn.CrossEntropyLoss()
    batch, budget = int(tr["batch"]), int(tr["max_steps"])
    X, Y = torch.from_numpy(xtr), torch.from_numpy(ytr)
    rows, g_prev, u_prev, step = [], None, None, 0
    while step < budget:
        perm = torch.randperm(len(X))
        for b in range(0, len(X), batch):
            if step >= budget:
                break
            idx = perm[b:b + batch]
            loss = loss_fn(model(X[idx]), Y[idx])
            opt.zero_grad()
            loss.backward()
            g = torch.cat([p.grad.reshape(-1) for p in ps]).double()
            w = torch.cat([p.detach().reshape(-1) for p in ps]).double()
            cg = cos(g, g_prev) if g_prev is not None else float("nan")
            cu = cos(-g, u_prev) if u_prev is not None else float("nan")
            opt.step()
            u = torch.cat([p.detach().reshape(-1) for p in ps]).double() - w
            rows.append((loss.item(), cg, cu))
            g_prev, u_prev, step = g, u, step + 1
    return np.array(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("id")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    doctor.prepare_data()
    found = [c for c in cases.generate(1) if c.id == a.id]
    if not found:
        sys.exit(f"grad_cosine: no candidate '{a.id}' (see `doctor.py list`)")
    cfg, twin = cases.fault_config(found[0], doctor.DATA)
    print(f"# {a.id}: loss / cos(g_t, g_t-1) / cos(-g_t, u_t-1), means over 50-step blocks (PyTorch, no clip)\n")
    for name, c in (("case", cfg), ("twin", twin)):
        r = probe(c)
        cells = ["%d-%d: %.2f / %.2f / %.2f" % (lo, min(lo + 50, len(r)) - 1, np.nanmean(r[lo:lo + 50, 0]),
                                               np.nanmean(r[lo:lo + 50, 1]), np.nanmean(r[lo:lo + 50, 2]))
                 for lo in range(0, len(r), 50)]
        print(f"- {name}: " + "; ".join(cells), flush=True)


if __name__ == "__main__":
    main()
