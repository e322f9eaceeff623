#!/usr/bin/env bash
# The guard's state is one thing, end to end, on a small CSV task that
# converges in about a hundred steps (16 features, 3 classes, a 16-32-3
# MLP, SGD 0.05, batch 32):
# - one NaN batch after the run has converged rolls it back to the step-0
#   snapshot (the only confirmed one); the replay is judged against the
#   snapshot's history, not the trained run's loss level, and the run
#   completes at >= 0.97 test accuracy (it used to be stopped as diverged
#   after ten "blow-ups" of the untrained loss against the trained level);
# - a run stopped after epoch 2 and resumed ends with the same guard state,
#   field by field, as the uninterrupted run (checkpoint metadata
#   "guard.*"), and the same weights.
# Environment: GG_BIN (the gradguard binary).
set -u
G=${GG_BIN:?}
. "$(dirname "$0")/common.bash"

# three Gaussian blobs in 16 dimensions, centres +-1.5 per coordinate
awk 'BEGIN {
  srand(7);
  for (c = 0; c < 3; c++) for (j = 0; j < 16; j++) mu[c, j] = (rand() < 0.5 ? -1.5 : 1.5);
  for (f = 0; f < 2; f++) {
    file = f ? "test.csv" : "train.csv"; n = f ? 600 : 3000;
    for (j = 0; j < 16; j++) printf "x%d,", j > file; print "label" > file;
    for (i = 0; i < n; i++) {
      c = int(rand() * 3);
      for (j = 0; j < 16; j++) {
        u1 = rand(); u2 = rand(); if (u1 < 1e-12) u1 = 1e-12;
        printf "%.5f,", mu[c, j] + sqrt(-2 * log(u1)) * cos(6.283185307 * u2) > file;
      }
      print c > file;
    }
  }
}' </dev/null
mv train.csv test.csv "$T/" 2>/dev/null || true
cat >"$T/csv.yaml" <<END
data: {format: csv, train: $T/train.csv, test: $T/test.csv}
model:
  - {type: dense, units: 32, act: relu}
  - {type: dense, units: 3}
loss: {name: softmax_xent}
optimizer: {name: sgd, lr: 0.05}
train: {epochs: 4, batch: 32, seed: 1, threads: 1}
END
summary() { /usr/bin/env python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["status"], d["test_accuracy"])' "$1/summary.json"; }

# 1. NaN after convergence, rolled back (skip_first off: the rollback's
# restore of the guard state is what this checks)
"$G" train "$T/csv.yaml" -o "$T/nan" --set 'guard.faults=[{batch: 150, nan: true}]' --set guard.skip_first=false \
  --quiet >"$T/nan.log" 2>&1
read -r status acc <<<"$(summary "$T/nan")"
check "[ '$status' = completed ]" "NaN after convergence: status $status (want completed); $(tail -3 "$T/nan.log")"
check "awk 'BEGIN { exit !($acc >= 0.97) }'" "NaN after convergence: test accuracy $acc (want >= 0.97)"
check "grep -q '\"nonfinite\".*rollback\|rollback.*nonfinite' '$T/nan/events.jsonl'" "the NaN batch was rolled back: $(grep -c . "$T/nan/events.jsonl") events"
check "! grep -q loss_blowup '$T/nan/events.jsonl'" "no loss blow-up after the rollback: $(grep loss_blowup "$T/nan/events.jsonl" | head -2)"
check "[ -f '$T/nan/model.safetensors' ]" "the run wrote its model"
# ... and under the default policy: skipped, no rollback
"$G" train "$T/csv.yaml" -o "$T/nan2" --set 'guard.faults=[{batch: 150, nan: true}]' --quiet >"$T/nan2.log" 2>&1
read -r status acc <<<"$(summary "$T/nan2")"
check "[ '$status' = completed ] && awk 'BEGIN { exit !($acc >= 0.97) }'" "NaN after convergence (default): $status, $acc"
check "grep -q '\"nonfinite\".*skip\|skip.*nonfinite' '$T/nan2/events.jsonl' && ! grep -q rollback '$T/nan2/events.jsonl'" \
  "the NaN batch was skipped, nothing rolled back: $(head -c 300 "$T/nan2/events.jsonl")"

# 2. resume = uninterrupted, guard state included
guard_fields() { # the guard.* metadata of a checkpoint, one per line
  /usr/bin/env python3 - "$1" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
meta = json.loads(b[8:8 + n]).get("__metadata__", {})
for k in sorted(meta):
    if k.startswith("guard."):
        print(k, meta[k])
PY
}
ARGS=(--set 'guard.faults=[{batch: 40, scale: 1.0e+4}]' --set guard.clip=percentile --quiet)
"$G" train "$T/csv.yaml" -o "$T/full" "${ARGS[@]}" >/dev/null 2>&1
"$G" train "$T/csv.yaml" -o "$T/part" "${ARGS[@]}" --set train.stop_after=2 >/dev/null 2>&1
"$G" resume "$T/part" --quiet >/dev/null 2>&1
last() { ls "$1"/checkpoints/ckpt-*.safetensors | tail -1; }
guard_fields "$(last "$T/full")" >"$T/full.guard"
guard_fields "$(last "$T/part")" >"$T/part.guard"
check "[ \$(wc -l <'$T/full.guard') -gt 40 ]" "the checkpoint names the guard's fields: $(wc -l <"$T/full.guard")"
check "grep -q '^guard.hist.autoclip_norms ' '$T/full.guard' && grep -q '^guard.hist.ema_log_loss.mean ' '$T/full.guard'" \
  "AutoClip's history and the loss statistics are in the checkpoint"
check "cmp -s '$T/full.guard' '$T/part.guard'" "the resumed run's guard state differs: $(diff "$T/full.guard" "$T/part.guard" | head -4 | cut -c1-200)"
check "cmp -s '$T/full/model.safetensors' '$T/part/model.safetensors'" "the resumed run's weights differ"
# 3. a burst of 16 bad batches (more than max_skips, 10) after convergence:
# the 11th failure in a row asks for a rollback, the trainer's probe finds
# the weights still pass the last good batch, and the run skips the whole
# burst (rolling back into it again and again ended this run at 0.55)
for kind in labels nan; do
  F=$(awk -v k="$kind" 'BEGIN { for (b = 150; b < 166; b++) printf "%s{batch: %d, %s: true}", (b > 150 ? ", " : "["), b, k; print "]" }')
  "$G" train "$T/csv.yaml" -o "$T/burst-$kind" --set "guard.faults=$F" --quiet >"$T/burst-$kind.log" 2>&1
  read -r status acc <<<"$(summary "$T/burst-$kind")"
  check "[ '$status' = completed ] && awk 'BEGIN { exit !($acc >= 0.97) }'" "a 16-batch $kind burst: $status, $acc (want >= 0.97)"
  check "grep -q 'the last good batch still passes' '$T/burst-$kind/events.jsonl' && ! grep -q rollback '$T/burst-$kind/events.jsonl'" \
    "a 16-batch $kind burst: probed and skipped through, no rollback: $(grep -c rollback "$T/burst-$kind/events.jsonl") rollbacks"
  check "[ \$(grep -c '\"action\":\"skip\"' '$T/burst-$kind/events.jsonl') -eq 16 ]" "a 16-batch $kind burst: 16 skips"
done

finish guard_state
