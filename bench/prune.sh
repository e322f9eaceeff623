#!/usr/bin/env bash
# Pruning benchmark: a Fashion-MNIST MLP pruned to 80% sparsity by global
# magnitude and fine-tuned for one epoch must stay within 1 point of its
# dense test accuracy.
#
#   bench/prune.sh [RUN_DIR]
#
# Without RUN_DIR it first trains configs/fashion-mlp.yaml into
# runs/bench-prune-dense (OUT=... to change). Prints the dense, pruned and
# fine-tuned test accuracy, the sparsity per layer, and PASS or FAIL.
# GG_BIN (default build/gradguard), SPARSITY (0.8), EPOCHS (1) and
# STRUCTURED=1 change what is run.
set -eu
cd "$(dirname "$0")/.."
G=${GG_BIN:-build/gradguard}
SPARSITY=${SPARSITY:-0.8}
EPOCHS=${EPOCHS:-1}
[ -x "$G" ] || { echo "bench/prune.sh: $G not found (make build)" >&2; exit 1; }
if [ $# -ge 1 ]; then
  dense=$1
else
  dense=${OUT:-runs/bench-prune-dense}
  echo "== training configs/fashion-mlp.yaml into $dense"
  "$G" train configs/fashion-mlp.yaml -o "$dense" --overwrite --quiet
fi
pruned=${dense%/}-pruned-$SPARSITY
extra=()
[ "${STRUCTURED:-0}" = 1 ] && extra=(--structured)
echo "== $G prune $dense --sparsity $SPARSITY --epochs $EPOCHS ${extra[*]:-} -o $pruned"
"$G" prune "$dense" --sparsity "$SPARSITY" --epochs "$EPOCHS" "${extra[@]}" -o "$pruned" --overwrite --quiet
python3 - "$pruned/prune.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
d, p, f = r["dense"]["accuracy"], r["pruned"]["accuracy"], r["fine_tuned"]["accuracy"]
print()
print("| model | test accuracy | vs dense |")
print("|---|---|---|")
print("| dense | %.4f | |" % d)
print("| pruned to %.0f%%, no fine-tuning | %.4f | %+.2f points |" % (100 * r["sparsity"], p, 100 * (p - d)))
print("| pruned + %d epoch fine-tuning | %.4f | %+.2f points |" % (r["fine_tune_epochs"], f, 100 * (f - d)))
ok = f >= d - 0.01
print("\n%s: the fine-tuned model is %s 1 point of the dense one" % ("PASS" if ok else "FAIL", "within" if ok else "NOT within"))
sys.exit(0 if ok else 1)
EOF
