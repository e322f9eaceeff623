#!/usr/bin/env python3
"""bad_inputs.py - what a user sees for each class of bad input.

Makes one bad file per (file kind, class of damage), runs the gradguard
command on it and checks the exit status and the words of the message it
prints; with --table, prints the Markdown table of docs/robustness.md's "Bad
inputs" section instead (status and message exactly as printed, so the
table cannot drift from the code):

    python3 tests/bad_inputs.py build/gradguard            # the check (tests/bad_inputs.sh)
    python3 tests/bad_inputs.py build/gradguard --table    # the table of docs/robustness.md

Every case must end with its expected exit status, its message on one line
with the expected words, and no sanitizer report. Temporary paths in the
messages are shortened to T/. Needs the Fashion-MNIST package for the
checkpoint cases.
"""
import gzip
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

args = [a for a in sys.argv[1:] if not a.startswith("--")]
TABLE = "--table" in sys.argv
G = os.path.abspath(args[0] if args else "build/gradguard")
SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MLP = os.path.join(SRC, "configs", "fashion-mlp.yaml")
T = tempfile.mkdtemp(prefix="ggbad.")
# a tiny character model of its own (the shipped char configs change with tuning)
CHAR = os.path.join(T, "char.yaml")
with open(CHAR, "w") as f:
    f.write("data: {format: text, train: none, length: 16, stride: 16, val_fraction: 0.1, test: none}\n"
            "model:\n  - {type: embedding, dim: 8}\n  - {type: lstm, hidden: 8}\n  - {type: dense}\n"
            "loss: {name: softmax_xent}\noptimizer: {name: adam, lr: 3.0e-3}\n"
            "train: {epochs: 1, batch: 8, seed: 1, threads: 1}\n")
rows = []
failures = []


def run(argv):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    p = subprocess.run([G] + argv, capture_output=True, text=True, env=env, errors="replace")
    err = p.stderr.strip()
    out = (err or p.stdout.strip()).splitlines()
    msg = out[-1] if out else ""
    return p.returncode, msg.replace(T + "/", "T/").replace(T, "T"), err


def put(name, data):
    path = os.path.join(T, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    return path


def case(fmt, what, argv, want, rc=1):
    """Runs the command; want is the words the message must hold (a string
    or a tuple of strings), rc the exit status it must end with."""
    got, msg, err = run(argv)
    rows.append((fmt, what, got, msg))
    words = (want,) if isinstance(want, str) else want
    why = []
    if got != rc:
        why.append("exit status %d, want %d" % (got, rc))
    for w in words:
        if w not in msg:
            why.append("no '%s' in the message" % w)
    for s in ("Sanitizer", "runtime error:", "LeakSanitizer"):
        if s in err:
            why.append("a sanitizer report")
            break
    if why:
        failures.append("%s / %s: %s\n    message: %s\n    stderr: %s" % (fmt, what, "; ".join(why), msg,
                                                                          err[-2000:]))


def flip(data, at, bit=0x04):
    b = bytearray(data)
    b[at] ^= bit
    return bytes(b)


# ---- IDX -------------------------------------------------------------------
def idx_images(n, r, c, magic=0x803):
    return struct.pack(">IIII", magic, n, r, c) + bytes((i * 7) & 255 for i in range(n * r * c))


def idx_labels(n, magic=0x801):
    return struct.pack(">II", magic, n) + bytes(i % 10 for i in range(n))


def idx_case(what, images, labels, want, gz=False, rc=1, extra=()):
    fmt = "IDX.gz" if gz else "IDX"
    d = os.path.join(T, "idx-" + str(len(rows)))
    os.makedirs(d)
    ext = ".gz" if gz else ""
    for name, data in (("train-images-idx3-ubyte", images), ("train-labels-idx1-ubyte", labels)):
        if data is None:
            continue
        with open(os.path.join(d, name + ext), "wb") as f:
            f.write(gzip.compress(data, mtime=0) if gz and data[:2] != b"\x1f\x8b" else data)
    case(fmt, what, ["train", MLP, "-o", T + "/run-%d" % len(rows), "--set", "data.train=" + d, "--set",
                     "data.test=none", "--quiet"] + list(extra), want, rc)


good_i, good_l = idx_images(20, 28, 28), idx_labels(20)
idx_case("truncated images", good_i[:5000], good_l, ("truncated", "need 15680 bytes", "only 4984 bytes left"))
idx_case("trailing bytes", good_i + b"\0" * 10, good_l, "10 bytes of unexpected data")
idx_case("wrong magic (labels file as images)", good_l, good_l, ("wrong magic 0x00000801", "it is an IDX label file"))
idx_case("wrong element type (float32 IDX)", idx_images(20, 28, 28, magic=0x0D03), good_l,
         ("wrong magic 0x00000d03", "float32"))
idx_case("huge dimensions (n = 2^32 - 1)", struct.pack(">IIII", 0x803, 0xFFFFFFFF, 28, 28) + good_i[16:], good_l,
         ("truncated", "4294967295 images", "only 15680 bytes left"))
idx_case("huge image (65535 x 65535)", struct.pack(">IIII", 0x803, 1, 65535, 65535) + good_i[16:], good_l,
         "over the limit of 2147483647 features per sample")
idx_case("a dimension of 0", struct.pack(">IIII", 0x803, 20, 0, 28), good_l, "dim 1 is 0")
idx_case("image/label count mismatch", good_i, idx_labels(19), ("count mismatch", "20 images", "19 labels"))
idx_case("empty file", b"", good_l, ("truncated: 0 bytes", "4-byte magic"))
idx_case("bit flip in the header (image count)", flip(good_i, 6, 0x01), good_l, ("truncated", "276 images"))
idx_case("bit flip in the magic", flip(good_i, 2, 0x02), good_l, ("wrong magic 0x00000a03", "byte offset 0"))
# IDX holds no checksum: a flipped pixel is a different, valid image
idx_case("bit flip in a pixel (no checksum in IDX: accepted)", flip(good_i, 500, 0x80), good_l, "completed", rc=0,
         extra=["--set", "train.epochs=1"])
# the labels file and the label's index in it, not the sample number after the validation split
idx_case("label out of the model's classes", good_i, good_l[:-1] + b"\x0c",
         ("train-labels-idx1-ubyte: label 19: class id 12 is out of range", "[0, 10)"))
case("IDX", "missing directory", ["train", MLP, "-o", T + "/run", "--set", "data.train=" + T + "/nowhere", "--quiet"],
     "T/nowhere does not exist")
os.makedirs(T + "/emptydir")
case("IDX", "directory without IDX files", ["train", MLP, "-o", T + "/run", "--set", "data.train=" + T + "/emptydir",
                                           "--quiet"], "no train-images-idx3-ubyte[.gz] in directory")

gzb = bytearray(gzip.compress(good_i, mtime=0))
gzb[len(gzb) // 2] ^= 0x10
idx_case("bit flip in the compressed data", bytes(gzb), good_l, ("corrupt gzip data", "incorrect data check"), gz=True)
idx_case("truncated stream", gzip.compress(good_i, mtime=0)[:200], good_l, "truncated gzip data", gz=True)
idx_case("header claims more than the stream can hold", gzip.compress(struct.pack(">IIII", 0x803, 60000, 280, 280)),
         good_l, ("60000 images of 280 x 280", "cannot hold more than"), gz=True)
idx_case("trailing bytes after the images", good_i + b"\0" * 10, good_l,
         ("unexpected data after", "byte offset 15696 of the decompressed data"), gz=True)
idx_case("wrong magic", good_l, good_l, "wrong magic 0x00000801", gz=True)
idx_case("wrong element type (float32 IDX)", idx_images(20, 28, 28, magic=0x0D03), good_l, "float32", gz=True)
gzh = bytearray(gzip.compress(good_i, mtime=0))
gzh[0] ^= 0x01  # no longer a gzip magic: read as a plain IDX file whose magic is wrong
idx_case("bit flip in the gzip magic", bytes(gzh), good_l, "wrong magic", gz=True)
idx_case("gzip of an empty file", gzip.compress(b"", mtime=0), good_l, ("truncated: 0 bytes", "4-byte magic"), gz=True)
# zlib's gzread stops at the end of the last gzip member and ignores what follows
idx_case("data after the gzip stream (accepted: zlib ignores it)", gzip.compress(good_i, mtime=0) + b"junkjunk", good_l,
         "completed", gz=True, rc=0, extra=["--set", "train.epochs=1"])
idx_case("labels file truncated", good_i, good_l[:15], ("train-labels-idx1-ubyte: truncated", "need 20 bytes"))
idx_case("labels file is an images file", good_i, good_i, ("train-labels-idx1-ubyte: wrong magic 0x00000803",
                                                           "it is an IDX image file"))
idx_case("labels file missing", good_i, None, ("cannot open", "train-labels-idx1-ubyte: No such file or directory"))
fifo_dir = os.path.join(T, "idx-fifo")
os.makedirs(fifo_dir)
os.mkfifo(os.path.join(fifo_dir, "train-images-idx3-ubyte"))
with open(os.path.join(fifo_dir, "train-labels-idx1-ubyte"), "wb") as f:
    f.write(good_l)
case("IDX", "a FIFO instead of a file (would block a reader)", ["train", MLP, "-o", T + "/run", "--set",
     "data.train=" + fifo_dir, "--set", "data.test=none", "--quiet"], "train-images-idx3-ubyte is not a regular file")

# ---- CSV -------------------------------------------------------------------
CSV_ARGS = ["--set", "data.format=csv", "--set", "data.label=label", "--set", "data.test=none", "--set",
            "model.2.units=3", "--quiet"]


def csv_case(what, text, want, extra=(), rc=1):
    p = put("csv-%d.csv" % len(rows), text)
    case("CSV", what, ["train", MLP, "-o", T + "/run-%d" % len(rows), "--set", "data.train=" + p] + CSV_ARGS +
         list(extra), want, rc)


csv_case("wrong type: non-numeric cell", "a,b,label\n1,2,0\n3,x,1\n", ("line 3, column 2 ('b')", "'x' is not a number"))
csv_case("empty cell", "a,b,label\n1,,0\n", ("line 2, column 2", "empty cell"))
csv_case("NaN", "a,b,label\n1,2,0\n3,nan,1\n", ("line 3, column 2", "not finite"))
csv_case("Inf", "a,b,label\n1,-inf,0\n", ("line 2, column 2", "not finite"))
csv_case("huge value: outside float32", "a,b,label\n1,1e39,0\n", "'1e39' is out of the float32 range")
csv_case("hex number", "a,b,label\n1,0x1A,0\n", "'0x1A' is not a number")
csv_case("truncated: ragged last row", "a,b,label\n1,2,0\n3,4\n", ("line 3", "ragged row: 2 fields, but line 1 has 3"))
csv_case("unterminated quote", "a,b,label\n1,\"2,0\n", ("line 2, column 2", "unterminated quote"))
csv_case("text after a closing quote", "a,b,label\n1,\"2\"x,0\n", "text after a closing quote")
csv_case("binary file (NUL byte)", "a,b,label\n1,2\x000\n", ("NUL byte at byte offset 13", "not a text file"))
csv_case("bit flip in a digit ('2' to 'r')", flip(b"a,b,label\n1,2,0\n", 12, 0x40),
         ("line 2, column 2", "'r' is not a number"))
csv_case("empty file", "", "no data (the file is empty)")
csv_case("header only", "a,b,label\n", "no data rows after the header")
csv_case("unknown label column", "a,b,c\n1,2,0\n", "no column named 'label'")
csv_case("label column index out of range", "a,b,label\n1,2,0\n", "label column 7 is out of range",
         ["--set", "data.label=7"])
csv_case("label out of the model's classes", "a,b,label\n1,2,0\n3,4,5\n", ("csv-%d.csv: line 3: class id 5 is out of range" % len(rows)))
# 20 rows: a validation split moves the samples; the message keeps the file's line
csv_case("label out of range after the validation split", "a,b,label\n" + "".join(
    "%d,%d,%d\n" % (i, i, 7 if i == 17 else i % 3) for i in range(20)),
    "csv-%d.csv: line 19: class id 7 is out of range" % len(rows))
csv_case("fractional label with a classification loss", "a,b,label\n1,2,0.5\n3,4,1\n", "class id 0.5 is not an integer")
csv_case("negative label", "a,b,label\n1,2,-1\n3,4,1\n", "class id -1 is negative")
big = os.path.join(T, "huge.csv")
with open(big, "wb") as f:  # sparse: no disk used, refused by its size before any read
    f.truncate((16 << 30) + 1)
case("CSV", "huge file (16 GiB + 1, sparse)", ["train", MLP, "-o", T + "/run", "--set", "data.train=" + big] + CSV_ARGS,
     ("17179869185 bytes", "over the limit of 17179869184"))
os.unlink(big)
csv_case("label column named twice in the header", "a,label,label\n1,2,0\n", ("line 1", "names columns 2 and 3 'label'"))
csv_case("text label", "a,b,label\n1,2,cat\n", ("line 2, column 3 ('label')", "'cat' is not a number"))
csv_case("empty label", "a,b,label\n1,2,\n", ("line 2, column 3 ('label')", "empty cell"))
csv_case("fractional label, last layer sized by the labels", "a,b,label\n1,2,0\n3,4,0.5\n",
         ("model[2] (dense) has no 'units', so the class ids of the labels size it",
          "line 3: class id 0.5 is not an integer"), ["--set", "model.2={type: dense}"])
csv_case("label over 2^24, last layer sized by the labels", "a,b,label\n1,2,0\n3,4,16777216\n",
         "line 3: class id 16777216 is over the limit of 16777216 classes", ["--set", "model.2={type: dense}"])
csv_case("semicolon-separated", "a;b;label\n1;2;0\n", "no column named 'label' in the header (line 1: a;b;label)")
csv_case("UTF-8 byte-order mark (accepted)", "\ufeffa,b,label\n1,2,0\n3,4,1\n", "completed", rc=0)

# ---- NPY -------------------------------------------------------------------
def npy(descr, shape, data, major=1, extra="", fo="False", raw_dict=None):
    d = raw_dict or "{'descr': '%s', 'fortran_order': %s, 'shape': %s, %s}" % (descr, fo, shape, extra)
    pre = 10 if major == 1 else 12
    pad = (64 - (pre + len(d) + 1) % 64) % 64
    hdr = d + " " * pad + "\n"
    ln = struct.pack("<H", len(hdr)) if major == 1 else struct.pack("<I", len(hdr))
    return b"\x93NUMPY" + bytes([major, 0]) + ln + hdr.encode() + data


def f4(*v):
    return struct.pack("<%df" % len(v), *v)


def npy_case(what, feats, want, labels=None, rc=1):
    fp = put("npy-%d-x.npy" % len(rows), feats)
    lp = put("npy-%d-y.npy" % len(rows), labels if labels is not None else npy("<i8", "(4,)", struct.pack("<4q", 0, 1, 2, 0)))
    case("npy", what, ["train", MLP, "-o", T + "/run-%d" % len(rows), "--set", "data.format=npy", "--set",
                       "data.train=" + fp, "--set", "data.train_labels=" + lp, "--set", "data.test=none", "--set",
                       "model.2.units=3", "--quiet"], want, rc)


X = npy("<f4", "(4, 2)", f4(*range(8)))
npy_case("wrong magic", b"\x93NUMPX" + X[6:], ("byte offset 0", "not a .npy file"))
npy_case("format version 4.0", X[:6] + b"\x04" + X[7:], ".npy format version 4.0 is not supported")
npy_case("truncated data", X[:-3], ("truncated", "need 32 bytes", "only 29 bytes left"))
npy_case("trailing bytes", X + b"\0\0\0\0", "4 bytes of unexpected data")
npy_case("fortran_order True", npy("<f4", "(4, 2)", f4(*range(8)), fo="True"), "'fortran_order': True is not supported")
npy_case("big-endian dtype", npy(">f4", "(4, 2)", f4(*range(8))), "big-endian '>f4' is not supported")
npy_case("wrong type: float16", npy("<f2", "(4, 2)", b"\0" * 16), "'<f2' is not supported")
npy_case("wrong type: object dtype", npy("|O", "(4, 2)", b"\0" * 64), "'|O' is not supported")
npy_case("unknown header key", npy("<f4", "(4, 2)", f4(*range(8)), extra="'x': 1, "), "unknown key 'x'")
npy_case("missing header key", npy("", "", f4(*range(8)), raw_dict="{'descr': '<f4', 'shape': (4, 2), }"),
         "missing key 'fortran_order'")
npy_case("header not ending in a newline", X.replace(b" \n", b"  ", 1), "must end with spaces and a newline")
npy_case("bit flip in the header ('descr' to 'Descr')", flip(X, 12, 0x20), "unknown key 'Descr'")
npy_case("NaN value", npy("<f4", "(4, 2)", f4(1, 2, float("nan"), 4, 5, 6, 7, 8)),
         ("sample 1, value 0 (byte offset 136)", "nan is not finite"))
npy_case("Inf value (float64)", npy("<f8", "(4, 2)", struct.pack("<8d", 1, 2, 3, float("inf"), 5, 6, 7, 8)),
         ("sample 1, value 1", "inf is not finite"))
npy_case("huge value: outside float32 (float64 1e300)",
         npy("<f8", "(4, 2)", struct.pack("<8d", 1, 2, 3, 1e300, 5, 6, 7, 8)), "out of the float32 range")
npy_case("huge dimensions", npy("<f4", "(4, 4294967296, 4294967296)", f4(*range(8))),
         ("truncated", "(4, 4294967296, 4294967296)", "only 32 bytes left"))
npy_case("zero samples", npy("<f4", "(0, 2)", b""), "shape (0, 2) holds no samples")
npy_case("5-D features", npy("<f4", "(4, 1, 1, 1, 2)", f4(*range(8))), "1 to 3 dims per sample")
npy_case("sample/label count mismatch", X, ("count mismatch", "4 samples", "3 labels"),
         labels=npy("<i8", "(3,)", struct.pack("<3q", 0, 1, 2)))
npy_case("NaN label", X, "nan is not finite", labels=npy("<f4", "(4,)", f4(0, 1, float("nan"), 0)))
npy_case("header length past the end of the file", X[:8] + struct.pack("<H", 0xFFFF) + X[10:],
         ("truncated", "need 65535 bytes"))
npy_case("header length over the limit (2 GiB)", b"\x93NUMPY\x02\x00" + struct.pack("<I", 0x7FFFFFFF) + X[10:],
         "a .npy header of 2147483647 bytes is over the limit of 1048576")
npy_case("wrong type: complex64", npy("<c8", "(4, 2)", b"\0" * 64), "'<c8' is not supported")
npy_case("wrong type: bool", npy("|b1", "(4, 2)", b"\0" * 8), "'|b1' is not supported")
npy_case("structured dtype", npy("", "", b"\0" * 32, raw_dict="{'descr': [('a', '<f4'), ('b', '<f4')], "
         "'fortran_order': False, 'shape': (4,), }"), "expected a quoted string")
npy_case("negative dimension", npy("<f4", "(-4, 2)", f4(*range(8))), "expected a dimension in 'shape'")
npy_case("shape not a tuple", npy("<f4", "[4, 2]", f4(*range(8))), "'shape' must be a tuple")
npy_case("header not a dict", npy("", "", f4(*range(8)), raw_dict="[1, 2, 3]"), "expected '{'")
npy_case("labels of 3 dims", X, "labels of shape (4, 1, 1): need (n) or (n, k)",
         labels=npy("<i8", "(4, 1, 1)", struct.pack("<4q", 0, 1, 2, 0)))
npy_case("labels fortran_order True", X, "'fortran_order': True is not supported",
         labels=npy("<i8", "(4,)", struct.pack("<4q", 0, 1, 2, 0), fo="True"))
npy_case("labels big-endian", X, "big-endian '>i8' is not supported",
         labels=npy(">i8", "(4,)", struct.pack(">4q", 0, 1, 2, 0)))
npy_case("fractional label", X, ("-y.npy: label 1: class id 1.5 is not an integer",),
         labels=npy("<f4", "(4,)", f4(0, 1.5, 2, 0)))
npy_case("negative label", X, "-y.npy: label 1: class id -1 is negative",
         labels=npy("<i8", "(4,)", struct.pack("<4q", 0, -1, 2, 0)))

# ---- YAML config -----------------------------------------------------------
def cfg_case(what, text, want, extra=(), rc=1):
    p = put("cfg-%d.yaml" % len(rows), text)
    case("YAML config", what, ["train", p, "-o", T + "/run-%d" % len(rows), "--quiet"] + list(extra), want, rc)


BASE = "model:\n  - {type: dense, units: 10}\n"
cfg_case("syntax error", "model: [\n", (":2:1: YAML syntax error", "did not find expected node content"))
cfg_case("truncated (cut inside a flow map)", BASE + "train: {epochs: 3, ba", (":4:1: YAML syntax error",))
cfg_case("unknown key (typo)", BASE + "train:\n  epoks: 3\n", (":4: unknown key 'train.epoks'",))
cfg_case("bit flip in a key ('epochs' to 'apochs')", flip((BASE + "train:\n  epochs: 3\n").encode(), len(BASE) + 9),
         ":4: unknown key 'train.apochs'")
cfg_case("wrong type", BASE + "train:\n  epochs: many\n", ("key 'train.epochs'", "expected an integer", "got 'many'"))
cfg_case("quoted number", BASE + "train:\n  epochs: \"5\"\n", "got the quoted string '5'")
cfg_case("out of range", BASE + "optimizer:\n  lr: -1\n", ("key 'optimizer.lr'", "expected a number in [0, 1000]"))
cfg_case("NaN value (.nan)", BASE + "optimizer:\n  lr: .nan\n", "got '.nan'")
cfg_case("Inf value (.inf)", BASE + "optimizer:\n  lr: .inf\n", "got '.inf'")
cfg_case("hex number", BASE + "optimizer:\n  lr: 0x10\n", "got '0x10'")
cfg_case("unknown choice", BASE + "optimizer:\n  name: adamax\n", "optimizer.name 'adamax' is not one of sgd")
cfg_case("duplicate key", BASE + "train:\n  epochs: 3\n  epochs: 4\n", ":5: duplicate key 'train.epochs' (first given on line 4)")
cfg_case("a second document", BASE + "---\ntrain: {epochs: 1}\n", "a second YAML document")
cfg_case("tab indentation", "train:\n\tepochs: 3\n", (":2:1: YAML syntax error", "cannot start any token"))
cfg_case("not UTF-8", (BASE + "train:\n  name: ").encode() + b"\xff\xfe\n", ("byte 51", "must be UTF-8 text"))
cfg_case("nested too deep", "a: " + "[" * 100 + "]" * 100 + "\n", "nested more than 64 levels deep")
laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    "%s: &%s [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n" % ((chr(98 + i), chr(98 + i)) + (chr(97 + i),) * 10)
    for i in range(8))
cfg_case("alias bomb (billion laughs)", laughs, "aliases expanding without bound")
cfg_case("huge dimensions: 10^8 units", BASE.replace("10}", "100000000}"),
         "key 'model.0.units': expected an integer in [1, 16777216], got '100000000'")
# within every per-key range, but far more than this machine's memory to train
cfg_case("huge model: 4 million units after 784 inputs", open(MLP).read(),
         ("model:", "MiB", "more than the", "of memory this process may use"), ["--set", "model.0.units=4000000"])
cfg_case("model not a list", "model: {type: dense}\n", "'model' must be a list of layers")
cfg_case("a convolution algorithm that cannot apply",
         "model:\n  - {type: conv2d, filters: 4, kernel: 3, stride: 2, algo: winograd}\n  - {type: dense, units: 10}\n",
         ("model[0] (conv2d) algo", "Winograd needs stride 1", "with stride 2"))
cfg_case("empty file", "", "missing section: 'model'")
cfg_case("--set: not a key path", BASE, "an empty component in the key path", ["--set", "train..epochs=3"])
cfg_case("--set: index out of range", BASE, "index 5 is out of range: 'model'", ["--set", "model.5.units=3"])
cfg_case("--set: value not valid YAML", BASE, "the value is not valid YAML", ["--set", "train.epochs=[1"])
cfg_case("--set: unknown key", BASE, "--set: unknown key 'train.epoks'", ["--set", "train.epoks=3"])
cfg_case("NUL byte", b"train:\n  epochs: 3\x00\n", ("byte 18", "control characters are not allowed"))
cfg_case("a !!str tag on a number", BASE + "train:\n  epochs: !!str 2\n",
         (":4: key 'train.epochs'", "expected an integer", "got the !!str string '2'"))
cfg_case("an unknown tag (!!python/object)", BASE + "train:\n  epochs: !!python/object:os.system 2\n",
         (":4: key 'train.epochs'", "unknown YAML tag !!python/object:os.system"))
cfg_case("a tag that does not fit its value (!!int abc)", BASE + "train:\n  epochs: !!int abc\n",
         "the tag !!int does not fit the value 'abc'")
SMALLRUN = "data: {limit_train: 200, test: none}\ntrain: {epochs: 1, threads: 1}\n"
cfg_case("merge key (accepted: the layer's own keys win)",
         "model:\n  - &l {type: dense, units: 32, act: tanh}\n  - {<<: *l, units: 10, act: none}\n" + SMALLRUN,
         "completed", rc=0)
cfg_case("merge key given a value", BASE + "train: {<<: 3}\n", "the merge key '<<' takes a map or a list of maps")
cfg_case("number below the smallest double (1e-400)", BASE + "optimizer:\n  lr: 1e-400\n",
         ("key 'optimizer.lr'", "'1e-400' is closer to 0 than a 64-bit number can hold"))
cfg_case("number over the largest double (1e400)", BASE + "guard:\n  max_norm: 1e400\n",
         "'1e400' is larger than a 64-bit number can hold")
cfg_case("number below float32's normal range (1e-40)", BASE + "optimizer:\n  weight_decay: 1e-40\n",
         "'1e-40' is closer to 0 than a 32-bit float holds in full precision")
cfg_case("NaN as a word (nan)", BASE + "optimizer:\n  lr: nan\n", "got 'nan'")
cfg_case("negative size", BASE.replace("10}", "-5}"), "key 'model.0.units': expected an integer in [1, 16777216], got '-5'")
cfg_case("huge integer (23 digits)", BASE + "train:\n  seed: 99999999999999999999999\n", "got '99999999999999999999999'")
cfg_case("wrong type: a list for a map", BASE + "train: [1, 2]\n", ":3: 'train' must be a map of keys")
cfg_case("duplicate key in a flow map", "model:\n  - {type: dense, units: 10, units: 5}\n",
         ":2: duplicate key 'model.0.units'")
cfg_case("not a map (a list)", "- a\n- b\n", (":1: the config must be a map", "(it is a list)"))
cfg_case("empty model list", "model: []\n", ":1: 'model' must be a list of layers", )
cfg_case("empty path", BASE + "data:\n  train: ''\n", ("key 'data.train'", "an empty path"))
cfg_case("undefined alias", BASE + "optimizer: {lr: *nope}\n", "found undefined alias")
cfg_case("binary junk", bytes(range(256)) * 4, ("byte 0", "control characters are not allowed"))
cfg_case("UTF-8 byte-order mark (accepted)", b"\xef\xbb\xbf" + ("model:\n  - {type: dense, units: 10}\n" +
                                                                 SMALLRUN).encode(), "completed", rc=0)
cfg_case("UTF-16 with a byte-order mark (accepted)", b"\xff\xfe" + ("model:\n  - {type: dense, units: 10}\n" +
                                                                     SMALLRUN).encode("utf-16-le"), "completed", rc=0)
cfg_case("UTF-32", BASE.encode("utf-32"), "control characters are not allowed")
cfg_case("--set: a tag", BASE, "unknown YAML tag !!python/object:os.system",
         ["--set", "train.epochs=!!python/object:os.system 1"])
cfg_case("--set: 1e-400", BASE, "--set: key 'optimizer.lr': '1e-400' is closer to 0", ["--set", "optimizer.lr=1e-400"])
cfg_case("--set: an index that is not a number", BASE, "'-1' is not an index", ["--set", "model.-1.units=3"])
os.mkfifo(os.path.join(T, "fifo.yaml"))
case("YAML config", "a FIFO instead of a file (would block a reader)", ["train", T + "/fifo.yaml", "-o", T + "/run"],
     "config 'T/fifo.yaml' is not a regular file")

# ---- the command line ------------------------------------------------------
def cli_case(what, argv, want, rc=2):
    case("command line", what, argv, want, rc)


cli_case("no command", [], "missing COMMAND")
cli_case("unknown command", ["fly"], "unknown command 'fly'")
cli_case("missing argument", ["train"], "gradguard train: missing CONFIG (usage: gradguard train CONFIG")
cli_case("extra argument", ["train", MLP, "extra"], "unexpected argument 'extra': train takes one CONFIG")
cli_case("unknown option", ["train", MLP, "--nope"], "unknown option '--nope'")
cli_case("an option of another command", ["eval", T, "--prompt", "x"], "option '--prompt' is not one of eval's")
cli_case("an option given twice", ["train", MLP, "-o", "a", "-o", "b"], "-o given twice ('a', then 'b')")
cli_case("--set without =", ["train", MLP, "--set", "train.epochs"], "--set 'train.epochs' is not key=value")
cli_case("--set: an empty key component", ["train", MLP, "--set", "train..epochs=3"], "an empty component in the key path",
         rc=1)
cli_case("a number that is not decimal", ["sample", T, "--length", "0x10"], "--length '0x10': expected an integer")
cli_case("a temperature of 0", ["sample", T, "--temperature", "0"], "--temperature '0': expected a number in (0, 1000]")
cli_case("help of an unknown command", ["help", "nope"], "gradguard help: no command 'nope'")

# ---- text and vocabulary files ---------------------------------------------
TXT = ["--quiet"]
prose = open(os.path.join(SRC, "README.md"), "rb").read()[:3000].replace(b"\0", b" ")


def text_case(what, data, want, rc=1, extra=(), path=None):
    p = path or put("text-%d.txt" % len(rows), data)
    case("text", what, ["train", CHAR, "-o", T + "/run-%d" % len(rows), "--set", "data.train=" + p] + TXT + list(extra),
         want, rc)


text_case("empty file", b"", ("is empty (0 bytes)", "needs text"))
text_case("binary file or UTF-16 (NUL byte)", "hi".encode("utf-16-le") * 20, ("NUL byte at byte offset 1", "UTF-16"))
text_case("truncated: too short for one window", b"short", ("4 bytes", "too short for one window of T + 1 = 17 bytes"))
text_case("huge window length (data.length = 10^5)", prose, "too short for one window of T + 1 = 100001 bytes",
          extra=["--set", "data.length=100000"])
text_case("not UTF-8 (Latin-1: accepted, byte-level)", prose + b" caf\xe9 " + prose, "completed", rc=0)
gzt = bytearray(gzip.compress(prose, mtime=0))
gzt[len(gzt) // 2] ^= 0x10
text_case("gzip: bit flip", bytes(gzt), ("corrupt gzip data", "incorrect data check"))
text_case("gzip: truncated stream", gzip.compress(prose, mtime=0)[:300], "truncated gzip data")
bigt = os.path.join(T, "huge.txt")
with open(bigt, "wb") as f:
    f.truncate((1 << 30) + 1)
text_case("huge file (1 GiB + 1, sparse)", None, "is 1073741825 bytes, over the limit of 1073741824 bytes (1 GiB)",
          path=bigt)
os.unlink(bigt)
text_case("missing file", None, "cannot open T/nowhere.txt: No such file or directory", path=T + "/nowhere.txt")

# the vocabulary file a run leaves for `gradguard sample`
VRUN = T + "/char"
rc, msg, _ = run(["train", CHAR, "-o", VRUN, "--set", "data.train=" + put("prose.txt", prose)] + TXT)
if rc == 0:
    voc = open(VRUN + "/vocab.bin", "rb").read()
    nv = struct.unpack("<H", voc[8:10])[0]

    def crc(b):
        return b + struct.pack("<I", zlib.crc32(b))

    def vocab_case(what, data, want):
        d = T + "/voc-%d" % len(rows)
        shutil.copytree(VRUN, d)
        with open(d + "/vocab.bin", "wb") as f:
            f.write(data)
        case("vocab", what, ["sample", d, "--length", "5"], want)

    body = voc[:-4]
    vocab_case("truncated", voc[:len(voc) // 2], ("truncated", "a vocabulary of %d bytes is a file of %d" % (nv, len(voc))))
    vocab_case("empty file", b"", "not a gradguard vocabulary file")
    vocab_case("wrong magic", b"GGVOCAX" + voc[7:], ("not a gradguard vocabulary file", "magic at byte offset 0"))
    vocab_case("format version 2", voc[:7] + b"\x02" + voc[8:], "vocabulary format version 2 at byte offset 7")
    vocab_case("bit flip", flip(voc, 12, 0x01), ("checksum mismatch at byte offset %d" % (10 + nv),))
    vocab_case("huge count (300)", crc(body[:8] + struct.pack("<H", 300) + body[10:]),
               "byte count 300 at byte offset 8 is not in 1..256")
    vocab_case("trailing bytes", voc + b"\n", "trailing data")
    bo = bytearray(body)
    bo[10], bo[11] = bo[11], bo[10]
    vocab_case("bytes out of order (valid checksum)", crc(bytes(bo)), "in increasing order")
    bo = bytearray(body)
    bo[10] = 0
    vocab_case("wrong type: a NUL byte (valid checksum)", crc(bytes(bo)), "a text vocabulary never holds NUL")
    vocab_case("another model's vocabulary (one byte fewer)",
               crc(body[:8] + struct.pack("<H", nv - 1) + body[10:-1]),
               "the model has %d output classes, the vocabulary %d" % (nv, nv - 1))
else:
    failures.append("text: the run that makes a vocabulary failed: " + msg)

# ---- safetensors: checkpoints and model files ------------------------------
RUN = T + "/ck"
SMALL = ["--set", "data.limit_train=600", "--set", "data.limit_test=100", "--set", "train.threads=1", "--set",
         "train.epochs=2", "--quiet"]
rc, msg, _ = run(["train", MLP, "-o", RUN] + SMALL)
if rc == 0:
    ck = sorted(os.listdir(RUN + "/checkpoints"))[-1]
    good = open(os.path.join(RUN, "checkpoints", ck), "rb").read()
    model = open(RUN + "/model.safetensors", "rb").read()
    hlen = struct.unpack("<Q", good[:8])[0]

    def st_case(what, data, want, cmd="eval"):
        p = put("st-%d.safetensors" % len(rows), data)
        if cmd == "eval":
            case("safetensors", what, ["eval", RUN, "--checkpoint", p, "--set", "data.limit_test=100"], want)
        else:  # resume from a run whose only checkpoint is this file
            d = T + "/res-%d" % len(rows)
            shutil.copytree(RUN, d)
            for f in os.listdir(d + "/checkpoints"):
                os.unlink(os.path.join(d, "checkpoints", f))
            shutil.copy(p, d + "/checkpoints/ckpt-0000000001.safetensors")
            case("safetensors", what, ["resume", d, "--quiet"], want)

    def header(data, old, new):
        n = struct.unpack("<Q", data[:8])[0]
        h = data[8:8 + n].rstrip(b" ").replace(old, new, 1)
        h += b" " * ((8 - len(h) % 8) % 8)
        return struct.pack("<Q", len(h)) + h + data[8 + n:]

    st_case("truncated", good[:len(good) // 2], ("data_offsets", "a truncated file?"))
    st_case("empty file", b"", "the file has 0 bytes, too short for a safetensors header")
    st_case("bit flip in the data", flip(good, len(good) - 1000), "the data checksum does not match")
    st_case("bit flip in the header", flip(good, 8 + hlen // 2, 0x01), "the header checksum does not match")
    st_case("huge header length (2^40)", struct.pack("<Q", 1 << 40) + good[8:],
            "the header length 1099511627776 is larger than the file")
    st_case("header not JSON", struct.pack("<Q", 8) + b"{\"a\":1 ]" + good[16:],
            ("bad safetensors header at byte 15", "expected ',' or '}'"))
    st_case("wrong type: unknown dtype", header(model, b"\"F32\"", b"\"F8_E4M3\""), "dtype 'F8_E4M3' is not supported")
    st_case("more than 4 dims", header(model, b"\"shape\":[256,784]", b"\"shape\":[256,784,1,1,1]"),
            "has 5 dims; gradguard supports at most 4")
    st_case("offsets leaving a gap", header(model, b"[0,802816]", b"[4,802820]"), "leaving a gap after byte 0")
    # a file from another tool (no gradguard checksums): the loader's own checks must hold
    meta_end = model.index(b"}", 8) + 1
    foreign = header(model, model[8:meta_end], b"{\"__metadata__\":{\"format\":\"pt\"}")
    st_case("unknown tensor name: fc1.weight renamed (no checksums)", header(foreign, b"fc1.weight", b"fc9.weight"),
            "the model's tensor 'fc1.weight' is missing")
    st_case("wrong shape (no checksums)", header(foreign, b"\"shape\":[256,784]", b"\"shape\":[784,256]"),
            "tensor 'fc1.weight' has shape (784, 256), the model needs (256, 784)")
    fh = struct.unpack("<Q", foreign[:8])[0]
    nanm = bytearray(foreign)
    nanm[8 + fh:8 + fh + 4] = struct.pack("<f", float("nan"))
    st_case("NaN weight (no checksums)", bytes(nanm), "tensor 'fc1.weight' element 0 is nan")
    infm = bytearray(foreign)
    infm[8 + fh + 40:8 + fh + 44] = struct.pack("<f", float("-inf"))
    st_case("Inf weight (no checksums)", bytes(infm), "tensor 'fc1.weight' element 10 is -inf")
    st_case("overlapping offsets (no checksums)", header(foreign, b"[802816,803840]", b"[802812,803836]"),
            "overlaps tensor 'fc1.weight'")
    st_case("a model file given to resume", model, "is not a gradguard checkpoint (no gg_kind: checkpoint", cmd="resume")
    st_case("damaged only checkpoint (resume)", flip(good, len(good) - 1000),
            ("resume: no readable checkpoint", "the data checksum does not match"), cmd="resume")
    cli_case("sample of a run that is not a text model", ["sample", RUN], ("T/ck is not a character model",
             "data.format: idx"), rc=1)
    d = T + "/ckfile"
    shutil.copytree(RUN, d)
    shutil.rmtree(d + "/checkpoints")
    open(d + "/checkpoints", "w").close()
    cli_case("resume with checkpoints a file", ["resume", d, "--quiet"],
             "T/ckfile/checkpoints is a file, not a directory", rc=1)
else:
    failures.append("safetensors: the training run failed: " + msg)

shutil.rmtree(T, ignore_errors=True)
if TABLE:
    print("| file kind | bad input | exit | what the user sees |")
    print("| --- | --- | --- | --- |")
    for fmt, what, rc, msg in rows:
        print("| %s | %s | %d | `%s` |" % (fmt, what, rc, msg.replace("|", "\\|").replace("`", "'")))
    sys.exit(0)
for f in failures:
    print("FAIL: " + f)
print("bad_inputs: %d cases, %d failed" % (len(rows), len(failures)))
sys.exit(1 if failures else 0)
