#!/usr/bin/env bash
# Data-parallel training over MPI (src/parallel, docs/distributed.md), end to end
# with mpirun on this machine (--oversubscribe: more ranks than cores is
# fine for correctness):
#  (a) 2 ranks with global batch B end with the same weights as one process
#      with batch B (relative difference < 1e-5), (b) also with gradient
#      accumulation and a batch the ranks cannot split evenly, and 3 ranks;
#  (c) a run stopped after epoch 1 on 2 ranks and resumed on 1 rank ends
#      where the uninterrupted 2-rank run ends;
#  (d) a NaN injected on rank 1's shard only: both ranks log the same guard
#      action at the same step, and the diagnosis names rank 1;
#  (e) rank 1 killed (SIGKILL): the job ends with a message naming it within
#      30 s, and resume continues from the last checkpoint.
# Skipped (exit 77) when gradguard was built without MPI or mpirun is
# missing; under `make test` (GG_REQUIRE_PEERS set) that is a failure.
# Under ASan (GG_SANITIZE) the ranks of an mpirun run without the leak
# checker (OpenMPI leaves memory to unloaded plugins, unmatchable by a
# suppression file); the single-process runs keep it.
set -u
G=${GG_BIN:?}
SRC=${GG_SRC:?}
. "$(dirname "$0")/common.bash"
skip() { skip_peer "mpi: $*"; }
"$G" --version | grep -q "data parallel: MPI" || skip "gradguard was built without MPI (apt-get install libopenmpi-dev; cmake -DGG_MPI=ON)"
command -v mpirun >/dev/null || skip "no mpirun (apt-get install openmpi-bin)"
trap '[ -n "${GG_KEEP:-}" ] && echo "mpi: kept $T" || rm -rf "$T"' EXIT
MPIRUN=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && MPIRUN+=(--allow-run-as-root)
if [ -n "${GG_SANITIZE:-}" ]; then
  # OpenMPI's plugins are unloaded before LeakSanitizer reports, so what
  # they leave allocated shows as "<unknown module>" that no suppression can
  # match: no leak check in the ranks of an mpirun. Single-process runs here
  # (the same trainer, world size 1) keep it; ASan and UBSan stay on.
  MPIRUN=(env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "${MPIRUN[@]}" -x ASAN_OPTIONS)
fi

# max over tensors of ||a - b|| / ||a|| would hide a small tensor; this is
# the norm of the difference of all weights over the norm of all weights
cmpw() {
  python3 - "$1" "$2" "$3" <<'EOF'
import json, math, struct, sys
def load(p):
    b = open(p, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    d = b[8 + n:]
    return {k: struct.unpack('<%df' % ((v['data_offsets'][1] - v['data_offsets'][0]) // 4),
                             d[v['data_offsets'][0]:v['data_offsets'][1]])
            for k, v in h.items() if k != '__metadata__'}
a, b = load(sys.argv[1]), load(sys.argv[2])
if a.keys() != b.keys():
    sys.exit('different tensors: %s vs %s' % (sorted(a), sorted(b)))
num = sum((x - y) ** 2 for k in a for x, y in zip(a[k], b[k]))
den = sum(x * x for k in a for x in a[k])
rel = math.sqrt(num / den)
print('relative difference %.3g' % rel)
sys.exit(0 if rel < float(sys.argv[3]) else 1)
EOF
}

cat >"$T/eq.yaml" <<EOF
# a tiny MLP and plain SGD with momentum: every step's update is a smooth
# function of the gradient, so float-rounding differences stay small
data: {train: /usr/share/datasets/fashion-mnist, test: none, limit_train: 1024, val_fraction: 0}
model:
  - {type: dense, units: 32, act: tanh}
  - {type: dense, units: 10}
loss: {name: softmax_xent}
optimizer: {name: sgd, lr: 0.1, momentum: 0.9}
guard: {clip: none, init_check: off}
train: {epochs: 1, batch: 64, seed: 3, threads: 1, max_steps: 12, log_every: 4}
EOF

# --- (a), (b): the same weights as one process ---
equiv() {
  local name=$1 np=$2
  shift 2
  rm -rf "$T/$name-1" "$T/$name-n"
  "$G" train "$T/eq.yaml" -o "$T/$name-1" --quiet "$@" >"$T/$name-1.log" 2>&1 || { bad "$name: single process failed: $(cat "$T/$name-1.log")"; return; }
  "${MPIRUN[@]}" -np "$np" "$G" train "$T/eq.yaml" -o "$T/$name-n" --quiet "$@" >"$T/$name-n.log" 2>&1 ||
    { bad "$name: mpirun -np $np failed: $(cat "$T/$name-n.log")"; return; }
  local out
  if out=$(cmpw "$T/$name-1/model.safetensors" "$T/$name-n/model.safetensors" 1e-5); then ok; else bad "$name: $np ranks vs 1 process: $out"; fi
  echo "mpi: $name ($np ranks vs 1): $out"
  check "grep -q '\"world_size\": $np' '$T/$name-n/summary.json'" "$name: summary.json gives world_size $np"
  check "[ \"\$(grep '\"steps\"' '$T/$name-1/summary.json')\" = \"\$(grep '\"steps\"' '$T/$name-n/summary.json')\" ]" "$name: as many steps as one process"
}
equiv plain 2
equiv accumulate 2 --set train.batch=32 --set train.accumulate=3
equiv uneven 3 --set train.batch=31 --set train.accumulate=2

# --- (c): stopped on 2 ranks, resumed on 1 ---
cat >"$T/res.yaml" <<EOF
$(sed '/^train:/d' "$T/eq.yaml")
train: {epochs: 3, batch: 64, seed: 3, threads: 1, log_every: 4}
EOF
"${MPIRUN[@]}" -np 2 "$G" train "$T/res.yaml" -o "$T/full" --quiet >"$T/full.log" 2>&1 || bad "uninterrupted 2-rank run: $(cat "$T/full.log")"
"${MPIRUN[@]}" -np 2 "$G" train "$T/res.yaml" -o "$T/split" --set train.stop_after=1 --quiet >"$T/split.log" 2>&1 || bad "split run: $(cat "$T/split.log")"
check "grep -q '\"status\": \"stopped\"' '$T/split/summary.json'" "split run stopped after epoch 1"
"$G" resume "$T/split" --quiet >"$T/resume1.log" 2>&1 || bad "resume on 1 rank: $(cat "$T/resume1.log")"
if out=$(cmpw "$T/full/model.safetensors" "$T/split/model.safetensors" 1e-5); then ok; else bad "2 ranks, resumed on 1: $out"; fi
echo "mpi: stopped on 2 ranks, resumed on 1 vs uninterrupted on 2: $out"

# --- (d): a NaN on rank 1's shard only ---
cat >"$T/nan.yaml" <<EOF
$(sed '/^guard:/d' "$T/eq.yaml")
guard:
  init_check: off
  skip_first: false # the ranks' rollback is what this checks
  faults:
    - {batch: 5, nan: true, rank: 1}
EOF
"${MPIRUN[@]}" -np 2 "$G" train "$T/nan.yaml" -o "$T/nan" --all-ranks >"$T/nan.log" 2>&1 || bad "NaN run failed: $(cat "$T/nan.log")"
# "guard: step 5: nonfinite ... -> rollback" from rank 0, "[rank 1] guard: ..."
# from rank 1; rank 0's progress bar may share a line with rank 1's output
acts=$(grep -ao '\(\[rank 1\] \)\?guard: step [0-9]*: [a-z_]*[^>]*-> [a-z]*' "$T/nan.log" |
  sed 's/guard: \(step [0-9]*\): \([a-z_]*\).* -> \([a-z]*\)$/\1 \2 \3/')
r0=$(grep -v '^\[rank 1\]' <<<"$acts")
r1=$(grep '^\[rank 1\]' <<<"$acts" | sed 's/^\[rank 1\] //')
check "[ -n \"\$r0\" ] && [ \"\$r0\" = \"\$r1\" ]" "both ranks took the same guard actions: rank 0 [$r0], rank 1 [$r1]"
check "grep -q 'step 5 nonfinite rollback' <<<\"\$r0\"" "the NaN at batch 5 is a non-finite step rolled back: [$r0]"
echo "mpi: guard actions, rank 0: [$r0] rank 1: [$r1]"
check "grep -q \"input 'input'.*rank 1's share\" '$T/nan/events.jsonl'" "the diagnosis names rank 1's shard"
check "grep -q '\"status\": \"completed\"' '$T/nan/summary.json'" "the NaN run completed"

# --- (e): a rank that dies ---
cat >"$T/kill.yaml" <<EOF
$(sed '/^train:/d' "$T/eq.yaml")
train: {epochs: 100000, batch: 64, seed: 3, threads: 1, log_every: 4, checkpoint_every: 1}
EOF
"${MPIRUN[@]}" -np 2 "$G" train "$T/kill.yaml" -o "$T/kill" --quiet >"$T/kill.log" 2>&1 &
job=$!
for _ in $(seq 100); do
  [ -n "$(ls "$T/kill/checkpoints" 2>/dev/null)" ] && break
  sleep 0.2
done
victim=""
for p in $(pgrep -P "$job"); do
  grep -qz '^OMPI_COMM_WORLD_RANK=1$' "/proc/$p/environ" 2>/dev/null && victim=$p
done
if [ -z "$victim" ]; then
  bad "could not find rank 1 of the job (mpirun pid $job)"
  kill "$job" 2>/dev/null
else
  t0=$(date +%s%N)
  kill -9 "$victim"
  wait "$job"
  rc=$?
  ms=$((($(date +%s%N) - t0) / 1000000))
  el=$(awk "BEGIN { printf \"%.1f\", $ms / 1000 }")
  echo "mpi: rank 1 killed; the job ended after ${el} s with status $rc"
  check "[ $rc -ne 0 ]" "the job fails when a rank dies (status $rc)"
  check "[ $ms -lt 30000 ]" "the job ended within 30 s of the kill (${el} s)"
  check "grep -q 'rank 1 .*exited on signal 9\|rank 1 .*killed' '$T/kill.log'" "the message names the dead rank: $(tail -5 "$T/kill.log")"
  check "! pgrep -f '$T/kill.yaml' >/dev/null" "no rank is left running"
  # 16 steps per epoch: resume for two more epochs than the last checkpoint has
  last=$(ls "$T/kill/checkpoints" | sort | tail -1 | sed 's/^ckpt-0*\([0-9][0-9]*\)\..*/\1/')
  "${MPIRUN[@]}" -np 2 "$G" resume "$T/kill" --set train.epochs=$((last / 16 + 2)) >"$T/kill-resume.log" 2>&1
  rc=$?
  check "[ $rc -eq 0 ]" "resume after the kill (status $rc): $(tail -5 "$T/kill-resume.log")"
  check "grep -q 'resumed from .*ckpt-' '$T/kill-resume.log'" "resume names the checkpoint it continues from"
  check "grep -q '\"status\": \"completed\"' '$T/kill/summary.json'" "the resumed run completed"
fi

finish mpi
