"""_lib.py - libgradguard through ctypes: finding the shared library and
declaring the C functions the package calls (include/gradguard.h documents
each). Nothing here is compiled; the library does the work.

The library is looked for, in this order:
  1. the file named by the environment variable GRADGUARD_LIB
     (a build tree: GRADGUARD_LIB=build/libgradguard.so);
  2. where `cmake --install` put it, relative to this package (_install.py,
     written at install time);
  3. build/libgradguard.so of the source tree this package sits in
     (python/gradguard/ beside build/);
  4. libgradguard.so.0 on the loader's path (LD_LIBRARY_PATH, ldconfig).
"""
import ctypes
import os

GG_MAX_DIMS = 4
SONAME = "libgradguard.so.0"


class Error(Exception):
    """A failed library call: .status is the library's status name
    ("io", "format", "shape", ...), the message is the library's, naming
    the file, tensor, key or line."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class Shape(ctypes.Structure):
    _fields_ = [("ndim", ctypes.c_int), ("d", ctypes.c_int * GG_MAX_DIMS)]

    def dims(self):
        return tuple(self.d[k] for k in range(self.ndim))


class StEntry(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("shape", Shape), ("data", ctypes.POINTER(ctypes.c_float))]


def _candidates():
    env = os.environ.get("GRADGUARD_LIB")
    if env:
        return [env]  # asked for one file: no other is tried
    here = os.path.dirname(os.path.abspath(__file__))
    found = []
    try:
        from . import _install  # written by `cmake --install`

        found.append(os.path.normpath(os.path.join(here, _install.LIBDIR, SONAME)))
    except ImportError:
        pass
    found.append(os.path.normpath(os.path.join(here, "..", "..", "build", "libgradguard.so")))
    found.append(SONAME)
    return found


def _open():
    tried = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append("%s (no such file)" % path)
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    raise ImportError("gradguard: cannot load libgradguard: tried " + "; ".join(tried) +
                      ". Set GRADGUARD_LIB to the library's path (a build tree's build/libgradguard.so) "
                      "or install it (cmake --install BUILD).")


lib, path = _open()

_c = ctypes
_P = ctypes.c_void_p
_S = ctypes.c_char_p
for name, res, args in [
    ("gg_errmsg", _S, []),
    ("gg_status_name", _S, [_c.c_int]),
    # safetensors (src/io/safetensors.c)
    ("gg_safetensors_open", _c.c_int, [_S, _c.POINTER(_P)]),
    ("gg_safetensors_close", None, [_P]),
    ("gg_safetensors_count", _c.c_int, [_P]),
    ("gg_safetensors_get", _c.c_int, [_P, _c.c_int, _c.POINTER(_S), _c.POINTER(Shape),
                                      _c.POINTER(_c.POINTER(_c.c_float))]),
    ("gg_safetensors_dtype", _S, [_P, _c.c_int]),
    ("gg_safetensors_meta_count", _c.c_int, [_P]),
    ("gg_safetensors_meta_at", _S, [_P, _c.c_int, _c.POINTER(_S)]),
    ("gg_safetensors_write", _c.c_int, [_S, _c.POINTER(StEntry), _c.c_int, _c.POINTER(_S), _c.c_int]),
    # configuration (src/io/config.c)
    ("gg_cfg_load", _c.c_int, [_S, _c.POINTER(_P)]),
    ("gg_cfg_free", None, [_P]),
    ("gg_cfg_root", _P, [_P]),
    ("gg_cfg_node_type", _c.c_int, [_P]),
    ("gg_cfg_len", _c.c_int, [_P]),
    ("gg_cfg_at", _P, [_P, _c.c_int]),
    ("gg_cfg_key_at", _S, [_P, _c.c_int, _c.POINTER(_P)]),
    ("gg_cfg_scalar", _S, [_P]),
    ("gg_cfg_as_int", _c.c_int, [_P, _c.c_long, _c.c_long, _c.POINTER(_c.c_long)]),
    ("gg_cfg_as_float", _c.c_int, [_P, _c.c_double, _c.c_double, _c.POINTER(_c.c_double)]),
    ("gg_cfg_as_bool", _c.c_int, [_P, _c.POINTER(_c.c_int)]),
]:
    f = getattr(lib, name)
    f.restype = res
    f.argtypes = args

CFG_NULL, CFG_SCALAR, CFG_MAP, CFG_SEQ = 0, 1, 2, 3


def text(b):
    """A C string (bytes) as str; the library's strings are UTF-8."""
    return b.decode("utf-8", "replace") if b is not None else None


def check(status):
    """Raises Error with the library's message when status is not GG_OK."""
    if status:
        raise Error(text(lib.gg_status_name(status)), text(lib.gg_errmsg()))


def fspath(p):
    return os.fsencode(os.fspath(p))
