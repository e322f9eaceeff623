#!/usr/bin/python3
"""peer.py - the PyTorch side of the parity test (tests/parity.sh).

    /usr/bin/python3 peer.py [--double] [--k K] ROOT MODEL...

For each MODEL, ROOT/MODEL holds what `test_parity_driver run MODEL` wrote:
the initial weights (init.safetensors), the batches (x.bin, y.bin), the
manifest (parameter names, arena offsets, which ones get weight decay) and,
for SGD-momentum and AdamW, gradguard's per-step log (loss, global gradient
norm, whether the guard's norm clipping clipped at max_norm), its weights
before every step (<opt>_w.bin) and its final weights. Two comparisons:

 1. Trajectory: the PyTorch twin (models.py), loaded from the same file with
    load_state_dict(strict=True), trains on the same batches with the same
    optimizer (float32, one thread), clipping with
    torch.nn.utils.clip_grad_norm_(max_norm). At every step (before a fork,
    below): relative difference of the loss and of the gradient norm under
    RTOL, the same clip decision; the final weights within FINAL_RTOL (but
    for the attention's key bias, whose gradient is rounding noise: see
    trajectory()).
 2. Step by step: at gradguard's own weights before each step, PyTorch in
    float64 (the exact formulas) computes the loss and the gradient norm:
    both within RTOL at every step, and the clip decision the same.

ReLU and max pooling make trajectories of ReLU networks part for a reason
that is not a formula: a pre-activation within float32 rounding of its kink
(or two pooled values within rounding of each other) can go one way in
gradguard and the other in PyTorch, which changes that step's gradient by a
whole sample-unit contribution (models.Probe). Comparison 2 finds those
decisions at every step and accepts a norm between the norms of the two
sides (for the LSTM and attention models, which have no kinks, it is a plain
check). In comparison 1 a step where the norms first part by more than
MATERIAL while PyTorch's forward holds such an ambiguous decision is a
fork: from it on the trajectories may part legitimately, so they are
checked on the steps before it and only reported after it (the report says
where). A difference at a step with no ambiguous decision is a failure.

--double runs comparison 1 in float64 too (a diagnostic: how far float32
rounding alone takes PyTorch from the exact trajectory).
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
FINAL_RTOL = 1e-4  # ||w_gg - w_torch|| / ||w_torch|| over all weights after the run
MATERIAL = 1e-5    # norms parting by more than this at a step with an ambiguous kink decision: a fork
K_KINK = 16        # a decision within K_KINK float32 rounding units of its kink is ambiguous


def rel(a, b):
    m = max(abs(a), abs(b))
    return 0.0 if m == 0 else abs(a - b) / m


class Run:
    """What the driver wrote for one model and one optimizer."""

    def __init__(self, d, kind, opt_name):
        self.d, self.kind, self.opt = d, kind, opt_name
        info, self.params = {}, []
        with open(os.path.join(d, "manifest.txt")) as f:
            for line in f:
                w = line.split()
                if w[0] == "param":
                    self.params.append((w[1], w[2] == "decay", int(w[3]), int(w[4])))
                else:
                    info[w[0]] = w[1]
        self.batch, self.nb, self.steps = int(info["batch"]), int(info["nbatches"]), int(info["steps"])
        _, self.sample, self.loss_kind = models.build(kind)
        self.x = np.fromfile(os.path.join(d, "x.bin"), dtype="<f4").reshape((self.nb * self.batch,) + self.sample)
        self.y = np.fromfile(os.path.join(d, "y.bin"), dtype="<f4")
        with open(os.path.join(d, opt_name + ".log")) as f:
            lines = f.read().split("\n")
        self.max_norm = float(lines[0].split()[1])
        rows = [ln.split() for ln in lines[2:] if ln.strip()]
        self.loss = [float(r[1]) for r in rows]
        self.norm = [float(r[2]) for r in rows]
        self.clipped = [r[3] == "1" for r in rows]
        if len(rows) != self.steps:
            raise SystemExit("%s %s: gradguard logged %d steps, the manifest says %d" % (kind, opt_name, len(rows),
                                                                                       self.steps))

    def batch_of(self, t, dtype):
        b = t % self.nb
        xb = torch.from_numpy(self.x[b * self.batch : (b + 1) * self.batch]).to(dtype)
        yb = torch.from_numpy(self.y[b * self.batch : (b + 1) * self.batch])
        return xb, yb

    def model(self, dtype):
        module, _, _ = models.build(self.kind)
        tensors, _, _ = st_read.read(os.path.join(self.d, "init.safetensors"))
        models.load_gg_tensors(module, tensors)
        module = module.to(dtype)
        named = {models.to_gg_name(k): p for k, p in module.named_parameters()}
        if set(named) != {p[0] for p in self.params}:
            raise SystemExit("%s: parameters differ: torch %s, gradguard %s" % (self.kind, sorted(named),
                                                                               sorted(p[0] for p in self.params)))
        return module, named

    def loss_of(self, module, xb, yb):
        out = module(xb)
        if self.loss_kind == "xent":
            return F.cross_entropy(out, yb.long())
        return F.mse_loss(out, yb.to(out.dtype).reshape(-1, 1))


def grad_norm(module):
    return float(torch.cat([p.grad.detach().double().flatten() for p in module.parameters()]).norm())


def step_by_step(run):
    """Comparison 2: float64 PyTorch at gradguard's weights before each step."""
    module, named = run.model(torch.float64)
    total = sum(p[3] for p in run.params)
    w = np.fromfile(os.path.join(run.d, run.opt + "_w.bin"), dtype="<f4")
    if w.size != total * run.steps:
        raise SystemExit("%s %s: %d weights dumped, want %d x %d" % (run.kind, run.opt, w.size, run.steps, total))
    w = w.reshape(run.steps, total)
    probed = hasattr(module, "probe")
    r = {"loss": 0.0, "loss_step": 0, "norm": 0.0, "norm_step": 0, "ambiguous": 0, "other_side": [],
         "mismatch": [], "excused": 0}
    for t in range(run.steps):
        with torch.no_grad():
            for name, _, off, n in run.params:
                p = named[name]
                p.copy_(torch.from_numpy(w[t, off : off + n]).reshape(p.shape))
        xb, yb = run.batch_of(t, torch.float64)
        if probed:
            module.probe = models.Probe(K_KINK)
        module.zero_grad()
        loss = run.loss_of(module, xb, yb)
        loss.backward()
        n0 = n1 = grad_norm(module)
        if probed and any(bool(a.any()) for a in module.probe.amb):
            r["ambiguous"] += 1
            module.probe = models.Probe(K_KINK, flip=module.probe.amb)
            module.zero_grad()
            run.loss_of(module, xb, yb).backward()
            n1 = grad_norm(module)
        lo, hi = min(n0, n1), max(n0, n1)
        g = run.norm[t]
        if rel(g, n0) > MATERIAL and abs(g - n1) < abs(g - n0):
            r["other_side"].append(t)  # gradguard took the other side of a kink than exact arithmetic
        dn = 0.0 if lo <= g <= hi else min(rel(g, lo), rel(g, hi))
        dl = rel(float(loss), run.loss[t])
        if dl > r["loss"]:
            r["loss"], r["loss_step"] = dl, t
        if dn > r["norm"]:
            r["norm"], r["norm_step"] = dn, t
        # clip_grad_norm_ clips when max_norm / (norm + 1e-6) < 1
        sides = {run.max_norm / (lo + 1e-6) < 1, run.max_norm / (hi + 1e-6) < 1}
        if len(sides) > 1 or abs(g / run.max_norm - 1) < 1e-6:
            r["excused"] += 1
        elif run.clipped[t] not in sides:
            r["mismatch"].append(t)
    return r


def trajectory(run, dtype):
    """Comparison 1: PyTorch trains on its own from the same start."""
    module, named = run.model(dtype)
    params = list(module.parameters())
    if run.opt == "sgd":
        opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    else:
        decay = {p[0]: p[1] for p in run.params}
        groups = [
            {"params": [p for n, p in named.items() if decay[n]], "weight_decay": 0.01},
            {"params": [p for n, p in named.items() if not decay[n]], "weight_decay": 0.0},
        ]
        opt = torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    loss, norm, clipped, ambiguous = [], [], [], []
    probed = hasattr(module, "probe")
    for t in range(run.steps):
        xb, yb = run.batch_of(t, dtype)
        if probed:
            module.probe = models.Probe(K_KINK)
            with torch.no_grad():
                module(xb)
            ambiguous.append(any(bool(a.any()) for a in module.probe.amb))
            module.probe = None
        else:
            ambiguous.append(False)
        opt.zero_grad()
        lv = run.loss_of(module, xb, yb)
        lv.backward()
        total = torch.nn.utils.clip_grad_norm_(params, run.max_norm)
        clipped.append(bool(run.max_norm / (total + 1e-6) < 1))
        opt.step()
        loss.append(float(lv))
        norm.append(float(total))
    final, _, _ = st_read.read(os.path.join(run.d, run.opt + "_final.safetensors"))
    mine = models.gg_state(module)
    num = den = 0.0
    for k, v in mine.items():
        a, b = final[k].astype(np.float64).ravel(), v.astype(np.float64).ravel()
        if k.endswith(".qkv.bias"):
            # the key bias adds q.b_k to a whole row of scores, which softmax
            # ignores: its gradient is 0 in exact arithmetic and rounding noise
            # in float32, which Adam's normalisation turns into lr-sized steps
            d = a.size // 3
            a, b = np.concatenate([a[:d], a[2 * d :]]), np.concatenate([b[:d], b[2 * d :]])
        num += float(np.sum((a - b) ** 2))
        den += float(np.sum(b**2))
    return loss, norm, clipped, ambiguous, (num / den) ** 0.5


def compare(run, dtypes):
    out = {"s": step_by_step(run), "t": []}
    for dtype in dtypes:
        loss, norm, clipped, ambiguous, final = trajectory(run, dtype)
        parted = [i for i in range(run.steps) if ambiguous[i] and rel(norm[i], run.norm[i]) > MATERIAL]
        fork = parted[0] if parted else run.steps
        t = {"dtype": dtype, "final": final, "loss": 0.0, "norm": 0.0, "loss_after": 0.0, "norm_after": 0.0,
             "mismatch": [], "loss_step": 0, "norm_step": 0, "fork": fork, "ambiguous": sum(ambiguous)}
        for i in range(run.steps):
            dl, dn = rel(loss[i], run.loss[i]), rel(norm[i], run.norm[i])
            if i < fork:
                if dl > t["loss"]:
                    t["loss"], t["loss_step"] = dl, i
                if dn > t["norm"]:
                    t["norm"], t["norm_step"] = dn, i
                if clipped[i] != run.clipped[i]:
                    t["mismatch"].append(i)
            else:
                t["loss_after"] = max(t["loss_after"], dl)
                t["norm_after"] = max(t["norm_after"], dn)
        out["t"].append(t)
    return out


def main(argv):
    global K_KINK
    dtypes = [torch.float32]
    while argv and argv[0].startswith("--"):
        if argv[0] == "--double":
            dtypes.append(torch.float64)
            argv = argv[1:]
        elif argv[0] == "--k" and len(argv) > 1:
            K_KINK = float(argv[1])
            argv = argv[2:]
        else:
            break
    if len(argv) < 2:
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    root, kinds = argv[0], argv[1:]
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print("FAIL: " + what)

    print("step by step: float64 PyTorch at gradguard's weights before each step"
          " | trajectory: PyTorch trains on its own")
    print("%-5s %-5s %8s %-15s %-15s %-9s %5s | %-4s %-15s %-15s %5s %8s %8s" % (
        "model", "optim", "max_norm", "loss rel (step)", "norm rel (step)", "clipped", "other", "type",
        "loss rel (step)", "norm rel (step)", "fork", "after", "final w"))
    for kind in kinds:
        for opt_name in ("sgd", "adamw"):
            run = Run(os.path.join(root, kind), kind, opt_name)
            c = compare(run, dtypes)
            s = c["s"]
            nclip = sum(run.clipped)
            for i, t in enumerate(c["t"]):
                left = "%-5s %-5s %8.4g %9.2e (%3d) %9.2e (%3d) %3d/%-5d %5d" % (
                    kind, opt_name, run.max_norm, s["loss"], s["loss_step"], s["norm"], s["norm_step"], nclip,
                    run.steps, len(s["other_side"])) if i == 0 else " " * 75
                fork = t["fork"]
                after = "%8.1e" % max(t["loss_after"], t["norm_after"]) if fork < run.steps else "       -"
                print("%s | %-4s %9.2e (%3d) %9.2e (%3d) %5s %s %8.2e" % (
                    left, "f32" if t["dtype"] == torch.float32 else "f64", t["loss"], t["loss_step"], t["norm"],
                    t["norm_step"], fork if fork < run.steps else "-", after, t["final"]))
            name = "%s %s" % (kind, opt_name)
            check(s["loss"] < RTOL, "%s: step by step, the loss differs by %.2e at step %d" % (name, s["loss"],
                                                                                             s["loss_step"]))
            check(s["norm"] < RTOL, "%s: step by step, the gradient norm differs by %.2e at step %d" % (
                name, s["norm"], s["norm_step"]))
            check(not s["mismatch"], "%s: step by step, clip decisions differ at steps %s" % (name, s["mismatch"]))
            check(0 < nclip < run.steps, "%s: %d of %d steps clipped: both decisions must occur" % (name, nclip,
                                                                                                   run.steps))
            t = c["t"][0]
            check(t["loss"] < RTOL, "%s: trajectory, the loss differs by %.2e at step %d" % (name, t["loss"],
                                                                                           t["loss_step"]))
            check(t["norm"] < RTOL, "%s: trajectory, the gradient norm differs by %.2e at step %d" % (
                name, t["norm"], t["norm_step"]))
            check(not t["mismatch"], "%s: trajectory, clip decisions differ at steps %s" % (name, t["mismatch"]))
            if t["fork"] == run.steps:
                check(t["final"] < FINAL_RTOL, "%s: final weights differ by %.2e" % (name, t["final"]))
    print("other: steps where gradguard's gradient took the other side of a ReLU/max-pool kink than exact arithmetic;")
    print("fork: the first step where the trajectories part at such a decision (checked before it, reported after)")
    print("parity: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
