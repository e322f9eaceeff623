"""The doctor benchmark's generator: model families, faults and their
severities, and the candidate runs they make (family x fault x severity x
seed), each with the healthy twin it is judged against.

A candidate is a config (a dict that becomes a gradguard YAML file), the
step at which its fault starts (its onset), and its twin: the same model,
data, batch, seed and budget in a healthy configuration. The generator is
deterministic: the same seed gives the same candidates in the same order.
"""
import hashlib
import os

import numpy as np

FASHION = "/usr/share/datasets/fashion-mnist"
TEXT = "/usr/share/common-licenses/GPL-3"

# The healthy learning rate of each optimizer (the twin's), and the fault
# optimizers' configs. sgd-m is SGD with momentum 0.9.
OPTS = {
    "sgd": ({"name": "sgd"}, 0.05),
    "sgd-m": ({"name": "sgd", "momentum": 0.9}, 0.01),
    "adam": ({"name": "adam"}, 1e-3),
    "rmsprop": ({"name": "rmsprop"}, 1e-3),
    "adagrad": ({"name": "adagrad"}, 1e-2),
}


def _dense_stack(depth, width, act, init, gain=1.0, bias=None):
    layers = []
    for _ in range(depth):
        d = {"type": "dense", "units": width, "act": act, "init": init, "gain": gain}
        if bias is not None:
            d["bias_init"] = bias
        layers.append(d)
    layers.append({"type": "dense", "init": init, "gain": gain})
    return layers


# Each family: how to build its model (from a few parameters a fault may
# change), its data, its default optimizer and budget, and what its metric is.
# `kind`: image / csv / adding (regression) / text. Budgets are optimizer
# steps; every run is one thread.
def _mlp(p):
    b = p.get("bias")
    return [dict({"type": "dense", "units": 256, "act": "relu"}, **({"bias_init": b} if b is not None else {})),
            dict({"type": "dense", "units": 128, "act": "relu"}, **({"bias_init": b} if b is not None else {})),
            {"type": "dense"}]


def _cnn(p):
    b = p.get("bias")
    extra = {"bias_init": b} if b is not None else {}
    return [dict({"type": "conv2d", "filters": 16, "kernel": 5, "pad": 2, "act": "relu"}, **extra),
            {"type": "maxpool", "size": 2},
            dict({"type": "conv2d", "filters": 32, "kernel": 5, "pad": 2, "act": "relu"}, **extra),
            {"type": "maxpool", "size": 2},
            dict({"type": "dense", "units": 64, "act": "relu"}, **extra),
            {"type": "dense"}]


def _deep_relu(p):
    return _dense_stack(p.get("depth", 12), p.get("width", 128), "relu", "he_normal", p.get("gain", 1.0),
                        p.get("bias"))


def _deep_tanh(p):
    return _dense_stack(p.get("depth", 10), p.get("width", 128), "tanh", "xavier_normal", p.get("gain", 1.0))


def _rnn(p):
    return [{"type": "rnn", "hidden": 64, "act": "tanh", "last": True, "recurrent_init": "orthogonal"},
            {"type": "dense", "units": 1}]


def _lstm(p):
    return [{"type": "lstm", "hidden": 64, "last": True, "forget_bias": 1}, {"type": "dense", "units": 1}]


def _char_lstm(p):
    return [{"type": "embedding", "dim": 32}, {"type": "lstm", "hidden": 128, "forget_bias": 1}, {"type": "dense"}]


def _char_transformer(p):
    return [{"type": "embedding", "dim": 48}, {"type": "position"}, {"type": "attention", "heads": 4},
            {"type": "mlp_block"}, {"type": "layernorm"}, {"type": "dense"}]


def _csv(p):
    b = p.get("bias")
    extra = {"bias_init": b} if b is not None else {}
    return [dict({"type": "dense", "units": 32, "act": "relu"}, **extra), {"type": "dense"}]


FAMILIES = {
    "mlp": dict(kind="image", model=_mlp, opt="adam", budget=300, batch=64, torch=True, relu=True),
    "cnn": dict(kind="image", model=_cnn, opt="adam", budget=200, batch=32, torch=True, relu=True),
    "deep-relu": dict(kind="image", model=_deep_relu, opt="sgd-m", budget=300, batch=64, torch=True, relu=True),
    "deep-tanh": dict(kind="image", model=_deep_tanh, opt="sgd-m", budget=300, batch=64, torch=True, relu=False),
    "rnn": dict(kind="adding", model=_rnn, opt="adam", budget=300, batch=32, torch=True, relu=False),
    "lstm": dict(kind="adding", model=_lstm, opt="adam", budget=300, batch=32, torch=True, relu=False),
    "char-lstm": dict(kind="text", model=_char_lstm, opt="adam", budget=250, batch=32, torch=False, relu=False),
    "char-transformer": dict(kind="text", model=_char_transformer, opt="adam", budget=200, batch=32, torch=False,
                             relu=False),
    "csv": dict(kind="csv", model=_csv, opt="sgd", budget=300, batch=32, torch=True, relu=True),
}

STALL_BUDGET = 1000
# the eta of the stall remedy's annealed gradient noise: the guard's default
# (guard.remedy_noise_eta), set in the stall policy too, and its PyTorch peer's
STALL_NOISE_ETA = 0.3

# Accuracy floors: the healthy twin minus 5% of its accuracy, at least 2
# points. MSE ceilings: the healthy twin's MSE x 1.1 + 0.005.
ACC_MARGIN_REL, ACC_MARGIN_MIN = 0.05, 0.02
MSE_MARGIN_REL, MSE_MARGIN_ABS = 0.10, 0.005


def floor_of(kind, healthy):
    """The bar a run of this family must clear: ('acc', min) or ('mse', max)."""
    if healthy is None:
        return None
    if kind == "adding":
        return ("mse", healthy * (1 + MSE_MARGIN_REL) + MSE_MARGIN_ABS)
    return ("acc", healthy - max(ACC_MARGIN_MIN, ACC_MARGIN_REL * healthy))


def make_csv(path):
    """A 16-feature, 3-class task (three Gaussian clusters with overlap),
    4,000 rows: train on the first 3,400, test on the last 600. A 16-32-3
    MLP with SGD 0.05 converges in about a hundred steps. Deterministic."""
    if os.path.exists(path + ".train.csv"):
        return
    rng = np.random.default_rng(20261201)
    centres = rng.normal(0, 1.0, (3, 16))
    y = rng.integers(0, 3, 4000)
    x = centres[y] + rng.normal(0, 1.0, (4000, 16))
    hdr = ",".join(f"f{i}" for i in range(16)) + ",label\n"
    for name, sl in (("train", slice(0, 3400)), ("test", slice(3400, 4000))):
        with open(f"{path}.{name}.csv.tmp", "w") as f:
            f.write(hdr)
            for xi, yi in zip(x[sl], y[sl]):
                f.write(",".join("%.5f" % v for v in xi) + ",%d\n" % yi)
        os.replace(f"{path}.{name}.csv.tmp", f"{path}.{name}.csv")


def make_fashion_subset(d, n_train=12000, n_test=2000):
    """The first n samples of Fashion-MNIST as plain IDX files (fast to load,
    and the same bytes for both trainers)."""
    import gzip
    os.makedirs(d, exist_ok=True)
    for pre, n in (("train", n_train), ("t10k", n_test)):
        for kind, hdr, per in (("images-idx3", 16, 784), ("labels-idx1", 8, 1)):
            out = os.path.join(d, f"{pre}-{kind}-ubyte")
            if os.path.exists(out):
                continue
            with gzip.open(os.path.join(FASHION, f"{pre}-{kind}-ubyte.gz"), "rb") as f:
                head = bytearray(f.read(hdr))
                body = f.read(n * per)
            head[4:8] = n.to_bytes(4, "big")
            with open(out + ".tmp", "wb") as f:
                f.write(bytes(head) + body)
            os.replace(out + ".tmp", out)


def base_config(fam, data_dir, opt="default", lr_mult=1.0, batch=None, params=None, seed=1, budget=None):
    """The healthy config of a family (the twin), as a dict."""
    F = FAMILIES[fam]
    params = params or {}
    okey = F["opt"] if opt == "default" else opt
    o, lr = OPTS[okey]
    if F["kind"] in ("adding", "text") and okey in ("sgd", "sgd-m"):
        lr = lr * 4  # these small sequence models need a larger plain-SGD step to move at all
    o = dict(o, lr=float("%.6g" % (lr * lr_mult)))
    kind = F["kind"]
    if kind == "image":
        data = {"format": "idx", "train": data_dir + "/fashion", "test": data_dir + "/fashion", "val_fraction": 0}
        loss = {"name": "softmax_xent"}
    elif kind == "csv":
        data = {"format": "csv", "train": data_dir + "/blobs.train.csv", "test": data_dir + "/blobs.test.csv",
                "val_fraction": 0, "normalize": "none"}
        loss = {"name": "softmax_xent"}
    elif kind == "adding":
        data = {"format": "adding", "variant": "uniform", "length": 30, "train_size": 9600, "test_size": 1000,
                "test": "generated", "val_fraction": 0}
        loss = {"name": "mse"}
    else:
        data = {"format": "text", "train": TEXT, "length": 32, "stride": 8, "val_fraction": 0.1, "test": "none"}
        loss = {"name": "softmax_xent"}
    return {
        "data": data,
        "model": F["model"](params),
        "loss": loss,
        "optimizer": o,
        "train": {"epochs": 1000, "max_steps": budget or F["budget"], "batch": batch or F["batch"], "seed": seed,
                  "threads": 1, "log_every": 10, "checkpoint_every": 0, "keep_checkpoints": 1},
    }


def _h(*parts):
    return int(hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()[:8], 16)


class Candidate:
    """One generated run: id, family, fault kind, severity text, the config
    overrides that make the fault, the twin's key, and the fault's onset step."""

    def __init__(self, fam, kind, severity, seed, twin, fault_cfg, onset, guard=None, torch_ok=True):
        self.fam, self.kind, self.severity, self.seed = fam, kind, severity, seed
        self.twin = twin  # dict of base_config kwargs
        self.fault_cfg = fault_cfg  # function(cfg) -> None, edits a copy of the twin's config
        self.onset = onset
        self.guard = guard or {}  # the guard section of the guarded run (empty: the default policy)
        self.torch_ok = torch_ok and FAMILIES[fam]["torch"]
        self.id = f"{fam}/{kind}/{severity}/s{seed}".replace(" ", "")

    def twin_key(self):
        t = self.twin
        p = ",".join("%s=%s" % kv for kv in sorted((t.get("params") or {}).items()))
        return "%s; opt %s; batch %s; %sseed %d; %s steps" % (
            self.fam, t.get("opt", "default"), t.get("batch") or "default", p + "; " if p else "", self.seed,
            t.get("budget") or "default")


def _set_opt_lr(mult, momentum=None):
    def f(cfg):
        cfg["optimizer"]["lr"] = float("%.6g" % (cfg["optimizer"]["lr"] * mult))
        if momentum is not None:
            cfg["optimizer"]["momentum"] = momentum
    return f


def _faults(entries):
    def f(cfg):
        cfg.setdefault("guard", {})["faults"] = entries
    return f


def generate(gen_seed=1):
    """Every candidate of the full suite, in a fixed order."""
    out = []

    def seed_of(*parts):
        return 1 + _h(gen_seed, *parts) % 3

    for fam, F in FAMILIES.items():
        B, kind = F["budget"], F["kind"]
        classifier = kind != "adding"
        # learning rate x10 .. x1000, for each optimizer
        for opt in OPTS:
            for m in (10, 100, 1000):
                s = seed_of(fam, "lr", opt, m)
                out.append(Candidate(fam, "lr", f"{opt} x{m}", s, {"opt": opt}, _set_opt_lr(m), 0))
        # initialisation scale (the deep nets)
        if fam in ("deep-relu", "deep-tanh"):
            for g in (0.3, 0.5, 2.0, 3.0):
                s = seed_of(fam, "init", g)
                out.append(Candidate(fam, "init", f"gain x{g}", s, {}, None, 0))
                out[-1].params_fault = {"gain": g}
        # NaN, Inf and scaled batches: early (before the first confirmed
        # snapshot), mid-run and late; one batch, or a burst of three
        when = {"early": 40, "mid": B // 2, "late": B - 40}
        kinds = [("nan", {"nan": True}), ("inf", {"inf": True}), ("x1e4", {"scale": 1e4}),
                 ("x1e6", {"scale": 1e6}), ("x1e8", {"scale": 1e8})]
        if kind == "text":
            # the inputs are byte ids: a bad batch is a NaN in the embedding's output
            kinds = [("nan", {"node": "embed1/embedding"})]
        for kname, kv in kinds:
            for wname, at in when.items():
                for burst in (1, 3):
                    s = seed_of(fam, "data", kname, wname, burst)
                    ents = [dict(kv, batch=at + i) for i in range(burst)]
                    sev = f"{kname} {wname} {'single' if burst == 1 else 'burst3'}"
                    out.append(Candidate(fam, "nonfinite" if kname in ("nan", "inf") else "scale", sev, s, {},
                                         _faults(ents), at))
        # corrupted-label bursts (classifiers)
        if classifier:
            for n in (4, 8, 16):  # guard.faults holds at most 16 entries
                s = seed_of(fam, "labels", n)
                at = B // 3
                out.append(Candidate(fam, "labels", f"burst {n}", s, {},
                                     _faults([{"batch": at + i, "labels": True} for i in range(n)]), at))
        # momentum 0.99 at a high rate (twin: SGD + momentum 0.9 at its rate)
        for m in (1, 3, 10):
            s = seed_of(fam, "momentum", m)
            out.append(Candidate(fam, "momentum", f"0.99 lr x{m}", s, {"opt": "sgd-m"}, _set_opt_lr(m, 0.99), 0))
        # batch 1-4 at a high rate (twin: the same batch at the healthy rate)
        if kind in ("image", "csv"):
            for b in (1, 2, 4):
                for m in (3, 10):
                    s = seed_of(fam, "smallbatch", b, m)
                    out.append(Candidate(fam, "small-batch", f"batch {b} lr x{m}", s, {"batch": b},
                                         _set_opt_lr(m), 0))
        # a ReLU bias shift that kills units at step 0
        if F["relu"]:
            for b in (-1.0, -3.0, -10.0):
                s = seed_of(fam, "bias", b)
                out.append(Candidate(fam, "dead-relu", f"bias {b:g}", s, {}, None, 0))
                out[-1].params_fault = {"bias": b}
        # a rate 100x too small: a stall (its own policy: noise, no init fix)
        if kind != "text":
            stall_guard = {"on_stall": "noise", "init_check": "off", "remedy_noise_eta": STALL_NOISE_ETA}
            s = seed_of(fam, "stall", "lr")
            # a stall is declared after guard.stall_window (300) steps at chance:
            # these runs get 1,000 steps (their twins too)
            out.append(Candidate(fam, "stall", "lr x0.01", s, {"budget": STALL_BUDGET}, _set_opt_lr(0.01), 0,
                                 guard=stall_guard))
            if fam == "deep-relu":
                # stalled deep nets of other depths, widths and initialisations
                for depth, width, g in ((8, 64, 0.3), (16, 64, 0.5), (16, 128, 0.4), (24, 96, 0.5), (20, 128, 0.6)):
                    s = seed_of(fam, "stall", depth, width, g)
                    c = Candidate(fam, "stall", f"depth {depth} width {width} gain {g}", s,
                                  {"params": {"depth": depth, "width": width}, "budget": STALL_BUDGET}, None, 0,
                                  guard=stall_guard)
                    c.params_fault = {"gain": g}
                    out.append(c)
        # warm restarts that jump the rate: x10 at a third of the run, or
        # x5 then x25, or x10 then x100 (a restart to a too-high peak)
        for ms, gam in (([B // 3], 10), ([B // 3, 2 * B // 3], 5), ([B // 3, 2 * B // 3], 10)):
            s = seed_of(fam, "restart", len(ms), gam)
            sev = "x%g at %s" % (gam, "/".join(map(str, ms)))

            def f(cfg, ms=ms, gam=gam):
                cfg["schedule"] = {"name": "multistep", "milestones": list(ms), "gamma": gam}
            out.append(Candidate(fam, "rate-jump", sev, s, {}, f, ms[0]))
    return out


def fault_config(c, data_dir):
    """(the candidate's config, the twin's config) as dicts."""
    import copy
    tw = dict(c.twin)
    tw.setdefault("params", {})
    twin = base_config(c.fam, data_dir, opt=tw.get("opt", "default"), batch=tw.get("batch"), params=tw["params"],
                       seed=c.seed, budget=tw.get("budget"))
    pf = getattr(c, "params_fault", None)
    if pf:
        cfg = base_config(c.fam, data_dir, opt=tw.get("opt", "default"), batch=tw.get("batch"),
                          params=dict(tw["params"], **pf), seed=c.seed, budget=tw.get("budget"))
    else:
        cfg = copy.deepcopy(twin)
    if c.fault_cfg:
        c.fault_cfg(cfg)
    return cfg, twin
