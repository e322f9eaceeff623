#!/usr/bin/env bash
# Installs the Debian packages gradguard needs that are missing on this machine.
# Usage: scripts/install-deps.sh [--with-torch] [--with-mpi] [--with-chromium] [--with-fortunes]
# Build needs: cmake, gcc, OpenBLAS, zlib, libyaml, jansson (the JSON reader), OpenMPI (data-parallel
# training is on by default where MPI is found; the build works without it);
# data: dataset-fashion-mnist.
# --with-torch adds python3-torch, python3-numpy and python3-pandas (parity tests,
# benches, the Python package's tests),
# --with-chromium adds headless Chromium (report test) and tmux (the progress
# line in a terminal pane). --with-fortunes adds Debian's fortunes (2.6 MB of
# text under /usr/share/games/fortunes: the corpus of bench/lr_sweep, read as
# one text directory). --with-mpi is accepted for older callers: OpenMPI is
# part of the default set.
set -eu
pkgs="cmake make gcc pkg-config libopenblas-dev libopenblas-openmp-dev zlib1g-dev libyaml-dev libjansson-dev openmpi-bin libopenmpi-dev dataset-fashion-mnist"
for a in "$@"; do
  case "$a" in
    --with-torch) pkgs="$pkgs python3-torch python3-numpy python3-pandas" ;;
    --with-mpi) ;;
    --with-chromium) pkgs="$pkgs chromium tmux" ;;
    --with-fortunes) pkgs="$pkgs fortunes" ;;
    --with-fuzz) pkgs="$pkgs clang libclang-rt-dev" ;;
    --with-valgrind) pkgs="$pkgs valgrind" ;;
    *) echo "install-deps.sh: unknown option '$a'" >&2; exit 2 ;;
  esac
done
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps.sh: installing$missing"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
