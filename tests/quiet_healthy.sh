#!/usr/bin/env bash
# The quiet-failure monitor end to end: the healthy MLP (configs/fashion-mlp.yaml,
# shortened) raises no stall, collapse, initialisation, dead-unit,
# saturation or vanishing-gradient event (no false alarms); the deep plain
# MLP of gauntlet case 6b reports its vanishing gradient profile and its
# stall at chance level within the first epoch, naming the layers.
set -u
G=${GG_BIN:?}
SRC=${GG_SRC:?}
[ -d /usr/share/datasets/fashion-mnist ] || { echo "skip: no Fashion-MNIST" >&2; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
ALARMS='"signal":"(stall|collapse|poor_init|dead_units|saturation|vanishing_gradient)"'

# healthy: 600 steps of the default model (its cosine schedule shortened to fit)
"$G" train "$SRC/configs/fashion-mlp.yaml" -o "$T/mlp" --set train.max_steps=600 --set train.threads=1 \
  --set train.checkpoint_every=0 --quiet >/dev/null 2>&1 || bad "fashion-mlp run failed"
[ -s "$T/mlp/layers.csv" ] || bad "no layers.csv"
head -1 "$T/mlp/layers.csv" | grep -q "dead_fraction,saturated_fraction" || bad "layers.csv lacks the quiet columns"
if grep -Eq "$ALARMS" "$T/mlp/events.jsonl"; then bad "false alarm on fashion-mlp: $(grep -E "$ALARMS" "$T/mlp/events.jsonl")"; fi
grep -q '"stalls": 0' "$T/mlp/summary.json" || bad "summary counts a stall"

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
