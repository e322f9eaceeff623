#!/usr/bin/env bash
# gradguard.torch.Guard, the guard's decision core in a PyTorch loop, under
# Debian's /usr/bin/python3 (tests/parity/torch_guard_check.py: rollback of
# a NaN batch, clips against the bare core and clip_grad_norm_, back-off,
# state, reset, noise, the quiet monitor's hooks, the run directory), and
# the PyTorch example of docs/getting-started.md ("A guarded PyTorch loop",
# gauntlet case 2) extracted and run for 300 steps (past the
# layer of killed units it rolls back at step 150): it must roll the
# blow-up back, end finite and leave a run directory with its report.
set -u
SRC=${GG_SRC:?}
B=${GG_BUILD:?}
PY=/usr/bin/python3
. "$(dirname "$0")/common.bash"
"$PY" -c 'import torch, numpy' 2>/dev/null ||
  skip_peer "torch_guard: $PY cannot import torch and numpy (scripts/install-deps.sh --with-torch)"
gg_python_env
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

env "${PYENV[@]}" "$PY" -W ignore "$SRC/tests/parity/torch_guard_check.py" "$T" >"$T/check.txt" 2>&1
rc=$?
sed 's/^/  /' "$T/check.txt"
n_fail=$(grep -c '^FAIL' "$T/check.txt")
n_ok=$(grep -c '^ok' "$T/check.txt")
check "[ $rc -eq 0 ] && [ $n_fail -eq 0 ] && [ $n_ok -ge 45 ]" "torch_guard_check.py: status $rc, $n_ok ok, $n_fail failed"

# the docs' example: the first indented block after its heading, with a
# short budget (300 steps for 3 epochs) and the run directory in $T
awk '/^### A guarded PyTorch loop/ {on = 1; next} on && /^    / {print substr($0, 5); got = 1; next}
     on && got && !/^ *$/ {exit}' "$SRC/docs/getting-started.md" >"$T/example.py"
lines=$(grep -c . "$T/example.py")
check "[ $lines -ge 5 ] && [ $lines -le 10 ]" "docs example: $lines lines (want 5 to 10)"
grep -q '3 \* 468' "$T/example.py" || bad "docs example: no '3 * 468' budget to shorten"
sed -i -e 's/3 \* 468/300/' -e "s#runs/pt-case2#$T/case2#" "$T/example.py"
[ -d /usr/share/datasets/fashion-mnist ] || skip_peer "torch_guard: no Fashion-MNIST (dataset-fashion-mnist)"
(cd "$T" && env "${PYENV[@]}" "$PY" -W ignore example.py) >"$T/example.txt" 2>&1
rc=$?
check "[ $rc -eq 0 ]" "docs example failed ($rc): $(tail -5 "$T/example.txt")"
env "${PYENV[@]}" "$PY" - "$T/case2" >"$T/ex_check.txt" 2>&1 <<'PYEOF'
import json, math, sys
import gradguard
run = gradguard.load_run(sys.argv[1], pandas=False)
s = run.summary
blowups = [e for e in run.events if e.get("signal") == "loss_blowup" and e.get("action") == "rollback"]
loss = [v for v in run.metrics["loss"] if v is not None]
print("status", s["status"], "steps", s["steps"], "rollbacks", s["guard"]["rollbacks"], "last loss", loss[-1])
ok = s["status"] == "completed" and s["steps"] == 300 and blowups and loss[-1] < 2.0
print("ok" if ok else "FAIL")
PYEOF
sed 's/^/  /' "$T/ex_check.txt"
check "grep -q '^ok' '$T/ex_check.txt'" "docs example: the run of case 2 (a blow-up rolled back, completed, loss under 2.0)"
check "[ -s '$T/case2/report.html' ]" "docs example: no report.html"
finish torch_guard
