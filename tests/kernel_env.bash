#!/usr/bin/env bash
# Runs one C test program under the OpenBLAS kernels that the gradguard
# command uses on this CPU (it asks the command, which picks them in
# tune_runtime, src/cli/main.c), so that the tests check the arithmetic the
# command really does. An OPENBLAS_CORETYPE already set is kept: that is how
# scripts/test-kernels.sh runs the other family.
# usage: tests/kernel_env.bash PROGRAM [ARGS...]   (GG_BIN: the gradguard command)
set -u
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ -n "${GG_BIN:-}" ] && [ -x "$GG_BIN" ]; then
  k=$("$GG_BIN" --version 2>/dev/null | sed -n 's/^blas kernels: //p')
  case "$k" in
    "" | unknown) ;;
    *) export OPENBLAS_CORETYPE="$k" ;;
  esac
fi
exec "$@"
