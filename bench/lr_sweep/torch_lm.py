#!/usr/bin/python3
"""torch_lm.py - gradguard's character transformer in torch.nn, and its data.

Used by bench/lr_sweep/sweep.py (the PyTorch + clip_grad_norm_ variant, its
own random draw) and by bench/torch_peer.py (the speed row of `make bench`,
from gradguard's own initial weights). Run it with Debian's python3-torch:
/usr/bin/python3.

What matches gradguard (src/nn/seq.c, src/train/setup.c, src/data/text.c):
- the text: a file, or a directory read as gg_text_load reads it (regular
  files in byte order of their names, no links, hidden files or *.dat);
  the vocabulary is the sorted distinct bytes; windows of T ids start every
  `stride` bytes inside [floor(a n), floor(b n)), labels the next bytes;
- the model, with gradguard's parameter names and layouts: embed1 (V, D)
  N(0, 1); pos1 (T, D) N(0, 0.02); per block a pre-norm attention (ln,
  qkv (3D, D) Xavier-uniform, causal softmax(q k^T / sqrt(dh)) v per head,
  out (D, D) Xavier-uniform gain 0.5) and a pre-norm MLP (ln, fc1 (4D, D)
  He-uniform, exact GELU, fc2 (D, 4D) Xavier-uniform gain 0.5), each a
  residual; a final layer norm ln1 and the output fc1 (V, D) Xavier-uniform;
  biases 0; layer norms eps 1e-5. Options as gradguard's: qk_norm (layer
  norms q_norm, k_norm over each head's dh, shared by the heads), logit_cap
  (c tanh(s / c)), z_loss (z mean (log Z)^2 in training only);
- the schedule: linear warm-up from 0 over `warmup` steps, then cosine from
  lr to min_lr over the remaining steps (gg_schedule_lr).
"""
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# ---- the text ------------------------------------------------------------------------------


def text_files(path):
    """The files gg_text_load reads for path, in its order."""
    if not os.path.isdir(path):
        return [path]
    out = []
    for name in sorted(os.listdir(path), key=lambda s: s.encode()):
        p = os.path.join(path, name)
        if name.startswith(".") or name.endswith(".dat") or os.path.islink(p) or not os.path.isfile(p):
            continue
        out.append(p)
    return out


def load_text(path):
    """(bytes as uint8 array, vocabulary: sorted distinct byte values, id of each byte)."""
    data = b"".join(open(p, "rb").read() for p in text_files(path))
    a = np.frombuffer(data, dtype=np.uint8)
    vocab = np.unique(a)
    ids = np.full(256, -1, dtype=np.int64)
    ids[vocab] = np.arange(len(vocab))
    return ids[a], vocab


def windows(ids, T, stride, a, b):
    """Windows of part [a, b) of the text, as gg_text_dataset cuts them: (x, y) int64 (k, T)."""
    n = len(ids)
    lo = n if a >= 1 else min(int(math.floor(a * n)), n)
    hi = n if b >= 1 else min(int(math.floor(b * n)), n)
    k = (hi - lo - (T + 1)) // stride + 1
    if k < 1:
        raise SystemExit("torch_lm: part [%g, %g) is too short for a window of %d" % (a, b, T + 1))
    starts = lo + np.arange(k) * stride
    idx = starts[:, None] + np.arange(T + 1)[None, :]
    w = ids[idx]
    return w[:, :T].copy(), w[:, 1:].copy()


# ---- the model -----------------------------------------------------------------------------


def xavier_(w, gain=1.0):
    fo, fi = w.shape
    b = gain * math.sqrt(6.0 / (fi + fo))
    nn.init.uniform_(w, -b, b)


def he_(w):
    b = math.sqrt(6.0 / w.shape[1])
    nn.init.uniform_(w, -b, b)


class Position(nn.Module):
    def __init__(self, T, D):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(T, D))
        nn.init.normal_(self.weight, 0, 0.02)

    def forward(self, x):
        return x + self.weight


class Attention(nn.Module):
    """x + out(attention(qkv(ln(x)))), causal, gradguard's gg_attention_block_ex."""

    def __init__(self, D, heads, qk_norm=False, logit_cap=0.0):
        super().__init__()
        self.D, self.H, self.dh = D, heads, D // heads
        self.ln = nn.LayerNorm(D)
        self.qkv = nn.Linear(D, 3 * D)
        self.out = nn.Linear(D, D)
        xavier_(self.qkv.weight)
        xavier_(self.out.weight, 0.5)
        nn.init.zeros_(self.qkv.bias)
        nn.init.zeros_(self.out.bias)
        self.qk_norm = qk_norm
        if qk_norm:
            self.q_norm = nn.LayerNorm(self.dh)
            self.k_norm = nn.LayerNorm(self.dh)
        self.cap = float(logit_cap)
        self.stats = None  # (max |s| per head, mean entropy per head) when asked

    def forward(self, x, want_stats=False):
        N, T, D = x.shape
        h = self.qkv(self.ln(x)).view(N, T, 3, self.H, self.dh)
        q, k, v = h[:, :, 0], h[:, :, 1], h[:, :, 2]  # (N, T, H, dh)
        if self.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (N, H, T, dh)
        s = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(self.dh))
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
        if want_stats:
            with torch.no_grad():
                vis = s.detach().masked_fill(mask, 0).abs()
                self.stats = [vis.amax(dim=(0, 2, 3))]
        if self.cap > 0:
            s = self.cap * torch.tanh(s / self.cap)
        s = s.masked_fill(mask, float("-inf"))
        p = torch.softmax(s, dim=-1)
        if want_stats:
            with torch.no_grad():
                lp = torch.log_softmax(s.detach(), dim=-1).masked_fill(mask, 0)
                ent = -(p.detach() * lp).sum(-1).mean(dim=(0, 2))
                self.stats.append(ent)
        y = (p @ v).transpose(1, 2).reshape(N, T, D)
        return x + self.out(y)


class MLP(nn.Module):
    def __init__(self, D, hidden):
        super().__init__()
        self.ln = nn.LayerNorm(D)
        self.fc1 = nn.Linear(D, hidden)
        self.fc2 = nn.Linear(hidden, D)
        he_(self.fc1.weight)
        xavier_(self.fc2.weight, 0.5)
        nn.init.zeros_(self.fc1.bias)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x):
        return x + self.fc2(F.gelu(self.fc1(self.ln(x))))


class CharTransformer(nn.Module):
    """gradguard's model list [embedding, position, (attention, mlp_block) x L, layernorm, dense]."""

    def __init__(self, V, T, D, layers, heads, qk_norm=False, logit_cap=0.0):
        super().__init__()
        self.embed1 = nn.Embedding(V, D)
        nn.init.normal_(self.embed1.weight, 0, 1)
        self.pos1 = Position(T, D)
        self.L = layers
        for i in range(layers):
            setattr(self, "attn%d" % (i + 1), Attention(D, heads, qk_norm, logit_cap))
            setattr(self, "mlp%d" % (i + 1), MLP(D, 4 * D))
        self.ln1 = nn.LayerNorm(D)
        self.fc1 = nn.Linear(D, V)
        xavier_(self.fc1.weight)
        nn.init.zeros_(self.fc1.bias)

    def attentions(self):
        return [getattr(self, "attn%d" % (i + 1)) for i in range(self.L)]

    def forward(self, x, want_stats=False):
        h = self.pos1(self.embed1(x))
        for i in range(self.L):
            h = getattr(self, "attn%d" % (i + 1))(h, want_stats)
            h = getattr(self, "mlp%d" % (i + 1))(h)
        return self.fc1(self.ln1(h))


def lm_loss(logits, y, z_loss=0.0):
    """Mean cross-entropy over (N, T), plus z_loss mean (log Z)^2 when z_loss > 0; and mean log Z."""
    flat = logits.reshape(-1, logits.shape[-1])
    lz = torch.logsumexp(flat, dim=-1)
    loss = F.cross_entropy(flat, y.reshape(-1))
    if z_loss > 0:
        loss = loss + z_loss * (lz * lz).mean()
    return loss, lz.detach().mean()


def lr_at(step, lr, warmup, total, min_lr):
    """gg_schedule_lr for a cosine schedule with a linear warm-up from 0."""
    if step < warmup:
        return lr * step / warmup
    k, T = step - warmup, total - warmup
    k = min(k, T)
    return min_lr + (lr - min_lr) * 0.5 * (1 + math.cos(math.pi * k / T))


# ---- one training run (bench/lr_sweep/sweep.py's PyTorch variant) ------------------------------


def train(a):
    """Trains from scratch with AdamW and clip_grad_norm_(a.clip); returns the run's record."""
    import time

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    ids, vocab = load_text(a.text)
    xtr, ytr = windows(ids, a.length, a.stride, 0, 1 - a.val_fraction)
    xva, yva = windows(ids, a.length, a.stride, 1 - a.val_fraction, 1)
    model = CharTransformer(len(vocab), a.length, a.width, a.layers, a.heads, a.qk_norm, a.logit_cap)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, a.beta2), weight_decay=a.weight_decay,
                            foreach=True)
    xtr_t, ytr_t = torch.from_numpy(xtr), torch.from_numpy(ytr)
    g = torch.Generator().manual_seed(a.seed)
    perm = torch.randperm(len(xtr), generator=g)
    rec = {"side": "pytorch", "lr": a.lr, "seed": a.seed, "steps": a.steps, "vocab": len(vocab),
           "train_windows": len(xtr), "val_windows": len(xva), "curve": [], "attn": [], "nonfinite_steps": 0}
    t0, c0 = time.time(), time.process_time()
    log_loss, log_n, first = 0.0, 0, None
    min_lr = a.lr * a.min_lr_frac
    for step in range(a.steps):
        lr = lr_at(step, a.lr, a.warmup, a.steps, min_lr)
        for grp in opt.param_groups:
            grp["lr"] = lr
        k = (step * a.batch) % (len(perm) - a.batch + 1)
        idx = perm[k:k + a.batch]
        want = (step + 1) % a.stats_every == 0
        logits = model(xtr_t[idx], want_stats=want)
        loss, lz = lm_loss(logits, ytr_t[idx], a.z_loss)
        lv = loss.item()
        if first is None:
            first = lv
        if not math.isfinite(lv):
            rec["nonfinite_steps"] += 1
        else:
            log_loss += lv
            log_n += 1
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        if want:
            heads = []
            for i, m in enumerate(model.attentions()):
                for h in range(m.H):
                    heads.append([i + 1, h, float(m.stats[0][h]), float(m.stats[1][h])])
            rec["attn"].append({"step": step + 1, "heads": heads, "log_z": float(lz)})
        if (step + 1) % a.log_every == 0:
            rec["curve"].append([step + 1, log_loss / log_n if log_n else float("nan")])
            log_loss, log_n = 0.0, 0
    model.eval()
    with torch.no_grad():
        tot, n = 0.0, 0
        for i in range(0, len(xva), 256):
            xb, yb = torch.from_numpy(xva[i:i + 256]), torch.from_numpy(yva[i:i + 256])
            l, _ = lm_loss(model(xb), yb)
            tot += l.item() * len(xb)
            n += len(xb)
    rec.update({"first_loss": first, "val_loss": tot / n, "wall_seconds": time.time() - t0,
                "cpu_seconds": time.process_time() - c0,
                "status": "diverged" if rec["nonfinite_steps"] or not math.isfinite(tot) else "completed"})
    return rec


def main():
    import argparse
    import json

    ap = argparse.ArgumentParser(description="one PyTorch run of the learning-rate sweep")
    ap.add_argument("--text", default="/usr/share/games/fortunes")
    ap.add_argument("--length", type=int, default=64)
    ap.add_argument("--stride", type=int, default=64)
    ap.add_argument("--val-fraction", type=float, default=0.05)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--qk-norm", action="store_true")
    ap.add_argument("--logit-cap", type=float, default=0)
    ap.add_argument("--z-loss", type=float, default=0)
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--beta2", type=float, default=0.95)
    ap.add_argument("--weight-decay", type=float, default=0)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log-every", type=int, default=20)
    ap.add_argument("--stats-every", type=int, default=20)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rec = train(a)
    with open(a.out, "w") as f:
        json.dump(rec, f)


if __name__ == "__main__":
    main()
