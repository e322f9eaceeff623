#!/usr/bin/env bash
# The gauntlet: configs that explode without protection, each run three
# ways one after the other: gradguard with the guard off, gradguard with the
# DEFAULT guard policy (no per-case tuning), and PyTorch (Debian's
# python3-torch) with clip_grad_norm_(max_norm=1.0) on the same model, data,
# optimizer and budget. Prints a Markdown table and writes it to
# bench/results/gauntlet-<date>.md.
#
#   bench/gauntlet/run.sh [BUILD_DIR] [CASE ...]      (default: build, all cases)
#
# Precondition, checked and printed: the unguarded run must diverge (a
# non-finite loss, or a loss above 10x its first step's) within its budget.
# Everything runs at 1 thread on both sides, so the two are comparable.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-build}
shift || true
G="$ROOT/$B/gradguard"
[ -x "$G" ] || { echo "gauntlet: build first ($G missing)" >&2; exit 1; }
cases=("$@")
[ ${#cases[@]} -eq 0 ] && cases=($(cd "$ROOT/configs/gauntlet" && ls *.yaml | sed 's/\.yaml$//'))
OUT=$(mktemp -d)
mkdir -p "$ROOT/bench/results"
RES="$ROOT/bench/results/gauntlet-$(date +%Y%m%d-%H%M).md"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

# field FILE KEY: a number or string from a flat JSON object
field() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); v=d.get(sys.argv[2]); print('' if v is None else v)" "$1" "$2" 2>/dev/null; }
metric() { # the headline result of a summary: accuracy, or MSE for regression
  local a l
  a=$(field "$1" test_accuracy)
  l=$(field "$1" test_loss)
  if [ -n "$a" ]; then printf 'acc %.4f' "$a"
  elif [ -n "$l" ]; then printf 'MSE %.4f' "$l"
  else printf 'non-finite' # summary.json writes null for a NaN loss
  fi
}
diverged() { # nonfinite steps, or max loss above 10x the first
  /usr/bin/python3 -c "
import json,sys,math
d=json.load(open(sys.argv[1]))
f,m,n=d.get('first_loss'),d.get('max_loss'),d.get('nonfinite_steps') or 0
print('yes' if n>0 or (f and m and m>10*f) or d.get('status')=='diverged' else 'NO')" "$1"
}

{
  echo "| case | precondition: unguarded diverges | gradguard, guard off | gradguard, default guard | guard actions | PyTorch + clip_grad_norm_(1.0) |"
  echo "|---|---|---|---|---|---|"
} | tee "$RES"
for c in "${cases[@]}"; do
  cfg="$ROOT/configs/gauntlet/$c.yaml"
  "$G" train "$cfg" -o "$OUT/$c-off" --set guard.enabled=false --set train.threads=1 --quiet >/dev/null 2>&1
  "$G" train "$cfg" -o "$OUT/$c-on" --set train.threads=1 --quiet >/dev/null 2>&1
  torch=$(/usr/bin/python3 "$ROOT/bench/gauntlet/torch_peer.py" "$cfg" --clip 1.0 --threads 1 2>&1 | tail -1)
  tmet=$(/usr/bin/python3 -c "
import json,sys
d=json.loads(sys.argv[1])
print(('acc %.4f' % d['test_accuracy']) if 'test_accuracy' in d else ('MSE %.4f' % d['test_mse']), '(' + d['status'] + ')')" "$torch" 2>/dev/null || echo "error: $torch")
  pre=$(diverged "$OUT/$c-off/summary.json")
  off="$(metric "$OUT/$c-off/summary.json") ($(field "$OUT/$c-off/summary.json" status))"
  on="$(metric "$OUT/$c-on/summary.json") ($(field "$OUT/$c-on/summary.json" status))"
  acts=$(/usr/bin/python3 -c "
import json,sys,collections
c=collections.Counter()
for line in open(sys.argv[1]):
    e=json.loads(line)
    if e.get('type')=='guard': c[e['signal']+':'+e['action']]+=1
print(', '.join('%s x%d' % kv for kv in sorted(c.items())) or 'none')" "$OUT/$c-on/events.jsonl" 2>/dev/null)
  echo "| $c | $pre | $off | $on | $acts | $tmet |" | tee -a "$RES"
done
echo
echo "runs kept in $OUT; table in $RES"
