#!/usr/bin/python3
"""pkg_check.py - the Python side of tests/python_pkg.sh: the gradguard
package against a real run of the command (RUN, fashion-mlp), its
predictions (PREDS, `gradguard predict` on the first test images) and
PyTorch.

    pkg_check.py check RUN PREDS IMAGES N DIR
        prints one line per check, "ok ..." or "FAIL: ...", and writes
        DIR/pt_init.safetensors (a PyTorch-initialised fashion-mlp saved by
        gradguard.save_weights) and DIR/pt_init_acc.txt (its accuracy on
        the first N test images, as PyTorch computes it) for the shell's
        train.init_from check.
"""
import gzip
import os
import shutil
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gradguard  # noqa: E402
import models  # noqa: E402
import st_read  # noqa: E402

failed = 0


def report(ok, what):
    global failed
    failed += not ok
    print(("ok " if ok else "FAIL: ") + what)


def raises(fn, status, text):
    try:
        fn()
    except gradguard.Error as e:
        return e.status == status and text in str(e), "%s: %s" % (e.status, e)
    except Exception as e:  # noqa: BLE001 - any other exception is the failure
        return False, "%s: %s" % (type(e).__name__, e)
    return False, "no error"


def test_images(path, n):
    # the IDX layout: 16 bytes of header, then n x 28 x 28 bytes
    with gzip.open(path, "rb") as f:
        raw = f.read(16 + n * 784)
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, 1, 28, 28).astype(np.float32) / 255


def test_labels(path, n):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(8 + n), dtype=np.uint8, offset=8).astype(np.int64)


def check_run(run_dir):
    run = gradguard.load_run(run_dir, pandas=False)
    m = run.metrics
    report(isinstance(m, gradguard.Table) and len(m) > 0 and "loss" in m.columns,
           "load_run: metrics.csv is a Table of %d rows (%s)" % (len(m), ",".join(m.columns)))
    steps = [r for r in m if r["kind"] == "step"]
    report(steps and all(isinstance(r["step"], int) and isinstance(r["loss"], float) for r in steps),
           "metrics: step is an int, loss a float in %d step rows" % len(steps))
    report(steps[0]["val_loss"] is None, "metrics: an empty cell is None")
    report(run.summary["status"] == "completed" and isinstance(run.summary["guard"], dict),
           "summary.json: status %s, guard counters %s" % (run.summary["status"], sorted(run.summary["guard"])[:3]))
    report(isinstance(run.events, list) and all("type" in e for e in run.events),
           "events.jsonl: %d events, each with a type" % len(run.events))
    c = run.config
    typed = (isinstance(c["optimizer"]["lr"], float) and isinstance(c["train"]["max_steps"], int) and
             c["guard"]["enabled"] is True and isinstance(c["model"], list) and c["model"][0]["type"] == "dense" and
             c["data"]["label"] == "64")
    report(typed, "config.yaml through gg_cfg_load: lr %r, max_steps %r, enabled %r, quoted %r" %
           (c["optimizer"]["lr"], c["train"]["max_steps"], c["guard"]["enabled"], c["data"]["label"]))
    report(run.layers is not None and len(run.layers.columns) > 3, "layers.csv: columns %s" % run.layers.columns)

    import pandas
    pr = gradguard.load_run(run_dir, pandas=True)
    same = (isinstance(pr.metrics, pandas.DataFrame) and isinstance(pr.events, pandas.DataFrame) and
            list(pr.metrics.columns) == m.columns and
            np.allclose(pr.metrics["loss"].to_numpy(), np.array(m["loss"], dtype=float), equal_nan=True) and
            pr.metrics["val_loss"].isna().sum() == sum(v is None for v in m["val_loss"]))
    report(same, "load_run(pandas=True): DataFrames with the Table's columns and values (None as NaN)")
    return run


def check_weights(run, preds, images, labels, n, d):
    sd = run.weights()
    report(all(isinstance(v, torch.Tensor) and v.dtype == torch.float32 for v in sd.values()),
           "load_weights: %d torch.float32 tensors" % len(sd))
    module, _, _ = models.build("fashion-mlp")
    module.load_state_dict(sd, strict=True)  # gradguard's names are the twin's
    module.eval()
    x = test_images(images, n)
    with torch.no_grad():
        p = torch.softmax(module(torch.from_numpy(x)), dim=1).numpy()
    # gradguard predict's CSV: index,label,class,p0..p9
    rows = np.loadtxt(preds, delimiter=",", skiprows=1)
    header = open(preds).readline().strip().split(",")
    report(header[:3] == ["index", "label", "class"] and header[3:] == ["p%d" % k for k in range(10)],
           "predict CSV header %s" % ",".join(header))
    gp = rows[:n, 3:]
    diff = float(np.max(np.abs(gp - p)))
    report(rows.shape[0] >= n and diff < 1e-5, "predict's probabilities of %d test images against PyTorch's on the "
           "weights load_weights gave: max |diff| %.2e" % (n, diff))
    agree = float(np.mean(rows[:n, 2] == p.argmax(1)))
    report(agree == 1.0, "predict's classes agree with PyTorch's arg-max on %.1f%% of them" % (100 * agree))
    report(np.array_equal(rows[:n, 1].astype(np.int64), labels), "predict's label column is the test labels")

    # numpy when asked; metadata through gg_safetensors_meta_at
    arrs, meta = gradguard.load_weights(run.model_path, numpy=True, metadata=True)
    report(all(isinstance(v, np.ndarray) for v in arrs.values()) and meta.get("gg_format") == "gradguard-1",
           "load_weights(numpy=True, metadata=True): arrays and the metadata %s" % sorted(meta))

    # PyTorch -> gradguard: a PyTorch-initialised twin saved for train.init_from
    torch.manual_seed(7)
    fresh, _, _ = models.build("fashion-mlp")
    fresh.eval()
    out = os.path.join(d, "pt_init.safetensors")
    gradguard.save_weights(fresh.state_dict(), out, {"source": "pkg_check"})
    back, meta = gradguard.load_weights(out, metadata=True)
    same = list(back) == list(fresh.state_dict()) and all(torch.equal(back[k], v) for k, v in fresh.state_dict().items())
    report(same and meta.get("source") == "pkg_check", "save_weights then load_weights: the state_dict, bit for bit")
    with torch.no_grad():
        acc = float((fresh(torch.from_numpy(x)).argmax(1).numpy() == labels).mean())
    with open(os.path.join(d, "pt_init_acc.txt"), "w") as f:
        f.write("%.4f\n" % acc)

    # integer tensors come back as integers; other tools' dtypes read
    st_read.write(os.path.join(d, "counter.safetensors"),
                  {"bn.num_batches_tracked": np.array(17, dtype=np.int64), "w": np.ones((2, 3))}, None, dtype="F64")
    c = gradguard.load_weights(os.path.join(d, "counter.safetensors"))
    report(c["bn.num_batches_tracked"].dtype == torch.int64 and int(c["bn.num_batches_tracked"]) == 17 and
           c["w"].dtype == torch.float32, "an I64 tensor comes back as int64 17, F64 data as float32")
    # a 0-dim tensor (PyTorch's num_batches_tracked is one) keeps its shape
    bn = torch.nn.BatchNorm1d(3)
    gradguard.save_weights(bn.state_dict(), os.path.join(d, "bn.safetensors"))
    back = gradguard.load_weights(os.path.join(d, "bn.safetensors"))
    bn.load_state_dict(back, strict=True)
    report(back["num_batches_tracked"].shape == () and back["running_var"].shape == (3,),
           "a BatchNorm state_dict round trip: num_batches_tracked keeps shape (), load_state_dict takes it")

    # the library's errors, with its messages
    bad = os.path.join(d, "flipped.safetensors")
    shutil.copy(run.model_path, bad)
    with open(bad, "r+b") as f:
        f.seek(-5, 2)
        b = f.read(1)
        f.seek(-5, 2)
        f.write(bytes([b[0] ^ 0x10]))
    ok, msg = raises(lambda: gradguard.load_weights(bad), "format", "data checksum does not match")
    report(ok, "a flipped bit is refused: " + msg)
    ok, msg = raises(lambda: gradguard.load_weights(os.path.join(d, "nope.safetensors")), "io", "nope.safetensors")
    report(ok, "a missing file: " + msg)
    ok, msg = raises(lambda: gradguard.save_weights({"x": np.zeros((1, 1, 1, 1, 2))}, os.path.join(d, "5d.safetensors")),
                     "argument", "'x' has 5 dims")
    report(ok and not os.path.exists(os.path.join(d, "5d.safetensors")), "a 5-dim tensor is refused: " + msg)
    ok, msg = raises(lambda: gradguard.save_weights({"": np.zeros(2)}, os.path.join(d, "noname.safetensors")),
                     "argument", "has no name")
    report(ok, "an empty name is refused: " + msg)
    ok, msg = raises(lambda: gradguard.load_config(os.path.join(d, "counter.safetensors")), "config", "")
    report(ok, "load_config on a binary file fails with the reader's message: " + msg[:120])


def main(a):
    if len(a) != 6 or a[0] != "check":
        print(__doc__)
        return 2
    torch.set_num_threads(1)
    run_dir, preds, images, n, d = a[1], a[2], a[3], int(a[4]), a[5]
    report(gradguard.library_path == os.environ.get("GRADGUARD_LIB"),
           "the library is GRADGUARD_LIB's: %s" % gradguard.library_path)
    run = check_run(run_dir)
    labels = test_labels(images.replace("images-idx3", "labels-idx1"), n)
    check_weights(run, preds, images, labels, n, d)
    try:
        gradguard.torch.Guard
        report(False, "gradguard.torch.Guard exists before the guard core does")
    except AttributeError as e:
        report("decision core" in str(e), "gradguard.torch says why Guard is not there yet")
    return 1 if failed else 0


if __name__ == "__main__":
    import gradguard.torch  # noqa: F401,E402

    sys.exit(main(sys.argv[1:]))
