#!/usr/bin/env bash
# Determinism: the same config, seed and thread count gives bit-identical
# weights (model and every checkpoint, byte for byte but the run's id),
# losses and metrics (metrics.csv but its samples_per_second column) and
# guard events (events.jsonl but the run directory's name), for 1 and 2
# threads, on an
# MLP whose run the guard acts on (injected faults: a loss blow-up, a NaN
# input, a gradient spike) and on a character LSTM. What does change the
# bits (the thread count; under MPI, the world size) is printed, not
# checked: docs/robustness.md, "Determinism".
# Environment: GG_BIN (the gradguard binary), GG_SRC (the source dir).
set -u
G=${GG_BIN:?}
SRC=${GG_SRC:?}
. "$(dirname "$0")/common.bash"

MLP=(train "$SRC/configs/fashion-mlp.yaml" --set data.limit_train=3000 --set data.limit_test=300 --set train.epochs=3
     --set 'guard.faults=[{batch: 5, scale: 1.0e+4}, {batch: 12, nan: true}, {batch: 50, scale: 1.0e+6}]' --quiet)
head -c 6000 "$SRC/README.md" >"$T/prose.txt"
# a small character LSTM of its own (the shipped configs change with tuning)
cat >"$T/char.yaml" <<END
data: {format: text, train: $T/prose.txt, length: 32, stride: 8, val_fraction: 0.1, test: none}
model:
  - {type: embedding, dim: 16}
  - {type: lstm, hidden: 32}
  - {type: dense}
loss: {name: softmax_xent}
optimizer: {name: adam, lr: 3.0e-3}
train: {epochs: 2, batch: 16, seed: 1}
END
LSTM=(train "$T/char.yaml" --quiet)

# what a run's files say, with what legitimately differs between two runs
# (the run directory's name, the throughput, the run's id) taken out
metrics() { cut -d, -f1-9 "$1/metrics.csv"; }
# a checkpoint but its run id (and the header checksum that covers it):
# the header's JSON with those two values blanked, then the data
ckpt_bytes() {
  local n
  n=$(od -An -t u8 -N8 "$1" | tr -d ' ')
  head -c $((8 + n)) "$1" | tail -c "$n" | sed -e 's/"run_id":"[^"]*"/"run_id":""/' \
    -e 's/"gg_header_crc32":"[^"]*"/"gg_header_crc32":""/'
  tail -c +$((9 + n)) "$1"
}
events() { sed "s|$1|RUN|g" "$1/events.jsonl"; }
same_run() { # $1 $2: run dirs, $3: what
  check "cmp -s '$1/model.safetensors' '$2/model.safetensors'" "$3: the final weights differ"
  local n=0 c
  for c in "$1"/checkpoints/ckpt-*.safetensors; do
    n=$((n + 1))
    check "cmp -s <(ckpt_bytes '$c') <(ckpt_bytes '$2/checkpoints/${c##*/}')" "$3: checkpoint ${c##*/} differs"
    check "grep -aq '\"run_id\":\"' '$c'" "$3: checkpoint ${c##*/} has no run_id"
  done
  check "[ $n -ge 1 ]" "$3: no checkpoints to compare"
  check "diff <(metrics '$1') <(metrics '$2') >/dev/null" "$3: losses and metrics differ: $(diff <(metrics "$1") <(metrics "$2") | head -4)"
  check "diff <(events '$1') <(events '$2') >/dev/null" "$3: guard events differ: $(diff <(events "$1") <(events "$2") | head -4)"
}

for th in 1 2; do
  for r in a b; do
    "$G" "${MLP[@]}" --set train.threads=$th -o "$T/mlp$th$r" >"$T/out" 2>&1 ||
      check false "mlp, $th thread(s), run $r: $(cat "$T/out")"
    "$G" "${LSTM[@]}" --set train.threads=$th -o "$T/lstm$th$r" >"$T/out" 2>&1 ||
      check false "lstm, $th thread(s), run $r: $(cat "$T/out")"
  done
  same_run "$T/mlp${th}a" "$T/mlp${th}b" "mlp, $th thread(s)"
  same_run "$T/lstm${th}a" "$T/lstm${th}b" "lstm, $th thread(s)"
  g=$(grep -c '"type":"guard"' "$T/mlp${th}a/events.jsonl")
  check "[ $g -ge 3 ]" "mlp, $th thread(s): the guard acted $g times, want at least 3 (the faults)"
  echo "determinism: $th thread(s): two runs each bit-identical (mlp with $g guard events, lstm)"
done
# not a requirement, a fact for the docs: does the thread count change the bits?
for m in mlp lstm; do
  if cmp -s "$T/${m}1a/model.safetensors" "$T/${m}2a/model.safetensors"; then
    echo "determinism: $m: 1 and 2 threads give the same weights on this machine"
  else
    echo "determinism: $m: 1 and 2 threads give different weights (expected: reductions split differently)"
  fi
done
finish determinism
