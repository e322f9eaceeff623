"""models.py - the PyTorch twins of the models that tests/test_parity_driver.c
builds with gradguard, with the same parameter names and layouts, and the
two-way name mapping (only nn.LSTM and nn.RNN differ: weight_ih_l0 <->
weight_ih).

ReLU and max pooling have kinks: a pre-activation within float32 rounding
of 0 (or two pooled values within rounding of each other) can take one side
in gradguard and the other in PyTorch, which changes that step's gradient by
a whole sample-unit contribution and sends the two trajectories apart from
there on. A Probe set on the MLP or CNN (model.probe) finds those decisions
and can take the other side at exactly them, so that a comparison can tell
this apart from a real difference in the formulas.
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

U32 = 2.0**-24  # float32 unit roundoff


class Probe:
    """Records the kink decisions of one forward pass. A ReLU input z is
    ambiguous when |z| < k u sum_i |x_i w_i| (+ |b|): that sum bounds the
    rounding of the dot product that made z, and of its inputs. A 2x2 max is
    ambiguous when the largest and second largest values (not both <= 0) are
    within k u of their own scales. With flip (the `amb` list of an earlier
    pass at the same weights), every ambiguous decision takes its other side."""

    def __init__(self, k, flip=None):
        self.k, self.flip, self.amb = k, flip, []

    def _site(self, amb):
        i = len(self.amb)
        self.amb.append(amb)
        return None if self.flip is None else self.flip[i]

    def relu(self, z, scale):
        amb = z.detach().abs() < self.k * U32 * scale
        mask = z.detach() > 0
        f = self._site(amb)
        if f is not None:
            mask = mask ^ f
        return z * mask.to(z.dtype)

    def maxpool2(self, a, scale):
        n, c, h, w = a.shape

        def windows(t):  # (n, c, h/2, w/2, 4), the window's pixels row by row
            return t.unfold(2, 2, 2).unfold(3, 2, 2).reshape(n, c, h // 2, w // 2, 4)

        wa, ws = windows(a), windows(scale)
        top = wa.detach().topk(2, dim=-1)
        margin = top.values[..., 0] - top.values[..., 1]
        amb = (margin <= self.k * U32 * ws.gather(-1, top.indices).sum(-1)) & (top.values[..., 0] > 0)
        idx = top.indices[..., 0]
        f = self._site(amb)
        if f is not None:
            idx = torch.where(f, top.indices[..., 1], idx)
        return wa.gather(-1, idx.unsqueeze(-1)).squeeze(-1)


def _lin_scale(fc, x):
    with torch.no_grad():
        return F.linear(x.abs(), fc.weight.abs(), fc.bias.abs())


def _conv_scale(conv, x):
    with torch.no_grad():
        return F.conv2d(x.abs(), conv.weight.abs(), conv.bias.abs(), padding=conv.padding)


class MLP(nn.Module):
    def __init__(self, sizes=(784, 64, 10)):
        super().__init__()
        self.n = len(sizes) - 1
        self.probe = None
        for i in range(self.n):
            setattr(self, "fc%d" % (i + 1), nn.Linear(sizes[i], sizes[i + 1]))

    def forward(self, x):
        x = x.reshape(x.shape[0], -1)
        for i in range(self.n):
            fc = getattr(self, "fc%d" % (i + 1))
            z = fc(x)
            if i == self.n - 1:
                x = z
            elif self.probe is not None:
                x = self.probe.relu(z, _lin_scale(fc, x))
            else:
                x = F.relu(z)
        return x


class CNN(nn.Module):
    """conv5x5 c1 pad 2, maxpool 2, conv5x5 c2 pad 2, maxpool 2, dense d, dense 10."""

    def __init__(self, c1=8, c2=16, d=32):
        super().__init__()
        self.probe = None
        self.conv1 = nn.Conv2d(1, c1, 5, padding=2)
        self.conv2 = nn.Conv2d(c1, c2, 5, padding=2)
        self.fc1 = nn.Linear(c2 * 7 * 7, d)
        self.fc2 = nn.Linear(d, 10)

    def forward(self, x):
        x = x.reshape(x.shape[0], 1, 28, 28)
        p = self.probe
        for conv in (self.conv1, self.conv2):
            if p is None:
                x = F.max_pool2d(F.relu(conv(x)), 2)
            else:
                s = _conv_scale(conv, x)
                x = p.maxpool2(p.relu(conv(x), s), s)
        x = x.flatten(1)
        x = F.relu(self.fc1(x)) if p is None else p.relu(self.fc1(x), _lin_scale(self.fc1, x))
        return self.fc2(x)


class SeqNet(nn.Module):
    """Many-to-one on (T 20, 2) inputs: the final hidden state of a one-layer
    LSTM (module "lstm1") or tanh RNN ("rnn1"), then dense 1."""

    def __init__(self, cell, features=2, hidden=16):
        super().__init__()
        self.name = cell + "1"
        rec = nn.LSTM(features, hidden, batch_first=True) if cell == "lstm" else \
            nn.RNN(features, hidden, batch_first=True, nonlinearity="tanh")
        setattr(self, self.name, rec)
        self.fc = nn.Linear(hidden, 1)

    def forward(self, x):
        _, state = getattr(self, self.name)(x.reshape(x.shape[0], 20, 2))
        h = state[0] if isinstance(state, tuple) else state  # the LSTM's state is (h, c)
        return self.fc(h[-1])


class AttnBlock(nn.Module):
    """Pre-norm self-attention residual: x + out(attention(qkv(ln(x))))."""

    def __init__(self, d, heads, causal):
        super().__init__()
        self.heads, self.causal = heads, causal
        self.ln = nn.LayerNorm(d, eps=1e-5)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x):
        n, t, d = x.shape
        h, dh = self.heads, d // self.heads
        q, k, v = self.qkv(self.ln(x)).split(d, dim=-1)
        q, k, v = (z.reshape(n, t, h, dh).transpose(1, 2) for z in (q, k, v))
        att = q @ k.transpose(-1, -2) / math.sqrt(dh)
        if self.causal:
            mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
            att = att.masked_fill(mask, float("-inf"))
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(n, t, d)
        return x + self.out(y)


class MLPBlock(nn.Module):
    """Pre-norm MLP residual: x + fc2(gelu(fc1(ln(x))))."""

    def __init__(self, d, hidden):
        super().__init__()
        self.ln = nn.LayerNorm(d, eps=1e-5)
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)

    def forward(self, x):
        return x + self.fc2(F.gelu(self.fc1(self.ln(x))))


class AttnNet(nn.Module):
    def __init__(self, t=8, d=16, heads=2, hidden=32, classes=4):
        super().__init__()
        self.t, self.d = t, d
        self.attn1 = AttnBlock(d, heads, True)
        self.mlp1 = MLPBlock(d, hidden)
        self.head = nn.Linear(t * d, classes)

    def forward(self, x):
        x = x.reshape(x.shape[0], self.t, self.d)
        return self.head(self.mlp1(self.attn1(x)).flatten(1))


def build(kind):
    """The module, the sample shape of its input and its loss ('xent' or 'mse')."""
    if kind == "mlp":
        return MLP(), (784,), "xent"
    if kind == "cnn":
        return CNN(), (1, 28, 28), "xent"
    if kind == "fashion-mlp":
        return MLP((784, 256, 128, 10)), (1, 28, 28), "xent"
    if kind == "fashion-cnn":
        return CNN(32, 64, 128), (1, 28, 28), "xent"
    if kind in ("lstm", "rnn"):
        return SeqNet(kind), (20, 2), "mse"
    if kind == "attn":
        return AttnNet(), (8, 16), "xent"
    raise ValueError("unknown model " + kind)


def to_torch_name(name):
    """gradguard's name of a tensor -> the module's state_dict key."""
    for s in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        if name.endswith("." + s):
            return name + "_l0"
    return name


def to_gg_name(name):
    return name[:-3] if name.endswith("_l0") else name


def load_gg_tensors(module, tensors):
    """load_state_dict(strict=True) from tensors named as gradguard names them."""
    sd = {to_torch_name(k): torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in tensors.items()}
    module.load_state_dict(sd, strict=True)


def gg_state(module):
    """{gradguard name: float32 numpy array} of the module's parameters."""
    return {to_gg_name(k): v.detach().cpu().numpy().astype(np.float32) for k, v in module.state_dict().items()}
