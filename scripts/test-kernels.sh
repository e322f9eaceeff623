#!/usr/bin/env bash
# Runs the C test programs (ops, gradients, optimizers, the guard, ...) of
# each build directory given once per OpenBLAS kernel family this CPU can
# run: Haswell (AVX2) always, SkylakeX (AVX-512) where the CPU has AVX-512
# F, BW, DQ and VL; on other CPUs it says that pass was skipped. The
# families round differently in the last bits; every tolerance must hold
# under both.
# usage: scripts/test-kernels.sh BUILD_DIR [BUILD_DIR...]
set -u
[ $# -ge 1 ] || { echo "usage: scripts/test-kernels.sh BUILD_DIR [BUILD_DIR...]" >&2; exit 2; }
families="Haswell"
if grep -qw avx512f /proc/cpuinfo && grep -qw avx512bw /proc/cpuinfo && grep -qw avx512dq /proc/cpuinfo &&
  grep -qw avx512vl /proc/cpuinfo; then
  families="$families SkylakeX"
else
  echo "test-kernels: this CPU has no AVX-512: the SkylakeX (AVX-512) pass is skipped, Haswell only"
fi
rc=0
for b in "$@"; do
  for k in $families; do
    echo "test-kernels: $b, OPENBLAS_CORETYPE=$k"
    (cd "$b" && OPENBLAS_CORETYPE=$k ctest -L c_test --output-on-failure -j "${JOBS:-2}") || rc=1
  done
done
exit $rc
