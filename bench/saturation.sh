#!/usr/bin/env bash
# A saturated initialisation: a 10 x 128 tanh MLP at Xavier normal x 3, SGD
# 0.05 with momentum 0.9, batch 128, 2 epochs of Fashion-MNIST, 1 thread.
# Each seed is trained without the guard, with the default guard, and (as a
# control) at Xavier x 1 with the default guard, under each OpenBLAS kernel
# family given; prints a markdown table of test accuracy and the guard's
# step-0 event.
# usage: bench/saturation.sh [BUILD_DIR] [SEEDS] [KERNELS]
#   e.g. bench/saturation.sh build "1 2 3" "Haswell SkylakeX"
set -eu
B=${1:-build}
SEEDS=${2:-1 2 3}
KERNELS=${3:-Haswell SkylakeX}
G=$(cd "$B" && pwd)/gradguard
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
layers=""
for i in 1 2 3 4 5 6 7 8 9 10; do layers="$layers  - {type: dense, units: 128, act: tanh, init: xavier_normal, gain: GAIN}
"; done
for gain in 3.0 1.0; do
  cat >"$T/tanh-$gain.yaml" <<END
data: {train: /usr/share/datasets/fashion-mnist, test: /usr/share/datasets/fashion-mnist}
model:
${layers//GAIN/$gain}  - {type: dense, units: 10}
loss: {name: softmax_xent}
optimizer: {name: sgd, lr: 0.05, momentum: 0.9}
train: {epochs: 2, batch: 128, seed: 1, threads: 1}
END
done
acc() { sed -n 's/.*"test_accuracy": \([0-9.]*\).*/\1/p' "$1/summary.json"; }
first_event() { grep -m1 '"type":"guard"' "$1/events.jsonl" | sed -n 's/.*"signal":"\([a-z_]*\)".*"action":"\([a-z]*\)".*/\1 -> \2/p'; }
echo "| kernels | seed | gain 3, guard off | gain 3, default guard | step-0 event | gain 1, default guard | its events |"
echo "|---|---|---|---|---|---|---|"
for k in $KERNELS; do
  for s in $SEEDS; do
    for v in off on ctl; do
      cfg=$T/tanh-3.0.yaml
      extra=()
      [ $v = off ] && extra=(--set guard.enabled=false)
      [ $v = ctl ] && cfg=$T/tanh-1.0.yaml
      OPENBLAS_CORETYPE=$k "$G" train "$cfg" -o "$T/$k-$s-$v" --set train.seed="$s" "${extra[@]}" --quiet >/dev/null 2>&1 || true
    done
    ev=$(first_event "$T/$k-$s-on")
    nctl=$(grep -c '"type":"guard"' "$T/$k-$s-ctl/events.jsonl" || true)
    echo "| $k | $s | $(acc "$T/$k-$s-off") | $(acc "$T/$k-$s-on") | ${ev:-none} | $(acc "$T/$k-$s-ctl") | $nctl |"
  done
done
