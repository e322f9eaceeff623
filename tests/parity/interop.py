#!/usr/bin/python3
"""interop.py - the PyTorch side of tests/interop.sh: weights move between
gradguard and PyTorch through safetensors files, read and written here by
the gradguard Python package (gradguard.load_weights / save_weights, that
is libgradguard through ctypes), never through the safetensors package.
Files of types gradguard does not write (F64 data, an I64 counter) are made
by the plain writer st_read.py, as another tool would make them, and one
check reads a model file with st_read's plain reader too, so gradguard's
files stay readable without gradguard. Two calls, so that torch is imported
twice, not once per check:

    interop.py prepare DIR
        DIR/x_KIND.bin: 16 random samples for each model's input (raw
        float32); for mlp, cnn, lstm and attn a PyTorch-initialised model,
        saved by gradguard.save_weights:
        DIR/pt_KIND.safetensors (gradguard's names), pt_KIND_torch.safetensors
        (the state_dict's own names), and by st_read: pt_KIND_f64.safetensors (F64 data),
        pt_KIND_x.bin (8 samples) and pt_KIND_out.bin (PyTorch's outputs);
        and mlp files with a wrong shape, a missing tensor, an extra tensor
        and BatchNorm's int64 num_batches_tracked counter (bad_*.safetensors,
        with_counter.safetensors).
    interop.py verify SPECS
        one check per line of the file SPECS, one result line each:
        check KIND WEIGHTS X GGOUT [DROP...]
            reads a gradguard file (model or checkpoint) with
            gradguard.load_weights (which checks gg_crc32 against the data),
            loads it into the PyTorch twin with load_state_dict(strict=True)
            (after deleting the DROP tensors), and compares PyTorch's outputs
            on X with gradguard's GGOUT: "ok KIND (FILE, metadata KEYS) ..."
        refuse KIND WEIGHTS
            the strict load must fail: "ok refused FILE: <torch's message>"
        compare A B
            two raw float32 output files: "ok A vs B ..."
        plain WEIGHTS
            st_read's plain reader gives the same tensors as the package,
            and the file's gg_crc32 is the CRC-32 of its data: "ok plain FILE ..."
        Outputs agree when max |diff| <= TOL max(1, max |out|).
"""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gradguard  # noqa: E402  (PYTHONPATH: the source tree's python/)
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
    tensors, meta = gradguard.load_weights(weights, numpy=True, metadata=True)
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


def plain(weights):
    mine = gradguard.load_weights(weights, numpy=True)
    theirs, meta, info = st_read.read(weights)
    if list(mine) != list(theirs):
        return "FAIL: %s: the package reads %s, the plain reader %s" % (weights, list(mine), list(theirs))
    for k in mine:
        if mine[k].shape != theirs[k].shape or not np.array_equal(mine[k], theirs[k]):
            return "FAIL: %s: tensor %s differs between the package and the plain reader" % (weights, k)
    if meta.get("gg_crc32") != st_read.data_crc32(info):
        return "FAIL: %s: gg_crc32 %s, the data's CRC-32 is %s" % (weights, meta.get("gg_crc32"),
                                                                  st_read.data_crc32(info))
    return "ok plain %s: %d tensors alike, gg_crc32 matches" % (os.path.basename(weights), len(mine))


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
        gradguard.save_weights(module.state_dict(), os.path.join(d, "pt_%s_torch.safetensors" % kind), {"format": "pt"})
        gradguard.save_weights(models.gg_state(module), os.path.join(d, "pt_%s.safetensors" % kind), {"format": "pt"})
        st_read.write(os.path.join(d, "pt_%s_f64.safetensors" % kind), models.gg_state(module), None, dtype="F64")
        x = np.random.default_rng(200 + i).standard_normal((8,) + sample).astype("<f4")
        x.tofile(os.path.join(d, "pt_%s_x.bin" % kind))
        forward(module, x, sample).astype("<f4").tofile(os.path.join(d, "pt_%s_out.bin" % kind))
    torch.manual_seed(3)
    good = models.gg_state(models.build("mlp")[0])
    gradguard.save_weights(dict(good, **{"fc1.weight": good["fc1.weight"].T.copy()}),
                           os.path.join(d, "bad_shape.safetensors"))
    gradguard.save_weights({k: v for k, v in good.items() if k != "fc2.bias"}, os.path.join(d, "bad_missing.safetensors"))
    extra = dict(good, **{"fc3.weight": np.zeros((10, 64), np.float32)})
    gradguard.save_weights(extra, os.path.join(d, "bad_extra.safetensors"))
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
                elif w[0] == "plain":
                    msg = plain(*w[1:])
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
