"""gradguard - the Python side of libgradguard (pure Python over the shared
library through ctypes; nothing to compile).

    import gradguard
    run = gradguard.load_run("runs/fashion-mlp")      # metrics, layers, events, summary, config
    sd = gradguard.load_weights("runs/fashion-mlp/model.safetensors")
    model.load_state_dict(sd)                          # a torch.nn.Module with gradguard's names
    gradguard.save_weights(model.state_dict(), "init.safetensors")   # for train.init_from

Safetensors files and configs are read and written by the library itself,
with its checks and its error messages (gradguard.Error). The library is
found through GRADGUARD_LIB, the install, or a source tree's build/
(gradguard._lib says how). gradguard.torch.Guard puts the library's guard
decision core in a PyTorch training loop.

docs/getting-started.md ("Python") describes the package.
"""
from ._lib import Error
from ._lib import path as library_path
from .run import Run, Table, load_config, load_run
from .weights import load_weights, save_weights

__all__ = ["Error", "Run", "Table", "library_path", "load_config", "load_run", "load_weights", "save_weights"]
__version__ = "0.1.0"
