#!/usr/bin/env bash
# Runs every C test program of a build directory under valgrind memcheck:
# any invalid access, use of uninitialised memory or definite leak fails.
# Thread pools (libgomp, OpenBLAS) keep memory to the end on purpose: only
# definite and indirect leaks count.
set -u
B=${1:?usage: scripts/valgrind-tests.sh BUILD_DIR}
command -v valgrind >/dev/null || { echo "valgrind-tests: valgrind is not installed" >&2; exit 1; }
# GG_NO_TUNE: the command would otherwise start itself again (src/cli/main.c), outside valgrind
export GG_SRC=$(cd "$(dirname "$0")/.." && pwd) GG_BUILD=$(cd "$B" && pwd) OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 GG_NO_TUNE=1
pass=0 fail=0
for t in "$B"/tests/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
      --show-leak-kinds=definite,indirect "$t" >"$B/$name.vg.log" 2>&1; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: $name under valgrind (log: $B/$name.vg.log)" >&2
    tail -30 "$B/$name.vg.log" >&2
  fi
done
# The command end to end: a short guarded run whose faults take the
# diagnose and rollback paths, then resume, eval and report on its run dir.
G=$GG_BUILD/gradguard
R=$(mktemp -d)
trap 'rm -rf "$R"' EXIT
SMALL=(--set data.limit_train=1500 --set data.limit_test=300 --set train.batch=50 --set train.threads=1 --quiet)
FAULTS=(--set guard.faults.0.batch=8 --set guard.faults.1.batch=12 --set guard.faults.2.batch=20 --set guard.faults.3.batch=40)
vg_cmd() { # NAME ARGS...: one gradguard command under memcheck
  local name=$1
  shift
  if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
      --show-leak-kinds=definite,indirect "$G" "$@" >"$GG_BUILD/cli-$name.vg.log" 2>&1; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: gradguard $* under valgrind (log: $GG_BUILD/cli-$name.vg.log)" >&2
    tail -30 "$GG_BUILD/cli-$name.vg.log" >&2
  fi
}
vg_cmd train train "$GG_SRC/configs/gauntlet/5-faults.yaml" -o "$R/run" --set train.epochs=2 \
  --set train.stop_after=1 "${SMALL[@]}" "${FAULTS[@]}"
vg_cmd resume resume "$R/run" --quiet
vg_cmd eval eval "$R/run" --set data.limit_test=300
vg_cmd report report "$R/run"
echo "valgrind: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
