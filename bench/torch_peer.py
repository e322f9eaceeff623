#!/usr/bin/python3
"""torch_peer.py - the PyTorch side of the benchmark (bench/run.py runs it).

Trains exactly what bench/gg_bench trained: it reads the initial weights
gg_bench saved (DIR/init.safetensors), the batch order (DIR/perm.bin, int64
sample indices; batch k = perm[(k mod nb) B : + B], nb = n // B) and the same
data (Fashion-MNIST IDX gz files read with gzip + numpy, pixels * float32(1/255)
as gradguard's loader does; for lstm DIR/adding_x.f32 and adding_y.f32; for
transformer DIR/text_x.f32 and text_y.f32, the windows of byte ids, with the
model of bench/lr_sweep/torch_lm.py), with
torch.optim.Adam(lr=1e-3), times W warm-up steps and R repetitions of N steps,
and prints one JSON object with the same fields as gg_bench.

Threads: --torch-threads N calls torch.set_num_threads(N) (0 leaves PyTorch's
default); OMP_NUM_THREADS and OPENBLAS_NUM_THREADS come from the environment
the driver sets. --foreach uses Adam's multi-tensor implementation
(foreach=True; PyTorch 1.13's default on the CPU is the per-tensor loop, about
5x slower for the MLP's optimizer step). --clip adds clip_grad_norm_(1.0) to
every step. --max-time S cuts N (to no fewer than 3) when the warm-up says
R x N steps would take longer than S seconds, as gg_bench does.

Run it with /usr/bin/python3 (Debian's python3-torch).
"""
import argparse
import ctypes
import gzip
import json
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lr_sweep"))
import torch_lm  # noqa: E402  (gradguard's character transformer in torch.nn)

NLOSS = 6


def read_safetensors(path):
    """{name: float32 array} from a safetensors file: an 8-byte little-endian
    header length, a JSON header, then the raw data."""
    with open(path, "rb") as f:
        blob = f.read()
    (hlen,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + hlen])
    data = memoryview(blob)[8 + hlen :]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if e["dtype"] != "F32":
            sys.exit("torch_peer: %s: tensor %s has dtype %s, expected F32" % (path, name, e["dtype"]))
        a, b = e["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(e["shape"]).copy()
    return out


def read_idx(path, magic):
    with gzip.open(path, "rb") as f:
        buf = f.read()
    if struct.unpack(">I", buf[:4])[0] != magic:
        sys.exit("torch_peer: %s: bad IDX magic" % path)
    if magic == 0x803:
        n, r, c = struct.unpack(">III", buf[4:16])
        return np.frombuffer(buf, dtype=np.uint8, offset=16).reshape(n, r * c)
    (n,) = struct.unpack(">I", buf[4:8])
    return np.frombuffer(buf, dtype=np.uint8, offset=8)


class MLP(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        dims = [784] + hidden + [10]
        self.names = ["fc%d" % (i + 1) for i in range(len(dims) - 1)]
        for i, n in enumerate(self.names):
            setattr(self, n, nn.Linear(dims[i], dims[i + 1]))

    def forward(self, x):
        for n in self.names[:-1]:
            x = F.relu(getattr(self, n)(x))
        return getattr(self, self.names[-1])(x)


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.fc1 = nn.Linear(3136, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


class LSTMReg(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.lstm1 = nn.LSTM(2, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, 1)

    def forward(self, x):
        y, _ = self.lstm1(x)
        return self.fc(y[:, -1])


def flops(model, B, hidden, seq, mlp_hidden, vocab=0, width=128, depth=2):
    """GEMM/convolution FLOPs of forward + backward, as gg_bench counts them."""
    if model == "transformer":
        D, T = width, seq
        return 3.0 * B * T * (depth * (2 * 12 * D * D + 4 * T * D) + 2 * D * vocab)
    if model == "mlp":
        dims = [784] + mlp_hidden + [10]
        return sum(2.0 * B * dims[i] * dims[i + 1] * (3 if i else 2) for i in range(len(dims) - 1))
    if model == "cnn":
        return (2.0 * B * 32 * 28 * 28 * 25 * 2 + 2.0 * B * 64 * 14 * 14 * 32 * 25 * 3
                + 2.0 * B * 3136 * 128 * 3 + 2.0 * B * 128 * 10 * 3)
    H, T, Fi = hidden, seq, 2
    return 2.0 * B * T * 4 * H * (2 * Fi + 3 * H) + 2.0 * B * H * 3


def blas_info():
    """The BLAS library this process really loaded, and OpenBLAS's own view of it."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            p = line.split()[-1]
            if "blas" in p or "mkl" in p or "dnnl" in p:
                libs.add(os.path.realpath(p))
    info = {"blas_libs": sorted(libs)}
    for p in sorted(libs):
        try:
            lib = ctypes.CDLL(p)
            fn = lib.openblas_get_config
            fn.restype = ctypes.c_char_p
            info["openblas_config"] = fn().decode()
            core = lib.openblas_get_corename
            core.restype = ctypes.c_char_p
            info["openblas_core"] = core().decode()
            info["openblas_threads"] = lib.openblas_get_num_threads()
            break
        except (OSError, AttributeError):
            continue
    return info


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", choices=["mlp", "cnn", "lstm", "transformer"])
    ap.add_argument("--torch-threads", type=int, default=0)
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--dir", default=".")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--seq", type=int, default=0, help="lstm: 100; transformer: 64")
    ap.add_argument("--clip", action="store_true")
    ap.add_argument("--foreach", action="store_true")
    ap.add_argument("--max-time", type=float, default=0)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    B = a.batch or (32 if a.model in ("lstm", "transformer") else 128)
    a.seq = a.seq or (64 if a.model == "transformer" else 100)
    default_threads = torch.get_num_threads()
    if a.torch_threads > 0:
        torch.set_num_threads(a.torch_threads)
    torch.manual_seed(0)

    # data, as gg_bench holds it: uint8 pixels (or the adding problem's floats)
    if a.model == "lstm":
        X = np.fromfile(os.path.join(a.dir, "adding_x.f32"), dtype="<f4").reshape(-1, a.seq, 2)
        Y = np.fromfile(os.path.join(a.dir, "adding_y.f32"), dtype="<f4").reshape(-1, 1)
    elif a.model == "transformer":  # byte ids as floats, as gradguard holds them
        X = np.fromfile(os.path.join(a.dir, "text_x.f32"), dtype="<f4").reshape(-1, a.seq).astype(np.int64)
        Y = np.fromfile(os.path.join(a.dir, "text_y.f32"), dtype="<f4").reshape(-1, a.seq).astype(np.int64)
    else:
        X = read_idx(os.path.join(a.data, "train-images-idx3-ubyte.gz"), 0x803)
        Y = read_idx(os.path.join(a.data, "train-labels-idx1-ubyte.gz"), 0x801).astype(np.int64)
    perm = np.fromfile(os.path.join(a.dir, "perm.bin"), dtype="<i8")
    if len(perm) != len(X):
        sys.exit("torch_peer: perm.bin has %d entries, the data %d samples" % (len(perm), len(X)))
    nb = len(X) // B
    scale = np.float32(1.0) / np.float32(255.0)  # the loader's 1.0f / 255.0f

    def batch(k):
        idx = perm[(k % nb) * B : (k % nb) * B + B]
        if a.model in ("lstm", "transformer"):
            return torch.from_numpy(X[idx]), torch.from_numpy(Y[idx])
        x = X[idx].astype(np.float32) * scale
        if a.model == "cnn":
            x = x.reshape(B, 1, 28, 28)
        return torch.from_numpy(x), torch.from_numpy(Y[idx])

    # the same model, from the same initial weights
    if a.model == "mlp":
        model, loss_fn = MLP([256, 128]), F.cross_entropy
    elif a.model == "cnn":
        model, loss_fn = CNN(), F.cross_entropy
    elif a.model == "lstm":
        model, loss_fn = LSTMReg(a.hidden), F.mse_loss
    w = read_safetensors(os.path.join(a.dir, "init.safetensors"))
    vocab = 0
    if a.model == "transformer":
        vocab = w["embed1.weight"].shape[0]
        model = torch_lm.CharTransformer(vocab, a.seq, w["embed1.weight"].shape[1], 2, 4)

        def loss_fn(out, y):
            return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
    if a.model == "lstm":  # gradguard names lstm1.weight_ih, PyTorch lstm1.weight_ih_l0
        w = {(k + "_l0" if k.startswith("lstm1.") else k): v for k, v in w.items()}
    sd = model.state_dict()
    if set(sd) != set(w):
        sys.exit("torch_peer: weights differ: gradguard %s, PyTorch %s" % (sorted(w), sorted(sd)))
    for k in sd:
        if tuple(sd[k].shape) != w[k].shape:
            sys.exit("torch_peer: %s is %s in gradguard, %s in PyTorch" % (k, w[k].shape, tuple(sd[k].shape)))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in w.items()})
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True if a.foreach else None)

    def step(k):
        x, y = batch(k)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        if a.clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    losses = []
    tw = 0.0
    for k in range(a.warmup):
        if k == a.warmup // 2:
            tw = time.perf_counter()  # the first steps fault their pages in
        loss = step(k)
        if len(losses) < NLOSS:
            losses.append(loss.item())
    k = a.warmup
    steps = a.steps
    if a.max_time > 0 and a.warmup >= 2:
        per = (time.perf_counter() - tw) / (a.warmup - a.warmup // 2)
        if per * steps * a.reps > a.max_time:
            steps = int(a.max_time / (per * a.reps))
        steps = min(max(steps, 3), a.steps)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    ms, cms = [], []
    for _ in range(a.reps):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            loss = step(k)
            k += 1
            if len(losses) < NLOSS:
                losses.append(loss.item())
        ms.append((time.perf_counter() - t0) * 1e3 / steps)
        cms.append((time.process_time() - c0) * 1e3 / steps)
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    med = float(np.median(ms))
    fl = flops(a.model, B, a.hidden, a.seq, [256, 128], vocab)
    out = {
        "side": "pytorch", "label": a.label, "model": a.model, "batch": B, "clip": a.clip, "foreach": a.foreach,
        "warmup": a.warmup, "steps": steps, "reps": a.reps,
        "params": sum(p.numel() for p in model.parameters()),
        "ms_per_step": ms, "ms_median": med, "cpu_ms_median": float(np.median(cms)), "samples_per_s": B / (med * 1e-3),
        "flops_per_step": fl, "gflops": fl / (med * 1e-3) / 1e9,
        "peak_rss_mib": ru1.ru_maxrss / 1024.0,
        "minflt_per_step": (ru1.ru_minflt - ru0.ru_minflt) / (a.reps * steps),
        "final_loss": loss.item(), "losses": losses,
        "torch_version": torch.__version__, "torch_default_threads": default_threads,
        "torch_threads": torch.get_num_threads(),
        "env_OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "env_OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        "mkldnn": torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled,
    }
    out.update(blas_info())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
