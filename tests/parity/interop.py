#!/usr/bin/python3
"""interop.py - the PyTorch side of tests/interop.sh: weights move between
gradguard and PyTorch through safetensors files, read and written here by
hand (st_read.py), never through the safetensors package. Two calls, so
that torch is imported twice, not once per check:

    interop.py prepare DIR
        DIR/x_KIND.bin: 16 random samples for each model's input (raw
        float32); for mlp, cnn, lstm and attn a PyTorch-initialised model:
        DIR/pt_KIND.safetensors (gradguard's names), pt_KIND_torch.safetensors
        (the state_dict's own names), pt_KIND_f64.safetensors (F64 data),
        pt_KIND_x.bin (8 samples) and pt_KIND_out.bin (PyTorch's outputs);
        and mlp files with a wrong shape, a missing tensor, an extra tensor
        and BatchNorm's int64 num_batches_tracked counter (bad_*.safetensors,
        with_counter.safetensors).
    interop.py verify SPECS
        one check per line of the file SPECS, one result line each:
        check KIND WEIGHTS X GGOUT [DROP...]
            reads a gradguard file (model or checkpoint) with the plain
            reader, checks its gg_crc32 against the data when present,
            loads it into the PyTorch twin with load_state_dict(strict=True)
            (after deleting the DROP tensors), and compares PyTorch's outputs
            on X with gradguard's GGOUT: "ok KIND (FILE, metadata KEYS) ..."
        refuse KIND WEIGHTS
            the strict load must fail: "ok refused FILE: <torch's message>"
        compare A B
            two raw float32 output files: "ok A vs B ..."
        Outputs agree when max |diff| <= TOL max(1, max |out|).
"""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import models  # noqa: E402
import st_read  # noqa: E402

TOL = 1e-5


def agree(a, b, what):
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.size != b.size or a.size == 0:
        return "FAIL: %s: %d outputs against %d" % (what, a.size, b.size)
    if not np.all(np.isfinite(a)) or not np.all(np.isfinite(b)):
        return "FAIL: %s: non-finite outputs" % what
    scale = max(1.0, float(np.max(np.abs(b))))
    d = float(np.max(np.abs(a - b)))
    return "%s %s: %d outputs, max |diff| %.2e (tolerance %.1e)" % ("ok" if d <= TOL * scale else "FAIL:", what,
                                                                    a.size, d, TOL * scale)


def forward(module, x, sample):
    module.eval()
    with torch.no_grad():
        return module(torch.from_numpy(x.reshape((-1,) + sample))).numpy()


def load(kind, weights, drop):
    tensors, meta, info = st_read.read(weights)
    if "gg_crc32" in meta and meta["gg_crc32"] != st_read.data_crc32(info):
        raise ValueError("gg_crc32 %s, the data's CRC-32 is %s" % (meta["gg_crc32"], st_read.data_crc32(info)))
    for name in drop:
        del tensors[name]
    module, sample, _ = models.build(kind)
    models.load_gg_tensors(module, tensors)  # strict: raises on any missing or unexpected key
    return module, sample, meta


def check(kind, weights, xpath, ggout, *drop):
    module, sample, meta = load(kind, weights, drop)
    out = forward(module, np.fromfile(xpath, dtype="<f4"), sample)
    what = "%s (%s, metadata %s)" % (kind, os.path.basename(weights), ",".join(sorted(meta)) or "none")
    return agree(np.fromfile(ggout, dtype="<f4"), out, what)


def refuse(kind, weights):
    try:
        load(kind, weights, ())
    except RuntimeError as e:
        return "ok refused %s: %s" % (os.path.basename(weights), " ".join(str(e).split()))
    return "FAIL: %s loaded strictly into %s" % (weights, kind)


def compare(a, b):
    return agree(np.fromfile(a, dtype="<f4"), np.fromfile(b, dtype="<f4"),
                 "%s vs %s" % (os.path.basename(a), os.path.basename(b)))


def prepare(d):
    for i, kind in enumerate(("mlp", "cnn", "lstm", "attn", "fashion-mlp", "fashion-cnn")):
        _, sample, _ = models.build(kind)
        np.random.default_rng(100 + i).standard_normal((16,) + sample).astype("<f4").tofile(
            os.path.join(d, "x_%s.bin" % kind))
    for i, kind in enumerate(("mlp", "cnn", "lstm", "attn")):
        torch.manual_seed(11 + i)
        module, sample, _ = models.build(kind)
        with torch.no_grad():  # LayerNorm starts at 1 and 0: move it so the file's values matter
            for name, p in module.named_parameters():
                if ".ln." in name:
                    p.add_(0.1 * torch.randn(p.shape))
        sd = {k: v.numpy() for k, v in module.state_dict().items()}
        st_read.write(os.path.join(d, "pt_%s_torch.safetensors" % kind), sd, {"format": "pt"})
        st_read.write(os.path.join(d, "pt_%s.safetensors" % kind), models.gg_state(module), {"format": "pt"})
        st_read.write(os.path.join(d, "pt_%s_f64.safetensors" % kind), models.gg_state(module), None, dtype="F64")
        x = np.random.default_rng(200 + i).standard_normal((8,) + sample).astype("<f4")
        x.tofile(os.path.join(d, "pt_%s_x.bin" % kind))
        forward(module, x, sample).astype("<f4").tofile(os.path.join(d, "pt_%s_out.bin" % kind))
    torch.manual_seed(3)
    good = models.gg_state(models.build("mlp")[0])
    st_read.write(os.path.join(d, "bad_shape.safetensors"), dict(good, **{"fc1.weight": good["fc1.weight"].T.copy()}))
    st_read.write(os.path.join(d, "bad_missing.safetensors"), {k: v for k, v in good.items() if k != "fc2.bias"})
    extra = dict(good, **{"fc3.weight": np.zeros((10, 64), np.float32)})
    st_read.write(os.path.join(d, "bad_extra.safetensors"), extra)
    st_read.write(os.path.join(d, "with_counter.safetensors"),
                  dict(good, **{"fc1.num_batches_tracked": np.array(17, dtype=np.int64)}))


def verify(specs):
    failed = 0
    with open(specs) as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            try:
                if w[0] == "check":
                    msg = check(*w[1:])
                elif w[0] == "refuse":
                    msg = refuse(*w[1:])
                elif w[0] == "compare":
                    msg = compare(*w[1:])
                else:
                    msg = "FAIL: unknown check " + w[0]
            except Exception as e:  # one bad line is a failure, not the end of the list
                msg = "FAIL: %s: %s: %s" % (" ".join(w), type(e).__name__, " ".join(str(e).split()))
            failed += msg.startswith("FAIL")
            print(msg)
    return 1 if failed else 0


def main(a):
    torch.set_num_threads(1)
    if len(a) == 2 and a[0] == "prepare":
        prepare(a[1])
        return 0
    if len(a) == 2 and a[0] == "verify":
        return verify(a[1])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
