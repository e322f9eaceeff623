#!/usr/bin/env bash
# public_symbols.sh - libgradguard.so exports exactly the public API.
# The library is compiled with -fvisibility=hidden and the header marks each
# public function GG_API; this test compares three lists, which must be equal:
#   (a) the functions the public headers (include/gradguard.h and the headers
#       it includes, include/gradguard/*.h) declare with GG_API (parsed here),
#   (b) every function the header declares at all, as the compiler sees it
#       (gcc's -aux-info; with another compiler this list is skipped, and a
#       declaration that lacks GG_API is caught by (c) instead),
#   (c) the symbols `nm -D --defined-only libgradguard.so` lists, each of
#       which must be a function (no data of the library is public).
# A new public function without GG_API fails (a/b and b/c differ); an
# internal function that leaks out of the library fails (a/c differ).
# Each header of include/gradguard/ is included by gradguard.h and compiles
# on its own (-Werror -pedantic), so a user may include one part alone.
# Environment: GG_SRC (the source dir), GG_BUILD (the build dir).
set -u
SRC=${GG_SRC:?}
B=${GG_BUILD:?}
. "$(dirname "$0")/common.bash"
H=$SRC/include/gradguard.h
PARTS=$(ls "$SRC"/include/gradguard/*.h 2>/dev/null)
SO=$B/libgradguard.so

command -v nm >/dev/null || { echo "public_symbols: nm (binutils) is not installed"; exit 1; }
[ -e "$SO" ] || { echo "public_symbols: $SO is not built"; exit 1; }
[ -n "$PARTS" ] || { echo "public_symbols: no headers in $SRC/include/gradguard/"; exit 1; }

# (a) the names after GG_API: comments and preprocessor lines out, then the
# identifier just before the first '(' of each GG_API declaration
perl -0777 -ne 's{/\*.*?\*/}{ }gs; s{//[^\n]*}{}g; s{^[ \t]*#[^\n]*}{}mg;
  while (/\bGG_API\b[^;(]*?([A-Za-z_]\w*)\s*\(/g) { print "$1\n" }' "$H" $PARTS | sort >"$T/api.txt"
# (c) what the shared library exports, and whether each one is a function
nm -D --defined-only "$SO" | awk '{print $3}' | sort >"$T/exported.txt"
nm -D --defined-only "$SO" | awk '$2 != "T" && $2 != "i" {print $3 " (type " $2 ")"}' >"$T/not_functions.txt"

n_api=$(wc -l <"$T/api.txt")
# the lists are not empty by accident: the header has hundreds of functions
check "[ $n_api -ge 100 ] && grep -qx gg_errmsg '$T/api.txt'" "only $n_api GG_API declarations parsed from $H"
check "[ \$(sort -u '$T/api.txt' | wc -l) -eq $n_api ]" "a function is declared twice with GG_API: $(uniq -d "$T/api.txt" | tr '\n' ' ')"
for p in $PARTS; do
  b=$(basename "$p")
  check "grep -qx '#include \"gradguard/$b\"' '$H'" "gradguard.h does not include gradguard/$b"
done
check "grep -qx gg_errmsg '$T/exported.txt'" "libgradguard.so does not export gg_errmsg"

missing=$(comm -23 "$T/api.txt" "$T/exported.txt" | tr '\n' ' ')
leaked=$(comm -13 "$T/api.txt" "$T/exported.txt" | tr '\n' ' ')
check "[ -z '$missing' ]" "declared GG_API in the public headers but not exported by libgradguard.so: $missing"
check "[ -z '$leaked' ]" "exported by libgradguard.so but not declared GG_API in a public header (internal? mark it static or keep it out of include/): $leaked"
check "[ ! -s '$T/not_functions.txt' ]" "libgradguard.so exports symbols that are not functions: $(tr '\n' ' ' <"$T/not_functions.txt")"

# (b) every function the header declares, GG_API or not, as gcc reads it
CC=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$B/CMakeCache.txt")
echo '#include "gradguard.h"' >"$T/h.c"
if [ -n "$CC" ] && "$CC" -std=c11 -I"$SRC/include" -aux-info "$T/aux.txt" -fsyntax-only "$T/h.c" 2>/dev/null &&
  [ -s "$T/aux.txt" ]; then
  # lines like: /* .../include/gradguard/core.h:51:NC */ extern const char *gg_errmsg (void);
  grep -E 'include/gradguard(/[a-z_]+)?\.h:' "$T/aux.txt" | sed -E 's/^[^*]*\*\/ *//; s/ *\(.*//; s/.*[ *]//' | sort >"$T/declared.txt"
  check "[ \$(wc -l <'$T/declared.txt') -eq $n_api ]" \
    "the public headers declare $(wc -l <"$T/declared.txt") functions but mark $n_api GG_API"
  undeclared=$(comm -23 "$T/declared.txt" "$T/api.txt" | tr '\n' ' ')
  check "[ -z '$undeclared' ]" "declared in a public header without GG_API (add it): $undeclared"
  for p in $PARTS; do
    b=$(basename "$p")
    echo "#include \"gradguard/$b\"" >"$T/part.c"
    if "$CC" -std=c11 -Wall -Wextra -Werror -pedantic -I"$SRC/include" -fsyntax-only "$T/part.c" 2>"$T/part.err"; then
      ok
    else
      bad "gradguard/$b does not compile on its own: $(head -3 "$T/part.err" | tr '\n' ' ')"
    fi
  done
else
  echo "public_symbols: $CC has no -aux-info (not gcc): the header's declarations without GG_API are not listed"
fi
echo "public_symbols: $n_api public functions, $(wc -l <"$T/exported.txt") exported"
finish public_symbols
