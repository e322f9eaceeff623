#!/usr/bin/python3
"""peer.py - the PyTorch side of the parity test (tests/parity.sh).

    /usr/bin/python3 peer.py [--double] ROOT MODEL...

For each MODEL, ROOT/MODEL holds what `test_parity_driver run MODEL` wrote:
the initial weights (init.safetensors), the batches (x.bin, y.bin), the
manifest (which parameters get weight decay) and, for SGD-momentum and
AdamW, gradguard's per-step log (loss, global gradient norm, clip decision
at max_norm) and final weights. The same model is built in PyTorch, loaded
from the same file with load_state_dict(strict=True), and trained on the
same batches with the same optimizer, clipping with
torch.nn.utils.clip_grad_norm_(max_norm) where gradguard's guard clipped by
norm. Checked at every step: relative difference of the loss and of the
gradient norm under RTOL, the same clip decision. Reported, and checked
more loosely (FINAL_RTOL), the relative distance of the final weights.

--double runs PyTorch in float64 (a diagnostic: it shows how much of a
difference is float32 rounding on either side).
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import models  # noqa: E402
import st_read  # noqa: E402

RTOL = 1e-4        # loss and gradient norm, every step
FINAL_RTOL = 1e-3  # ||w_gg - w_torch|| / ||w_torch|| over all weights after the run


def rel(a, b):
    m = max(abs(a), abs(b))
    return 0.0 if m == 0 else abs(a - b) / m


def read_manifest(path):
    info, decay = {}, {}
    with open(path) as f:
        for line in f:
            w = line.split()
            if w[0] == "param":
                decay[w[1]] = w[2] == "decay"
            else:
                info[w[0]] = w[1]
    return info, decay


def read_log(path):
    with open(path) as f:
        lines = f.read().split("\n")
    max_norm = float(lines[0].split()[1])
    rows = [ln.split() for ln in lines[2:] if ln.strip()]
    loss = [float(r[1]) for r in rows]
    norm = [float(r[2]) for r in rows]
    clipped = [r[3] == "1" for r in rows]
    return max_norm, loss, norm, clipped


def run(d, kind, opt_name, dtype):
    info, decay = read_manifest(os.path.join(d, "manifest.txt"))
    batch, nb, steps = int(info["batch"]), int(info["nbatches"]), int(info["steps"])
    module, sample, loss_kind = models.build(kind)
    tensors, _, _ = st_read.read(os.path.join(d, "init.safetensors"))
    models.load_gg_tensors(module, tensors)
    module = module.to(dtype)
    x = np.fromfile(os.path.join(d, "x.bin"), dtype="<f4").reshape((nb * batch,) + sample)
    y = np.fromfile(os.path.join(d, "y.bin"), dtype="<f4")
    x = torch.from_numpy(x).to(dtype)
    y = torch.from_numpy(y)
    named = {models.to_gg_name(k): p for k, p in module.named_parameters()}
    if set(named) != set(decay):
        raise SystemExit("%s: parameters differ: torch %s, gradguard %s" % (kind, sorted(named), sorted(decay)))
    params = list(module.parameters())
    if opt_name == "sgd":
        opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    else:
        groups = [
            {"params": [p for n, p in named.items() if decay[n]], "weight_decay": 0.01},
            {"params": [p for n, p in named.items() if not decay[n]], "weight_decay": 0.0},
        ]
        opt = torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    max_norm, gl, gn, gc = read_log(os.path.join(d, opt_name + ".log"))
    if len(gl) != steps:
        raise SystemExit("%s %s: gradguard logged %d steps, the manifest says %d" % (kind, opt_name, len(gl), steps))
    r = {"loss": 0.0, "loss_step": 0, "norm": 0.0, "norm_step": 0, "mismatch": [], "clipped": 0, "margin": 1e30}
    for t in range(steps):
        b = t % nb
        xb, yb = x[b * batch : (b + 1) * batch], y[b * batch : (b + 1) * batch]
        opt.zero_grad()
        out = module(xb)
        loss = F.cross_entropy(out, yb.long()) if loss_kind == "xent" else F.mse_loss(out, yb.to(dtype).reshape(-1, 1))
        loss.backward()
        total = torch.nn.utils.clip_grad_norm_(params, max_norm)
        # clip_grad_norm_ scales by clamp(max_norm / (total + 1e-6), max=1): it clipped when that is < 1
        clipped = bool(max_norm / (total + 1e-6) < 1)
        opt.step()
        lv, nv = float(loss), float(total)
        dl, dn = rel(lv, gl[t]), rel(nv, gn[t])
        if dl > r["loss"]:
            r["loss"], r["loss_step"] = dl, t
        if dn > r["norm"]:
            r["norm"], r["norm_step"] = dn, t
        if clipped != gc[t]:
            r["mismatch"].append(t)
        r["clipped"] += gc[t]
        r["margin"] = min(r["margin"], abs(gn[t] / max_norm - 1))
    final, _, _ = st_read.read(os.path.join(d, opt_name + "_final.safetensors"))
    mine = models.gg_state(module)
    num = sum(float(np.sum((final[k].astype(np.float64) - mine[k]) ** 2)) for k in mine)
    den = sum(float(np.sum(mine[k].astype(np.float64) ** 2)) for k in mine)
    r["final"] = (num / den) ** 0.5
    r["steps"], r["max_norm"], r["first_loss"], r["last_loss"] = steps, max_norm, gl[0], gl[-1]
    return r


def main(argv):
    dtype = torch.float32
    if argv and argv[0] == "--double":
        dtype = torch.float64
        argv = argv[1:]
    if len(argv) < 2:
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    root, kinds = argv[0], argv[1:]
    passed = failed = 0
    print("%-5s %-6s %5s %10s  %-16s %-16s %-9s %8s %10s" % ("model", "optim", "steps", "max_norm", "max rel loss (step)",
                                                            "max rel norm (step)", "clipped", "margin", "final w"))
    for kind in kinds:
        for opt_name in ("sgd", "adamw"):
            r = run(os.path.join(root, kind), kind, opt_name, dtype)
            ok_loss, ok_norm = r["loss"] < RTOL, r["norm"] < RTOL
            ok_clip = not r["mismatch"] and 0 < r["clipped"] < r["steps"]
            ok_final = r["final"] < FINAL_RTOL
            print("%-5s %-6s %5d %10.4g  %9.2e (%3d)    %9.2e (%3d)    %3d/%-4d %8.1e %10.2e  loss %.4g -> %.4g" % (
                kind, opt_name, r["steps"], r["max_norm"], r["loss"], r["loss_step"], r["norm"], r["norm_step"],
                r["clipped"], r["steps"], r["margin"], r["final"], r["first_loss"], r["last_loss"]))
            for ok, what in ((ok_loss, "loss differs by more than %g" % RTOL),
                             (ok_norm, "gradient norm differs by more than %g" % RTOL),
                             (ok_clip, "clip decisions: mismatches at steps %s, %d of %d clipped (both must occur)"
                              % (r["mismatch"][:10], r["clipped"], r["steps"])),
                             (ok_final, "final weights differ by more than %g" % FINAL_RTOL)):
                if ok:
                    passed += 1
                else:
                    failed += 1
                    print("FAIL: %s %s: %s" % (kind, opt_name, what))
    print("parity: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
