"""run.py - a run directory as Python objects.

    run = gradguard.load_run("runs/fashion-mlp")
    run.metrics["loss"]        # metrics.csv, a column (pandas: a Series)
    run.events                 # events.jsonl, one dict per line (pandas: a DataFrame)
    run.summary["test_accuracy"]
    run.config["optimizer"]["lr"]

metrics.csv and layers.csv are read with Python's csv module, events.jsonl
and summary.json with its json module (the files' formats are those of
src/run/ (run.h), described in docs/cli.md), config.yaml by libgradguard's
own config reader (gg_cfg_load), so its values have the types the trainer
reads: 64 is an int, 1e-3 a float, true a bool, "5" (quoted) a str.
"""
import csv
import ctypes
import json
import math
import os

from . import _lib
from .weights import load_weights


class Table:
    """The rows of a CSV file by column: table["loss"] is the column as a
    list (numbers as int or float, empty cells as None), len(table) the
    number of rows, iterating gives each row as a dict, table.columns the
    header. to_pandas() makes a DataFrame (empty cells become NaN)."""

    def __init__(self, columns, rows):
        self.columns = list(columns)
        self._rows = rows

    def __len__(self):
        return len(self._rows)

    def __getitem__(self, column):
        k = self.columns.index(column)  # ValueError names an unknown column
        return [r[k] for r in self._rows]

    def __iter__(self):
        for r in self._rows:
            yield dict(zip(self.columns, r))

    def __repr__(self):
        return "Table(%d rows: %s)" % (len(self._rows), ", ".join(self.columns))

    def to_pandas(self):
        import pandas

        return pandas.DataFrame([[math.nan if v is None else v for v in r] for r in self._rows],
                                columns=self.columns)


def _cell(s):
    if s == "":
        return None
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)  # also nan and inf as the trainer writes them
    except ValueError:
        return s


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        r = csv.reader(f, strict=True)
        header = next(r, None)
        if header is None:
            return Table([], [])
        rows = []
        for row in r:
            if not row:
                continue
            if len(row) != len(header):
                raise _lib.Error("format", "%s:%d: %d fields, the header has %d" %
                                 (path, r.line_num, len(row), len(header)))
            rows.append([_cell(v) for v in row])
    return Table(header, rows)


def _read_jsonl(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except ValueError as e:
                raise _lib.Error("format", "%s:%d: not a JSON object: %s" % (path, n, e)) from None
    return out


def _read_json(path):
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except ValueError as e:
            raise _lib.Error("format", "%s: not JSON: %s" % (path, e)) from None


def _cfg_value(node):
    lib = _lib.lib
    t = lib.gg_cfg_node_type(node)
    if t == _lib.CFG_MAP:
        out = {}
        value = ctypes.c_void_p()
        for i in range(lib.gg_cfg_len(node)):
            key = lib.gg_cfg_key_at(node, i, ctypes.byref(value))
            out[_lib.text(key)] = _cfg_value(value)
        return out
    if t == _lib.CFG_SEQ:
        return [_cfg_value(lib.gg_cfg_at(node, i)) for i in range(lib.gg_cfg_len(node))]
    if t == _lib.CFG_NULL:
        return None
    # a scalar: typed as the trainer's getters type it (quoted text stays a string)
    i, x, b = ctypes.c_long(), ctypes.c_double(), ctypes.c_int()
    if lib.gg_cfg_as_int(node, -(2**63), 2**63 - 1, ctypes.byref(i)) == 0:
        return i.value
    if lib.gg_cfg_as_float(node, -math.inf, math.inf, ctypes.byref(x)) == 0:
        return x.value
    if lib.gg_cfg_as_bool(node, ctypes.byref(b)) == 0:
        return bool(b.value)
    return _lib.text(lib.gg_cfg_scalar(node))


def load_config(path):
    """A gradguard YAML config (a run's config.yaml) as nested dicts and
    lists, read by libgradguard (duplicate keys and syntax errors raise
    gradguard.Error with the line)."""
    cfg = ctypes.c_void_p()
    _lib.check(_lib.lib.gg_cfg_load(_lib.fspath(path), ctypes.byref(cfg)))
    try:
        return _cfg_value(_lib.lib.gg_cfg_root(cfg))
    finally:
        _lib.lib.gg_cfg_free(cfg)


class Run:
    """A run directory. Attributes (None when the file is missing, as in a
    run killed before it wrote it):
      dir      the directory
      metrics  metrics.csv: one row per logged step and per epoch
      layers   layers.csv: per-tensor norms at guard.layer_every
      events   events.jsonl: a list of dicts (guard and trainer events)
      summary  summary.json: a dict (status, steps, losses, guard counters)
      config   config.yaml: the resolved config, nested dicts
    metrics and layers are gradguard.Table objects, or pandas DataFrames
    when pandas is used; events is then a DataFrame too."""

    def __init__(self, path, pandas=None):
        if not os.path.isdir(path):
            raise _lib.Error("io", "%s is not a run directory (no such directory)" % path)
        self.dir = path
        pd = None
        if pandas is not False:
            try:
                import pandas as pd
            except ImportError:
                if pandas:
                    raise
        f = self._file
        self.metrics = f("metrics.csv", _read_csv)
        self.layers = f("layers.csv", _read_csv)
        self.events = f("events.jsonl", _read_jsonl)
        self.summary = f("summary.json", _read_json)
        self.config = f("config.yaml", load_config)
        if pd is not None:
            for k in ("metrics", "layers"):
                if getattr(self, k) is not None:
                    setattr(self, k, getattr(self, k).to_pandas())
            if self.events is not None:
                self.events = pd.DataFrame(self.events)

    def _file(self, name, reader):
        p = os.path.join(self.dir, name)
        if not os.path.exists(p):
            return None
        return reader(p)

    @property
    def model_path(self):
        return os.path.join(self.dir, "model.safetensors")

    def weights(self, numpy=False):
        """The run's final weights (model.safetensors), as load_weights."""
        return load_weights(self.model_path, numpy=numpy)

    def __repr__(self):
        status = (self.summary or {}).get("status", "no summary")
        return "Run(%r, %s)" % (self.dir, status)


def load_run(path, pandas=None):
    """Reads the run directory path (see Run). pandas: None uses pandas when
    it is importable, False never, True requires it."""
    return Run(path, pandas=pandas)
