#!/usr/bin/env bash
# Weights between gradguard and PyTorch through safetensors files, read and
# written in Python by the gradguard package (python/gradguard: libgradguard
# through ctypes; tests/parity/interop.py):
#  (a) gradguard -> PyTorch: models saved by gg_model_save (MLP, CNN, LSTM,
#      attention) and a real `gradguard train` run's model.safetensors and
#      checkpoint (fashion-mlp and fashion-cnn, 5 steps) are read by
#      gradguard.load_weights (checksums checked by the library) and loaded
#      with load_state_dict(strict=True); PyTorch's outputs on a batch match
#      gradguard's evaluation outputs to 1e-5. The run's model file also
#      reads alike through a plain reader (tests/parity/st_read.py, numpy
#      only), its gg_crc32 the CRC-32 of its data: other tools read it.
#  (b) PyTorch -> gradguard: PyTorch-initialised models written by
#      gradguard.save_weights (gradguard's names; the state_dict's own names
#      through gg_model_import) and, by the plain writer, F64 data, give the
#      same outputs in gradguard;
#      a wrong shape names the tensor and both shapes, a missing tensor names
#      it, and gg_model_import names a tensor the model does not have.
# Skipped (exit 0 with a note) when /usr/bin/python3 has no torch.
set -u
SRC=${GG_SRC:?}
B=${GG_BUILD:?}
G=${GG_BIN:-$B/gradguard}
PY=/usr/bin/python3 # Debian's python3-torch lives here, not in the first python3 on PATH
D=$B/tests/test_parity_driver
I=$SRC/tests/parity/interop.py
. "$(dirname "$0")/common.bash"
"$PY" -c 'import torch, numpy' 2>/dev/null ||
  skip_peer "interop: $PY cannot import torch and numpy (apt-get install python3-torch python3-numpy)"
gg_python_env
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

env "${PYENV[@]}" "$PY" "$I" prepare "$T" || bad "interop.py prepare"
S=$T/specs.txt
: >"$S"

# --- (a) gradguard -> PyTorch: gg_model_save's files ---
for m in mlp cnn lstm attn; do
  "$D" save "$m" 5 "$T/gg_$m.safetensors" || bad "driver save $m"
  "$D" eval "$m" "$T/gg_$m.safetensors" "$T/x_$m.bin" 16 "$T/out_$m.bin" || bad "driver eval $m"
  echo "check $m $T/gg_$m.safetensors $T/x_$m.bin $T/out_$m.bin" >>"$S"
done

# a real run of the command: its model file and its newest checkpoint
for m in mlp cnn; do
  run=$T/run_$m
  expect 0 "completed" "$G" train "$SRC/configs/fashion-$m.yaml" -o "$run" --set train.max_steps=5 \
    --set data.limit_train=500 --set data.limit_test=100 --set train.threads=1 --quiet
  x=$T/x_fashion-$m.bin
  "$D" eval "fashion-$m" "$run/model.safetensors" "$x" 16 "$T/out_f$m.bin" || bad "driver eval fashion-$m"
  echo "check fashion-$m $run/model.safetensors $x $T/out_f$m.bin" >>"$S"
  echo "plain $run/model.safetensors" >>"$S"
  ck=$(ls "$run"/checkpoints/ckpt-*.safetensors 2>/dev/null | sort | tail -1)
  if [ -z "$ck" ]; then
    bad "fashion-$m: no checkpoint in $run/checkpoints"
    continue
  fi
  "$D" eval "fashion-$m" "$ck" "$x" 16 "$T/outck_f$m.bin" import || bad "driver eval (import) of $ck"
  # strict: the checkpoint's optimizer state is the one tensor that is not a weight
  echo "check fashion-$m $ck $x $T/outck_f$m.bin optimizer.state" >>"$S"
  echo "refuse fashion-$m $ck" >>"$S"
done

# --- (b) PyTorch -> gradguard ---
for m in mlp cnn lstm attn; do
  x=$T/pt_${m}_x.bin
  "$D" eval "$m" "$T/pt_$m.safetensors" "$x" 8 "$T/gg_from_pt_$m.bin" || bad "driver eval pt_$m"
  echo "compare $T/gg_from_pt_$m.bin $T/pt_${m}_out.bin" >>"$S"
  # the state_dict's own names (lstm1.weight_ih_l0 ...) through gg_model_import
  "$D" eval "$m" "$T/pt_${m}_torch.safetensors" "$x" 8 "$T/gg_import_$m.bin" import || bad "driver import pt_$m"
  echo "compare $T/gg_import_$m.bin $T/pt_${m}_out.bin" >>"$S"
  # F64 data converts to float32 on load
  "$D" eval "$m" "$T/pt_${m}_f64.safetensors" "$x" 8 "$T/gg_f64_$m.bin" || bad "driver eval pt_${m}_f64"
  echo "compare $T/gg_f64_$m.bin $T/pt_${m}_out.bin" >>"$S"
done

# --- the Python side of all of the above, in one process ---
env "${PYENV[@]}" "$PY" "$I" verify "$S" >"$T/verify.txt" 2>&1
n_ok=$(grep -c '^ok' "$T/verify.txt")
n_specs=$(grep -c . "$S")
if [ "$n_ok" -eq "$n_specs" ]; then ok; else bad "$((n_specs - n_ok)) of $n_specs Python checks failed"; fi
sed 's/^/  /' "$T/verify.txt"
for m in mlp cnn; do
  meta=gg_crc32,gg_format,gg_header_crc32,gg_kind
  check "grep -q '^ok fashion-$m (model.safetensors, metadata $meta)' '$T/verify.txt'" \
    "the command's fashion-$m model file: plain reader, metadata ignored, strict load, same outputs"
  check "grep -q '^ok fashion-$m (ckpt-[0-9]*.safetensors, metadata .*guard\.memory\.lr_scale' '$T/verify.txt'" \
    "the command's fashion-$m checkpoint: plain reader, strict load, same outputs"
  check "grep -q '^ok refused ckpt-[0-9]*.safetensors: .*Unexpected key.*optimizer.state' '$T/verify.txt'" \
    "a strict load of the fashion-$m checkpoint names optimizer.state"
done

# gg_model_load wants gradguard's names: the LSTM's state_dict names are reported
expect 1 "the model's tensor 'lstm1.weight_ih' is missing" "$D" load lstm "$T/pt_lstm_torch.safetensors"

# --- (b) what a bad file says ---
expect 1 "bad_shape.safetensors: tensor 'fc1.weight' has shape (784, 64), the model needs (64, 784)" \
  "$D" load mlp "$T/bad_shape.safetensors"
expect 1 "bad_shape.safetensors: tensor 'fc1.weight' has shape (784, 64), the model's 'fc1.weight' is (64, 784)" \
  "$D" load mlp "$T/bad_shape.safetensors" import
expect 1 "bad_missing.safetensors: the model's tensor 'fc2.bias' is missing" "$D" load mlp "$T/bad_missing.safetensors"
expect 1 "bad_missing.safetensors: the model's tensor 'fc2.bias' (10) is missing" \
  "$D" load mlp "$T/bad_missing.safetensors" import
expect 1 "bad_extra.safetensors: tensor 'fc3.weight' (10, 64) is not in the model" \
  "$D" load mlp "$T/bad_extra.safetensors" import
expect 0 "^ok" "$D" load mlp "$T/bad_extra.safetensors"
# BatchNorm's int64 counter in a PyTorch file is not a weight: skipped
expect 0 "^ok" "$D" load mlp "$T/with_counter.safetensors" import

finish interop
