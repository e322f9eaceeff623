#!/usr/bin/python3
"""torch_guard_check.py - gradguard.torch.Guard (tests/torch_guard.sh) on
tiny PyTorch models: one line per check, "ok ..." or "FAIL: ...".

    torch_guard_check.py DIR        (DIR: scratch space for run directories)

- a batch with a NaN pixel (skip_first off) rolls the model and Adam's state back to the
  snapshot bit for bit, gives the snapshot's position, calls on_rollback,
  backs the rate off, and the run ends finite;
- clips against the library's decision core fed the same statistics
  computed here in double (norm, z-score over a sequence, per-tensor),
  against clip_grad_norm_, and the value clip and AGC against their
  formulas;
- a loss blow-up answered by a back-off: the step is skipped, the rate
  during optimizer.step() is halved and climbs back, the param groups hold
  the schedule's rate between steps, a schedule's change is followed;
- the guard's state through state_dict/load_state_dict continues with the
  same decisions; a malformed field is refused by name;
- skip with reset_moments drops Adam's state of the bad tensors; noise is
  the same for the same key; the quiet monitor sees dead ReLUs from the
  forward hooks; bad policies are refused; the run directory has src/run/write.c's
  columns and a report.
"""
import ctypes
import json
import math
import os
import sys
import types

import torch

import gradguard
import gradguard.torch as gt
from gradguard import _lib

failed = 0


def report(ok, what):
    global failed
    failed += not ok
    print(("ok " if ok else "FAIL: ") + what)
    sys.stdout.flush()


def mlp(seed, n_in=12, hidden=16, n_out=3):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(n_in, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, n_out))


def data(seed, n=64, n_in=12, n_out=3):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, n_in, generator=g)
    y = (x[:, :n_out].argmax(1)).long()
    return x, y


def clone_state(model, opt):
    m = {k: v.detach().clone() for k, v in model.state_dict().items()}
    o = {i: {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in s.items()}
         for i, s in enumerate(opt.state[p] for p in model.parameters()) if s}
    return m, o


def same_state(a, b):
    (ma, oa), (mb, ob) = a, b
    if ma.keys() != mb.keys() or any(not torch.equal(ma[k], mb[k]) for k in ma):
        return False
    if oa.keys() != ob.keys():
        return False
    for i in oa:
        if oa[i].keys() != ob[i].keys():
            return False
        for k in oa[i]:
            x, y = oa[i][k], ob[i][k]
            if isinstance(x, torch.Tensor) != isinstance(y, torch.Tensor):
                return False
            if isinstance(x, torch.Tensor) and not torch.equal(x, y) or not isinstance(x, torch.Tensor) and x != y:
                return False
    return True


def spy(opt):
    """The first group's rate at each optimizer.step() call (a bound method: schedules wrap it)."""
    seen = []
    orig = opt.step

    def step(self, *a, **k):
        seen.append(self.param_groups[0]["lr"])
        return orig(*a, **k)

    opt.step = types.MethodType(step, opt)
    return seen


def test_rollback(tmp):
    model = mlp(1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = data(1)
    seen = []
    # skip_first off: the rollback itself is under test (the default skips a lone NaN batch first)
    guard = gt.Guard(model, opt, run_dir=os.path.join(tmp, "rollback"), snapshot_every=20, log_every=10,
                     chance_loss=math.log(3), on_rollback=lambda r: seen.append(r.position.step), skip_first=False)
    saved = {}
    rolled = None
    lr_in_step = spy(opt)
    nan_at = 70
    s = 0
    while guard.step_count < 100 and s < 200:
        if guard.step_count % 20 == 0:
            saved[guard.step_count] = clone_state(model, opt)
        xb = x.clone()
        if s == nan_at:
            xb[3, 5] = float("nan")
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xb), y)
        r = guard.train_step(loss, epoch=0, batch=s)
        if r.rolled_back:
            rolled = r
            report(same_state(clone_state(model, opt), saved[r.position.step]),
                   "rollback: model and Adam state equal the snapshot of step %d bit for bit" % r.position.step)
            report(r.failed.step == nan_at and r.failed.batch == nan_at,
                   "rollback: the failed step and batch are the NaN batch's (%d, %d)" % (r.failed.step, r.failed.batch))
            report(all(p.grad is None or not p.grad.abs().sum() for p in model.parameters()),
                   "rollback: the gradients are zeroed")
        s += 1
    report(rolled is not None, "a NaN pixel in batch %d is rolled back (verdict %s)" % (
        nan_at, rolled.verdict if rolled else None))
    if rolled is None:
        return
    # snapshots every 20 good steps become the target 20 healthy steps later: at step 70 the target is step 40
    report(rolled.position.step == 40 and rolled.position.batch == 40,
           "rollback: position = the confirmed snapshot, step 40 batch 40 (got %r)" % (rolled.position,))
    report(seen == [40], "on_rollback called once with the position (%r)" % seen)
    report(rolled.events and rolled.events[0]["signal"] == "nonfinite" and rolled.events[0]["action"] == "rollback",
           "rollback: the nonfinite event is in the result (%s)" % rolled.events[:1])
    # an isolated failure, long after the snapshot it goes back to, is a bad batch until shown
    # otherwise: skipped on replay, the rate kept (the core's rule, docs/guard.md)
    report(guard.counters["backoffs"] == 0 and guard.counters["rollbacks"] == 1,
           "rollback: counted, the rate kept (an isolated failure) (%s)" % guard.counters)
    after = lr_in_step[nan_at:]  # the updates after the failing step
    report(abs(after[0] / 1e-2 - 1) < 0.01 and opt.param_groups[0]["lr"] == 1e-2,
           "rollback: optimizer.step ran at the schedule's 1e-2 after it; param_groups hold 1e-2 (%s)"
           % (after[:2],))
    report(all(torch.isfinite(p).all() for p in model.parameters()), "rollback: the weights end finite")
    status = guard.close()
    d = os.path.join(tmp, "rollback")
    with open(os.path.join(d, "metrics.csv")) as f:
        head = f.readline().strip()
    report(head == "kind,step,epoch,loss,accuracy,lr,grad_norm,val_loss,val_accuracy,samples_per_second",
           "metrics.csv has src/run/write.c's columns")
    with open(os.path.join(d, "events.jsonl")) as f:
        evs = [json.loads(line) for line in f]
    report(any(e.get("signal") == "nonfinite" and e.get("action") == "rollback" and e["step"] == nan_at for e in evs),
           "events.jsonl holds the rollback event at step %d" % nan_at)
    run = gradguard.load_run(d, pandas=False)
    report(status == "completed" and run.summary["status"] == "completed" and
           run.summary["guard"]["rollbacks"] == 1 and len(run.metrics) >= 10,
           "load_run reads the run: status %s, %d metrics rows, guard %s" % (
               run.summary["status"], len(run.metrics), run.summary["guard"]))
    html = open(os.path.join(d, "report.html")).read() if os.path.exists(os.path.join(d, "report.html")) else ""
    report("<svg" in html and "nonfinite" in html, "report.html written by the library, with the event (%d bytes)"
           % len(html))


def raw_core(n, names, **policy):
    cfg = gt._config(policy)
    ts = (_lib.GuardTensor * n)()
    keep = [s.encode() for s in names]
    lay = [s.rsplit(".", 1)[0].encode() for s in names]
    for i in range(n):
        ts[i].name, ts[i].layer = keep[i], lay[i]
    core = _lib.lib.gg_guard_core_new(ctypes.byref(cfg), n, ts, 4)
    return core, (ts, keep, lay)


def core_check(core, step, loss, sq, n):
    arr = (ctypes.c_double * n)(*sq)
    obs = _lib.GuardObs(step=step, epoch=0, loss=loss, sq=arr, max_abs=math.nan, nonfinite=0, lr=0.1,
                        layers=None, nlayers=0)
    act = _lib.GuardAct()
    assert _lib.lib.gg_guard_core_check(core, ctypes.byref(obs), ctypes.byref(act)) == 0
    st = _lib.lib.gg_guard_core_last(core).contents
    return [act.scale[i] for i in range(n)], act.verdict, st.grad_norm, st.grad_norm_clipped, st.clip_threshold


def set_grads(model, gen, scale):
    for p in model.parameters():
        p.grad = torch.randn(p.shape, generator=gen) * scale


def test_clip_vs_core():
    # a sequence of gradients of changing scale, through the Guard and through a bare core fed the
    # squared norms computed here in double: the same factors, norms and thresholds at every step
    for clip, extra in (("zscore", {}), ("norm", {"max_norm": 0.8}), ("tensor", {"max_norm": 0.3}),
                        ("percentile", {"percentile": 50})):
        model = mlp(2)
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        guard = gt.Guard(model, opt, clip=clip, quiet=False, warmup=5, **extra)
        names = [n for n, _ in model.named_parameters()]
        core, keep = raw_core(len(names), names, clip=clip, quiet=False, warmup=5, **extra)
        gen = torch.Generator().manual_seed(3)
        worst, n_clipped, steps = 0.0, 0, 60
        for s in range(steps):
            set_grads(model, gen, 0.1 * (1 + (s % 7)) * (8 if s in (30, 45) else 1))
            before = [p.grad.clone() for p in model.parameters()]
            sq = [float(g.double().pow(2).sum()) for g in before]
            scale, verdict, gn, gnc, th = core_check(core, s, 1.0, sq, len(sq))
            r = guard.step(1.0)
            guard.after_step()
            # the same verdict, statistics and factors; the gradients scaled by them
            st = guard.stats
            worst = max(worst, abs(st["grad_norm"] - gn) / gn, abs(st["grad_norm_clipped"] - gnc) / gnc,
                        abs(st["clip_threshold"] - th) / max(th, 1e-30))
            for p, b, c in zip(model.parameters(), before, scale):
                worst = max(worst, float((p.grad - b * c).abs().max() / b.abs().max()))
            n_clipped += any(c < 1 for c in scale)
            if r.verdict != _lib.VERDICTS[verdict]:
                worst = math.inf
        _lib.lib.gg_guard_core_free(core)
        report(worst < 1e-5 and n_clipped > 0,
               "clip=%s: Guard and the bare core agree over %d steps (%d clipped; largest relative difference %.2g)"
               % (clip, steps, n_clipped, worst))
    # the norm clip is clip_grad_norm_'s
    model, twin = mlp(4), mlp(4)
    guard = gt.Guard(model, torch.optim.SGD(model.parameters(), lr=0.0), clip="norm", max_norm=0.5, quiet=False)
    gen = torch.Generator().manual_seed(5)
    set_grads(model, gen, 1.0)
    for p, q in zip(model.parameters(), twin.parameters()):
        q.grad = p.grad.clone()
    total = torch.nn.utils.clip_grad_norm_(twin.parameters(), 0.5)
    r = guard.step(0.5)
    guard.after_step()
    d = max(float((p.grad - q.grad).abs().max()) for p, q in zip(model.parameters(), twin.parameters()))
    report(r.clipped and d < 1e-6 and abs(r.grad_norm - float(total)) < 1e-5 * float(total),
           "clip=norm at 0.5 gives clip_grad_norm_(0.5)'s gradients (max difference %.2g, norm %.6g vs %.6g)"
           % (d, r.grad_norm, float(total)))
    # value clip and AGC against their formulas
    model = mlp(6)
    guard = gt.Guard(model, torch.optim.SGD(model.parameters(), lr=0.0), clip="value", clip_value=0.05, quiet=False)
    set_grads(model, gen, 0.1)
    want = [p.grad.clamp(-0.05, 0.05) for p in model.parameters()]
    r = guard.step(1.0)
    guard.after_step()
    report(r.clipped and all(torch.equal(p.grad, w) for p, w in zip(model.parameters(), want)) and
           abs(guard.stats["max_abs_grad"] - 0) > 0.05,
           "clip=value clamps every element to 0.05 (max |g| measured %.3g)" % guard.stats["max_abs_grad"])
    model = mlp(7)
    guard = gt.Guard(model, torch.optim.SGD(model.parameters(), lr=0.0), clip="agc", agc_lambda=0.01, quiet=False)
    set_grads(model, gen, 0.5)
    params = list(model.parameters())
    want = []
    for i, p in enumerate(params):
        g = p.grad.double()
        if i >= 2:  # the final layer (2.weight, 2.bias) is left out
            want.append(p.grad.clone())
            continue
        rows = g.shape[0] if g.dim() > 1 else g.numel()
        g2, w2 = g.reshape(rows, -1), p.detach().double().reshape(rows, -1)
        gn, wn = g2.norm(dim=1), w2.norm(dim=1)
        mx = 0.01 * torch.clamp(wn, min=1e-3)
        c = torch.where(gn > mx, (mx / (gn + 1e-6)).float().double(), torch.ones_like(gn))
        want.append((g2 * c.unsqueeze(1)).reshape(p.shape).float())
    r = guard.step(1.0)
    guard.after_step()
    d = max(float((p.grad - w).abs().max()) for p, w in zip(params, want))
    report(r.clipped and d < 1e-6 and guard.counters["clipped"] == 1,
           "clip=agc: unit-wise as clip_agc of guard_act.c, the final layer left out (max difference %.2g)" % d)


def test_backoff():
    model = mlp(8)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    guard = gt.Guard(model, opt, on_blowup="backoff", backoff_recover=10, quiet=False)
    seen = spy(opt)
    gen = torch.Generator().manual_seed(9)
    results = []
    for s in range(40):
        set_grads(model, gen, 0.01)
        loss = 50.0 if s == 10 else 1.0 + 0.01 * (s % 3)
        r = guard.step(loss)
        if r.apply:
            opt.step()
        guard.after_step()
        results.append((r.verdict, r.lr_scale, opt.param_groups[0]["lr"]))
    v10 = results[10]
    report(v10[0] == "skip" and abs(v10[1] - 0.5) < 1e-6 and len(seen) == 39,
           "a loss 50x its level is skipped and backs the rate off to 0.5 (%s, %d updates of 40)" % (v10, len(seen)))
    report(abs(seen[10] - 0.05 * 2 ** 0.1) < 1e-6 and abs(seen[19] - 0.1) < 1e-7,
           "optimizer.step runs at the backed-off rate, back to 0.1 after backoff_recover=10 good steps "
           "(%.6g at the next step, %.6g ten later)" % (seen[10], seen[19]))
    report(all(abs(x[2] - 0.1) < 1e-12 for x in results),
           "param_groups hold the schedule's 0.1 between steps (the scale lives only in optimizer.step)")
    # a schedule's change is the new base rate
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    sched.step()
    set_grads(model, gen, 0.01)
    r = guard.step(100.0)
    guard.after_step()
    set_grads(model, gen, 0.01)
    r = guard.step(1.0)
    if r.apply:
        opt.step()
    guard.after_step()
    report(abs(seen[-1] - 0.05 * 0.5 * 2 ** 0.1) < 1e-6 and abs(opt.param_groups[0]["lr"] - 0.05) < 1e-12,
           "a StepLR change (0.1 -> 0.05) is followed: the back-off scales the new rate (%.6g)" % seen[-1])


def test_state():
    def run(guard, model, gen_seed, steps, out):
        gen = torch.Generator().manual_seed(gen_seed)
        for s in range(steps):
            set_grads(model, gen, 0.1 * (1 + s % 5) * (20 if s % 17 == 16 else 1))
            r = guard.step(1.0 + 0.1 * (s % 4))
            guard.after_step()
            st = guard.stats
            out.append((r.verdict, round(st["grad_norm_clipped"], 12), round(st["z_grad"], 12), r.lr_scale))

    a_model = mlp(10)
    a = gt.Guard(a_model, torch.optim.SGD(a_model.parameters(), lr=0.0))
    first = []
    run(a, a_model, 11, 40, first)
    state = a.state_dict()
    b_model = mlp(10)
    b = gt.Guard(b_model, torch.optim.SGD(b_model.parameters(), lr=0.0))
    b.load_state_dict(state)
    ra, rb = [], []
    run(a, a_model, 12, 40, ra)
    run(b, b_model, 12, 40, rb)
    report(ra == rb and any(x[1] != 0 for x in ra) and b.step_count == a.step_count,
           "state_dict -> load_state_dict: a fresh guard decides as the original over 40 more steps "
           "(%d fields, step %d)" % (len(state), b.step_count))
    c = gt.Guard(mlp(10), torch.optim.SGD(mlp(10).parameters(), lr=0.0))
    name = next(k for k in state if not k.startswith("torch."))
    try:
        c.load_state_dict({name: "not a number"})
        report(False, "a malformed state field is refused")
    except gradguard.Error as e:
        report(e.status == "format" and name in str(e), "a malformed state field is refused by name: %s" % e)


def test_skip_reset_noise():
    model = mlp(12)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    guard = gt.Guard(model, opt, on_nonfinite="skip", reset_moments=True, quiet=False)
    x, y = data(12)
    for s in range(5):
        opt.zero_grad()
        guard.train_step(torch.nn.functional.cross_entropy(model(x), y))
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    params = list(model.parameters())
    params[2].grad[0, 0] = float("inf")
    r = guard.step(loss)
    guard.after_step()
    report(r.verdict == "skip" and not r.apply and params[2] not in opt.state and params[0] in opt.state,
           "on_nonfinite=skip with reset_moments: skipped, Adam's state of 2.weight dropped, the others kept")
    outs = []
    for _ in range(2):
        model = mlp(13)
        guard = gt.Guard(model, torch.optim.SGD(model.parameters(), lr=0.0), noise_eta=0.01, quiet=False)
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        guard.step(1.0)
        guard.after_step()
        outs.append([p.grad.clone() for p in model.parameters()])
    sd = float(torch.cat([g.reshape(-1) for g in outs[0]]).std())
    report(all(torch.equal(u, v) for u, v in zip(*outs)) and abs(sd - 0.1) < 0.02,
           "noise_eta=0.01: N(0, 0.01) at step 0 (std %.4f), the same draw for the same key" % sd)


def test_quiet_dead(tmp):
    torch.manual_seed(14)
    model = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.ReLU(),
                                torch.nn.Linear(16, 3))
    with torch.no_grad():
        model[2].bias.fill_(-100.0)  # the second hidden layer is dead
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    guard = gt.Guard(model, opt, run_dir=os.path.join(tmp, "dead"), monitor_every=5, layer_every=5)
    x, y = data(14)
    events = []
    for s in range(30):
        opt.zero_grad()
        r = guard.train_step(torch.nn.functional.cross_entropy(model(x), y))
        events += r.events
    dead = [e for e in events if e["signal"] == "dead_units"]
    report(dead and "2" in dead[0]["detail"], "the quiet monitor reports the dead ReLU layer from the forward hooks "
           "(%s)" % (dead[0]["detail"] if dead else events))
    report(not guard._hooks or guard.step_count % 5 == 0, "hooks are armed only for monitored steps")
    guard.close(report=False)
    rows = list(gradguard.load_run(os.path.join(tmp, "dead"), pandas=False).layers)
    d2 = [r for r in rows if str(r["layer"]) == "2"]  # load_run types the cell: 2
    report(d2 and d2[-1]["dead_fraction"] == 1 and rows[0]["update_norm"] is not None,
           "layers.csv: layer 2 100%% dead, update norms measured (%d rows)" % len(rows))


def test_bad_update():
    # the gradient is finite, the weights after the step are not
    def run(every, poison_step):
        model = mlp(16)
        opt = torch.optim.SGD(model.parameters(), lr=1e-3)
        guard = gt.Guard(model, opt, quiet=False, snapshot_every=every)
        x, y = data(16)
        for s in range(poison_step):
            opt.zero_grad()
            guard.train_step(torch.nn.functional.cross_entropy(model(x), y), batch=10 + s)
        start = clone_state(model, opt)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        r = guard.step(1.0, batch=10 + poison_step)
        opt.step()
        with torch.no_grad():
            model[2].weight[1, 2] = float("inf")  # as an update that overflowed float32
        guard.after_step()
        return model, opt, guard, r, start, x, y

    def rolled(model, r, what, step, batch, back_to):
        ev = r.events[0] if r.events else {}
        report(r.rolled_back and ev.get("signal") == "nonfinite_weights" and ev.get("step") == step and
               r.failed.batch == batch and r.failed.step == step and r.position.step == back_to and
               all(torch.isfinite(p).all() for p in model.parameters()),
               "%s: %s at step %r, failed %r, back to %r" % (what, ev.get("signal"), ev.get("step"), r.failed,
                                                             r.position))

    # a step before which a snapshot may be taken checks the weights at once
    model, opt, guard, r, start, x, y = run(4, 3)
    rolled(model, r, "a non-finite update before a snapshot is rolled back after the step", 3, 13, 0)
    report(not same_state(clone_state(model, opt), start), "... to the snapshot of step 0, not the state before")
    # another step leaves the check to the next step's loss and gradient
    model, opt, guard, r, start, x, y = run(50, 3)
    report(not r.rolled_back and not r.events, "an unchecked update is not judged after its step")
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    r2 = guard.step(loss, batch=14)
    rolled(model, r2, "... but by the next step, which reports it (not its own loss)", 3, 13, 0)
    report(not r2.apply and guard.after_step() is r2 and guard.counters["nonfinite"] == 1,
           "... the next step is not applied; one non-finite event")
    # the last update of a run, unchecked, is rolled back by close()
    model, opt, guard, r, start, x, y = run(50, 5)
    guard.close()
    report(all(torch.isfinite(p).all() for p in model.parameters()) and guard.counters["rollbacks"] == 1 and
           guard.status == "completed", "close() rolls an unchecked non-finite last update back (%s)" % guard.status)


def test_check_init(tmp):
    def deep(gain, seed):
        torch.manual_seed(seed)
        layers, d = [], 20
        for _ in range(8):
            lin = torch.nn.Linear(d, 32)
            torch.nn.init.normal_(lin.weight, 0, gain * math.sqrt(2.0 / d))
            torch.nn.init.zeros_(lin.bias)
            layers += [lin, torch.nn.ReLU()]
            d = 32
        return torch.nn.Sequential(*layers, torch.nn.Linear(32, 3))

    x = torch.randn(128, 20, generator=torch.Generator().manual_seed(17))
    model = deep(1.6, 17)
    guard = gt.Guard(model, torch.optim.SGD(model.parameters(), lr=0.01), run_dir=os.path.join(tmp, "init"))
    rep = guard.check_init(x)
    fixed = rep.get("rms_fixed", [])
    ev = getattr(guard, "init_events", [])
    report(rep["poor"] and rep["fixed"] and rep["growth"] > 1.25 and all(abs(v - 1) < 0.02 for v in fixed) and
           ev and ev[0]["signal"] == "poor_init" and ev[0]["action"] == "rescale",
           "check_init: He x1.6 over 9 layers grows %.2fx a layer: poor, rescaled to output RMS 1 (%s)" % (
               rep.get("growth", 0), ev[0]["detail"] if ev else "no event"))
    guard.close(report=False)
    with open(os.path.join(tmp, "init", "events.jsonl")) as f:
        report('"poor_init"' in f.read(), "check_init: the event is in events.jsonl")
    model = deep(1.0, 18)
    before = [p.detach().clone() for p in model.parameters()]
    guard = gt.Guard(model, torch.optim.SGD(model.parameters(), lr=0.01))
    rep = guard.check_init(x)
    report(not rep["poor"] and all(torch.equal(p, b) for p, b in zip(model.parameters(), before)),
           "check_init: He init is not poor (growth %.2f) and is left untouched" % rep["growth"])
    model = deep(1.6, 17)
    before = [p.detach().clone() for p in model.parameters()]
    guard = gt.Guard(model, torch.optim.SGD(model.parameters(), lr=0.01), init_check="warn")
    rep = guard.check_init(x)
    report(rep["poor"] and not rep["fixed"] and all(torch.equal(p, b) for p, b in zip(model.parameters(), before)),
           "check_init with init_check='warn': poor, reported, not rescaled")
    model = deep(1.0, 19)
    with torch.no_grad():
        model[4].bias.fill_(-50.0)  # the third layer starts dead
    guard = gt.Guard(model, torch.optim.SGD(model.parameters(), lr=0.01))
    rep = guard.check_init(x)
    ev = [e for e in getattr(guard, "init_events", []) if e["signal"] == "dead_units"]
    report(rep["poor"] and rep["dead_share"][2] == 1 and max(rep["dead_share_fixed"]) < 0.5 and
           float(model[4].bias.abs().max()) < 1 and ev and ev[0]["action"] == "rescale",
           "check_init: a ReLU layer dead on the batch is poor, its bias reset (%s)" % (
               ev[0]["detail"] if ev else "no event"))


def test_policy_errors():
    model = mlp(15)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for kw, exc, text in (({"clip_zz": 1}, TypeError, "clip_zz"), ({"clip": "l2"}, ValueError, "clip='l2'"),
                          ({"on_nonfinite": "ignore"}, ValueError, "on_nonfinite"),
                          ({"warmup": 2.5}, ValueError, "warmup"), ({"ema_alpha": 1.5}, gradguard.Error, "ema_alpha")):
        try:
            gt.Guard(model, opt, **kw)
            report(False, "policy %s is refused" % kw)
        except exc as e:
            report(text in str(e), "policy %s is refused: %s" % (kw, e))
    d = gt.defaults()
    report(d["clip"] == "zscore" and d["on_nonfinite"] == "rollback" and d["snapshot_every"] == 100,
           "defaults() is gg_guard_defaults: clip zscore, on_nonfinite rollback, snapshot_every 100")


def test_probe():
    """A burst of 16 mislabelled batches after convergence (max_skips 10):
    with probe= the guard skips through it; without, it rolls back."""
    for with_probe in (True, False):
        model = mlp(3)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = data(3)
        last = {}

        def probe():
            return torch.nn.functional.cross_entropy(model(last["x"]), last["y"])
        guard = gt.Guard(model, opt, snapshot_every=20, chance_loss=math.log(3), probe=probe if with_probe else None)
        skips = rollbacks = 0
        s = 0
        while guard.step_count < 260 and s < 400:
            yb = (y + 1) % 3 if 200 <= s < 216 else y
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), yb)
            r = guard.train_step(loss, epoch=0, batch=s)
            if r.apply:
                last["x"], last["y"] = x, yb
            skips += r.verdict == "skip"
            rollbacks += bool(r.rolled_back)
            s += 1
        if with_probe:
            report(skips == 16 and rollbacks == 0,
                   "probe=: a 16-batch label burst skipped through (%d skips, %d rollbacks)" % (skips, rollbacks))
        else:
            report(rollbacks >= 1, "no probe: the 11th failure in a row rolls back (%d rollbacks)" % rollbacks)


def test_trial_branch():
    """The plateau watch's trial in a PyTorch loop: a back-off that does not
    lower the loss is undone by a rollback to the state the trial began
    from (the third slot), with no failed step, at the rate before it."""
    model = mlp(12)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    guard = gt.Guard(model, opt, plateau_window=50, backoff_recover=10, quiet=False)
    # the rate already capped as too high (a rollback made it the ceiling), as the watch needs
    guard.load_state_dict({"memory.lr_scale": "0.25", "memory.lr_ceiling": "0.25"})
    gen = torch.Generator().manual_seed(3)
    saved, undone, began = {}, None, None
    steps = 0
    while guard.step_count < 150 and steps < 400:
        saved[guard.step_count] = clone_state(model, opt)
        set_grads(model, gen, 0.01)
        r = guard.step(1.0)  # a flat loss: no back-off can lower it
        if r.apply:
            opt.step()
        guard.after_step()
        steps += 1
        for e in r.events:
            if e["signal"] == "plateau" and e["action"] == "backoff" and began is None:
                began = e["step"]
        if r.rolled_back and undone is None:
            undone = r
            back = same_state(clone_state(model, opt), saved[r.position.step])
    report(began is not None and undone is not None and undone.failed is None and undone.position.step == began,
           "plateau_window: the back-off at step %s undone by a rollback to its start, no failed step (%s)"
           % (began, undone and (undone.position.step, undone.failed)))
    report(undone is not None and back and guard.lr_scale == 0.25 and guard.counters["rollbacks"] == 0,
           "... the model and optimizer as they were then, the rate as before the trial, no rollback counted")


def main():
    tmp = sys.argv[1]
    torch.set_num_threads(1)
    test_rollback(tmp)
    test_clip_vs_core()
    test_backoff()
    test_state()
    test_skip_reset_noise()
    test_quiet_dead(tmp)
    test_bad_update()
    test_check_init(tmp)
    test_policy_errors()
    test_probe()
    test_trial_branch()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
