#!/usr/bin/env bash
# bad_inputs.sh - every class of bad input the "Bad inputs" table of
# docs/robustness.md lists, for every kind of file gradguard reads (IDX, IDX.gz, CSV, npy, the
# YAML config, safetensors checkpoints and model files, texts, vocabulary
# files): the command must end with the expected exit status and a one-line
# message with the expected words, never a crash or a sanitizer report.
# The cases and their expectations live in tests/bad_inputs.py, which also
# prints the table (--table), so docs/robustness.md shows what this test checks.
#
#   tests/bad_inputs.sh                 the check (GG_BIN, GG_SRC from ctest)
#   tests/bad_inputs.sh --table         the Markdown table, for docs/robustness.md
set -u
SRC=${GG_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
G=${GG_BIN:-$SRC/build/gradguard}
command -v python3 >/dev/null || { echo "bad_inputs: python3 not found; skipped"; exit 77; }
# the checkpoint cases train on Fashion-MNIST
[ -d /usr/share/datasets/fashion-mnist ] || { echo "bad_inputs: Fashion-MNIST not installed; skipped"; exit 77; }
exec python3 "$SRC/tests/bad_inputs.py" "$G" "$@"
