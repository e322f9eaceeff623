#!/bin/sh
# make bench: builds the bench programs (bench/gg_bench, bench/gemm_floor) in
# the build directory and runs bench/run.py under /usr/bin/python3, where
# Debian's python3-torch lives. Usage: bench/run.sh [BUILD_DIR] [run.py options]
set -e
cd "$(dirname "$0")/.."
BUILD=${1:-build}
[ $# -gt 0 ] && shift
if [ ! -x /usr/bin/python3 ] || ! /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then
    echo "bench: /usr/bin/python3 cannot import torch and numpy (Debian: apt-get install python3-torch python3-numpy)" >&2
    exit 1
fi
# configure again so that a build directory made before bench/ existed gets the targets
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)" --target gg_bench gemm_floor
exec /usr/bin/python3 bench/run.py --build "$BUILD" "$@"
