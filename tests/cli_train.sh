#!/usr/bin/env bash
# End-to-end tests of the gradguard command on a small slice of
# Fashion-MNIST: a run and its files, resume that matches an uninterrupted
# run bit for bit, the guard's fault handling and diagnosis, divergence,
# every shipped config (shortened), and the messages of bad configs and data.
set -u
G=${GG_BIN:?}
SRC=${GG_SRC:?}
. "$(dirname "$0")/common.bash"
SMALL=(--set data.limit_train=2000 --set data.limit_test=500 --set train.threads=1 --quiet)
MLP=$SRC/configs/fashion-mlp.yaml

# --- help and usage ---
expect 0 "usage: gradguard COMMAND" "$G" --help
expect 0 "resume RUN_DIR" "$G" --help
for c in train resume eval; do expect 0 "usage: gradguard $c" "$G" "$c" --help; done
expect 2 "unknown command 'fly'" "$G" fly
expect 2 "unknown option '--nope'" "$G" train "$MLP" --nope
expect 2 "usage: gradguard train" "$G" train

# --- a small run and its files ---
expect 0 "completed: test loss" "$G" train "$MLP" -o "$T/run" --set train.epochs=2 "${SMALL[@]}"
for f in config.yaml metrics.csv events.jsonl summary.json model.safetensors layers.csv; do
  check "[ -s '$T/run/$f' ]" "run directory has $f"
done
check "grep -q '\"status\": \"completed\"' '$T/run/summary.json'" "summary status completed"
check "grep -q '\"test_accuracy\": 0\.[0-9]' '$T/run/summary.json'" "summary has test_accuracy"
check "grep -q 'epochs: 2' '$T/run/config.yaml'" "resolved config has the --set value"
check "[ \$(grep -c '^epoch,' '$T/run/metrics.csv') -eq 2 ]" "one epoch row per epoch"
expect 0 "test accuracy 0\.[0-9]" "$G" eval "$T/run" --set data.limit_test=500

# --- validation between epochs: train.eval_every ---
expect 0 "step 10: val_loss" "$G" train "$MLP" -o "$T/ev" --set train.epochs=1 --set train.eval_every=10 \
  --set train.log_every=4 --set data.limit_train=4000 --set data.limit_test=500 --set train.threads=1
# steps 10 and 20 of 29 carry a validation (step 30 would be the epoch's end)
check "[ \$(grep -c '^step,[0-9]*,1,[^,]*,[^,]*,[^,]*,[^,]*,[0-9]' '$T/ev/metrics.csv') -eq 2 ]" \
  "eval_every 10: two step rows with a validation loss"
check "grep -q '^step,10,1,.*,0\.[0-9]*,0\.[0-9]*,[0-9.]*,[0-9.]*,[0-9]*\$' '$T/ev/metrics.csv'" "step 10's row has val loss and accuracy"

# --- resume ends with the same weights as an uninterrupted run ---
"$G" train "$MLP" -o "$T/full" --set train.epochs=4 "${SMALL[@]}" >/dev/null
expect 0 "stopped" "$G" train "$MLP" -o "$T/split" --set train.epochs=4 --set train.stop_after=2 "${SMALL[@]}"
check "grep -q '\"status\": \"stopped\"' '$T/split/summary.json'" "split run says stopped"
expect 0 "completed" "$G" resume "$T/split" --quiet
check "cmp -s '$T/full/model.safetensors' '$T/split/model.safetensors'" "resumed weights equal the uninterrupted run's"

# --- summary.json: a value that does not exist is null, never a made-up 0 ---
expect 0 "completed" "$G" train "$MLP" -o "$T/ms" --set train.max_steps=2 --set train.epochs=1 "${SMALL[@]}"
check "grep -q '\"train_loss\": null' '$T/ms/summary.json' && grep -q '\"val_accuracy\": null' '$T/ms/summary.json'" \
  "no finished epoch: train_loss and val_accuracy are null"
check "grep -q '\"samples_per_second\": [0-9]' '$T/ms/summary.json' && grep -q '\"step_seconds\": [0-9]' '$T/ms/summary.json'" \
  "two steps: a rate and a step time"
expect 0 "completed" "$G" resume "$T/ms" --quiet
check "grep -q '\"step_seconds\": null' '$T/ms/summary.json' && grep -q '\"allreduce_seconds\": null' '$T/ms/summary.json'" \
  "a resume that took no step: no step time"

# a damaged newest checkpoint: resume falls back to the one before
"$G" train "$MLP" -o "$T/ck" --set train.epochs=3 --set train.stop_after=2 "${SMALL[@]}" >/dev/null
newest=$(ls "$T/ck/checkpoints" | sort | tail -1)
printf '\x55' | dd of="$T/ck/checkpoints/$newest" bs=1 seek=2000 conv=notrunc 2>/dev/null
expect 0 "completed" "$G" resume "$T/ck" --quiet
check "grep -q 'checkpoint_fallback' '$T/ck/events.jsonl'" "fallback to the previous checkpoint is logged"

# --- the guard: faults traced and survived ---
cat >"$T/faults.yaml" <<EOF
$(sed '/^guard:/,/^$/d' "$MLP")
guard:
  enabled: true
  faults:
    - {batch: 3, nan: true}
    - {batch: 6, node: fc2/linear}
    - {batch: 9, node: fc1/linear, backward: true}
    - {batch: 11, scale: 10000}
EOF
expect 0 "completed" "$G" train "$T/faults.yaml" -o "$T/fr" --set train.epochs=1 "${SMALL[@]}"
check "grep -q \"input 'input'\" '$T/fr/events.jsonl'" "NaN input traced to the input"
check "grep -q \"op 'fc2/linear' (linear) of layer 'fc2' in the forward pass\" '$T/fr/events.jsonl'" "forward fault traced to fc2"
check "grep -q \"of layer 'fc1' in the backward pass\" '$T/fr/events.jsonl'" "backward fault traced to fc1"
check "grep -q '\"action\":\"rollback\"' '$T/fr/events.jsonl'" "a rollback was logged"
check "grep -q '\"rollbacks\": [1-9]' '$T/fr/summary.json'" "summary counts rollbacks"
check "! grep -q 'null\\|nan' <(grep test_loss '$T/fr/summary.json')" "finite test loss after faults"
expect 1 "no op named 'fc9/linear'" "$G" train "$T/faults.yaml" -o "$T/fr2" --set guard.faults.1.node=fc9/linear "${SMALL[@]}"

# an Inf feature is traced like a NaN; a burst of wrong labels shows in the
# loss (the last two of 42 steps: 5.5 against a first loss of 2.4) and is
# refused for a regression loss
expect 0 "completed" "$G" train "$MLP" -o "$T/finf" --set train.max_steps=20 --set train.epochs=1 \
  --set 'guard.faults=[{batch: 10, inf: true}]' "${SMALL[@]}"
check "grep -q \"input 'input' (element [0-9]* = inf)\" '$T/finf/events.jsonl'" "Inf input traced to the input"
expect 0 "completed" "$G" train "$MLP" -o "$T/flab" --set train.max_steps=42 --set train.epochs=3 --set guard.enabled=false \
  --set 'guard.faults=[{batch: 40, labels: true}, {batch: 41, labels: true}]' "${SMALL[@]}"
check "/usr/bin/python3 -c \"import json,sys; d=json.load(open('$T/flab/summary.json')); sys.exit(d['max_loss'] < 1.5 * d['first_loss'])\"" \
  "wrong labels at the end raise the loss above 1.5x the first"
expect 1 "labels: wrong labels need a classifier" "$G" train "$SRC/configs/adding-rnn.yaml" -o "$T/x" \
  --set 'guard.faults=[{batch: 2, labels: true}]' --set train.max_steps=2 "${SMALL[@]}"
# bias_init: ReLU units shifted off for every input at step 0 never learn
# (the loss stays at ln 10); the same run from 0 biases learns
expect 0 "test loss 2\.30" "$G" train "$MLP" -o "$T/bias" --set train.max_steps=60 --set train.epochs=1 --set guard.enabled=false \
  --set model.0.bias_init=-5 --set model.1.bias_init=-5 "${SMALL[@]}"
expect 0 "test accuracy 0\.[3-9]" "$G" train "$MLP" -o "$T/bias0" --set train.max_steps=60 --set train.epochs=1 --set guard.enabled=false \
  --set model.0.bias_init=0 --set model.1.bias_init=0 "${SMALL[@]}"
expect 1 "unknown key 'model.0.bias_init'" "$G" train "$MLP" -o "$T/x" --set 'model=[{type: flatten, bias_init: 1}, {type: dense}]' \
  "${SMALL[@]}"

# --- divergence: the rollback budget ends the run ---
expect 3 "diverged" "$G" train "$MLP" -o "$T/div" --set optimizer.name=sgd --set optimizer.lr=1000 \
  --set guard.rollback_budget=2 --set guard.snapshot_every=1 "${SMALL[@]}"
check "grep -q '\"status\": \"diverged\"' '$T/div/summary.json'" "summary says diverged"
check "grep -q 'budget of 2 used up' '$T/div/events.jsonl'" "the stop event gives the reason"
# without the guard a run that goes non-finite is diverged too (not
# "completed"), its NaN steps log NaN (not 0), and it writes no checkpoint
# of non-finite weights over the good ones
expect 3 "diverged: test loss non-finite" "$G" train "$MLP" -o "$T/nan" --set guard.enabled=false --set optimizer.name=sgd \
  --set optimizer.lr=1000 --set train.epochs=2 --set train.log_every=5 "${SMALL[@]}"
check "grep -q '\"status\": \"diverged\"' '$T/nan/summary.json'" "guard off, non-finite weights: status diverged"
check "grep -q '^step,[0-9]*,[0-9],nan' '$T/nan/metrics.csv' || grep -q '^step,[0-9]*,[0-9],,' '$T/nan/metrics.csv'" \
  "a logged interval with no finite loss shows no loss, not 0"
check "! grep -q '^step,[0-9]*,[0-9],0,' '$T/nan/metrics.csv'" "no logged loss of 0 from NaN steps"
check "grep -q checkpoint_skipped '$T/nan/events.jsonl'" "no checkpoint of non-finite weights"

# --- a transformer with qk_norm, a logit cap and a z-loss, guard off: layers.csv has the attention rows ---
TR=$SRC/configs/char-transformer.yaml
expect 0 "completed" "$G" train "$TR" -o "$T/tr" --set train.max_steps=4 --set train.epochs=1 --set guard.enabled=false \
  --set guard.layer_every=2 --set model.2.qk_norm=true --set model.4.logit_cap=5 --set loss.z_loss=1e-4 \
  --set train.threads=1 --quiet
check "grep -q '^4,attn1/attention,attn1,,,,,,,3,[0-9.e+-]*,[0-9.e+-]*,\$' '$T/tr/layers.csv'" "attention head rows"
check "grep -q '^4,softmax_xent,fc1,,,,,,,,,,[0-9.e+-]*\$' '$T/tr/layers.csv'" "output log Z row"
check "grep -q '^2,attn1.q_norm.weight,attn1.q_norm,' '$T/tr/layers.csv'" "qk_norm parameters"
check "[ -d '$T/nan' ] && [ ! -e '$T/nan/layers.csv' ]" "no layers.csv with the guard off unless layer_every is set"
expect 1 "loss.z_loss needs loss.name softmax_xent" "$G" train "$MLP" -o "$T/x" --set loss.name=mse --set loss.z_loss=1e-4
expect 1 "unknown key 'model.3.qk_norm'" "$G" train "$TR" -o "$T/x" --set model.3.qk_norm=true

# --- every shipped config runs (shortened) ---
for cfg in "$SRC"/configs/*.yaml "$SRC"/configs/*/*.yaml; do
  [ -e "$cfg" ] || continue
  name=$(basename "$cfg" .yaml)
  out=$("$G" train "$cfg" -o "$T/cfg-$name" --set train.max_steps=3 --set train.epochs=1 \
    --set data.limit_train=600 --set data.limit_test=200 --set train.threads=1 --quiet 2>&1)
  rc=$?
  if [ $rc -eq 0 ] || [ $rc -eq 3 ]; then ok; else bad "config $cfg: rc $rc: $out"; fi
done

# --- bad configs: what and where ---
printf 'model:\n  - {type: dense, units: 10}\ntrain:\n  epoks: 3\n' >"$T/c1.yaml"
expect 1 "c1.yaml:4: unknown key 'train.epoks'" "$G" train "$T/c1.yaml" -o "$T/x" "${SMALL[@]}"
printf 'model:\n  - {type: dense, units: 10}\ntrain:\n  epochs: many\n' >"$T/c2.yaml"
expect 1 "c2.yaml:4: key 'train.epochs': expected an integer" "$G" train "$T/c2.yaml" -o "$T/x"
printf 'model: [\n' >"$T/c3.yaml"
expect 1 "c3.yaml:2:1: YAML syntax error" "$G" train "$T/c3.yaml" -o "$T/x"
printf 'train: {epochs: 1}\n' >"$T/c4.yaml"
expect 1 "'model' must be a list of layers" "$G" train "$T/c4.yaml" -o "$T/x"
expect 1 "model.0.type': expected one of" "$G" train "$MLP" -o "$T/x" --set model.0.type=transformer "${SMALL[@]}"
expect 1 "optimizer.lr': expected a number in \[0, 1000\], got '-1'" "$G" train "$MLP" -o "$T/x" --set optimizer.lr=-1
expect 1 "optimizer.name 'adamax' is not one of" "$G" train "$MLP" -o "$T/x" --set optimizer.name=adamax
expect 1 "guard.clip 'big' is not one of" "$G" train "$MLP" -o "$T/x" --set guard.clip=big
expect 1 "model\[0\] (conv2d) needs 'filters'" "$G" train "$MLP" -o "$T/x" --set model.0.type=conv2d "${SMALL[@]}"
expect 2 "is not key=value" "$G" train "$MLP" --set train.epochs
expect 1 "cannot open\|No such file" "$G" train "$T/missing.yaml"

# --- bad data: what and where ---
expect 1 "data.train: $T/nowhere does not exist" "$G" train "$MLP" -o "$T/x" --set "data.train=$T/nowhere"
mkdir -p "$T/trunc"
zcat /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz | head -c 100000 >"$T/trunc/train-images-idx3-ubyte"
zcat /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz >"$T/trunc/train-labels-idx1-ubyte"
expect 1 "train-images-idx3-ubyte" "$G" train "$MLP" -o "$T/x" --set "data.train=$T/trunc"
printf 'a,b,label\n1,2,0\n3,x,1\n' >"$T/bad.csv"
expect 1 "bad.csv: line 3, column 2" "$G" train "$MLP" -o "$T/x" --set data.format=csv --set "data.train=$T/bad.csv" \
  --set data.label=label --set data.test=none
printf 'a,b,label\n1,2,0\n3,nan,1\n' >"$T/nan.csv"
expect 1 "nan.csv: line 3, column 2.*not finite" "$G" train "$MLP" -o "$T/x" --set data.format=csv --set "data.train=$T/nan.csv" \
  --set data.label=label --set data.test=none
printf 'a,b,label\n1,2,0\n3,4,12\n' >"$T/lab.csv"
expect 1 "lab.csv" "$G" train "$MLP" -o "$T/x" --set data.format=csv --set "data.train=$T/lab.csv" \
  --set data.label=label --set data.test=none --set model.2.units=10

finish cli_train
