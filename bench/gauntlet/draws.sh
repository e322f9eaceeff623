#!/usr/bin/env bash
# The gauntlet's cases over seeds and both OpenBLAS kernel families, under
# the default guard: one markdown row per case x seed x kernel family with
# the run's status, test accuracy (MSE for case 4), and the guard's actions.
# A result holds when it holds over the seeds and both families, not for one
# draw. 1 thread per run.
# usage: bench/gauntlet/draws.sh [BUILD_DIR] [CASES] [SEEDS] [KERNELS]
#   e.g. bench/gauntlet/draws.sh build "2-mlp-sgd-lr 5-faults" "1 2 3" "Haswell SkylakeX"
set -eu
B=${1:-build}
CASES=${2:-1-deep-mlp 2-mlp-sgd-lr 3-cnn-adam-lr 5-faults}
SEEDS=${3:-1 2 3}
KERNELS=${4:-Haswell SkylakeX}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
G=$(cd "$B" && pwd)/gradguard
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
field() { sed -n "s/.*\"$2\": \\([^,}]*\\).*/\\1/p" "$1/summary.json" | head -1 | tr -d '"'; }
echo "| case | kernels | seed | status | test accuracy | guard actions |"
echo "|---|---|---|---|---|---|"
for c in $CASES; do
  for k in $KERNELS; do
    for s in $SEEDS; do
      d=$T/$c-$k-$s
      OPENBLAS_CORETYPE=$k "$G" train "$SRC/configs/gauntlet/$c.yaml" -o "$d" --set train.seed="$s" \
        --set train.threads=1 --quiet >/dev/null 2>&1 || true
      acts=$(grep '"type":"guard"' "$d/events.jsonl" 2>/dev/null | grep -v '"action":"warn"\|"action":"info"' |
        sed -n 's/.*"signal":"\([a-z_]*\)".*"action":"\([a-z]*\)".*/\1:\2/p' | sort | uniq -c |
        awk '{printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1}')
      res=$(field "$d" test_accuracy)
      # a regression (the adding problem) has no accuracy: its test loss is the MSE
      [ "$res" = null ] && res="MSE $(field "$d" test_loss)"
      echo "| $c | $k | $s | $(field "$d" status) | $res | ${acts:-none} |"
    done
  done
done
