#!/usr/bin/env bash
# The rate-jump rule end to end, on the default MLP (configs/fashion-mlp.yaml,
# 300 steps): Adam 1e-3 whose schedule jumps x10 at step 100 (a milestone with
# gamma 10) makes the loss rise: the jump fails its probation, the run rolls
# back and goes on with the rate capped at 1e-3, which the metrics show.
# Jumps the run bears are left alone: SGD 0.01 jumping x5, a cosine schedule
# restarting to its peak, a linear warm-up, a one-cycle ramp.
set -u
. "$(dirname "$0")/common.bash"
G=${GG_BIN:?}
SRC=${GG_SRC:?}
[ -d /usr/share/datasets/fashion-mnist ] || { echo "skip: no Fashion-MNIST" >&2; exit 77; }
run() { # dir, --set pairs...
  local d=$1
  shift
  local a=()
  for s in "$@"; do a+=(--set "$s"); done
  "$G" train "$SRC/configs/fashion-mlp.yaml" -o "$T/$d" "${a[@]}" --set train.max_steps=300 --set train.threads=1 \
    --set train.checkpoint_every=0 --set train.log_every=10 --quiet >/dev/null 2>&1 || bad "$d: the run failed"
}

run jump schedule.name=multistep 'schedule.milestones=[100]' schedule.gamma=10
check "grep -q '\"signal\":\"rate_jump\".*\"action\":\"rollback\".*rose to 0.01 at step 100.*caps it at 0.001' $T/jump/events.jsonl" \
  "no rate_jump rollback with the cap: $(grep guard "$T/jump/events.jsonl")"
check "grep -q '\"rate_jump\": 1' $T/jump/summary.json" "summary does not count the failed probation"
check "grep -q '\"backoffs\": 0' $T/jump/summary.json" "the cap came with a halving too"
# every step row from step 101 on is at the capped rate (branch 1, the replay)
check "awk -F, '\$1 == \"step\" && \$2 > 100 && \$12 == 1 { n++; if (\$6 > 1.0001e-3) hi = 1 } END { exit !(n > 0 && !hi) }' $T/jump/metrics.csv" \
  "the replay's rate is not capped at 1e-3 (metrics.csv lr)"

run sgd optimizer.name=sgd optimizer.lr=0.01 schedule.name=multistep 'schedule.milestones=[100]' schedule.gamma=5
run restarts schedule.name=cosine schedule.t0=100
run warmup schedule.name=cosine schedule.warmup_steps=100
run onecycle optimizer.name=sgd optimizer.momentum=0.9 optimizer.lr=0.01 schedule.name=onecycle
for d in sgd restarts warmup onecycle; do
  check "! grep -q '\"signal\":\"rate_jump\"' $T/$d/events.jsonl" "$d: a rate_jump event: $(grep rate_jump "$T/$d/events.jsonl")"
  check "grep -q '\"rollbacks\": 0' $T/$d/summary.json" "$d: rolled back"
done
check "awk -F, '\$1 == \"step\" && \$2 > 100 && \$6 > 0.049 { up = 1 } END { exit !up }' $T/sgd/metrics.csv" \
  "sgd: the jump the run bears was not kept"

finish rate_jump
