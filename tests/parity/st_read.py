"""st_read.py - the safetensors format by hand, with numpy only (no
safetensors package): what any plain reader of gradguard's files does.

A file is an 8-byte little-endian header length n, n bytes of JSON (names
to {dtype, shape, data_offsets}, plus an optional "__metadata__" map of
strings), then the data buffer; data_offsets are [begin, end) in bytes from
the start of that buffer.

    python3 st_read.py FILE    lists the tensors and the metadata
"""
import json
import struct
import sys
import zlib

import numpy as np

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "U8": "u1"}


class Error(Exception):
    pass


def read(path):
    """(tensors, metadata, info): tensors is {name: numpy array} in header
    order, metadata the __metadata__ map ({} if none), info a dict with the
    header length and the raw data buffer. Checks what a careful reader
    checks: the header length against the file, the dtypes, and that the
    offsets lie inside the buffer and agree with the shapes."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise Error("%s: %d bytes, too short for the header length" % (path, len(raw)))
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise Error("%s: header length %d runs past the end of the file (%d bytes)" % (path, n, len(raw)))
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    data = raw[8 + n :]
    tensors = {}
    for name, e in header.items():
        dt = e["dtype"]
        shape = [int(d) for d in e["shape"]]
        b, end = (int(v) for v in e["data_offsets"])
        if not 0 <= b <= end <= len(data):
            raise Error("%s: tensor %s: offsets [%d, %d) outside the %d-byte buffer" % (path, name, b, end, len(data)))
        if dt == "BF16":
            u16 = np.frombuffer(data[b:end], dtype="<u2").astype(np.uint32) << 16
            arr = u16.view(np.float32)
        elif dt in DTYPES:
            arr = np.frombuffer(data[b:end], dtype=DTYPES[dt])
        else:
            raise Error("%s: tensor %s: unknown dtype %s" % (path, name, dt))
        count = int(np.prod(shape)) if shape else 1
        if arr.size != count:
            raise Error("%s: tensor %s: %d values for shape %s" % (path, name, arr.size, shape))
        tensors[name] = arr.reshape(shape).copy()
    return tensors, meta, {"header_len": n, "data": data}


def write(path, tensors, metadata=None, dtype="F32"):
    """Writes {name: array} as safetensors (float32 by default; "I64" for
    integer tensors such as BatchNorm's num_batches_tracked), the header
    padded with spaces to a multiple of 8 as the format recommends."""
    header, chunks, off = {}, [], 0
    for name, arr in tensors.items():
        dt = "I64" if np.asarray(arr).dtype.kind in "iu" else dtype
        a = np.ascontiguousarray(np.asarray(arr), dtype=DTYPES[dt])
        b = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        chunks.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = dict(metadata)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


def data_crc32(info):
    """zlib CRC-32 of the data buffer as gradguard writes it in gg_crc32."""
    return "%08x" % (zlib.crc32(info["data"]) & 0xFFFFFFFF)


if __name__ == "__main__":
    t, m, info = read(sys.argv[1])
    for k, v in t.items():
        print("%-40s %-8s %s" % (k, v.dtype, list(v.shape)))
    for k, v in m.items():
        print("meta %s = %s" % (k, v if len(v) < 80 else v[:77] + "..."))
