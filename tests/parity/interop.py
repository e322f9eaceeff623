#!/usr/bin/python3
"""interop.py - the PyTorch side of tests/interop.sh: weights move between
gradguard and PyTorch through safetensors files, read and written here by
hand (st_read.py), never through the safetensors package.

    interop.py input KIND N SEED X          N random samples for KIND's input (raw float32)
    interop.py check KIND WEIGHTS X GGOUT [--drop NAME]...
        reads a gradguard file (model or checkpoint) with the plain reader,
        checks its gg_crc32 when present, loads it into the PyTorch twin
        with load_state_dict(strict=True) (a checkpoint's NAMEd extra
        tensors dropped first), and compares the outputs on X with
        gradguard's GGOUT (max |diff| <= TOL max(1, max |out|))
    interop.py export KIND SEED DIR         a PyTorch-initialised model of KIND:
        DIR/pt_KIND.safetensors (gradguard's names), DIR/pt_KIND_torch.safetensors
        (the state_dict's own names), DIR/pt_KIND_f64.safetensors (F64 data),
        DIR/pt_KIND_x.bin (8 samples) and DIR/pt_KIND_out.bin (PyTorch's outputs)
    interop.py broken DIR                   mlp files with a wrong shape, a missing
        tensor, an extra tensor, and BatchNorm's num_batches_tracked counter
    interop.py compare A B                  two raw float32 output files agree to TOL
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


def outputs_agree(a, b, what):
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.size != b.size:
        print("FAIL: %s: %d outputs against %d" % (what, a.size, b.size))
        return False
    if not np.all(np.isfinite(a)) or not np.all(np.isfinite(b)):
        print("FAIL: %s: non-finite outputs" % what)
        return False
    scale = max(1.0, float(np.max(np.abs(b))))
    d = float(np.max(np.abs(a - b)))
    ok = d <= TOL * scale
    print("%s %s: %d outputs, max |diff| %.2e (scale %.3g, tolerance %.1e)" % ("ok" if ok else "FAIL:", what, a.size, d,
                                                                            scale, TOL * scale))
    return ok


def forward(module, x, sample):
    with torch.no_grad():
        return module(torch.from_numpy(x.reshape((-1,) + sample))).numpy()


def cmd_input(kind, n, seed, path):
    _, sample, _ = models.build(kind)
    rng = np.random.default_rng(seed)
    rng.standard_normal((n,) + sample).astype("<f4").tofile(path)
    return 0


def cmd_check(kind, weights, xpath, ggout, drop):
    tensors, meta, info = st_read.read(weights)
    if "gg_crc32" in meta and meta["gg_crc32"] != st_read.data_crc32(info):
        print("FAIL: %s: gg_crc32 %s, the data's CRC-32 is %s" % (weights, meta["gg_crc32"], st_read.data_crc32(info)))
        return 1
    for name in drop:
        if name not in tensors:
            print("FAIL: %s has no tensor %s to drop" % (weights, name))
            return 1
        del tensors[name]
    module, sample, _ = models.build(kind)
    models.load_gg_tensors(module, tensors)  # strict: raises on any missing or unexpected key
    module.eval()
    x = np.fromfile(xpath, dtype="<f4")
    out = forward(module, x, sample)
    gg = np.fromfile(ggout, dtype="<f4")
    what = "%s (%s, metadata %s)" % (kind, os.path.basename(weights), ",".join(sorted(meta)) or "none")
    return 0 if outputs_agree(gg, out, what) else 1


def cmd_export(kind, seed, d):
    torch.manual_seed(seed)
    module, sample, _ = models.build(kind)
    with torch.no_grad():  # LayerNorm starts at 1 and 0: move it so the file's values matter
        for name, p in module.named_parameters():
            if ".ln." in name:
                p.add_(0.1 * torch.randn(p.shape))
    module.eval()
    sd = {k: v.numpy() for k, v in module.state_dict().items()}
    st_read.write(os.path.join(d, "pt_%s_torch.safetensors" % kind), sd, {"format": "pt"})
    st_read.write(os.path.join(d, "pt_%s.safetensors" % kind), models.gg_state(module), {"format": "pt"})
    st_read.write(os.path.join(d, "pt_%s_f64.safetensors" % kind), models.gg_state(module), None, dtype="F64")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((8,) + sample).astype("<f4")
    x.tofile(os.path.join(d, "pt_%s_x.bin" % kind))
    forward(module, x, sample).astype("<f4").tofile(os.path.join(d, "pt_%s_out.bin" % kind))
    return 0


def cmd_broken(d):
    torch.manual_seed(3)
    good = models.gg_state(models.build("mlp")[0])
    shape = dict(good, **{"fc1.weight": good["fc1.weight"].T.copy()})
    missing = {k: v for k, v in good.items() if k != "fc2.bias"}
    extra = dict(good, **{"fc3.weight": np.zeros((10, 64), np.float32)})
    counter = dict(good)
    st_read.write(os.path.join(d, "bad_shape.safetensors"), shape)
    st_read.write(os.path.join(d, "bad_missing.safetensors"), missing)
    st_read.write(os.path.join(d, "bad_extra.safetensors"), extra)
    counter["fc1.num_batches_tracked"] = np.array(17, dtype=np.int64)
    st_read.write(os.path.join(d, "with_counter.safetensors"), counter)
    return 0


def main(a):
    torch.set_num_threads(1)
    if len(a) == 5 and a[0] == "input":
        return cmd_input(a[1], int(a[2]), int(a[3]), a[4])
    if len(a) >= 5 and a[0] == "check":
        drop = [a[i + 1] for i in range(5, len(a) - 1) if a[i] == "--drop"]
        return cmd_check(a[1], a[2], a[3], a[4], drop)
    if len(a) == 4 and a[0] == "export":
        return cmd_export(a[1], int(a[2]), a[3])
    if len(a) == 2 and a[0] == "broken":
        return cmd_broken(a[1])
    if len(a) == 3 and a[0] == "compare":
        ok = outputs_agree(np.fromfile(a[1], dtype="<f4"), np.fromfile(a[2], dtype="<f4"),
                           "%s vs %s" % (os.path.basename(a[1]), os.path.basename(a[2])))
        return 0 if ok else 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
