#!/usr/bin/env bash
# Reliability of the gradguard command under the failures a long run meets:
#  (a) SIGKILL at random moments, resumed five times in a row, ends with the
#      same weights, byte for byte, as an uninterrupted run;
#  (b) SIGINT and SIGTERM (also during setup) finish the step, checkpoint,
#      exit 0 with status "stopped", and resume completes the same run;
#  (c) a full disk while checkpointing: a clear error, exit 1, the previous
#      checkpoint intact, no temporary left, and resume completes once there
#      is room (a small tmpfs when this can mount one, else ulimit -f);
#  (d) a run directory that cannot be created or written: a clear error;
#  (e) out of memory at graph planning (a model larger than memory, and an
#      address-space limit below the plan): a clear error, exit 1.
# Environment: GG_BIN (the gradguard binary), GG_SRC (the source dir).
# ROBUST_SEED fixes the random kill times (printed on every run).
set -u
G=${GG_BIN:?}
SRC=${GG_SRC:?}
. "$(dirname "$0")/common.bash"
MNT=
cleanup() {
  [ -n "$MNT" ] && umount "$MNT" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
SEED=${ROBUST_SEED:-$$}
RANDOM=$SEED
echo "robust: random seed $SEED (rerun with ROBUST_SEED=$SEED)"
MLP=$SRC/configs/fashion-mlp.yaml
ARGS=(--set data.limit_train=3000 --set data.limit_test=300 --set train.threads=1 --set train.epochs=6
      --set train.checkpoint_every=1 --quiet)

# sleeps $1 milliseconds
msleep() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }
# waits until $2 (a glob) matches while process $1 lives; 1 if it ended first
wait_for() {
  local pid=$1 glob=$2
  while kill -0 "$pid" 2>/dev/null; do
    compgen -G "$glob" >/dev/null && return 0
    sleep 0.01
  done
  compgen -G "$glob" >/dev/null
}
# the newest checkpoint's step in run dir $1 (0 if none)
ckpt_step() {
  local f
  f=$(ls "$1/checkpoints" 2>/dev/null | grep '^ckpt-.*\.safetensors$' | sort | tail -1)
  [ -n "$f" ] && echo $((10#$(sed 's/ckpt-\([0-9]*\).*/\1/' <<<"$f"))) || echo 0
}
summary_status() { sed -n 's/.*"status": "\([a-z]*\)".*/\1/p' "$1/summary.json" 2>/dev/null; }

# --- the uninterrupted reference run ---
t0=$(date +%s%N)
"$G" train "$MLP" -o "$T/ref" "${ARGS[@]}" >"$T/ref.out" 2>&1
check "[ \$? -eq 0 ] && [ -s '$T/ref/model.safetensors' ]" "the reference run completes: $(cat "$T/ref.out")"
# kill times scale with how long a whole run takes on this machine right now
FULL_MS=$((($(date +%s%N) - t0) / 1000000))
echo "robust: the reference run took $FULL_MS ms"

# --- (a) SIGKILL at random moments, five times, then a resume to the end ---
R=$T/kill
"$G" train "$MLP" -o "$R" "${ARGS[@]}" >"$T/a.out" 2>&1 &
pid=$!
live_kills=0
if wait_for $pid "$R/checkpoints/ckpt-*.safetensors"; then
  # one checkpoint per epoch: the first one's step is the steps per epoch
  spe=$(ckpt_step "$R")
  for i in 1 2 3 4 5; do
    # where a kill lands: the first one within a tenth of a run after the first
    # checkpoint; later ones either while the resume loads (one in three) or
    # within a tenth of a run after its next checkpoint (training, or writing
    # the following checkpoint). Waiting on progress, not the clock, keeps
    # this meaningful on a loaded machine.
    ms=$((RANDOM % (FULL_MS / 10 + 1)))
    where="after a checkpoint"
    if [ $i -gt 1 ]; then
      # within two epochs of the end (6), a resumed run may finish before
      # the kill lands: kill its setup instead
      if [ $((RANDOM % 3)) = 0 ] || [ $(($(ckpt_step "$R") + 2 * spe)) -ge $((6 * spe)) ]; then
        where="during setup"
      else
        base=$(ckpt_step "$R")
        while kill -0 $pid 2>/dev/null && [ "$(ckpt_step "$R")" = "$base" ]; do sleep 0.01; done
      fi
    fi
    msleep $ms
    if kill -9 $pid 2>/dev/null; then live_kills=$((live_kills + 1)); fi
    wait $pid 2>/dev/null
    echo "robust (a): kill $i ${ms} ms $where: newest checkpoint at step $(ckpt_step "$R")"
    "$G" resume "$R" --quiet >"$T/a$i.out" 2>&1 &
    pid=$!
  done
  wait $pid
  rc=$?
  check "[ $rc -eq 0 ]" "(a) the last resume exits 0 (rc $rc): $(cat "$T/a5.out")"
  check "[ '$(summary_status "$R")' = completed ]" "(a) the killed and resumed run completes"
  check "[ $live_kills -ge 3 ]" "(a) at least 3 of the 5 SIGKILLs hit a running process ($live_kills did)"
  check "cmp -s '$T/ref/model.safetensors' '$R/model.safetensors'" \
    "(a) the weights after 5 kills and resumes equal the uninterrupted run's"
  # a kill during a checkpoint write may leave its temporary (.ckpt-*.tmp.PID.N,
  # never read back); never a partial checkpoint under the real name
  echo "robust (a): $(ls -A "$R/checkpoints" | grep -c '\.tmp\.') temporaries left by the kills"
  f=$(ls "$R"/checkpoints/ckpt-*.safetensors | sort | tail -1)
  check "'$G' eval '$R' --checkpoint '$f' --set data.limit_test=300 >/dev/null 2>&1" "(a) checkpoint $f reads back"
else
  bad "(a) the first run ended before writing a checkpoint: $(cat "$T/a.out")"
fi

# --- (b) SIGINT and SIGTERM: finish the step, checkpoint, exit 0, resume ---
for sig in INT TERM; do
  R=$T/sig-$sig
  "$G" train "$MLP" -o "$R" "${ARGS[@]}" >"$T/b.out" 2>&1 &
  pid=$!
  if wait_for $pid "$R/checkpoints/ckpt-*.safetensors"; then
    msleep $((RANDOM % 100))
    kill -$sig $pid
    wait $pid
    rc=$?
    check "[ $rc -eq 0 ]" "(b) SIG$sig: exit status $rc, want 0: $(cat "$T/b.out")"
    check "grep -q '^stopped' '$T/b.out'" "(b) SIG$sig: the last line says stopped: $(cat "$T/b.out")"
    check "[ '$(summary_status "$R")' = stopped ]" "(b) SIG$sig: summary.json says stopped"
    steps=$(sed -n 's/.*"steps": \([0-9]*\).*/\1/p' "$R/summary.json")
    check "[ '$(ckpt_step "$R")' = '$steps' ]" "(b) SIG$sig: a checkpoint at the stop step ${steps:-?} (newest: $(ckpt_step "$R"))"
    echo "robust (b): SIG$sig stopped the run at step ${steps:-?}"
    "$G" resume "$R" --quiet >"$T/b2.out" 2>&1
    check "[ \$? -eq 0 ] && [ '$(summary_status "$R")' = completed ]" "(b) SIG$sig: resume completes: $(cat "$T/b2.out")"
    check "cmp -s '$T/ref/model.safetensors' '$R/model.safetensors'" "(b) SIG$sig: resumed weights equal the reference"
  else
    bad "(b) SIG$sig: the run ended before its first checkpoint: $(cat "$T/b.out")"
  fi
done
# a signal while the data loads: still a clean stop, not a killed process
R=$T/sig-setup
"$G" train "$MLP" -o "$R" "${ARGS[@]}" >"$T/b3.out" 2>&1 &
pid=$!
# the handler is installed first thing in main, but a sanitizer build on a
# busy machine takes longer than any fixed delay to get there: wait until
# the process has a data file open (it is past main's first lines and in
# the slow part of setup), or, if that was too quick to see, until the run
# directory exists (setup done)
where="before setup"
while kill -0 $pid 2>/dev/null; do
  if ls -l /proc/$pid/fd 2>/dev/null | grep -q fashion-mnist; then where="while the data loads"; break; fi
  if [ -d "$R" ]; then where="after setup"; break; fi
  sleep 0.002
done
echo "robust (b): SIGTERM $where"
kill -TERM $pid
wait $pid
rc=$?
check "[ $rc -eq 0 ] && grep -q '^stopped' '$T/b3.out'" "(b) SIGTERM during setup: rc $rc, want 0 and stopped: $(cat "$T/b3.out")"
# a run stopped before its first step has no rate and no time to report
if grep -q '"steps": 0,' "$R/summary.json" 2>/dev/null; then
  check "grep -q '\"samples_per_second\": null' '$R/summary.json' && grep -q '\"wall_seconds\": null' '$R/summary.json' && grep -q '\"train_loss\": null' '$R/summary.json'" \
    "(b) stopped before any step: rate, time and losses are null: $(cat "$R/summary.json")"
fi
"$G" resume "$R" --quiet >"$T/b4.out" 2>&1
check "[ \$? -eq 0 ] && cmp -s '$T/ref/model.safetensors' '$R/model.safetensors'" \
  "(b) resume after a stop during setup completes the same run: $(cat "$T/b4.out")"

# --- (c) the disk fills up while checkpointing ---
# $1: tmpfs (a small file system, filled up) or ulimit (a file-size limit)
disk_full() {
  local how=$1 R=$T/full-$1/run want rc prev
  mkdir -p "$T/full-$how"
  if [ "$how" = tmpfs ]; then
    # 16 MiB: room for the run (four 2.8 MB checkpoints at once while the
    # oldest of three waits to be removed); filled up after the first part
    mount -t tmpfs -o size=16m gg-robust "$T/full-$how" 2>/dev/null || return 1
    MNT=$T/full-$how
  fi
  echo "robust (c): a full disk by $how"
  "$G" train "$MLP" -o "$R" "${ARGS[@]}" --set train.stop_after=2 >"$T/c1.out" 2>&1
  check "[ \$? -eq 0 ] && [ '$(summary_status "$R")' = stopped ]" "(c) $how: the first part runs: $(cat "$T/c1.out")"
  prev=$(ls "$R/checkpoints" | sort | tail -1)
  cp "$R/checkpoints/$prev" "$T/prev.safetensors"
  if [ "$how" = tmpfs ]; then
    dd if=/dev/zero of="$MNT/filler" bs=64k 2>/dev/null # until ENOSPC
    "$G" resume "$R" --quiet >"$T/c2.out" 2>&1
    rc=$?
    want="No space left on device"
  else
    # checkpoints are 2.8 MB: a 1 MiB file-size limit fails the next one
    # (the command ignores SIGXFSZ, so the write fails instead of the process)
    (ulimit -f 1024; exec "$G" resume "$R" --quiet) >"$T/c2.out" 2>&1
    rc=$?
    want="File too large"
  fi
  check "[ $rc -eq 1 ]" "(c) $how: a full disk ends the run with exit 1 (rc $rc): $(cat "$T/c2.out")"
  check "grep -q \"cannot write '.*ckpt-[0-9]*.safetensors'.*$want\" '$T/c2.out'" \
    "(c) $how: the error names the checkpoint and the reason ($want): $(cat "$T/c2.out")"
  echo "robust (c): $how: $(cat "$T/c2.out")"
  check "cmp -s '$T/prev.safetensors' '$R/checkpoints/$prev'" "(c) $how: the previous checkpoint $prev is intact"
  check "[ -z \"\$(ls -A '$R/checkpoints' | grep -v '^ckpt-')\" ]" "(c) $how: no temporary is left: $(ls -A "$R/checkpoints")"
  check "[ \$(ls '$R/checkpoints' | grep -c '^ckpt-') -eq 2 ]" "(c) $how: no partial checkpoint: $(ls -A "$R/checkpoints")"
  [ "$how" = tmpfs ] && rm -f "$MNT/filler"
  "$G" resume "$R" --quiet >"$T/c3.out" 2>&1
  check "[ \$? -eq 0 ] && [ '$(summary_status "$R")' = completed ]" "(c) $how: with room again, resume completes: $(cat "$T/c3.out")"
  check "cmp -s '$T/ref/model.safetensors' '$R/model.safetensors'" "(c) $how: and ends with the reference weights"
  if [ -n "$MNT" ]; then umount "$MNT" && MNT=; fi
  return 0
}
if [ "$(id -u)" != 0 ] || ! disk_full tmpfs; then echo "robust (c): cannot mount a tmpfs here; ulimit -f only"; fi
disk_full ulimit

# --- (d) a run directory that cannot be made or written ---
out=$("$G" train "$MLP" -o /etc/passwd/run "${ARGS[@]}" 2>&1)
rc=$?
check "[ $rc -eq 1 ] && grep -q 'cannot create directory /etc/passwd/run: Not a directory' <<<\"\$out\"" \
  "(d) a run directory under a regular file: rc $rc, output: $out"
echo "robust (d): $out"
mkdir -p "$T/ro/run"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o ro,size=1m gg-robust-ro "$T/ro/run" 2>/dev/null; then
  MNT=$T/ro/run
  out=$("$G" train "$MLP" -o "$T/ro/run/x" "${ARGS[@]}" 2>&1)
  rc=$?
  check "[ $rc -eq 1 ] && grep -q 'Read-only file system' <<<\"\$out\"" "(d) a read-only file system: rc $rc, output: $out"
  umount "$MNT" && MNT=
elif [ "$(id -u)" != 0 ]; then
  chmod 555 "$T/ro/run"
  out=$("$G" train "$MLP" -o "$T/ro/run/x" "${ARGS[@]}" 2>&1)
  rc=$?
  check "[ $rc -eq 1 ] && grep -q 'Permission denied' <<<\"\$out\"" "(d) a directory without write permission: rc $rc, output: $out"
  chmod 755 "$T/ro/run"
fi
mkdir -p "$T/cf" && : >"$T/cf/checkpoints"
out=$("$G" train "$MLP" -o "$T/cf" "${ARGS[@]}" 2>&1)
rc=$?
check "[ $rc -eq 1 ] && grep -q 'checkpoints' <<<\"\$out\"" "(d) checkpoints/ is a regular file: rc $rc, output: $out"
out=$("$G" resume "$T/nowhere" 2>&1)
rc=$?
check "[ $rc -eq 1 ] && grep -q 'nowhere' <<<\"\$out\"" "(d) resume of a missing run directory: rc $rc, output: $out"

# --- (e) out of memory at graph planning ---
# a model far larger than this machine's memory: refused by size while
# planning, before any page is touched (else the kernel's OOM killer ends it)
out=$("$G" train "$MLP" -o "$T/oom" "${ARGS[@]}" --set model.0.units=4000000 2>&1)
rc=$?
# (about 100 GB to train: the plan alone may already be too large)
check "[ $rc -eq 1 ] && grep -Eq 'model: (training [0-9]* parameters needs about|gg_graph_compile: the plan needs) [0-9]* MiB.*more than the [0-9]* MiB of memory' <<<\"\$out\"" \
  "(e) a model larger than memory: rc $rc, output: $out"
echo "robust (e): $out"
# an address-space limit (ulimit -v) smaller than the plan; not under the
# sanitizers, whose shadow memory needs terabytes of address space
if [ -z "${GG_SANITIZE:-}" ] && ! ldd "$G" 2>/dev/null | grep -q 'lib[at]san\|libubsan'; then
  out=$( (ulimit -v 600000; exec "$G" train "$MLP" -o "$T/oom2" "${ARGS[@]}" --set model.0.units=100000) 2>&1)
  rc=$?
  check "[ $rc -eq 1 ] && grep -q 'gg_graph_compile: the plan needs [0-9]* MiB of arenas' <<<\"\$out\"" \
    "(e) ulimit -v below the plan: rc $rc, output: $out"
  echo "robust (e): $out"
fi

finish robust
