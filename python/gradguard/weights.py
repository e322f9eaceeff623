"""weights.py - safetensors files to and from PyTorch state_dicts, read and
written by libgradguard (gg_safetensors_open / gg_safetensors_write): the
same checks (header, offsets, gradguard's checksums) as the library and the
gradguard command, and files the command reads back.
"""
import ctypes

from . import _lib

# the integer types a file may hold; their values were converted to float32
# by the library (exact up to 2**24) and are given their type back
_INT_DTYPES = {"I64": "int64", "I32": "int32", "U8": "uint8"}


def _numpy():
    try:
        import numpy
    except ImportError as e:  # pragma: no cover - Debian's python3-torch depends on python3-numpy
        raise ImportError("gradguard's weights need numpy (Debian: apt-get install python3-numpy)") from e
    return numpy


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def load_weights(path, numpy=False, metadata=False):
    """Reads a safetensors file (a gradguard model or checkpoint, or any
    other tool's) through libgradguard and returns {name: tensor} in the
    file's order: torch.Tensor values when torch is importable and numpy is
    False, numpy arrays otherwise. Float tensors (F32, F64, F16, BF16) come
    back as float32, the library's type; I64, I32 and U8 tensors get their
    integer type back. The dict is what module.load_state_dict() takes for
    a model of the same names (a gradguard file holds gradguard's names:
    "fc1.weight", "lstm1.weight_ih"; a checkpoint also holds
    "optimizer.state"). With metadata=True returns (tensors, metadata),
    metadata being the file's __metadata__ map of strings.

    Raises gradguard.Error (status "io" or "format") with the library's
    message naming the file and the tensor or byte offset: a truncated file,
    bad offsets, or a gradguard file whose checksum does not match."""
    np = _numpy()
    torch = None if numpy else _torch()
    handle = ctypes.c_void_p()
    _lib.check(_lib.lib.gg_safetensors_open(_lib.fspath(path), ctypes.byref(handle)))
    try:
        out = {}
        name = ctypes.c_char_p()
        shape = _lib.Shape()
        data = ctypes.POINTER(ctypes.c_float)()
        for i in range(_lib.lib.gg_safetensors_count(handle)):
            _lib.check(_lib.lib.gg_safetensors_get(handle, i, ctypes.byref(name), ctypes.byref(shape),
                                                   ctypes.byref(data)))
            dims = shape.dims()
            count = 1
            for d in dims:
                count *= d
            if count:
                arr = np.ctypeslib.as_array(data, shape=(count,)).copy().reshape(dims)
            else:
                arr = np.zeros(dims, dtype=np.float32)
            dt = _INT_DTYPES.get(_lib.text(_lib.lib.gg_safetensors_dtype(handle, i)))
            if dt:
                arr = arr.astype(dt)
            out[_lib.text(name.value)] = torch.from_numpy(arr) if torch is not None else arr
        meta = {}
        if metadata:
            value = ctypes.c_char_p()
            for i in range(_lib.lib.gg_safetensors_meta_count(handle)):
                key = _lib.lib.gg_safetensors_meta_at(handle, i, ctypes.byref(value))
                meta[_lib.text(key)] = _lib.text(value.value)
    finally:
        _lib.lib.gg_safetensors_close(handle)
    return (out, meta) if metadata else out


def save_weights(state_dict, path, metadata=None):
    """Writes {name: tensor} (a state_dict, torch tensors or numpy arrays)
    to path as safetensors through libgradguard: float32 data (other types
    are converted: an int64 counter becomes a float32 value, which
    load_state_dict copies back into its integer buffer), in the dict's
    order, with gradguard's checksums in the metadata, written atomically
    (a temporary file, fsync, rename). metadata: extra {str: str} pairs.
    The file is what `gradguard eval`, train.init_from and
    gg_model_import read (a PyTorch state_dict's own names are accepted
    there).

    Raises gradguard.Error (status "argument") for a tensor the format cannot
    hold (more than 4 dims, an empty or repeated name) and ("io") when the
    file cannot be written; the old file, if any, is then untouched."""
    np = _numpy()
    names, arrays = [], []
    for name, value in state_dict.items():
        if hasattr(value, "detach"):  # a torch.Tensor, on any device
            value = value.detach().cpu().numpy()
        # not ascontiguousarray: it would make a 0-dim scalar 1-dim
        arr = np.asarray(value, dtype=np.float32)
        if not arr.flags.c_contiguous:
            arr = arr.copy(order="C")
        names.append(str(name).encode("utf-8"))
        arrays.append(arr)
    entries = (_lib.StEntry * max(1, len(arrays)))()
    for i, arr in enumerate(arrays):
        if arr.ndim > _lib.GG_MAX_DIMS:
            raise _lib.Error("argument", "writing '%s': tensor '%s' has %d dims (0 to %d allowed)" %
                             (path, names[i].decode("utf-8"), arr.ndim, _lib.GG_MAX_DIMS))
        entries[i].name = names[i]
        entries[i].shape.ndim = arr.ndim
        for k, d in enumerate(arr.shape):
            entries[i].shape.d[k] = d
        entries[i].data = arr.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
    pairs = []
    for k, v in (metadata or {}).items():
        pairs += [str(k).encode("utf-8"), str(v).encode("utf-8")]
    meta = (ctypes.c_char_p * max(1, len(pairs)))(*pairs)
    _lib.check(_lib.lib.gg_safetensors_write(_lib.fspath(path), entries, len(arrays), meta, len(pairs) // 2))
