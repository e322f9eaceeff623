#!/usr/bin/env bash
# gradguard against PyTorch, in the same run: an MLP (784-64-10), a small CNN
# (conv 8, pool, conv 16, pool, 32, 10), an LSTM many-to-one (hidden 16, T 20,
# adding problem, MSE), a tanh RNN the same way (recurrent weights at spectral
# radius 1.2, as in gauntlet case 4) and a pre-norm attention + MLP block
# model (D 16, 2 heads, T 8) are built with gradguard's API
# (tests/test_parity_driver.c), trained 100 steps with SGD-momentum (lr 0.01, 0.9) and with AdamW (lr 1e-3,
# wd 0.01) with the guard's norm clipping, and the same models in PyTorch
# (tests/parity/peer.py), loaded from gradguard's own initial safetensors
# file, train on the same batches with clip_grad_norm_. Every step's loss and
# gradient norm must agree to 1e-4 (relative) and every clip decision must be
# the same; see peer.py for how ReLU/max-pool kinks are told apart from real
# differences. Single-threaded on both sides. Skipped (exit 0 with a note)
# when /usr/bin/python3 has no torch.
set -u
SRC=${GG_SRC:?}
B=${GG_BUILD:?}
PY=/usr/bin/python3 # Debian's python3-torch lives here, not in the first python3 on PATH
DRIVER=$B/tests/test_parity_driver
. "$(dirname "$0")/common.bash"
"$PY" -c 'import torch, numpy' 2>/dev/null ||
  skip_peer "parity: $PY cannot import torch and numpy (apt-get install python3-torch python3-numpy)"
if [ ! -x "$DRIVER" ]; then
  echo "parity: $DRIVER is missing (build the tests first)" >&2
  exit 1
fi
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
models="mlp cnn lstm rnn attn"
for m in $models; do
  mkdir -p "$T/$m"
  if ! "$DRIVER" run "$m" "$T/$m" 100; then
    echo "parity: the driver failed on $m" >&2
    echo "parity: 0 passed, 1 failed"
    exit 1
  fi
done
if ! "$PY" "$SRC/tests/parity/peer.py" "$T" $models; then
  # keep the runs (per-step logs, weights, batches) for a look
  rm -rf "$B/parity-failed" && cp -r "$T" "$B/parity-failed" && echo "parity: the runs are in $B/parity-failed" >&2
  exit 1
fi
