# common.bash - what the shell tests (tests/*.sh) share. Source it after
# `set -u`:  . "$(dirname "$0")/common.bash"
# (not *.sh: tests/CMakeLists.txt runs every tests/*.sh as a test)
#
#   T                  a temporary directory, removed at exit (a test that
#                      needs more at exit sets its own trap and removes it)
#   ok, bad MSG        count a pass, or a failure with its message
#   check COND MSG     eval COND: a pass, or a failure saying MSG
#   expect CODE PAT CMD...
#                      run CMD: its status must be CODE and its output
#                      (stdout and stderr) match the grep pattern PAT
#   skip_peer MSG      a peer (PyTorch, MPI, Chromium) is missing: skipped
#                      (exit 77), but a failure under `make test`, which
#                      installs the peers and sets GG_REQUIRE_PEERS
#   finish NAME        print the counts; the script's last command, so that
#                      its status is the test's
#   gg_python_env      sets PYENV, the variables /usr/bin/python3 needs to
#                      import the gradguard package of this tree (python/)
#                      with this build's libgradguard.so, for
#                      env "${PYENV[@]}" /usr/bin/python3 ...; in a Sanitize
#                      build they also preload the sanitizer runtimes the
#                      library needs (Python itself is not instrumented: no
#                      leak check)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() {
  fail=$((fail + 1))
  echo "FAIL: $*" >&2
}
check() { if eval "$1"; then ok; else bad "$2"; fi; }
expect() {
  local code=$1 pat=$2
  shift 2
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -eq "$code" ] && grep -q -- "$pat" <<<"$out"; then
    ok
  else
    bad "$* -> rc $rc (want $code), output: $out (want /$pat/)"
  fi
}
skip_peer() {
  echo "$*"
  [ -n "${GG_REQUIRE_PEERS:-}" ] && exit 1
  exit 77
}
finish() {
  echo "$1: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}
gg_python_env() {
  PYENV=(PYTHONPATH="$GG_SRC/python${PYTHONPATH:+:$PYTHONPATH}" GRADGUARD_LIB="$GG_BUILD/libgradguard.so"
    PYTHONDONTWRITEBYTECODE=1) # no __pycache__ in the source tree
  if grep -q '^CMAKE_BUILD_TYPE:[A-Z]*=Sanitize' "$GG_BUILD/CMakeCache.txt" 2>/dev/null; then
    local cc
    cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$GG_BUILD/CMakeCache.txt")
    PYENV+=(LD_PRELOAD="$("${cc:-cc}" -print-file-name=libasan.so) $("${cc:-cc}" -print-file-name=libubsan.so)"
      ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0")
  fi
}
