"""gradguard.torch - gradguard's guard in a PyTorch training loop.

    guard = gradguard.torch.Guard(model, optimizer, run_dir="runs/pt")   # policy keys: guard.* of a config
    for x, y in loader:
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        r = guard.step(loss)           # measure, decide (in C), carry out: clip, skip, back off, roll back
        if r.apply:
            optimizer.step()
        guard.after_step()             # the update's check, snapshots; r.rolled_back, r.stop may change
        if r.stop:
            break
    guard.close()                      # summary.json and report.html in run_dir

(guard.train_step(loss) does the four lines from backward on.)

The decisions are libgradguard's guard decision core (src/guard/core.c,
the same code the gradguard command trains with): this module only
measures and carries out. It measures, after backward, each parameter's
squared gradient norm in double, max |g| and the non-finite count (one
call of the library's vector pass, gg_guard_measure, over the gradients'
memory), and every monitor interval the per-layer statistics of the
quiet-failure monitor (each module's gradient norm, the share of dead
units after nn.ReLU and of saturated units after nn.Tanh and nn.Sigmoid,
from forward hooks registered for that one step, and the update/weight
ratio). It carries the verdict out on PyTorch objects: it scales .grad
per tensor (the norm clips), clamps it (value clip), clips it unit-wise
(AGC), adds the annealed noise, drops the optimizer state of the tensors
a skip resets, scales the param groups' learning rates for the duration
of optimizer.step() (a back-off; the rate returns as the core restores its
scale, and a schedule only ever sees its own rates), and takes and
restores snapshots of model.state_dict() and optimizer.state_dict() in
slots allocated once (two, and a third for a trial's start with
plateau_window > 0).

A rollback restores the model and the optimizer; the data stream is the
caller's. The result says where to resume: r.position (the snapshot's
step, epoch and batch, as given to step()), and r.failed (the position of
the step that failed: the gradguard command skips that batch, and
skip_batches - 1 before it, when it replays; None when the rollback undid a
trial, and nothing is skipped). on_rollback(result), if
given, is called at once.
"""
import ctypes
import json
import math
import os
import time

import torch

from . import _lib

_C = _lib.lib
_ACTS = {}  # module class -> "relu" / "tanh" / "sigmoid": filled lazily (torch.nn is imported by then)


def _acts():
    if not _ACTS:
        _ACTS.update({torch.nn.ReLU: "relu", torch.nn.Tanh: "tanh", torch.nn.Sigmoid: "sigmoid"})
    return _ACTS


class Stop(Exception):
    """Raised by Guard.step/after_step when the guard ends the run and the
    Guard was made with raise_on_stop=True; .status is "diverged" or
    "stalled", the message the event's."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class Position:
    """A place in the data stream: step (optimizer steps taken, skipped ones
    included), epoch and batch (as the caller passed them to step())."""

    __slots__ = ("step", "epoch", "batch")

    def __init__(self, step, epoch, batch):
        self.step, self.epoch, self.batch = step, epoch, batch

    def __repr__(self):
        return "Position(step=%d, epoch=%d, batch=%d)" % (self.step, self.epoch, self.batch)


class Result:
    """What the guard made of a step.

    apply        call optimizer.step() (False: the step is skipped, rolled back or the run stopped)
    verdict      "proceed", "skip", "rollback" or "stop"
    clipped      a clip changed the gradient
    lr_scale     the guard's factor on the learning rate
    rolled_back  the model and optimizer are back at a snapshot (set by step() or after_step())
    position     with rolled_back: the snapshot's Position, where the data resumes
    failed       with rolled_back: the Position of the step that failed; None when the
                 rollback undid a trial (the plateau watch's back-off that did not
                 help): no step failed, and the batches from position on are replayed
    stop         the guard ended the run; status says how ("diverged" or "stalled")
    events       the guard's events of this step, as dicts (the lines of events.jsonl)
    grad_norm    the gradient norm before any clip (NaN for a non-finite gradient)
    """

    __slots__ = ("apply", "verdict", "clipped", "lr_scale", "rolled_back", "position", "failed", "stop", "status",
                 "events", "grad_norm", "loss")

    def __init__(self):
        self.apply = True
        self.verdict = "proceed"
        self.clipped = False
        self.lr_scale = 1.0
        self.rolled_back = False
        self.position = None
        self.failed = None
        self.stop = False
        self.status = None
        self.events = []
        self.grad_norm = math.nan
        self.loss = math.nan

    def __repr__(self):
        extra = ""
        if self.rolled_back:
            extra = ", position=%r" % (self.position,)
        if self.stop:
            extra += ", status=%r" % self.status
        return "Result(verdict=%r, apply=%r, clipped=%r, lr_scale=%.4g%s)" % (self.verdict, self.apply, self.clipped,
                                                                                self.lr_scale, extra)


def defaults():
    """The default policy (gg_guard_defaults) as {key: value}: clip and the
    on_* responses by name, flags as bools."""
    d = _C.gg_guard_defaults()
    return _policy_dict(d)


def _policy_dict(cfg):
    out = {}
    for name, typ in _lib.GUARD_CONFIG_FIELDS:
        v = getattr(cfg, name)
        if name in _lib.CLIP_FIELDS:
            v = _lib.text(_C.gg_clip_name(v))
        elif name in _lib.RESPONSE_FIELDS:
            v = _lib.text(_C.gg_response_name(v))
        elif typ is ctypes.c_float:
            v = float("%.7g" % v)
        out[name] = v
    return out


def _copy_state(src, into):
    """An optimizer's per-parameter state src as a new dict whose tensors are
    into's, copied over where shape and dtype match (fresh copies where not):
    snapshots and rollbacks reuse their buffers."""
    new = {}
    for key, v in src.items():
        if isinstance(v, torch.Tensor):
            buf = into.get(key)
            if isinstance(buf, torch.Tensor) and buf.shape == v.shape and buf.dtype == v.dtype:
                buf.copy_(v)
            else:
                buf = v.detach().clone()
            new[key] = buf
        else:
            new[key] = v
    return new


def _names(name_of):
    """The library's names of an enum (gg_clip_name, gg_response_name), in order."""
    out = []
    while name_of(len(out)):
        out.append(_lib.text(name_of(len(out))))
    return out


def _config(policy):
    cfg = _C.gg_guard_defaults()
    types = dict(_lib.GUARD_CONFIG_FIELDS)
    for key, v in policy.items():
        if key not in types:
            raise TypeError("gradguard.torch.Guard: unknown policy key %r (the keys are gg_guard_config's fields, "
                            "as a config's guard section names them: %s)" % (key, ", ".join(sorted(types))))
        if key in _lib.CLIP_FIELDS or key in _lib.RESPONSE_FIELDS:
            clip = key in _lib.CLIP_FIELDS
            names = _names(_C.gg_clip_name if clip else _C.gg_response_name)
            # GG_CLIP_COUNT and GG_DO_COUNT (one past the last name): not a name
            code = (_C.gg_clip_parse if clip else _C.gg_response_parse)(v.encode()) if isinstance(v, str) else len(names)
            if code >= len(names):
                raise ValueError("gradguard.torch.Guard: %s=%r is not one of %s" % (key, v, ", ".join(names)))
            v = code
        elif key == "init_check" and isinstance(v, str):
            if v not in ("off", "warn", "fix"):
                raise ValueError("gradguard.torch.Guard: init_check=%r is not one of off, warn, fix" % v)
            v = ("off", "warn", "fix").index(v)
        elif types[key] is ctypes.c_int:
            if isinstance(v, float) or not isinstance(v, (int, bool)):
                raise ValueError("gradguard.torch.Guard: %s=%r must be an int (or a bool)" % (key, v))
            v = int(v)
        else:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError("gradguard.torch.Guard: %s=%r must be a finite number" % (key, v))
            v = float(v)
        setattr(cfg, key, v)
    return cfg


def _num(v, json_null=False):
    """A number as src/run/write.c writes it: %.9g; non-finite: empty (CSV) or null (JSON)."""
    if v is None or not math.isfinite(v):
        return "null" if json_null else ""
    return "%.9g" % v


class Guard:
    """gradguard's guard over a PyTorch model and optimizer.

    Guard(model, optimizer, run_dir=None, *, chance_loss=None, log_every=50,
          on_rollback=None, raise_on_stop=False, probe=None, **policy)

    policy: keys of the guard's config (gg_guard_config's fields, the guard
    section of a gradguard config: clip="norm", max_norm=1.0,
    on_nonfinite="skip", snapshot_every=50, ...); the rest keep
    gradguard's default policy. Raises TypeError for an unknown key,
    ValueError for a bad value, gradguard.Error with the library's message
    for a value the core refuses.

    chance_loss: the loss of a guess (math.log(C) for C-class
    cross-entropy): switches on the collapse and stall detectors that
    compare with it. run_dir: where events.jsonl, metrics.csv, layers.csv,
    summary.json, config.yaml and (at close()) report.html go; None for no
    files. log_every: steps per metrics.csv row. on_rollback(result): called
    after each rollback, with the Result (result.position says where the
    data resumes). raise_on_stop: raise Stop in place of returning
    result.stop. probe(): the loss of the last batch whose step was
    applied, on the model's current weights (called under no_grad, only
    when max_skips failing steps in a row ask for a rollback): weights that
    still pass it make the failures a long burst of bad batches, skipped on
    instead of rolled back into (gg_guard_core_probe). Without it the
    rollback stands.

    The guarded tensors are model.named_parameters() with requires_grad;
    diagnose (which needs gradguard's graph) has no effect; init_check acts
    through check_init(), called with the first batch before training.
    """

    def __init__(self, model, optimizer, run_dir=None, *, chance_loss=None, log_every=50, on_rollback=None,
                 raise_on_stop=False, probe=None, **policy):
        self.model, self.optimizer = model, optimizer
        self.probe = probe
        self.cfg = _config(policy)
        self.policy = _policy_dict(self.cfg)
        self.on_rollback = on_rollback
        self.raise_on_stop = raise_on_stop
        self.log_every = int(log_every)
        if self.log_every < 1:
            raise ValueError("gradguard.torch.Guard: log_every=%r must be >= 1" % log_every)
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        if not named:
            raise ValueError("gradguard.torch.Guard: the model has no parameters that require a gradient")
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        self._layer_of_param = [n.rsplit(".", 1)[0] if "." in n else n for n in self.names]
        n = len(self.params)
        self._name_bytes = [s.encode() for s in self.names] + [s.encode() for s in self._layer_of_param]
        ts = (_lib.GuardTensor * n)()
        for i in range(n):
            ts[i].name = self._name_bytes[i]
            ts[i].layer = self._name_bytes[n + i]
        self._build_layers()
        self.core = _C.gg_guard_core_new(ctypes.byref(self.cfg), n, ts, max(1, len(self._layers)))
        if not self.core:
            raise _lib.Error("config", _lib.text(_C.gg_errmsg()))
        if chance_loss is not None:
            _C.gg_guard_core_set_chance(self.core, float(chance_loss))
        self._st = _C.gg_guard_core_last(self.core).contents  # the core's own struct: read after each check
        self.chance_loss = chance_loss
        self._sq = (ctypes.c_double * n)()
        self._psq = (ctypes.c_double * n)()
        self._mptr = (ctypes.c_void_p * n)()
        self._pptr = (ctypes.c_void_p * n)()
        self._mlen = (ctypes.c_size_t * n)(*[p.numel() for p in self.params])
        self._mx = ctypes.c_double()
        self._mx_ref = ctypes.byref(self._mx)
        self._n = n
        self._glast = [0] * n
        self._raw = False  # _measure read the gradients through _mptr (contiguous float32 CPU tensors)
        self._plast = [0] * n
        self._obs = _lib.GuardObs()
        self._obs.sq = self._sq
        self._act = _lib.GuardAct()
        self._pos = _lib.TrainPos()
        self._obs_ref, self._act_ref, self._pos_ref = (ctypes.byref(self._obs), ctypes.byref(self._act),
                                                       ctypes.byref(self._pos))
        self._nev = ctypes.c_int()
        self._noise = None
        self._gen = None
        self._foreach = hasattr(torch, "_foreach_norm")
        # the param groups' rates: the schedule's (base) and the one written
        self._groups = optimizer.param_groups
        self._base_lr = [g["lr"] for g in self._groups]
        self._written = list(self._base_lr)
        self.lr_scale = 1.0
        # position: steps taken (skips included), the caller's epoch and batch
        self.step_count = 0
        self.epoch = 0
        self.batch = 0
        self.status = "running"
        self._res = None
        self._applied = False
        self._pre_update = None  # parameter copies when the core wants this step's update norms
        self._pre_buf = None
        self._update_norms = None
        self._verify = True     # check the parameters after this step's update (the core's act.verify_update)
        self._unchecked = None  # Position of the last update applied without that check
        self._hooks = []
        self._act_stats = {}
        # snapshots by the core's slot number (a trial's start the third), each allocated at its first snapshot
        self._slots = {}
        # the run directory
        self.run_dir = run_dir
        self._files = {}
        self._t0 = time.time()
        self._tlog = self._t0
        self._log = [0, 0, 0.0, 0.0, 0.0, 0, 0]  # steps, finite, loss, acc, grad_norm, acc_n, samples
        self._batch_samples = None
        self._first_loss = math.nan
        self._max_loss = math.nan
        self._nonfinite_steps = 0
        self._last_loss = math.nan
        if run_dir is not None:
            self._open_run(run_dir)
        # the rollback target before the first step
        self._snapshot(_C.gg_guard_core_snapshot(self.core, ctypes.byref(self._position())))
        self._arm_hooks()

    # ---- layers (the quiet monitor's table) ---------------------------------------

    def _build_layers(self):
        """Rows in depth order: every module owning parameters, with the
        ReLU/Tanh/Sigmoid module that follows it (an activation module with
        no parameterised module before it is a row of its own)."""
        acts = _acts()
        rows, row_of_module, act_modules = [], {}, []
        last_open = None  # the row an activation may join
        for name, mod in self.model.named_modules():
            own = [p for p in mod.parameters(recurse=False) if p.requires_grad]
            kind = acts.get(type(mod))
            if own:
                rows.append({"name": name or "model", "kind": None, "module": mod, "act": None})
                row_of_module[name] = len(rows) - 1
                last_open = len(rows) - 1
            elif kind:
                if last_open is not None and rows[last_open]["kind"] is None:
                    rows[last_open]["kind"] = kind
                    rows[last_open]["act"] = mod
                    r = last_open
                else:
                    rows.append({"name": name, "kind": kind, "module": None, "act": mod})
                    r = len(rows) - 1
                last_open = None
                act_modules.append((r, kind, mod))
        self._layers = rows
        self._act_modules = act_modules
        self._param_row = [row_of_module.get(l, -1) for l in self._layer_of_param]
        self._weight_like = [p.dim() >= 2 for p in self.params]
        nl = max(1, len(rows))
        self._layer_arr = (_lib.GuardLayer * nl)()
        for k, r in enumerate(rows):
            self._layer_arr[k].layer = r["name"].encode()[:_lib.GG_NAME_MAX - 1]

    def _arm_hooks(self):
        """Forward hooks on the activation modules for the coming step when
        the core will read the layers then (every monitor interval)."""
        self._wants = bool(_C.gg_guard_core_wants_layers(self.core, self.step_count))
        if not self._act_modules or not self._wants:
            return
        th = float(self.cfg.saturation_threshold)
        for r, kind, mod in self._act_modules:
            self._hooks.append(mod.register_forward_hook(self._hook(r, kind, th)))

    def _disarm_hooks(self):
        for h in self._hooks:
            h.remove()
        self._hooks = []

    def _hook(self, row, kind, th):
        stats = self._act_stats

        def hook(mod, inp, out):
            if not mod.training or not isinstance(out, torch.Tensor) or out.dim() < 2:
                return
            with torch.no_grad():
                y = out.detach()
                # a unit: the channel of a (N, C, H, W) output, the last dim otherwise (as src/guard/monitor.c)
                # samples: the images of a conv output, the rows otherwise (as the C monitor counts them;
                # the core judges no share over fewer than GG_GUARD_ACT_SAMPLES)
                samples = y.shape[0] if y.dim() == 4 else y.numel() // y.shape[-1]
                y = y.transpose(1, -1) if y.dim() == 4 else y
                units = y.shape[-1]
                y = y.reshape(-1, units)
                if kind == "relu":
                    alive = (y != 0).any(dim=0)
                    stats[row] = ("dead", float(units - int(alive.sum())) / units, samples)
                else:
                    if kind == "tanh":
                        hi = math.tanh(th)
                        lo = -hi
                    else:
                        hi = 1 / (1 + math.exp(-2 * th))
                        lo = 1 - hi
                    cnt = ((y <= lo) | (y >= hi)).sum(dim=0)
                    need = 0.9 * y.shape[0]
                    sat = int(((cnt >= need) & (cnt > 0)).sum())
                    stats[row] = ("sat", float(sat) / units, samples)
        return hook

    def _fill_layers(self, sq):
        nan = math.nan
        rows = self._layers
        lsq = [0.0] * len(rows)
        has = [False] * len(rows)
        lw = [0.0] * len(rows)
        lu = [0.0] * len(rows)
        un = self._update_norms
        for i, r in enumerate(self._param_row):
            if r < 0:
                continue
            has[r] = True
            if math.isfinite(sq[i]):
                lsq[r] += sq[i]
            if un is not None and self._weight_like[i]:
                w = float(torch.linalg.vector_norm(self.params[i].detach()))
                lw[r] += w * w
                lu[r] += un[i] * un[i]
        for k in range(len(rows)):
            L = self._layer_arr[k]
            L.grad_norm = math.sqrt(lsq[k]) if has[k] else nan
            L.update_ratio = math.sqrt(lu[k] / lw[k]) if lw[k] > 0 and lu[k] > 0 else nan
            st = self._act_stats.get(k)
            L.dead_fraction = st[1] if st and st[0] == "dead" else nan
            L.saturated_fraction = st[1] if st and st[0] == "sat" else nan
            L.act_samples = st[2] if st else 0
        self._act_stats.clear()

    # ---- the initialisation check ------------------------------------------------------

    def check_init(self, *inputs):
        """The poor-initialisation check (init_check: "warn" or "fix", the
        default) on one batch, before the first step, as the gradguard
        command does it: the RMS of each nn.Linear/nn.Conv*d output in
        depth order (after the ReLU/Tanh/Sigmoid module that follows it;
        the pre-activation RMS for tanh and sigmoid layers) goes to the
        library's verdict (gg_init_assess); a poor one is logged (a
        poor_init or saturation event) and, with "fix", each layer's weight
        and bias are rescaled in order until its output (pre-activation)
        has RMS 1 on the batch. inputs: what model(*inputs) takes. Runs in
        evaluation mode without gradients. Returns a dict: poor, fixed,
        growth, ratio, layers, rms, dead_share (and rms_fixed, dead_share_fixed
        when fixed). ReLU layers with half their units dead on the batch are
        poor too; the fix resets their biases to 0 first, as the command's."""
        conv = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
        rows = [r for r in self._layers if isinstance(r.get("module"), conv)][:_lib.GG_INIT_MAX_LAYERS]
        out = {"poor": False, "fixed": False, "layers": [r["name"] for r in rows]}
        if self.cfg.init_check == 0 or not rows:
            return out
        seen = {}

        def rms(y):
            return float(torch.sqrt(torch.mean(y.detach().double() ** 2))) if y.numel() else math.nan

        hooks = []
        for k, r in enumerate(rows):
            conv_like = not isinstance(r["module"], torch.nn.Linear)
            hooks.append(r["module"].register_forward_hook(lambda m, i, y, k=k: seen.__setitem__(("pre", k), rms(y))))
            if r["act"] is not None:
                def post_hook(m, i, y, k=k, relu=r["kind"] == "relu", conv_like=conv_like):
                    seen[("post", k)] = rms(y)
                    if relu:
                        yy = y.detach().transpose(1, -1) if conv_like and y.dim() >= 3 else y.detach()
                        yy = yy.reshape(-1, yy.shape[-1])
                        seen[("dead", k)] = float((~(yy != 0).any(dim=0)).sum()) / yy.shape[-1]
                hooks.append(r["act"].register_forward_hook(post_hook))
        squash = (ctypes.c_int * len(rows))(*[{"tanh": 1, "sigmoid": 2}.get(r["kind"], 0) for r in rows])

        def measure():
            seen.clear()
            self.model(*inputs)
            post = [seen.get(("post", k), seen.get(("pre", k), math.nan)) for k in range(len(rows))]
            pre = [seen.get(("pre", k), math.nan) for k in range(len(rows))]
            return post, pre, [seen.get(("dead", k), -1.0) for k in range(len(rows))]

        training = self.model.training
        self.model.eval()
        rep = _lib.InitReport()
        try:
            with torch.no_grad():
                post, pre, dsh = measure()
                rep.n = len(rows)
                for k, r in enumerate(rows):
                    rep.layer[k].value = r["name"].encode()[:_lib.GG_NAME_MAX - 1]
                    rep.rms[k] = post[k]
                    rep.pre_rms[k] = pre[k] if squash[k] else math.nan
                    rep.dead_share[k] = dsh[k]
                _C.gg_init_assess(ctypes.byref(rep), squash)
                out.update(poor=bool(rep.poor), growth=rep.growth, ratio=rep.ratio, rms=post, dead_share=dsh)
                if rep.poor and self.cfg.init_check == 2:
                    # the dead layers' biases back to 0, then layer-sequential unit variance: each layer sees
                    # the rescaled ones before it (as the command's fix)
                    for k, r in enumerate(rows):
                        b = getattr(r["module"], "bias", None)
                        if dsh[k] >= 0.5 and isinstance(b, torch.Tensor):
                            b.zero_()
                        for _ in range(4):
                            post, pre, _d = measure()
                            v = pre[k] if squash[k] else post[k]
                            if not math.isfinite(v) or v <= 0 or abs(v - 1) < 0.02:
                                break
                            for p in r["module"].parameters(recurse=False):
                                p.mul_(1 / v)
                    post, pre, dsh = measure()
                    rep.fixed = 1
                    fixed = [pre[k] if squash[k] else post[k] for k in range(len(rows))]
                    out.update(fixed=True, rms_fixed=fixed, dead_share_fixed=dsh)
                    for k in range(len(rows)):
                        rep.rms_fixed[k] = fixed[k]
                        rep.dead_share_fixed[k] = dsh[k]
        finally:
            for h in hooks:
                h.remove()
            self.model.train(training)
        if rep.poor_dead:
            self._dead_init_event(rep)
        if rep.poor_growth:
            self._init_event(rep, False)
        if rep.poor_saturated:
            self._init_event(rep, True)
        if rep.fixed:
            # the rollback target is the rescaled model
            self._snapshot(_C.gg_guard_core_snapshot(self.core, ctypes.byref(self._position())))
        return out

    def _dead_init_event(self, rep):
        """ReLU layers dead on the first batch, worded as the gradguard command's."""
        dead = [(k, rep.dead_share[k]) for k in range(rep.n) if rep.dead_share[k] >= 0.5]
        detail = "ReLU units dead on the first batch (zero for every sample): " + ", ".join(
            "%s %.0f%%" % (_lib.text(rep.layer[k].value), 100 * v) for k, v in dead[:3])
        if rep.fixed:
            after = max([0.0] + [rep.dead_share_fixed[k] for k in range(rep.n)])
            detail += "; their biases reset to 0 and the layers rescaled (at most %.0f%% dead after)" % (100 * after)
        self._write_init_event({"type": "guard", "step": 0, "epoch": 1, "signal": "dead_units",
                                "value": max(v for _, v in dead), "threshold": 0.5,
                                "action": "rescale" if rep.fixed else "warn", "detail": detail})

    def _write_init_event(self, e):
        f = self._files.get("events")
        if f:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")
            f.flush()
        self.init_events = getattr(self, "init_events", []) + [e]

    def _init_event(self, rep, saturation):
        """The event of a poor initialisation, worded as the gradguard command's."""
        n = rep.n
        vals = [rep.pre_rms[k] if saturation else rep.rms[k] for k in range(n)]
        idx = [k for k in range(n) if not saturation or math.isfinite(vals[k])]
        parts = ["%s %.3g" % (_lib.text(rep.layer[k].value), vals[k]) for k in idx]
        listed = ", ".join(parts) if len(parts) <= 3 else "%s, %s, ... %s" % (parts[0], parts[1], parts[-1])
        if saturation:
            detail = ("%d of %d tanh/sigmoid layers start saturated (pre-activation RMS over their linear range): "
                      % (rep.saturated, rep.squashing))
        else:
            detail = "output scale %s %.2fx per layer: " % ("grows" if rep.growth > 1 else "shrinks", rep.growth)
        detail += listed
        if rep.fixed:
            detail += "; weights rescaled layer by layer to %s RMS 1" % ("pre-activation" if saturation else "output")
        e = {"type": "guard", "step": 0, "epoch": 1, "signal": "saturation" if saturation else "poor_init",
             "value": float(rep.saturated) if saturation else rep.growth,
             "threshold": (rep.squashing + 1) / 2 if saturation else 1.25,
             "action": "rescale" if rep.fixed else "warn", "detail": detail}
        if not math.isfinite(e["value"]):
            e["value"] = None
        self._write_init_event(e)

    # ---- the step ------------------------------------------------------------------------

    def _position(self, step=None):
        p = self._pos
        p.step = self.step_count if step is None else step
        p.epoch = self.epoch
        p.batch = self.batch
        return p

    def _pointers(self, tensors, ptr, last):
        """Fills ptr with the tensors' data pointers for gg_guard_measure;
        False when one is not a contiguous float32 CPU tensor (checked when
        its pointer changes: gradients zeroed in place keep theirs)."""
        for i, t in enumerate(tensors):
            if t is None:
                return False
            a = t.data_ptr()
            if a != last[i]:
                if t.dtype is not torch.float32 or t.device.type != "cpu" or not t.is_contiguous():
                    return False
                last[i] = a
            ptr[i] = a
        return True

    def _measure(self):
        """Per-tensor squared norms in double, max |g| and the non-finite
        count, in one call of the library (gg_guard_measure: the vector pass
        gradguard measures its own arena with) over the gradients' memory;
        through torch ops for a gradient that is not a contiguous float32
        CPU tensor."""
        grads = [p.grad for p in self.params]
        self._raw = self._pointers(grads, self._mptr, self._glast)
        if self._raw:
            bad = _C.gg_guard_measure(self._n, self._mptr, self._mlen, self._sq, self._mx_ref)
            return grads, bad, self._mx.value
        grads = [g if g is not None else torch.zeros_like(p) for g, p in zip(grads, self.params)]
        sq = self._sq
        bad = 0
        mx = 0.0
        with torch.no_grad():
            for i, g in enumerate(grads):
                d = g.detach().reshape(-1).double()
                v = float(torch.dot(d, d))
                if math.isfinite(v):
                    sq[i] = v
                else:
                    sq[i] = math.nan
                    bad += int((~torch.isfinite(d)).sum())
                if d.numel():
                    a = d.abs()
                    a = a[~torch.isnan(a)]
                    if a.numel():
                        mx = max(mx, float(a.max()))
        return grads, bad, mx

    def _params_finite(self):
        """-1 when every parameter is finite, else the index of the first
        tensor that is not (one library call over the parameters' memory,
        as _measure)."""
        if self._pointers(self.params, self._pptr, self._plast):
            if _C.gg_guard_measure(self._n, self._pptr, self._mlen, self._psq, None) == 0:
                return -1
            return next(i for i in range(self._n) if self._psq[i] != self._psq[i])
        for i, p in enumerate(self.params):
            if not bool(torch.isfinite(p).all()):
                return i
        return -1

    def step(self, loss, *, epoch=None, batch=None, accuracy=None, samples=None):
        """After loss.backward(): measures the gradients, asks the guard's
        core, carries the verdict out and returns a Result (r.apply: call
        optimizer.step()). loss: the step's mean loss (a tensor or a
        number). epoch, batch: the caller's position in its data (kept with
        snapshots, given back by a rollback; default: unchanged, and batch
        counting up by one a step). accuracy, samples (the batch's size):
        for metrics.csv (its accuracy and samples_per_second columns)."""
        self._disarm_hooks()
        if epoch is not None:
            self.epoch = int(epoch)
        if batch is not None:
            self.batch = int(batch)
        lv = loss.item() if isinstance(loss, torch.Tensor) else float(loss)
        r = self._res = Result()
        r.loss = lv
        self._accuracy = accuracy
        self._batch_samples = samples
        grads, bad, mx = self._measure()
        if self._unchecked is not None:
            failed, self._unchecked = self._unchecked, None
            if (bad or not math.isfinite(lv)) and self._late_failure(r, failed):
                return r
        obs = self._obs
        obs.step = self.step_count
        obs.epoch = self.epoch
        obs.loss = lv
        obs.max_abs = mx
        obs.nonfinite = bad
        obs.lr = self._sync_base_lr()
        if self._wants:
            self._fill_layers(self._sq)
            obs.layers = self._layer_arr
            obs.nlayers = len(self._layers)
        else:
            obs.layers = None
            obs.nlayers = 0
        a = self._act
        _lib.check(_C.gg_guard_core_check(self.core, self._obs_ref, self._act_ref))
        if a.probe and self.probe is not None:
            with torch.no_grad():
                pl = self.probe()
            pl = pl.item() if isinstance(pl, torch.Tensor) else float(pl)
            _lib.check(_C.gg_guard_core_probe(self.core, pl, self._act_ref))
        r.grad_norm = self._st.grad_norm
        v = a.verdict
        r.verdict = _lib.VERDICTS[v]
        r.lr_scale = self.lr_scale = a.lr_scale
        r.clipped = bool(a.clipped)
        if v == 0:
            self._carry_out(a, grads)
            r.clipped = bool(a.clipped)
        if a.any_reset:
            state = self.optimizer.state
            for i, p in enumerate(self.params):
                if a.reset[i]:
                    state.pop(p, None)
        r.apply = v == 0
        self._applied = r.apply
        self._verify = bool(a.verify_update)
        if r.apply:
            for k, g in enumerate(self._groups):
                g["lr"] = self._written[k] = self._base_lr[k] * self.lr_scale
            if a.want_update_norms:
                if self._pre_buf is None:
                    self._pre_buf = [p.detach().clone() for p in self.params]
                else:
                    for b, p in zip(self._pre_buf, self.params):
                        b.copy_(p.detach())
                self._pre_update = self._pre_buf
            else:
                self._pre_update = None
        if a.nevents:
            self._flush_events(r)
        if v == 2:
            self._rollback(r, Position(self.step_count, self.epoch, self.batch))
        elif v == 3:
            self._stop(r, a.stalled)
        return r

    def _carry_out(self, a, grads):
        if a.scaled and self._raw:
            # the data pointers _measure read: one library call
            _C.gg_guard_scale(self._n, self._mptr, self._mlen, a.scale)
        elif a.scaled:
            scale = a.scale
            with torch.no_grad():
                for i, g in enumerate(grads):
                    c = scale[i]
                    if c != 1.0:
                        g.mul_(c)
        if a.clip_value > 0:
            with torch.no_grad():
                for g in grads:
                    g.clamp_(-a.clip_value, a.clip_value)
        if a.agc_lambda > 0:
            if self._agc_clip(grads, a.agc_lambda, a.agc_eps, a.agc_until):
                _C.gg_guard_core_clipped(self.core)
                a.clipped = 1
            else:
                a.clipped = 0
        if a.noise_sigma > 0:
            self._add_noise(grads, a.noise_sigma, a.noise_key)

    def _agc_clip(self, grads, lam, eps, until):
        """Unit-wise clip, as clip_agc of src/train/guard_act.c: row r of a
        tensor (units along dim 0; each element of a 1-dim tensor), its
        gradient norm to at most lam * max(|w_r|, eps)."""
        changed = False
        with torch.no_grad():
            for i in range(min(until, len(grads))):
                g, w = grads[i], self.params[i].detach()
                rows = g.shape[0] if g.dim() > 1 else g.numel()
                g2 = g.reshape(rows, -1)
                gn = torch.linalg.vector_norm(g2, dim=1, dtype=torch.float64)
                wn = torch.linalg.vector_norm(w.reshape(rows, -1), dim=1, dtype=torch.float64)
                maxn = lam * torch.clamp(wn, min=eps)
                over = gn > maxn
                if bool(over.any()):
                    c = torch.where(over, maxn / (gn + 1e-6), torch.ones_like(gn)).to(g.dtype)
                    g2.mul_(c.unsqueeze(1))
                    if g2.data_ptr() != g.data_ptr():
                        g.copy_(g2.reshape(g.shape))
                    changed = True
        return changed

    def _add_noise(self, grads, sigma, key):
        """N(0, sigma^2) on every element, from a generator seeded with the
        core's key (the noise's step), so a resumed run draws the same."""
        if self._gen is None:
            self._gen = torch.Generator()
            self._noise = [torch.empty_like(g) for g in grads]
        self._gen.manual_seed((0x6e6f697365 ^ (key * 0x9e3779b97f4a7c15)) & 0x7FFFFFFFFFFFFFFF)
        with torch.no_grad():
            for g, buf in zip(grads, self._noise):
                buf.normal_(0.0, 1.0, generator=self._gen)
                g.add_(buf, alpha=sigma)

    def _sync_base_lr(self):
        """A rate the caller (its schedule) wrote since the guard's last
        write is the new base."""
        for k, g in enumerate(self._groups):
            if g["lr"] != self._written[k]:
                self._base_lr[k] = g["lr"]
        return float(self._base_lr[0]) if self._base_lr else 0.0

    def _restore_lr(self):
        for k, g in enumerate(self._groups):
            g["lr"] = self._base_lr[k]
            self._written[k] = self._base_lr[k]

    def after_step(self):
        """After optimizer.step() (or in place of it when r.apply is False):
        restores the schedule's rate, checks the update when a snapshot may
        follow (non-finite parameters roll back; on other steps the next
        step() finds them), takes a snapshot when one is due, logs the
        step. Returns the step's Result (rolled_back or stop may now be
        set). Without a step() before it, does nothing and returns None."""
        r = self._res
        if r is None:
            return None
        self._res = None
        self._restore_lr()
        if r.rolled_back or r.stop:
            self._arm_hooks()
            return r
        applied = self._applied
        bad, bad_norm = -1, math.nan
        if applied:
            # Non-finite weights after the update: checked when a snapshot
            # may follow (the core's verify_update) and whenever the update
            # norms are measured (a non-finite update means a non-finite
            # weight before or after it; the exact check confirms, as a
            # float32 norm can overflow). Otherwise left to the next step:
            # a non-finite weight makes its loss or gradient non-finite and
            # step() then reports this update (_late_failure); one that the
            # next steps never read is found at the next checked step,
            # before any snapshot. This saves a pass over the weights on 49
            # steps of 50 (about 2% of a small MLP's PyTorch step).
            if self._pre_update is not None:
                with torch.no_grad():
                    # the copies become the updates (they are overwritten before the next use)
                    for p, q in zip(self.params, self._pre_update):
                        q.sub_(p).neg_()
                    self._update_norms = torch.stack(torch._foreach_norm(self._pre_update)).tolist() \
                        if self._foreach else [float(torch.linalg.vector_norm(q)) for q in self._pre_update]
                self._pre_update = None
                if self._verify or not all(math.isfinite(u) for u in self._update_norms):
                    bad = self._params_finite()
                if bad >= 0 and not math.isfinite(self._update_norms[bad]):
                    bad_norm = self._update_norms[bad]
            elif self._verify:
                bad = self._params_finite()
            else:
                self._unchecked = Position(self.step_count, self.epoch, self.batch)
        self.step_count += 1
        self.batch += 1
        a = self._act
        self._position()
        _lib.check(_C.gg_guard_core_after(self.core, self._pos_ref, int(applied), bad, bad_norm, self._act_ref))
        if a.nevents:
            self._flush_events(r)
        if a.verdict == 2:
            # the update of the step just taken failed: that step and its batch
            self._rollback(r, Position(self.step_count - 1, self.epoch, self.batch - 1))
        elif a.verdict == 3:
            self._stop(r, a.stalled)
        else:
            if a.snapshot >= 0:
                self._snapshot(a.snapshot)
            if a.trial_snapshot >= 0:
                self._snapshot(a.trial_snapshot)
            self._log_step(r)
        self._arm_hooks()
        return r

    def _late_failure(self, r, failed):
        """The step after an unchecked update came out non-finite: when the
        weights are, that update failed. Reported to the core as its own
        check would have (gg_guard_core_after: event nonfinite_weights at
        its step, rollback or stop), and carried out; r is then this step's
        Result. False when the weights are finite (the step's own failure)."""
        bad = self._params_finite()
        if bad < 0:
            return False
        p = self._pos
        p.step, p.epoch, p.batch = failed.step + 1, failed.epoch, failed.batch + 1
        a = self._act
        _lib.check(_C.gg_guard_core_after(self.core, self._pos_ref, 1, bad, math.nan, self._act_ref))
        r.apply = self._applied = False
        self._pre_update = None
        self._flush_events(r)
        if a.verdict == 2:
            self._rollback(r, failed)
        else:
            self._stop(r, a.stalled)
        return True

    def train_step(self, loss, **kw):
        """backward, step, optimizer.step() when the guard applies it,
        after_step: one guarded step from a computed loss (the caller zeroes
        the gradients before, as usual). Returns the Result."""
        loss.backward()
        r = self.step(loss, **kw)
        if r.apply:
            self.optimizer.step()
        self.after_step()
        return r

    # ---- snapshots and rollbacks ----------------------------------------------------------

    def _snapshot(self, k):
        if k < 0:
            return
        model_sd = self.model.state_dict(keep_vars=False)
        slot = self._slots.get(k)
        if slot is None:
            slot = self._slots[k] = {"model": {n: t.detach().clone() for n, t in model_sd.items()
                                               if isinstance(t, torch.Tensor)}, "optim": {}}
        else:
            for n, t in model_sd.items():
                if isinstance(t, torch.Tensor):
                    slot["model"][n].copy_(t)
        # the optimizer's per-parameter state (moments, step counts): into
        # buffers of the same shapes, kept from one snapshot to the next
        osnap = slot["optim"]
        state = self.optimizer.state
        seen = set()
        for i, p in enumerate(self.params):
            s = state.get(p)
            if not s:
                osnap.pop(i, None)
                continue
            seen.add(i)
            osnap[i] = _copy_state(s, osnap.get(i, {}))
        for i in list(osnap):
            if i not in seen:
                del osnap[i]

    def _rollback(self, r, failed):
        pos = self._position()
        if self._act.undo_trial:
            failed = None  # a trial undone: no step failed
        k = _C.gg_guard_core_rollback(self.core, ctypes.byref(pos))
        if k < 0:
            raise _lib.Error("state", _lib.text(_C.gg_errmsg()))
        slot = self._slots.get(k)
        if slot is None:
            raise _lib.Error("state", "gradguard: the guard rolled back to snapshot slot %d, which was never taken" % k)
        with torch.no_grad():
            for n, t in self.model.state_dict(keep_vars=False).items():
                if n in slot["model"]:
                    t.copy_(slot["model"][n])
            state = self.optimizer.state
            for i, p in enumerate(self.params):
                s = slot["optim"].get(i)
                if s is None:
                    state.pop(p, None)
                    continue
                state[p] = _copy_state(s, state.get(p) or {})
            for p in self.params:
                if p.grad is not None:
                    p.grad.zero_()
        self.step_count, self.epoch, self.batch = pos.step, pos.epoch, pos.batch
        self.lr_scale = self._st.lr_scale
        self._pre_update = None
        self._update_norms = None
        self._unchecked = None
        r.apply = False
        r.rolled_back = True
        r.verdict = "rollback"
        r.position = Position(pos.step, pos.epoch, pos.batch)
        r.failed = failed
        self._info("rollback", "restored the snapshot of step %d (epoch %d, batch %d); %s"
                   % (pos.step, pos.epoch, pos.batch, "the step that failed: %d" % failed.step if failed is not None
                      else "a trial undone, no step failed"))
        if self.on_rollback is not None:
            self.on_rollback(r)

    def _stop(self, r, stalled):
        r.apply = False
        r.stop = True
        r.verdict = "stop"
        r.status = self.status = "stalled" if stalled else "diverged"
        msg = r.events[-1]["detail"] if r.events else "the guard stopped the run"
        self._info(self.status, msg)
        if self.raise_on_stop:
            raise Stop(self.status, "gradguard: the guard stopped the run (%s) at step %d: %s"
                       % (self.status, self.step_count, msg))

    # ---- state ------------------------------------------------------------------------------

    def state_dict(self):
        """The guard's state (its statistics, windows, counters; the core's
        named fields) as {name: text}, plus "torch.step", "torch.epoch",
        "torch.batch" and "torch.lr_scale"; for a checkpoint beside the
        model's and the optimizer's. Snapshots are not part of it."""
        out = {}
        buf = ctypes.create_string_buffer(1 << 16)
        name = ctypes.c_char_p()
        for i in range(_C.gg_guard_core_state_count(self.core)):
            n = _C.gg_guard_core_state_get(self.core, i, ctypes.byref(name), buf, len(buf))
            if n >= len(buf):
                buf = ctypes.create_string_buffer(n + 1)
                _C.gg_guard_core_state_get(self.core, i, ctypes.byref(name), buf, len(buf))
            out[_lib.text(name.value)] = _lib.text(buf.value)
        out["torch.step"] = str(self.step_count)
        out["torch.epoch"] = str(self.epoch)
        out["torch.batch"] = str(self.batch)
        out["torch.lr_scale"] = repr(float(self.lr_scale))
        return out

    def load_state_dict(self, state):
        """Restores state_dict()'s output (gradguard.Error naming the field
        for a malformed one) and takes a snapshot of the model and
        optimizer as they are now as the rollback target."""
        for k, v in state.items():
            if k.startswith("torch."):
                continue
            _lib.check(_C.gg_guard_core_state_set(self.core, k.encode(), str(v).encode()))
        self.step_count = int(state.get("torch.step", self.step_count))
        self.epoch = int(state.get("torch.epoch", self.epoch))
        self.batch = int(state.get("torch.batch", self.batch))
        self.lr_scale = float(state.get("torch.lr_scale", self.lr_scale))
        self._unchecked = None
        self._snapshot(_C.gg_guard_core_snapshot(self.core, ctypes.byref(self._position())))
        self._disarm_hooks()
        self._arm_hooks()

    @property
    def counters(self):
        """The guard's counters (clipped, skipped, backoffs, rollbacks, ...) as a dict."""
        c = _C.gg_guard_core_counts(self.core).contents
        return {n: getattr(c, n) for n in _lib.COUNTER_NAMES}

    @property
    def stats(self):
        """The last step's statistics (gg_guard_stats) as a dict."""
        s = _C.gg_guard_core_last(self.core).contents
        return {n: getattr(s, n) for n, _ in _lib.GuardStats._fields_}

    # ---- the run directory -------------------------------------------------------------------

    def _open_run(self, d):
        os.makedirs(d, exist_ok=True)
        self._files["metrics"] = open(os.path.join(d, "metrics.csv"), "w")
        self._files["metrics"].write(
            "kind,step,epoch,loss,accuracy,lr,grad_norm,val_loss,val_accuracy,samples_per_second\n")
        self._files["events"] = open(os.path.join(d, "events.jsonl"), "w")
        if self.cfg.layer_every > 0:
            self._files["layers"] = open(os.path.join(d, "layers.csv"), "w")
            self._files["layers"].write("step,tensor,layer,grad_norm,weight_norm,update_norm,update_ratio,"
                                        "dead_fraction,saturated_fraction\n")
        self._write_config(d)
        self._samples = 0

    def _write_config(self, d):
        opt = self.optimizer
        g0 = opt.param_groups[0]
        lines = ["# written by gradguard.torch.Guard: a PyTorch run under the guard's decision core",
                 "trainer: pytorch",
                 "model: %s" % json.dumps(type(self.model).__name__),
                 "parameters: %d" % sum(p.numel() for p in self.params),
                 "optimizer: {name: %s, lr: %s}" % (json.dumps(type(opt).__name__.lower()), _num(g0["lr"]) or 0),
                 "guard:"]
        for k, v in self.policy.items():
            if isinstance(v, str):
                v = json.dumps(v)
            elif isinstance(v, float):
                v = "%.7g" % v
            lines.append("  %s: %s" % (k, v))
        if self.chance_loss is not None:
            lines.append("chance_loss: %.9g" % self.chance_loss)
        with open(os.path.join(d, "config.yaml"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def _flush_events(self, r):
        ev = _C.gg_guard_core_events(self.core, ctypes.byref(self._nev))
        n = self._nev.value
        if n == 0:
            return
        f = self._files.get("events")
        for i in range(n):
            e = ev[i]
            d = {"type": "guard", "step": e.step, "epoch": e.epoch + 1, "signal": _lib.text(e.signal),
                 "value": e.value if math.isfinite(e.value) else None,
                 "threshold": e.threshold if math.isfinite(e.threshold) else None,
                 "action": _lib.text(e.action), "detail": _lib.text(e.detail)}
            r.events.append(d)
            if f:
                f.write(json.dumps(d, separators=(",", ":")) + "\n")
        if f:
            f.flush()
        _C.gg_guard_core_clear_events(self.core)

    def _info(self, what, detail):
        f = self._files.get("events")
        if f:
            f.write(json.dumps({"type": what, "step": self.step_count, "epoch": self.epoch + 1, "detail": detail},
                               separators=(",", ":")) + "\n")
            f.flush()

    def _log_step(self, r):
        lv = r.loss
        if not math.isfinite(lv):
            self._nonfinite_steps += 1
        elif math.isnan(self._first_loss):
            self._first_loss = self._max_loss = lv
        elif lv > self._max_loss:
            self._max_loss = lv
        if math.isfinite(lv):
            self._last_loss = lv
        L = self._log
        L[0] += 1
        if math.isfinite(lv):
            L[1] += 1
            L[2] += lv
            if self._accuracy is not None:
                L[3] += float(self._accuracy)
                L[5] += 1
        L[4] += r.grad_norm
        if self._batch_samples:
            L[6] += int(self._batch_samples)
        if self.step_count % self.cfg.layer_every == 0 if self.cfg.layer_every > 0 else False:
            self._log_layers()
        if self.step_count % self.log_every == 0 and "metrics" in self._files:
            tn = time.time()
            # samples per second when the caller gave the batches' sizes
            sps = L[6] / max(tn - self._tlog, 1e-9) if L[6] else math.nan
            lr = self._base_lr[0] * self.lr_scale if self._base_lr else math.nan
            row = ["step", str(self.step_count), str(self.epoch + 1), _num(L[2] / L[1] if L[1] else math.nan),
                   _num(L[3] / L[5] if L[5] else math.nan), _num(lr), _num(L[4] / L[0]), "", "", _num(sps)]
            f = self._files["metrics"]
            f.write(",".join(row) + "\n")
            f.flush()
            self._tlog = tn
            L[:] = [0, 0, 0.0, 0.0, 0.0, 0, 0]

    def _log_layers(self):
        f = self._files.get("layers")
        if not f:
            return
        un = self._update_norms
        for i, p in enumerate(self.params):
            g = p.grad
            gn = float(torch.linalg.vector_norm(g)) if g is not None else math.nan
            wn = float(torch.linalg.vector_norm(p.detach()))
            u = un[i] if un is not None else math.nan
            rrow = self._param_row[i]
            L = self._layer_arr[rrow] if rrow >= 0 else None
            f.write("%d,%s,%s,%s,%s,%s,%s,%s,%s\n" % (
                self.step_count, self.names[i], self._layer_of_param[i], _num(gn), _num(wn), _num(u),
                _num(u / wn if wn > 0 else math.nan), _num(L.dead_fraction if L else math.nan),
                _num(L.saturated_fraction if L else math.nan)))
        f.flush()

    def log_epoch(self, loss=None, accuracy=None, val_loss=None, val_accuracy=None):
        """An "epoch" row of metrics.csv (the caller's numbers: the guard does
        not see the validation set)."""
        f = self._files.get("metrics")
        if not f:
            return
        lr = self._base_lr[0] * self.lr_scale if self._base_lr else math.nan
        nan = math.nan
        row = ["epoch", str(self.step_count), str(self.epoch + 1), _num(nan if loss is None else loss),
               _num(nan if accuracy is None else accuracy), _num(lr), "", _num(nan if val_loss is None else val_loss),
               _num(nan if val_accuracy is None else val_accuracy), ""]
        f.write(",".join(row) + "\n")
        f.flush()

    def close(self, status=None, test_loss=None, test_accuracy=None, report=True):
        """Ends the run: summary.json (status: the guard's when it stopped
        the run, else "completed" or the one given) and, with report=True,
        report.html through libgradguard's report writer. Returns the
        status. Safe to call twice."""
        self._disarm_hooks()
        if self._unchecked is not None and self.status == "running":
            # the last update was not checked: a non-finite one is rolled
            # back, so the model is left at the last good state
            failed, self._unchecked = self._unchecked, None
            try:
                self._late_failure(Result(), failed)
            except (_lib.Error, Stop):
                pass
        if status is None:
            status = self.status if self.status != "running" else "completed"
            if status == "completed" and not all(bool(torch.isfinite(p).all()) for p in self.params):
                status = "diverged"
        self.status = status
        if self.run_dir is None or not self._files:
            return status
        c = self.counters
        wall = time.time() - self._t0
        summary = {
            "status": status, "epochs": self.epoch, "steps": self.step_count,
            "train_loss": self._last_loss if math.isfinite(self._last_loss) else None,
            "train_accuracy": None, "val_loss": None, "val_accuracy": None,
            "test_loss": test_loss, "test_accuracy": test_accuracy, "wall_seconds": round(wall, 3),
            "samples_per_second": None,
            "first_loss": None if math.isnan(self._first_loss) else self._first_loss,
            "max_loss": None if math.isnan(self._max_loss) else self._max_loss,
            "nonfinite_steps": self._nonfinite_steps, "trainer": "pytorch %s" % torch.__version__,
            "guard": dict({"enabled": True}, **c)}
        for f in self._files.values():
            f.close()
        self._files = {}
        tmp = os.path.join(self.run_dir, "summary.json.tmp")
        with open(tmp, "w") as f:
            json.dump(summary, f, indent=2)
            f.write("\n")
        os.replace(tmp, os.path.join(self.run_dir, "summary.json"))
        if report:
            _lib.check(_C.gg_report_write(_lib.fspath(self.run_dir), None))
        return status

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        core = getattr(self, "core", None)
        if core:
            self.core = None
            _C.gg_guard_core_free(core)
        for f in getattr(self, "_files", {}).values():
            try:
                f.close()
            except Exception:
                pass
