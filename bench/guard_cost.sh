#!/usr/bin/env bash
# What the default guard costs a healthy run: configs/fashion-mlp.yaml
# trained to the end with the guard off and with the default policy, for
# seeds 1 2 3 (test accuracy: mean of the three), and the step time of the
# same MLP with each setting from bench/gg_bench, the two settings taking
# turns R times so that a change in the machine's load hits both alike.
#
#   bench/guard_cost.sh [BUILD_DIR] [REPS]        (default: build, 7)
#
# GUARD_COST_STEPS_ONLY=1 leaves out the training runs (the step times only).
# The step times end with the guard's own share of the guarded step (the CPU
# time inside its calls, timed by gg_bench in the same runs).
# Everything at 1 thread (OMP_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-build}
REPS=${2:-7}
G=$ROOT/$B/gradguard
GB=$ROOT/$B/bench/gg_bench
for x in "$G" "$GB"; do [ -x "$x" ] || { echo "guard_cost: build first ($x missing)" >&2; exit 1; }; done
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=passive
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/b"
field() { /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

if [ "${GUARD_COST_STEPS_ONLY:-0}" != 1 ]; then
echo "## Accuracy: configs/fashion-mlp.yaml, 5 epochs, 1 thread"
echo
echo "| seed | guard off: test acc | default guard: test acc | guard events |"
echo "|---|---|---|---|"
for s in 1 2 3; do
  for g in off on; do
    en=true
    [ $g = off ] && en=false
    "$G" train "$ROOT/configs/fashion-mlp.yaml" -o "$T/$g-$s" --set train.seed=$s --set guard.enabled=$en \
      --set train.threads=1 --quiet >/dev/null
  done
  ev=$(grep -c '"type":"guard"' "$T/on-$s/events.jsonl" || true)
  echo "| $s | $(field "$T/off-$s/summary.json" test_accuracy) | $(field "$T/on-$s/summary.json" test_accuracy) | $ev |"
done
/usr/bin/python3 - "$T" <<'EOF'
import json, sys, statistics as st
t = sys.argv[1]
acc = {g: [json.load(open("%s/%s-%d/summary.json" % (t, g, s)))["test_accuracy"] for s in (1, 2, 3)] for g in ("off", "on")}
d = (st.mean(acc["on"]) - st.mean(acc["off"])) * 100
print("| mean | %.4f | %.4f | difference %+.2f points |" % (st.mean(acc["off"]), st.mean(acc["on"]), d))
EOF
fi
echo
echo "## Step time: gg_bench mlp (784-256-128-10, Adam, batch 128), 1 thread, $REPS turns each"
echo
for r in $(seq "$REPS"); do
  for g in off default; do
    "$GB" mlp --threads 1 --steps 400 --reps 1 --guard $g --dir "$T/b" --max-time 8 | tail -1 >>"$T/$g.jsonl"
  done
done
/usr/bin/python3 - "$T" <<'EOF'
import json, sys, statistics as st
t = sys.argv[1]
# process CPU time per step: at 1 thread the step's own cost, whatever else
# the machine runs (the wall-clock medians are printed too)
ms = {g: [json.loads(l)["cpu_ms_median"] for l in open("%s/%s.jsonl" % (t, g))] for g in ("off", "default")}
wall = {g: [json.loads(l)["ms_median"] for l in open("%s/%s.jsonl" % (t, g))] for g in ("off", "default")}
# per turn: the ratio of the two runs taken back to back
ratios = [b / a for a, b in zip(ms["off"], ms["default"])]
print("| setting | CPU ms/step median | min | max | wall ms/step median |")
print("|---|---|---|---|---|")
for g in ("off", "default"):
    print("| guard %s | %.3f | %.3f | %.3f | %.3f |" % (g, st.median(ms[g]), min(ms[g]), max(ms[g]), st.median(wall[g])))
print()
print("CPU time, default / off, median of the per-turn ratios: **%.3f** (%+.1f%%; turns: %s)"
      % (st.median(ratios), (st.median(ratios) - 1) * 100, " ".join("%.3f" % r for r in ratios)))
# the guard's own share of the guarded step: the CPU time inside its calls
# over the step's, both taken in the same repetition (gg_bench's
# guard_share_median): what the guard costs, without the noise of two runs
share = [json.loads(l)["guard_share_median"] for l in open("%s/default.jsonl" % t)]
print()
print("CPU time inside the guard's calls / the guarded step's, median over the turns: **%.2f%%** (min %.2f%%, "
      "max %.2f%%)" % (100 * st.median(share), 100 * min(share), 100 * max(share)))
EOF
