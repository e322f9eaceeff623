#!/usr/bin/env bash
# One run per run directory: a directory that holds a run is refused unless
# --overwrite (which removes that run's files, and only those, once the new
# run is set up); a second process into a directory in use is refused at
# once, naming the holder; the lock of a killed run is taken over, not
# obeyed forever; resume and checkpoint retention touch only the run's own
# checkpoints (by run_id); report and compare refuse a directory that is not
# a run's and write nothing.
# Environment: GG_BIN (the gradguard binary), GG_SRC (the source dir).
set -u
G=${GG_BIN:?}
SRC=${GG_SRC:?}
. "$(dirname "$0")/common.bash"
MLP=$SRC/configs/fashion-mlp.yaml
SMALL=(--set data.limit_train=1000 --set data.limit_test=200 --set train.threads=1 --quiet)
bg=""
trap '[ -n "$bg" ] && kill -9 $bg 2>/dev/null; rm -rf "$T"' EXIT

# the run id a checkpoint's header names
ckpt_id() { head -c 4096 "$1" | grep -ao '"run_id":"[^"]*"' | cut -d'"' -f4; }
# waits (up to 20 s) until COND holds
wait_for() {
  local i
  for i in $(seq 200); do
    eval "$1" && return 0
    sleep 0.1
  done
  return 1
}
# starts a long run into $1 in the background (pid in $bg) and waits until
# it holds its lock (run_id written: set up) and, with $2, has a checkpoint
start_long() {
  "$G" train "$MLP" -o "$1" "${SMALL[@]}" --set train.epochs=100000 ${3:+"$3"} >"$T/long.out" 2>&1 &
  bg=$!
  wait_for "grep -q '^run_id ' '$1/run.lock' 2>/dev/null" || bad "the background run into $1 never took its lock: $(cat "$T/long.out")"
  [ -z "${2:-}" ] || wait_for "ls '$1'/checkpoints/ckpt-*.safetensors >/dev/null 2>&1" ||
    bad "the background run into $1 wrote no checkpoint: $(cat "$T/long.out")"
}

# --- help ---
expect 0 "--overwrite" "$G" train --help
expect 0 "run.lock" "$G" train --help

# --- a directory that holds a run is refused; nothing of it changes ---
expect 0 "completed" "$G" train "$MLP" -o "$T/r" --set train.epochs=2 "${SMALL[@]}"
id1=$(cat "$T/r/run_id")
check "[[ '$id1' =~ ^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$ ]]" "run_id '$id1' is not time-random hex"
check "grep -q '\"run_id\": \"$id1\"' '$T/r/summary.json'" "summary.json has the run id"
for c in "$T"/r/checkpoints/ckpt-*.safetensors; do
  check "[ '$(ckpt_id "$c")' = '$id1' ]" "checkpoint ${c##*/} carries run_id '$(ckpt_id "$c")', want $id1"
done
check "[ ! -e '$T/r/run.lock' ]" "a finished run leaves its lock file"
cp "$T/r/model.safetensors" "$T/model1"
expect 1 "run directory $T/r already holds a run (run_id $id1): config.yaml, metrics.csv.*checkpoints/ (2 checkpoint files); pass --overwrite" \
  "$G" train "$MLP" -o "$T/r" --set train.epochs=1 "${SMALL[@]}"
check "[ \"\$(cat '$T/r/run_id')\" = '$id1' ] && cmp -s '$T/model1' '$T/r/model.safetensors'" "a refused train changed the run"
check "[ \$(ls '$T/r/checkpoints' | wc -l) -eq 2 ]" "a refused train changed the checkpoints"
# an empty or missing directory is fine
mkdir "$T/empty"
expect 0 "completed" "$G" train "$MLP" -o "$T/empty" --set train.epochs=1 "${SMALL[@]}"
expect 0 "completed" "$G" train "$MLP" -o "$T/new/deeper" --set train.epochs=1 "${SMALL[@]}"
# a run that fails to start (its data is missing) leaves no directory behind
expect 1 "$T/no-data" "$G" train "$MLP" -o "$T/typo/deep/er" --set data.train=$T/no-data "${SMALL[@]}"
check "[ ! -e '$T/typo' ]" "a train that failed to start left $T/typo: $(find "$T/typo" 2>&1)"

# --- --overwrite: the old run's files go, the user's stay ---
echo "my notes" >"$T/r/notes.txt"
# a run that fails to start with --overwrite: the old run stays as it was
expect 1 "$T/no-data" "$G" train "$MLP" -o "$T/r" --overwrite --set data.train=$T/no-data "${SMALL[@]}"
check "[ \"\$(cat '$T/r/run_id')\" = '$id1' ] && [ \$(ls '$T/r/checkpoints' | wc -l) -eq 2 ]" \
  "--overwrite removed the old run although the new one failed to start"
expect 0 "completed" "$G" train "$MLP" -o "$T/r" --overwrite --set train.epochs=1 "${SMALL[@]}"
id2=$(cat "$T/r/run_id")
check "[ -n '$id2' ] && [ '$id2' != '$id1' ]" "--overwrite kept the run id $id1"
check "[ \$(ls '$T/r/checkpoints' | wc -l) -eq 1 ]" "the old run's checkpoints survived --overwrite: $(ls "$T/r/checkpoints")"
check "[ '$(ckpt_id "$T"/r/checkpoints/ckpt-*.safetensors)' = '$id2' ]" "the checkpoint after --overwrite is not the new run's"
check "[ \"\$(cat '$T/r/notes.txt')\" = 'my notes' ]" "--overwrite removed a file that is not the run's"
check "[ \$(grep -c '^epoch,' '$T/r/metrics.csv') -eq 1 ]" "metrics.csv holds rows of the old run"
check "grep -q '\"type\":\"overwrite\".*removed the previous run (run_id $id1)' '$T/r/events.jsonl'" \
  "events.jsonl does not say what --overwrite removed"

# --- two processes into one directory: the second is refused at once ---
start_long "$T/busy"
t0=$(date +%s%N)
expect 1 "run directory $T/busy is in use by another run: pid $bg on host" "$G" train "$MLP" -o "$T/busy" "${SMALL[@]}"
ms=$((($(date +%s%N) - t0) / 1000000))
check "[ $ms -lt 3000 ]" "the second train took $ms ms to be refused"
expect 1 "in use by another run: pid $bg" "$G" train "$MLP" -o "$T/busy" --overwrite "${SMALL[@]}"
expect 1 "in use by another run: pid $bg" "$G" resume "$T/busy" --quiet
kill -TERM "$bg"
wait "$bg"
check "[ $? -eq 0 ]" "the first run did not stop cleanly on SIGTERM: $(cat "$T/long.out")"
bg=""
check "grep -q '\"status\": \"stopped\"' '$T/busy/summary.json'" "the first run's summary is not 'stopped'"
check "[ ! -e '$T/busy/run.lock' ]" "the stopped run left its lock"

# --- a killed run's lock is stale: taken over with a note ---
start_long "$T/killed" ckpt --set=train.keep_checkpoints=100
kpid=$bg
kill -9 "$kpid"
wait "$kpid" 2>/dev/null
bg=""
check "grep -q '^pid $kpid\$' '$T/killed/run.lock'" "the killed run's lock file is gone"
expect 0 "took over the stale lock $T/killed/run.lock of pid $kpid" "$G" resume "$T/killed" --set train.epochs=2 \
  --set train.keep_checkpoints=100
check "grep -q '\"type\":\"lock_taken_over\"' '$T/killed/events.jsonl'" "the take-over is not in events.jsonl"
check "[ ! -e '$T/killed/run.lock' ] && grep -q '\"status\": \"completed\"' '$T/killed/summary.json'" \
  "the resumed run did not complete and release its lock"
# and for train: without --overwrite the run is still refused (it is a run,
# not a lock in use); with it the new run starts
start_long "$T/killed2" ckpt
kpid=$bg
kill -9 "$kpid"
wait "$kpid" 2>/dev/null
bg=""
expect 1 "already holds a run" "$G" train "$MLP" -o "$T/killed2" "${SMALL[@]}"
start_long "$T/killed3" ckpt
kpid=$bg
kill -9 "$kpid"
wait "$kpid" 2>/dev/null
bg=""
expect 0 "took over the stale lock $T/killed3/run.lock of pid $kpid" "$G" train "$MLP" -o "$T/killed3" --overwrite \
  --set train.epochs=1 --set train.threads=1 --set data.limit_train=1000 --set data.limit_test=200

# --- resume in a reused directory loads its own run's checkpoint ---
RUN=(--set train.epochs=3 --set train.keep_checkpoints=1 "${SMALL[@]}")
"$G" train "$MLP" -o "$T/full" "${RUN[@]}" >/dev/null
"$G" train "$MLP" -o "$T/other" "${RUN[@]}" --set train.seed=7 --set train.epochs=4 --set train.keep_checkpoints=4 >/dev/null
# $T/r held two runs already; the third stops after its first epoch
expect 0 "stopped" "$G" train "$MLP" -o "$T/r" --overwrite "${RUN[@]}" --set train.stop_after=1
own=$(ls "$T/r/checkpoints")
id3=$(cat "$T/r/run_id")
# another run's checkpoints beside it (steps 8, 16, 24, 32: 8 steps an
# epoch): one under the very name this run's epoch-2 checkpoint will take
# (16), and a newer one than any of this run's (32)
others="ckpt-0000000016.safetensors ckpt-0000000032.safetensors"
for c in $others; do cp "$T/other/checkpoints/$c" "$T/r/checkpoints/"; done
expect 0 "resumed from $T/r/checkpoints/$own" "$G" resume "$T/r"
check "grep -q 'left alone 2 checkpoint(s) of another run' '$T/r/events.jsonl'" "resume did not note the other run's checkpoints"
check "grep -q 'checkpoint_skipped.*belongs to another run' '$T/r/events.jsonl'" \
  "the checkpoint under another run's file name was not skipped"
check "cmp -s '$T/full/model.safetensors' '$T/r/model.safetensors'" \
  "resume in a directory with another run's checkpoints did not continue its own run"
for c in $others; do
  check "cmp -s '$T/other/checkpoints/$c' '$T/r/checkpoints/$c'" "another run's checkpoint $c was removed or changed"
done
mine=0
for c in "$T"/r/checkpoints/ckpt-*.safetensors; do [ "$(ckpt_id "$c")" = "$id3" ] && mine=$((mine + 1)); done
check "[ $mine -eq 1 ]" "retention kept $mine of the run's own checkpoints, want 1 (keep_checkpoints)"
# only another run's checkpoints: resume says so and loads none
for c in "$T"/r/checkpoints/ckpt-*.safetensors; do [ "$(ckpt_id "$c")" = "$id3" ] && rm "$c"; done
expect 1 "no checkpoint of this run (run_id $id3, from $T/r/run_id) in $T/r/checkpoints; left alone 2 of another run" \
  "$G" resume "$T/r" --quiet

# --- report and compare: a directory that is not a run's ---
mkdir "$T/notrun"
echo "x" >"$T/notrun/readme.txt"
expect 1 "'$T/notrun' is not a run directory: it has none of config.yaml, metrics.csv, events.jsonl, summary.json" \
  "$G" report "$T/notrun"
check "[ ! -e '$T/notrun/report.html' ]" "report wrote into a directory that is not a run's"
expect 1 "not a run directory" "$G" report "$T/notrun" -o "$T/x.html"
expect 1 "'$T/notrun' is not a run directory" "$G" compare "$T/full" "$T/notrun" -o "$T/cmp.html"
check "[ ! -e '$T/cmp.html' ] && [ ! -e '$T/x.html' ]" "report or compare wrote a page for a directory that is not a run's"
expect 1 "does-not-exist" "$G" report "$T/does-not-exist"
expect 0 "wrote $T/cmp.html" "$G" compare "$T/full" "$T/other" -o "$T/cmp.html"

# --- prune writes a run directory too ---
expect 0 "run directory $T/p" "$G" prune "$T/full" --sparsity 0.5 --epochs 0 -o "$T/p" --quiet
expect 1 "already holds a run" "$G" prune "$T/full" --sparsity 0.5 --epochs 0 -o "$T/p" --quiet
expect 0 "run directory $T/p" "$G" prune "$T/full" --sparsity 0.5 --epochs 0 -o "$T/p" --overwrite --quiet
expect 2 "is RUN_DIR itself" "$G" prune "$T/full" --sparsity 0.5 --epochs 0 -o "$T/full/" --overwrite --quiet
check "[ -s '$T/full/model.safetensors' ]" "prune into its own RUN_DIR removed the model"

finish rundir
