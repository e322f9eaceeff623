#!/usr/bin/env bash
# Data-parallel throughput on this machine: the same training run on
# 1 rank x 1 thread, 1 rank x 2 threads and 2 ranks x 1 thread (mpirun), for
# a small MLP (Fashion-MNIST 784-256-128-10, 235k parameters, 0.9 MB of
# gradient) and a wide one (784-2048-2048-10, 5.8M parameters, 23 MB), and
# for the wide one the gradient allreduce in 1 MiB and 4 MiB buckets.
# Prints samples per second of training steps (rank 0's step time: batch,
# forward, backward, reductions, guard, optimizer) and the share of that
# time spent in the step's reductions (waiting for the slower rank
# included), from each run's summary.json.
# Usage: bench/mpi.sh [BUILD_DIR] [STEPS]   (docs/results.md, "Data-parallel training (MPI)")
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
STEPS=${2:-200}
G=$BUILD/gradguard
command -v mpirun >/dev/null || { echo "bench/mpi.sh: no mpirun (apt-get install openmpi-bin)" >&2; exit 1; }
"$G" --version | grep -q "data parallel: MPI" || { echo "bench/mpi.sh: $G was built without MPI" >&2; exit 1; }
MPIRUN=(mpirun --oversubscribe --bind-to none)
[ "$(id -u)" -eq 0 ] && MPIRUN+=(--allow-run-as-root)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# sleeping OpenMP waiters, as the command chooses for itself outside mpirun
export OMP_WAIT_POLICY=passive

cfg() { # name steps units...
  local name=$1 steps=$2
  shift 2
  {
    echo "data: {train: /usr/share/datasets/fashion-mnist, test: none, val_fraction: 0}"
    echo "model:"
    for u in "$@"; do echo "  - {type: dense, units: $u, act: relu}"; done
    echo "  - {type: dense, units: 10}"
    echo "loss: {name: softmax_xent}"
    echo "optimizer: {name: adam, lr: 1.0e-3}"
    echo "train: {epochs: 1, batch: 128, seed: 1, log_every: 1000, max_steps: $steps}"
  } >"$T/$name.yaml"
}
cfg small "$STEPS" 256 128
cfg wide "$((STEPS / 4 > 10 ? STEPS / 4 : 10))" 2048 2048

field() { sed -n "s/^  \"$2\": \\([^,]*\\),*$/\\1/p" "$1/summary.json"; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
printf '%-6s %-26s %-8s %10s %8s %10s %16s\n' model layout bucket samples/s speedup share "reductions/step"
for model in small wide; do
  base=""
  for layout in "1x1" "1x2" "2x1" "2x1:1" "2x1:4"; do
    [ "$model" = small ] && [ "${layout#*:}" != "$layout" ] && continue
    np=${layout%%x*}
    rest=${layout#*x}
    th=${rest%%:*}
    bucket=0
    [ "${rest#*:}" != "$rest" ] && bucket=${rest#*:}
    out=$T/$model-$layout
    set=(--set "train.threads=$th" --set "dist.bucket_mb=$bucket" --quiet)
    if [ "$np" = 1 ]; then
      "$G" train "$T/$model.yaml" -o "$out" "${set[@]}" >/dev/null
    else
      "${MPIRUN[@]}" -np "$np" "$G" train "$T/$model.yaml" -o "$out" "${set[@]}" >/dev/null
    fi
    steps=$(field "$out" steps)
    secs=$(field "$out" step_seconds)
    share=$(field "$out" allreduce_share)
    comm=$(field "$out" allreduce_seconds)
    sps=$(awk "BEGIN { print $steps * 128 / $secs }")
    [ -z "$base" ] && base=$sps
    if [ "$np" = 1 ]; then
      b="-" s="-" c="-"
    else
      b=$([ "$bucket" = 0 ] && echo whole || echo "${bucket}MiB")
      s=$(awk "BEGIN { printf \"%.1f%%\", $share * 100 }")
      c=$(awk "BEGIN { printf \"%.2f ms\", $comm * 1000 / $steps }")
    fi
    printf '%-6s %-26s %-8s %10.0f %7.2fx %10s %16s\n' "$model" "$np rank(s) x $th thread(s)" "$b" "$sps" \
      "$(awk "BEGIN { print $sps / $base }")" "$s" "$c"
  done
done
echo "load average after: $(cut -d" " -f1-3 /proc/loadavg)"
