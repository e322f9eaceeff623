#!/usr/bin/env bash
# The quiet-failure monitor end to end: the healthy MLP (configs/fashion-mlp.yaml,
# shortened) raises no stall, collapse, initialisation, dead-unit, slow-rate,
# saturation or vanishing-gradient event (no false alarms); the same MLP at
# a rate 100x too small has its rate raised (a fine-tune at it is only
# warned); the deep plain MLP of gauntlet
# case 6b reports its vanishing gradient profile and its
# stall at chance level within the first epoch, naming the layers.
set -u
G=${GG_BIN:?}
SRC=${GG_SRC:?}
[ -d /usr/share/datasets/fashion-mnist ] || { echo "skip: no Fashion-MNIST" >&2; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
ALARMS='"signal":"(stall|collapse|poor_init|dead_units|saturation|vanishing_gradient|slow_rate)"'

# healthy: 600 steps of the default model (its cosine schedule shortened to fit)
"$G" train "$SRC/configs/fashion-mlp.yaml" -o "$T/mlp" --set train.max_steps=600 --set train.threads=1 \
  --set train.checkpoint_every=0 --quiet >/dev/null 2>&1 || bad "fashion-mlp run failed"
[ -s "$T/mlp/layers.csv" ] || bad "no layers.csv"
head -1 "$T/mlp/layers.csv" | grep -q "dead_fraction,saturated_fraction" || bad "layers.csv lacks the quiet columns"
if grep -Eq "$ALARMS" "$T/mlp/events.jsonl"; then bad "false alarm on fashion-mlp: $(grep -E "$ALARMS" "$T/mlp/events.jsonl")"; fi
grep -q '"stalls": 0' "$T/mlp/summary.json" || bad "summary counts a stall"

# the same model at a rate 100x too small: raised at the third pass (step 150,
# the cosine schedule still over half its peak), and the rate in force passes
# the schedule's own, which never exceeds 1e-5
"$G" train "$SRC/configs/fashion-mlp.yaml" -o "$T/slow" --set optimizer.lr=1e-5 --set train.max_steps=400 \
  --set train.threads=1 --set train.checkpoint_every=0 --quiet >/dev/null 2>&1 || bad "slow run failed"
grep -q '"step":150,.*"signal":"slow_rate".*"action":"raise".*far too small' "$T/slow/events.jsonl" ||
  bad "no slow_rate raise at step 150: $(grep slow_rate "$T/slow/events.jsonl")"
awk -F, '$1 == "step" && $6 > 1.5e-5 { up = 1 } END { exit !up }' "$T/slow/metrics.csv" ||
  bad "the rate in force was never raised (metrics.csv lr)"
grep -q '"slow_rate": [1-9]' "$T/slow/summary.json" || bad "summary does not count the raise"
# a fine-tune (train.init_from) at that rate is told, not raised
"$G" train "$SRC/configs/fashion-mlp.yaml" -o "$T/ft" --set train.init_from="$T/mlp/model.safetensors" \
  --set optimizer.lr=1e-5 --set train.max_steps=400 --set train.threads=1 --set train.checkpoint_every=0 \
  --quiet >/dev/null 2>&1 || bad "fine-tune run failed"
grep -q '"signal":"slow_rate".*"action":"warn"' "$T/ft/events.jsonl" || bad "fine-tune: no slow_rate warning"
if grep -q '"action":"raise"' "$T/ft/events.jsonl"; then bad "fine-tune: its rate was raised"; fi

# case 6b, first 330 steps: the vanishing profile and the stall, layers named
out=$("$G" train "$SRC/configs/gauntlet/6b-vanishing-noise.yaml" -o "$T/deep" --set train.max_steps=330 \
  --set train.threads=1 --set train.checkpoint_every=0 2>&1)
grep -q '"signal":"vanishing_gradient"' "$T/deep/events.jsonl" || bad "no vanishing_gradient event"
grep -q '"signal":"stall".*"action":"noise"' "$T/deep/events.jsonl" || bad "no stall event with the noise remedy"
grep -Eq 'guard: step [0-9]+: stall .*stalled at chance level .*gradient vanishes with depth: fc1 ' <<<"$out" ||
  bad "no readable stall line naming fc1: $out"
n=$(grep -c 'vanishing_gradient' "$T/deep/events.jsonl")
[ "$n" -le 1 ] || bad "vanishing_gradient reported $n times in 330 steps (rate limit)"

[ $fail -eq 0 ] && echo "quiet_healthy: all passed" && exit 0
exit 1
