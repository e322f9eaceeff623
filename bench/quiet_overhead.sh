#!/usr/bin/env bash
# What the quiet-failure monitor costs. First quiet_bench (bench/quiet_bench.c):
# the MLP's training step in thread CPU time, monitor off / every 50 steps /
# every step, interleaved rounds, medians; CPU time is what a shared machine
# disturbs least. Then end to end, wall clock: the default MLP (configs/fashion-mlp.yaml,
# 600 steps, 1 thread) with the guard on, guard.quiet false against true,
# interleaved (off, on, off, on, ...) so that a busy machine hurts both
# alike. A run's speed is the median of its metrics.csv step rows
# (samples/s over each log interval of 50 steps, a monitor pass included);
# the result is the median over the repetitions of each side. A difference
# under 1% is below what a shared machine resolves, so a third side runs the
# monitor at every step (guard.monitor_every=1): its extra time per step is
# the cost of one pass, and that over 50 is the cost at the log interval,
# measured 50x magnified.
#
#   bench/quiet_overhead.sh [BUILD_DIR] [REPS]        (default: build 7)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-build}
REPS=${2:-7}
case $B in /*) G="$B/gradguard" ;; *) G="$ROOT/$B/gradguard" ;; esac
[ -x "$G" ] || { echo "quiet_overhead: build first ($G missing)" >&2; exit 1; }
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
QB="$(dirname "$G")/bench/quiet_bench"
if [ -x "$QB" ]; then
  echo "== quiet_bench (thread CPU time per step)"
  "$QB" 15 200
  echo "== end to end (wall clock, samples/s of metrics.csv)"
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
med() { # median samples/s of the step rows of a metrics.csv
  /usr/bin/python3 -c "
import csv,statistics,sys
r=[float(x['samples_per_second']) for x in csv.DictReader(open(sys.argv[1])) if x['kind']=='step' and x['samples_per_second']]
print(statistics.median(r[1:]))" "$1"
}
off=() on=() every=()
for i in $(seq 1 "$REPS"); do
  for q in false true every; do
    set -- --set guard.quiet=true
    [ $q = false ] && set -- --set guard.quiet=false
    [ $q = every ] && set -- --set guard.quiet=true --set guard.monitor_every=1
    "$G" train "$ROOT/configs/fashion-mlp.yaml" -o "$T/$q-$i" --set train.max_steps=600 --set train.threads=1 \
      --set train.checkpoint_every=0 "$@" --quiet >/dev/null 2>&1 || { echo "run failed" >&2; exit 1; }
    v=$(med "$T/$q-$i/metrics.csv")
    case $q in false) off+=("$v") ;; true) on+=("$v") ;; every) every+=("$v") ;; esac
  done
done
/usr/bin/python3 -c "
import statistics,sys
off,on,ev=([float(x) for x in a.split()] for a in sys.argv[1:4])
mo,mn,me=(statistics.median(x) for x in (off,on,ev))
for name,m,x in (('monitor off', mo, off), ('monitor on (every 50 steps)', mn, on), ('monitor every step', me, ev)):
    print('%-28s median %6.0f samples/s  (runs: %s)' % (name, m, ' '.join('%.0f' % v for v in x)))
print('overhead, direct:            %+.2f%% of step time' % (100 * (mo / mn - 1)))
print('one pass costs %+.1f%% of a step; at the log interval (50): %+.2f%%' % (100 * (mo / me - 1), 100 * (mo / me - 1) / 50))" "${off[*]}" "${on[*]}" "${every[*]}"
