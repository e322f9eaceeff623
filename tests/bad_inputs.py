#!/usr/bin/env python3
"""messages.py - what a user sees for each class of bad input.

Makes one bad file per (format, class), runs the gradguard command on it
and prints a Markdown table of the exit status and the message, as quoted
in docs/robustness.md:

    python3 tests/fuzz/messages.py build/gradguard > /tmp/messages.md

Temporary paths in the messages are shortened to their base names' folder
(T/...). Needs the Fashion-MNIST package only for the checkpoint cases.
"""
import gzip
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

G = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/gradguard")
SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MLP = os.path.join(SRC, "configs", "fashion-mlp.yaml")
T = tempfile.mkdtemp(prefix="ggmsg.")
rows = []


def run(args):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    p = subprocess.run([G] + args, capture_output=True, text=True, env=env, errors="replace")
    out = (p.stderr.strip() or p.stdout.strip()).splitlines()
    msg = out[-1] if out else ""
    return p.returncode, msg.replace(T + "/", "T/").replace(T, "T")


def put(name, data):
    path = os.path.join(T, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    return path


def case(fmt, what, args):
    rc, msg = run(args)
    rows.append((fmt, what, rc, msg))


# ---- IDX -------------------------------------------------------------------
def idx_images(n, r, c, magic=0x803):
    return struct.pack(">IIII", magic, n, r, c) + bytes((i * 7) & 255 for i in range(n * r * c))


def idx_labels(n, magic=0x801):
    return struct.pack(">II", magic, n) + bytes(i % 10 for i in range(n))


def idx_case(what, images, labels, gz=False):
    d = os.path.join(T, "idx-" + str(len(rows)))
    os.makedirs(d)
    ext = ".gz" if gz else ""
    for name, data in (("train-images-idx3-ubyte", images), ("train-labels-idx1-ubyte", labels)):
        if data is None:
            continue
        with open(os.path.join(d, name + ext), "wb") as f:
            f.write(gzip.compress(data) if gz and data[:2] != b"\x1f\x8b" else data)
    case("IDX", what, ["train", MLP, "-o", T + "/run", "--set", "data.train=" + d, "--set", "data.test=none",
                       "--quiet"])


good_i, good_l = idx_images(20, 28, 28), idx_labels(20)
idx_case("truncated images", good_i[:5000], good_l)
idx_case("trailing bytes", good_i + b"\0" * 10, good_l)
idx_case("wrong magic (labels file as images)", good_l, good_l)
idx_case("float32 IDX", idx_images(20, 28, 28, magic=0x0D03), good_l)
idx_case("huge dimensions (n = 2^32 - 1)", struct.pack(">IIII", 0x803, 0xFFFFFFFF, 28, 28) + good_i[16:], good_l)
idx_case("huge image (65535 x 65535)", struct.pack(">IIII", 0x803, 1, 65535, 65535) + good_i[16:], good_l)
idx_case("a dimension of 0", struct.pack(">IIII", 0x803, 20, 0, 28), good_l)
idx_case("image/label count mismatch", good_i, idx_labels(19))
idx_case("empty file", b"", good_l)
gzb = bytearray(gzip.compress(good_i))
gzb[len(gzb) // 2] ^= 0x10
idx_case("gzip: bit flip", bytes(gzb), good_l, gz=True)
idx_case("gzip: truncated stream", gzip.compress(good_i)[:200], good_l, gz=True)
idx_case("gzip: header claims more than the stream can hold",
         gzip.compress(struct.pack(">IIII", 0x803, 60000, 280, 280)), good_l, gz=True)
case("IDX", "missing directory", ["train", MLP, "-o", T + "/run", "--set", "data.train=" + T + "/nowhere", "--quiet"])
os.makedirs(T + "/emptydir")
case("IDX", "directory without IDX files", ["train", MLP, "-o", T + "/run", "--set", "data.train=" + T + "/emptydir",
                                           "--quiet"])

# ---- CSV -------------------------------------------------------------------
CSV_ARGS = ["--set", "data.format=csv", "--set", "data.label=label", "--set", "data.test=none", "--set",
            "model.2.units=3", "--quiet"]


def csv_case(what, text, extra=()):
    p = put("csv-%d.csv" % len(rows), text)
    case("CSV", what, ["train", MLP, "-o", T + "/run", "--set", "data.train=" + p] + CSV_ARGS + list(extra))


csv_case("non-numeric cell", "a,b,label\n1,2,0\n3,x,1\n")
csv_case("empty cell", "a,b,label\n1,,0\n")
csv_case("NaN", "a,b,label\n1,2,0\n3,nan,1\n")
csv_case("Inf", "a,b,label\n1,-inf,0\n")
csv_case("outside float32", "a,b,label\n1,1e39,0\n")
csv_case("hex number", "a,b,label\n1,0x1A,0\n")
csv_case("ragged row", "a,b,label\n1,2,0\n3,4\n")
csv_case("unterminated quote", "a,b,label\n1,\"2,0\n")
csv_case("text after a closing quote", "a,b,label\n1,\"2\"x,0\n")
csv_case("binary file (NUL byte)", "a,b,label\n1,2\x000\n")
csv_case("empty file", "")
csv_case("header only", "a,b,label\n")
csv_case("no such label column", "a,b,c\n1,2,0\n")
csv_case("label column index out of range", "a,b,label\n1,2,0\n", ["--set", "data.label=7"])
csv_case("label out of the model's classes", "a,b,label\n1,2,0\n3,4,5\n")
csv_case("fractional label with a classification loss", "a,b,label\n1,2,0.5\n3,4,1\n")
csv_case("negative label", "a,b,label\n1,2,-1\n3,4,1\n")

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


def npy_case(what, feats, labels=None):
    fp = put("npy-%d-x.npy" % len(rows), feats)
    lp = put("npy-%d-y.npy" % len(rows), labels if labels is not None else npy("<i8", "(4,)", struct.pack("<4q", 0, 1, 2, 0)))
    case("NPY", what, ["train", MLP, "-o", T + "/run", "--set", "data.format=npy", "--set", "data.train=" + fp,
                       "--set", "data.train_labels=" + lp, "--set", "data.test=none", "--set", "model.2.units=3",
                       "--quiet"])


X = npy("<f4", "(4, 2)", f4(*range(8)))
npy_case("wrong magic", b"\x93NUMPX" + X[6:])
npy_case("format version 4.0", X[:6] + b"\x04" + X[7:])
npy_case("truncated data", X[:-3])
npy_case("trailing bytes", X + b"\0\0\0\0")
npy_case("fortran_order True", npy("<f4", "(4, 2)", f4(*range(8)), fo="True"))
npy_case("big-endian dtype", npy(">f4", "(4, 2)", f4(*range(8))))
npy_case("unsupported dtype (float16)", npy("<f2", "(4, 2)", b"\0" * 16))
npy_case("object dtype", npy("|O", "(4, 2)", b"\0" * 64))
npy_case("unknown header key", npy("<f4", "(4, 2)", f4(*range(8)), extra="'x': 1, "))
npy_case("missing header key", npy("", "", f4(*range(8)), raw_dict="{'descr': '<f4', 'shape': (4, 2), }"))
npy_case("header not ending in a newline", X.replace(b" \n", b"  ", 1))
npy_case("NaN value", npy("<f4", "(4, 2)", f4(1, 2, float("nan"), 4, 5, 6, 7, 8)))
npy_case("Inf value (float64)", npy("<f8", "(4, 2)", struct.pack("<8d", 1, 2, 3, float("inf"), 5, 6, 7, 8)))
npy_case("outside float32 (float64 1e300)", npy("<f8", "(4, 2)", struct.pack("<8d", 1, 2, 3, 1e300, 5, 6, 7, 8)))
npy_case("huge dimensions", npy("<f4", "(4, 4294967296, 4294967296)", f4(*range(8))))
npy_case("zero samples", npy("<f4", "(0, 2)", b""))
npy_case("5-D features", npy("<f4", "(4, 1, 1, 1, 2)", f4(*range(8))))
npy_case("sample/label count mismatch", X, npy("<i8", "(3,)", struct.pack("<3q", 0, 1, 2)))
npy_case("NaN label", X, npy("<f4", "(4,)", f4(0, 1, float("nan"), 0)))
npy_case("header length past the end of the file", X[:8] + struct.pack("<H", 0xFFFF) + X[10:])
npy_case("header length over the limit (2 GiB)", b"\x93NUMPY\x02\x00" + struct.pack("<I", 0x7FFFFFFF) + X[10:])

# ---- YAML config -----------------------------------------------------------
def cfg_case(what, text, extra=()):
    p = put("cfg-%d.yaml" % len(rows), text)
    case("YAML config", what, ["train", p, "-o", T + "/run", "--quiet"] + list(extra))


BASE = "model:\n  - {type: dense, units: 10}\n"
cfg_case("syntax error", "model: [\n")
cfg_case("unknown key (typo)", BASE + "train:\n  epoks: 3\n")
cfg_case("wrong type", BASE + "train:\n  epochs: many\n")
cfg_case("quoted number", BASE + "train:\n  epochs: \"5\"\n")
cfg_case("out of range", BASE + "optimizer:\n  lr: -1\n")
cfg_case("NaN value (.nan)", BASE + "optimizer:\n  lr: .nan\n")
cfg_case("hex number", BASE + "optimizer:\n  lr: 0x10\n")
cfg_case("unknown choice", BASE + "optimizer:\n  name: adamax\n")
cfg_case("duplicate key", BASE + "train:\n  epochs: 3\n  epochs: 4\n")
cfg_case("a second document", BASE + "---\ntrain: {epochs: 1}\n")
cfg_case("tab indentation", "train:\n\tepochs: 3\n")
cfg_case("not UTF-8", (BASE + "train:\n  name: ").encode() + b"\xff\xfe\n")
cfg_case("nested too deep", "a: " + "[" * 100 + "]" * 100 + "\n")
laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    "%s: &%s [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n" % ((chr(98 + i), chr(98 + i)) + (chr(97 + i),) * 10)
    for i in range(8))
cfg_case("alias bomb (billion laughs)", laughs)
cfg_case("model not a list", "model: {type: dense}\n")
cfg_case("empty file", "")
cfg_case("--set: not a key path", BASE, ["--set", "train..epochs=3"])
cfg_case("--set: index out of range", BASE, ["--set", "model.5.units=3"])
cfg_case("--set: value not valid YAML", BASE, ["--set", "train.epochs=[1"])
cfg_case("--set: unknown key", BASE, ["--set", "train.epoks=3"])
with open(os.path.join(T, "cfg-bin.yaml"), "wb") as f:
    f.write(b"train:\n  epochs: 3\x00\n")
case("YAML config", "NUL byte", ["train", T + "/cfg-bin.yaml", "-o", T + "/run", "--quiet"])

# ---- safetensors: checkpoints and model files ------------------------------
RUN = T + "/ck"
SMALL = ["--set", "data.limit_train=600", "--set", "data.limit_test=100", "--set", "train.threads=1", "--set",
         "train.epochs=2", "--quiet"]
rc, msg = run(["train", MLP, "-o", RUN] + SMALL)
if rc == 0:
    ck = sorted(os.listdir(RUN + "/checkpoints"))[-1]
    good = open(os.path.join(RUN, "checkpoints", ck), "rb").read()
    model = open(RUN + "/model.safetensors", "rb").read()
    hlen = struct.unpack("<Q", good[:8])[0]

    def st_case(what, data, cmd="eval"):
        p = put("st-%d.safetensors" % len(rows), data)
        if cmd == "eval":
            case("safetensors", what, ["eval", RUN, "--checkpoint", p, "--set", "data.limit_test=100"])
        else:  # resume from a run whose only checkpoint is this file
            d = T + "/res-%d" % len(rows)
            shutil.copytree(RUN, d)
            for f in os.listdir(d + "/checkpoints"):
                os.unlink(os.path.join(d, "checkpoints", f))
            shutil.copy(p, d + "/checkpoints/ckpt-0000000001.safetensors")
            case("safetensors", what, ["resume", d, "--quiet"])

    def flip(data, at, bit=0x04):
        b = bytearray(data)
        b[at] ^= bit
        return bytes(b)

    def header(data, old, new):
        n = struct.unpack("<Q", data[:8])[0]
        h = data[8:8 + n].rstrip(b" ").replace(old, new, 1)
        h += b" " * ((8 - len(h) % 8) % 8)
        return struct.pack("<Q", len(h)) + h + data[8 + n:]

    st_case("truncated", good[:len(good) // 2])
    st_case("empty file", b"")
    st_case("bit flip in the data", flip(good, len(good) - 1000))
    st_case("bit flip in the header", flip(good, 8 + hlen // 2, 0x01))
    st_case("header length past the end", struct.pack("<Q", 1 << 40) + good[8:])
    st_case("header not JSON", struct.pack("<Q", 8) + b"{\"a\":1 ]" + good[16:])
    st_case("unknown dtype", header(model, b"\"F32\"", b"\"F8_E4M3\""))
    st_case("more than 4 dims", header(model, b"\"shape\":[256,784]", b"\"shape\":[256,784,1,1,1]"))
    st_case("offsets leaving a gap", header(model, b"[0,802816]", b"[4,802820]"))
    # a file from another tool (no gradguard checksums): the loader's own checks must hold
    mh = struct.unpack("<Q", model[:8])[0]
    meta_end = model.index(b"}", 8) + 1
    foreign = header(model, model[8:meta_end], b"{\"__metadata__\":{\"format\":\"pt\"}")
    st_case("a tensor missing (no checksums)", header(foreign, b"fc1.weight", b"fc9.weight"))
    st_case("wrong shape (no checksums)", header(foreign, b"\"shape\":[256,784]", b"\"shape\":[784,256]"))
    fh = struct.unpack("<Q", foreign[:8])[0]
    nanm = bytearray(foreign)
    nanm[8 + fh:8 + fh + 4] = struct.pack("<f", float("nan"))
    st_case("NaN weight (no checksums)", bytes(nanm))
    st_case("overlapping offsets (no checksums)", header(foreign, b"[802816,803840]", b"[802812,803836]"))
    st_case("a model file given to resume", model, cmd="resume")
    st_case("damaged only checkpoint (resume)", flip(good, len(good) - 1000), cmd="resume")
else:
    rows.append(("safetensors", "(skipped: the training run failed)", rc, msg))

print("| format | bad input | exit | message |")
print("| --- | --- | --- | --- |")
for fmt, what, rc, msg in rows:
    print("| %s | %s | %d | `%s` |" % (fmt, what, rc, msg.replace("|", "\\|").replace("`", "'")))
shutil.rmtree(T, ignore_errors=True)
