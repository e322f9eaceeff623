#!/usr/bin/env bash
# readme_example.sh - the README's C example, exactly as the README shows
# it: the first ```c block of README.md, compiled with -Wall -Wextra -Werror
# against include/gradguard.h and linked with the build's libgradguard.so
# (so it also proves the example needs nothing the shared library hides),
# then run: it must train its 400 steps and print the loss every 100.
# Environment: GG_SRC (the source dir), GG_BUILD (the build dir).
set -u
SRC=${GG_SRC:?}
B=${GG_BUILD:?}
CC=${CC:-cc}
. "$(dirname "$0")/common.bash"
[ -d /usr/share/datasets/fashion-mnist ] || { echo "readme_example: Fashion-MNIST not installed; skipped"; exit 77; }
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$B/CMakeCache.txt")
SAN_FLAGS=""
if [ "$build_type" = Sanitize ]; then SAN_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all"; fi

awk '/^```c$/ {on = 1; n++; next} /^```$/ {on = 0} on && n == 1' "$SRC/README.md" >"$T/first.c"
check "[ \$(wc -l <'$T/first.c') -ge 20 ]" "no \`\`\`c block of 20 lines or more in README.md"
check "grep -q 'gg_guard_check' '$T/first.c'" "README.md's example does not run the guard"
# shellcheck disable=SC2086
if $CC -std=c11 -Wall -Wextra -Werror $SAN_FLAGS "$T/first.c" -I"$SRC/include" -L"$B" -lgradguard \
  -Wl,-rpath,"$B" -o "$T/first" 2>"$T/cc.log"; then
  ok
  expect 0 "^step 400: loss [0-9.]*$" "$T/first"
  # it runs on the shared library, not on a copy of the library's code
  check "ldd '$T/first' | grep -q 'libgradguard.so'" "the example is not linked with libgradguard.so"
else
  bad "README.md's example does not compile: $(cat "$T/cc.log")"
fi
finish readme_example
