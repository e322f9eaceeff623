#!/usr/bin/env bash
# The gradguard Python package (python/gradguard, libgradguard through
# ctypes) under Debian's /usr/bin/python3, against a real run of the command
# (fashion-mlp, 40 steps) and PyTorch (tests/parity/pkg_check.py):
#  - load_run: metrics.csv and layers.csv as Tables with typed cells,
#    events, summary, and config.yaml read by gg_cfg_load (an int, a float, a
#    bool, a quoted string stays a string); with pandas, DataFrames of the
#    same values;
#  - load_weights gives torch tensors that load_state_dict(strict=True)
#    takes into the PyTorch twin, whose softmax on 200 test images matches
#    `gradguard predict`'s probabilities to 1e-5 (and its classes);
#  - save_weights of a PyTorch-initialised twin reads back bit for bit, and
#    `gradguard train` started from it (train.init_from, learning rate 0)
#    has the test accuracy PyTorch computes for those weights;
#  - the library's errors (a flipped bit, a missing file, a 5-dim tensor,
#    an empty name) arrive as gradguard.Error with its messages.
set -u
SRC=${GG_SRC:?}
B=${GG_BUILD:?}
G=${GG_BIN:-$B/gradguard}
PY=/usr/bin/python3
. "$(dirname "$0")/common.bash"
"$PY" -c 'import torch, numpy, pandas' 2>/dev/null ||
  skip_peer "python_pkg: $PY cannot import torch, numpy and pandas (scripts/install-deps.sh --with-torch)"
gg_python_env
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
FM=/usr/share/datasets/fashion-mnist
N=200
common=(--set data.limit_train=1000 --set data.limit_test=$N --set train.threads=1 --quiet)

expect 0 "completed" "$G" train "$SRC/configs/fashion-mlp.yaml" -o "$T/run" --set train.max_steps=40 \
  --set 'data.label="64"' "${common[@]}"
expect 0 "wrote $T/preds.csv: 10000 predictions" "$G" predict "$T/run" --data "$FM/t10k-images-idx3-ubyte.gz" \
  --labels "$FM/t10k-labels-idx1-ubyte.gz" -o "$T/preds.csv"
env "${PYENV[@]}" "$PY" "$SRC/tests/parity/pkg_check.py" check "$T/run" "$T/preds.csv" \
  "$FM/t10k-images-idx3-ubyte.gz" $N "$T" >"$T/check.txt" 2>&1
rc=$?
sed 's/^/  /' "$T/check.txt"
n_fail=$(grep -c '^FAIL' "$T/check.txt")
n_ok=$(grep -c '^ok' "$T/check.txt")
check "[ $rc -eq 0 ] && [ $n_fail -eq 0 ] && [ $n_ok -ge 20 ]" "pkg_check.py: status $rc, $n_ok ok, $n_fail failed"

# PyTorch -> gradguard: the saved twin as a run's starting point. At
# learning rate 0 the one step leaves the weights as they are, so the run's
# test accuracy is PyTorch's for them.
if [ -f "$T/pt_init_acc.txt" ]; then
  acc=$(cat "$T/pt_init_acc.txt")
  expect 0 "test accuracy $acc" "$G" train "$SRC/configs/fashion-mlp.yaml" -o "$T/from_pt" \
    --set train.init_from="$T/pt_init.safetensors" --set optimizer.lr=0 --set train.max_steps=1 "${common[@]}"
fi

finish python_pkg
