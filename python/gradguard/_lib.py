"""_lib.py - libgradguard through ctypes: finding the shared library and
declaring the C functions the package calls (include/gradguard.h and its
parts under include/gradguard/ document each). Nothing here is compiled;
the library does the work.

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


# ---- the guard's decision core (include/gradguard/guard.h, "the decision core") ----
GG_NAME_MAX = 64
_f, _i, _d, _l = ctypes.c_float, ctypes.c_int, ctypes.c_double, ctypes.c_long

# gg_guard_config, field for field in the header's order (enums are ints).
GUARD_CONFIG_FIELDS = [
    ("enabled", _i), ("clip", _i), ("clip_value", _f), ("max_norm", _f), ("agc_lambda", _f), ("agc_eps", _f),
    ("agc_exclude_last", _i), ("percentile", _f), ("history", _i), ("clip_z", _f), ("warmup", _i),
    ("ema_alpha", _f), ("spike_z", _f), ("loss_z", _f), ("trend_window", _i), ("trend_growth", _f),
    ("trend_t", _f),
    ("on_nonfinite", _i), ("on_spike", _i), ("on_loss_spike", _i), ("on_trend", _i), ("reset_moments", _i),
    ("backoff_factor", _f), ("backoff_recover", _i), ("backoff_min", _f), ("snapshot_every", _i),
    ("rollback_budget", _i), ("skip_batches", _i), ("max_skips", _i), ("skip_first", _i), ("noise_eta", _f), ("noise_gamma", _f),
    ("diagnose", _i), ("init_check", _i), ("loss_blowup", _f), ("loss_blowup_floor", _f), ("loss_blowup_z", _f),
    ("on_blowup", _i), ("on_collapse", _i), ("on_max_spike", _i), ("layer_every", _i), ("quiet", _i),
    ("monitor_every", _i), ("stall_window", _i),
    ("progress_window", _i), ("min_progress", _f), ("chance_margin", _f), ("vanish_ratio", _f),
    ("dead_fraction", _f), ("saturation_fraction", _f), ("saturation_threshold", _f), ("update_ratio_low", _f),
    ("update_ratio_high", _f), ("quiet_persist", _i), ("report_every", _i), ("on_stall", _i),
    ("on_vanishing", _i), ("on_dead", _i), ("on_saturation", _i), ("on_vanished", _i), ("remedy_noise_eta", _f),
    ("slow_ratio", _f), ("slow_target", _f), ("slow_max_raise", _f), ("on_slow", _i),
    ("rate_jump", _f), ("jump_window", _i), ("jump_rise", _f), ("on_rate_jump", _i),
    ("worse_factor", _f), ("worse_steps", _i), ("on_worse", _i), ("on_update_ratio", _i), ("attn_logit_max", _f),
    ("attn_logit_floor", _f), ("on_attention", _i), ("logz_max", _f), ("on_logit_drift", _i), ("z_loss_remedy", _f),
    ("attn_persist", _i), ("attn_logit_blowup", _f), ("attn_logit_jump", _f), ("loss_jump", _f), ("on_loss_jump", _i),
    ("plateau_window", _i), ("plateau_drop", _f), ("on_plateau", _i),
]
CLIP_FIELDS = ("clip",)
RESPONSE_FIELDS = ("on_nonfinite", "on_spike", "on_loss_spike", "on_trend", "on_blowup", "on_collapse",
                   "on_max_spike", "on_stall", "on_vanishing", "on_dead", "on_saturation", "on_vanished", "on_slow", "on_rate_jump", "on_worse",
                   "on_update_ratio", "on_attention", "on_logit_drift", "on_loss_jump", "on_plateau")


class GuardConfig(ctypes.Structure):
    _fields_ = GUARD_CONFIG_FIELDS


class GuardTensor(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("layer", ctypes.c_char_p)]


class GuardLayer(ctypes.Structure):
    _fields_ = [("layer", ctypes.c_char * GG_NAME_MAX), ("grad_norm", _d), ("dead_fraction", _d),
                ("saturated_fraction", _d), ("update_ratio", _d), ("act_samples", _l)]


class GuardHead(ctypes.Structure):
    _fields_ = [("layer", ctypes.c_char_p), ("head", _i), ("max_logit", _d), ("entropy", _d), ("entropy_uniform", _d),
                ("qkv_param", _i)]


class GuardObs(ctypes.Structure):
    _fields_ = [("step", _l), ("epoch", _i), ("loss", _d), ("sq", ctypes.POINTER(_d)), ("max_abs", _d),
                ("nonfinite", _l), ("lr", _d), ("layers", ctypes.POINTER(GuardLayer)), ("nlayers", _i),
                ("heads", ctypes.POINTER(GuardHead)), ("nheads", _i), ("has_logz", _i), ("logz", _d)]


class GuardAct(ctypes.Structure):
    _fields_ = [("verdict", _i), ("lr_scale", _f), ("diagnose", _i), ("clipped", _i), ("stalled", _i),
                ("scale", ctypes.POINTER(_f)), ("scaled", _i), ("clip_value", _f), ("agc_lambda", _f),
                ("agc_eps", _f), ("agc_until", _i), ("noise_sigma", _d), ("noise_key", ctypes.c_uint64),
                ("reset", ctypes.POINTER(ctypes.c_ubyte)), ("any_reset", _i), ("want_update_norms", _i),
                ("snapshot", _i), ("qk_clip_tau", _f), ("z_loss", _f), ("tensor_lr", ctypes.POINTER(_f)),
                ("verify_update", _i), ("nevents", _i), ("probe", _i), ("trial_snapshot", _i), ("undo_trial", _i)]


class ScheduleState(ctypes.Structure):
    _fields_ = [("plateau_scale", _d), ("best", _d), ("bad_epochs", _i), ("cooldown_left", _i), ("seen", _i)]


class TrainPos(ctypes.Structure):
    _fields_ = [("step", _l), ("epoch", _i), ("batch", _l), ("sched", ScheduleState)]


class GuardStats(ctypes.Structure):
    _fields_ = [("loss", _d), ("grad_norm", _d), ("grad_norm_clipped", _d), ("max_abs_grad", _d),
                ("nonfinite", _l), ("z_grad", _d), ("z_loss", _d), ("clip_threshold", _d), ("lr_scale", _d)]


class GuardEvent(ctypes.Structure):
    _fields_ = [("step", _l), ("epoch", _i), ("signal", ctypes.c_char * 32), ("value", _d), ("threshold", _d),
                ("action", ctypes.c_char * 32), ("detail", ctypes.c_char * 512)]


COUNTER_NAMES = ("clipped", "skipped", "backoffs", "rollbacks", "nonfinite", "spikes", "trends", "collapses",
                 "stalls", "vanishing", "dead", "saturated", "update_ratio", "attention", "logit_drift", "slow_rate",
                 "rate_jump", "worse_than_chance", "plateau")


class GuardCounters(ctypes.Structure):
    _fields_ = [(n, _l) for n in COUNTER_NAMES]


VERDICTS = ("proceed", "skip", "rollback", "stop")
GG_INIT_MAX_LAYERS = 256


class InitReport(ctypes.Structure):
    _fields_ = [("n", _i), ("layer", (ctypes.c_char * GG_NAME_MAX) * GG_INIT_MAX_LAYERS),
                ("rms", _d * GG_INIT_MAX_LAYERS), ("rms_fixed", _d * GG_INIT_MAX_LAYERS),
                ("pre_rms", _d * GG_INIT_MAX_LAYERS), ("growth", _d), ("ratio", _d), ("squashing", _i),
                ("saturated", _i), ("poor_growth", _i), ("poor_saturated", _i),
                ("dead_share", _d * GG_INIT_MAX_LAYERS), ("dead_share_fixed", _d * GG_INIT_MAX_LAYERS), ("dead", _i),
                ("poor_dead", _i), ("poor", _i), ("fixed", _i)]


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
    # the guard's decision core (src/guard/core.c)
    ("gg_guard_defaults", GuardConfig, []),
    ("gg_clip_parse", _c.c_int, [_S]),
    ("gg_clip_name", _S, [_c.c_int]),
    ("gg_response_parse", _c.c_int, [_S]),
    ("gg_response_name", _S, [_c.c_int]),
    ("gg_guard_core_new", _P, [_c.POINTER(GuardConfig), _c.c_int, _c.POINTER(GuardTensor), _c.c_int]),
    ("gg_guard_core_free", None, [_P]),
    ("gg_guard_core_wants_layers", _c.c_int, [_P, _c.c_long]),
    ("gg_guard_core_check", _c.c_int, [_P, _c.POINTER(GuardObs), _c.POINTER(GuardAct)]),
    ("gg_guard_core_probe", _c.c_int, [_P, _c.c_double, _c.POINTER(GuardAct)]),
    ("gg_guard_core_clipped", None, [_P]),
    ("gg_guard_core_after", _c.c_int, [_P, _c.POINTER(TrainPos), _c.c_int, _c.c_int, _c.c_double,
                                       _c.POINTER(GuardAct)]),
    ("gg_guard_core_snapshot", _c.c_int, [_P, _c.POINTER(TrainPos)]),
    ("gg_guard_core_rollback", _c.c_int, [_P, _c.POINTER(TrainPos)]),
    ("gg_guard_core_set_chance", None, [_P, _c.c_double]),
    ("gg_init_assess", None, [_c.POINTER(InitReport), _c.POINTER(_c.c_int)]),
    ("gg_guard_measure", _c.c_long, [_c.c_int, _c.POINTER(_P), _c.POINTER(_c.c_size_t), _c.POINTER(_c.c_double),
                                     _c.POINTER(_c.c_double)]),
    ("gg_guard_scale", None, [_c.c_int, _c.POINTER(_P), _c.POINTER(_c.c_size_t), _c.POINTER(_c.c_float)]),
    ("gg_guard_core_last", _c.POINTER(GuardStats), [_P]),
    ("gg_guard_core_events", _c.POINTER(GuardEvent), [_P, _c.POINTER(_c.c_int)]),
    ("gg_guard_core_clear_events", None, [_P]),
    ("gg_guard_core_counts", _c.POINTER(GuardCounters), [_P]),
    ("gg_guard_core_state_count", _c.c_int, [_P]),
    ("gg_guard_core_state_get", _c.c_int, [_P, _c.c_int, _c.POINTER(_S), _c.c_char_p, _c.c_size_t]),
    ("gg_guard_core_state_set", _c.c_int, [_P, _S, _S]),
    # the report (src/report)
    ("gg_report_write", _c.c_int, [_S, _S]),
]:
    f = getattr(lib, name)
    f.restype = res
    f.argtypes = args

# the structs above must be the library's: each size against the library's
# own sizeof (gg_abi_size), and the config's defaults at known values (a
# field added to a struct without adding it here shifts them)
lib.gg_abi_size.restype = ctypes.c_size_t
lib.gg_abi_size.argtypes = [ctypes.c_char_p]
for _name, _cls in (("gg_guard_config", GuardConfig), ("gg_guard_obs", GuardObs), ("gg_guard_act", GuardAct),
                    ("gg_guard_head", GuardHead), ("gg_guard_layer", GuardLayer), ("gg_guard_tensor", GuardTensor),
                    ("gg_guard_stats", GuardStats), ("gg_guard_event", GuardEvent),
                    ("gg_guard_counters", GuardCounters), ("gg_train_pos", TrainPos), ("gg_init_report", InitReport)):
    if lib.gg_abi_size(_name.encode()) != ctypes.sizeof(_cls):
        raise ImportError("gradguard: %s's %s is %d bytes, this package declares %d (python/gradguard/_lib.py): "
                          "library and package are from different versions" % (
                              path, _name, lib.gg_abi_size(_name.encode()), ctypes.sizeof(_cls)))
_dft = lib.gg_guard_defaults()
if not (_dft.enabled == 1 and _dft.history == 1000 and _dft.quiet_persist == 3 and
        abs(_dft.remedy_noise_eta - 0.3) < 1e-6 and abs(_dft.backoff_factor - 0.5) < 1e-6 and
        abs(_dft.z_loss_remedy - 1e-4) < 1e-9):
    raise ImportError("gradguard: %s's gg_guard_config does not have the layout this package declares "
                      "(python/gradguard/_lib.py, GUARD_CONFIG_FIELDS): library and package are from different "
                      "versions" % path)
del _dft, _name, _cls

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
