#!/usr/bin/env bash
# Runs every C test program of a build directory under valgrind memcheck:
# any invalid access, use of uninitialised memory or definite leak fails.
# Thread pools (libgomp, OpenBLAS) keep memory to the end on purpose: only
# definite and indirect leaks count.
set -u
B=${1:?usage: scripts/valgrind-tests.sh BUILD_DIR}
command -v valgrind >/dev/null || { echo "valgrind-tests: valgrind is not installed" >&2; exit 1; }
export GG_SRC=$(cd "$(dirname "$0")/.." && pwd) GG_BUILD=$(cd "$B" && pwd) OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
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
echo "valgrind: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
