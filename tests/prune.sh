#!/usr/bin/env bash
# End-to-end tests of pruning and augmentation on a small slice of
# Fashion-MNIST: a gradual schedule whose masks survive a checkpoint and
# resume bit for bit, `gradguard prune` (unstructured and structured) and
# its report, augmented runs that repeat exactly, and the messages of bad
# arguments.
set -u
G=${GG_BIN:?}
SRC=${GG_SRC:?}
. "$(dirname "$0")/common.bash"
SMALL=(--set data.limit_train=2000 --set data.limit_test=500 --set train.threads=1 --quiet)
MLP=$SRC/configs/fashion-mlp.yaml
# zeros.py FILE TENSOR: the fraction of zeros of a float32 tensor of a
# safetensors file, and the number of its rows that are all zero
zeros() {
  python3 - "$1" "$2" <<'EOF'
import json, struct, sys
f = open(sys.argv[1], 'rb')
n = struct.unpack('<Q', f.read(8))[0]
h = json.loads(f.read(n))
data = f.read()
e = h[sys.argv[2]]
a, b = e['data_offsets']
v = struct.unpack('<%df' % ((b - a) // 4), data[a:b])
cols = 1
for d in e['shape'][1:]:
    cols *= d
rows = [v[i:i + cols] for i in range(0, len(v), cols)]
print('%.4f %d' % (sum(x == 0 for x in v) / len(v), sum(all(x == 0 for x in r) for r in rows)))
EOF
}
have_py=0
command -v python3 >/dev/null && have_py=1

# --- gradual pruning: masks held through checkpoints and resume ---
# every 4 from step 5: the resume point (step 15, an epoch end) falls between two pruning steps
GRAD=(--set prune.sparsity=0.75 --set prune.start=5 --set prune.end=40 --set prune.every=4 --set train.epochs=4)
expect 0 "completed" "$G" train "$MLP" -o "$T/full" "${GRAD[@]}" "${SMALL[@]}"
check "grep -q '\"type\":\"prune\"' '$T/full/events.jsonl'" "prune events logged"
check "grep -q '\"sparsity\": {\"total\": 0.75' '$T/full/summary.json'" "summary has the sparsity"
check "grep -q 'fc1.weight' <(grep sparsity '$T/full/summary.json')" "summary has per-tensor sparsity"
expect 0 "stopped" "$G" train "$MLP" -o "$T/split" "${GRAD[@]}" --set train.stop_after=1 "${SMALL[@]}"
check "grep -aq 'prune.mask' '$T'/split/checkpoints/ckpt-*.safetensors" "the checkpoint holds the masks"
expect 0 "completed" "$G" resume "$T/split" --quiet
check "cmp -s '$T/full/model.safetensors' '$T/split/model.safetensors'" "resumed pruned run equals the uninterrupted one"
if [ $have_py = 1 ]; then
  z=$(zeros "$T/full/model.safetensors" fc1.weight)
  check "awk '{exit !(\$1 > 0.75)}' <<<'$z'" "fc1.weight of the pruned run is mostly zero ($z)"
  z=$(zeros "$T/full/model.safetensors" fc1.bias)
  check "awk '{exit !(\$1 == 0)}' <<<'$z'" "biases are not pruned ($z)"
fi

# --- gradguard prune: a trained model, pruned and fine-tuned ---
expect 0 "completed" "$G" train "$MLP" -o "$T/dense" --set train.epochs=2 "${SMALL[@]}"
out=$("$G" prune "$T/dense" --sparsity 0.8 --quiet 2>&1)
rc=$?
check "[ $rc -eq 0 ]" "prune exits 0: $out"
check "grep -q '^dense  *[0-9.]*  *0\.[0-9]*' <<<'$out'" "prints the dense accuracy: $out"
check "grep -q '^pruned + 1 epoch fine-tuning' <<<'$out'" "prints the fine-tuned accuracy"
check "grep -q 'sparsity 0.800 of 234752 weights: fc1.weight' <<<'$out'" "prints the per-tensor sparsity"
check "[ -s '$T/dense-pruned/prune.json' ] && grep -q '\"fine_tuned\"' '$T/dense-pruned/prune.json'" "prune.json written"
check "grep -q 'prune:' '$T/dense-pruned/config.yaml'" "the new run's config has the prune section"
expect 0 "test accuracy 0\.[0-9]" "$G" eval "$T/dense-pruned" --set data.limit_test=500
if [ $have_py = 1 ]; then
  total=$(python3 - "$T/dense-pruned/model.safetensors" <<'EOF'
import json, struct, sys
f = open(sys.argv[1], 'rb'); n = struct.unpack('<Q', f.read(8))[0]; h = json.loads(f.read(n)); d = f.read()
z = t = 0
for k, e in h.items():
    if k.endswith('.weight'):
        a, b = e['data_offsets']; v = struct.unpack('<%df' % ((b - a) // 4), d[a:b]); z += sum(x == 0 for x in v); t += len(v)
print('%.4f' % (z / t))
EOF
)
  check "[ '$total' = '0.8000' ]" "80% of the weights are zero after fine-tuning ($total)"
fi
expect 0 "sparsity 0.500" "$G" prune "$T/dense" --sparsity 0.5 --structured --scope layer -o "$T/st" --quiet
if [ $have_py = 1 ]; then
  z=$(zeros "$T/st/model.safetensors" fc1.weight)
  check "[ '$z' = '0.5000 128' ]" "structured: 128 of fc1's 256 rows zero ($z)"
  z=$(zeros "$T/st/model.safetensors" fc3.weight)
  check "[ '$z' = '0.0000 0' ]" "structured: the output layer is kept whole ($z)"
fi
expect 0 "sparsity 0.300" "$G" prune "$T/dense" --sparsity 0.3 --method random --epochs 0 -o "$T/rnd" --quiet
check "[ -s '$T/rnd/model.safetensors' ]" "--epochs 0 only prunes and saves"

# structured pruning of a CNN removes whole filters
expect 0 "completed" "$G" train "$SRC/configs/fashion-cnn.yaml" -o "$T/cnn" --set train.max_steps=5 --set train.epochs=1 "${SMALL[@]}"
expect 0 "sparsity" "$G" prune "$T/cnn" --sparsity 0.5 --structured --scope layer --epochs 0 -o "$T/cnnp" --quiet
if [ $have_py = 1 ]; then
  z=$(zeros "$T/cnnp/model.safetensors" conv1.weight)
  check "awk '{exit !(\$1 == 0.5 && \$2 > 0)}' <<<'$z'" "structured: half of conv1's filters are zero ($z)"
fi

# --- bad arguments ---
expect 2 "--sparsity S is required" "$G" prune "$T/dense"
expect 2 "--sparsity '1.5' is not a number in \[0, 0.999\]" "$G" prune "$T/dense" --sparsity 1.5
expect 2 "--method 'l3' is not magnitude or random" "$G" prune "$T/dense" --sparsity 0.5 --method l3
expect 2 "unknown option '--nope'" "$G" prune "$T/dense" --sparsity 0.5 --nope
expect 1 "is $T/nowhere a run directory" "$G" prune "$T/nowhere" --sparsity 0.5
expect 0 "usage: gradguard prune" "$G" prune --help
expect 0 "usage: gradguard prune" "$G" help prune
expect 1 "prune needs 'sparsity'" "$G" train "$MLP" -o "$T/x" --set prune.method=random "${SMALL[@]}"
expect 1 "key 'prune.scope': expected one of" "$G" train "$MLP" -o "$T/x" --set prune.sparsity=0.5 --set prune.scope=all "${SMALL[@]}"
expect 1 "augment.shift 40 must be in \[0, 28)" "$G" train "$MLP" -o "$T/x" --set augment.shift=40 "${SMALL[@]}"

# --- augmentation: an image run with every transform, repeated exactly ---
AUG=(--set augment.shift=2 --set augment.flip=true --set augment.noise=0.05 --set augment.mixup=0.2 --set train.epochs=1)
expect 0 "completed: test loss" "$G" train "$MLP" -o "$T/aug1" "${AUG[@]}" "${SMALL[@]}"
expect 0 "completed: test loss" "$G" train "$MLP" -o "$T/aug2" "${AUG[@]}" "${SMALL[@]}"
check "cmp -s '$T/aug1/model.safetensors' '$T/aug2/model.safetensors'" "augmented runs repeat exactly"
expect 0 "completed: test loss" "$G" train "$SRC/configs/fashion-cnn.yaml" -o "$T/augc" --set augment.shift=2 \
  --set augment.flip=true --set train.max_steps=3 --set train.epochs=1 "${SMALL[@]}"

finish prune
