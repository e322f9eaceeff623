#!/usr/bin/env bash
# internal_headers.sh - the include rules of ARCHITECTURE.md hold:
#  - core/core.h, core/ops/ops.h and core/ops/conv.h (the graph's and the op
#    files' own internals) are included only under src/core;
#  - what src/core offers other modules (node.h, error.h, file.h, reduce.h,
#    ops/attr.h) does not include core.h, so nothing reaches it indirectly;
#  - nn/nn.h (the layer builders' shared checks, the layer-kind table) is
#    included by src/nn and by src/train (the model's set-up) only;
#  - the command (src/cli) includes gradguard.h and its own cli.h only.
# Environment: GG_SRC (the source dir).
set -u
SRC=${GG_SRC:?}
. "$(dirname "$0")/common.bash"
cd "$SRC" || exit 1

# the project's headers each file includes ("..." includes)
grep -rHo '^#include "[^"]*"' src --include='*.c' --include='*.h' | sed 's/:#include "/ /; s/"$//' >"$T/inc.txt"
check "[ \$(wc -l <'$T/inc.txt') -ge 100 ] && grep -q '^src/guard/monitor.c core/node.h\$' '$T/inc.txt'" \
  "the includes of src/ were not read"

outside=$(awk '$1 !~ /^src\/core\// && $2 ~ /(^|\/)core\/(core|ops\/ops|ops\/conv)\.h$/' "$T/inc.txt" | tr '\n' ' ')
check "[ -z '$outside' ]" "core internals included outside src/core (include core/node.h, error.h, file.h or reduce.h): $outside"
for h in src/core/node.h src/core/error.h src/core/file.h src/core/reduce.h src/core/ops/attr.h; do
  check "[ -f '$h' ] && ! grep -q '^#include \"\\(\\.\\./\\)\\?core\\.h\"' '$h'" "$h includes core.h (or is missing)"
done
nn=$(awk '$1 !~ /^src\/(nn|train)\// && $2 ~ /(^|\/)nn\/nn\.h$/' "$T/inc.txt" | tr '\n' ' ')
check "[ -z '$nn' ]" "nn/nn.h (the layer builders' helpers) included outside src/nn and src/train: $nn"
cli=$(awk '$1 ~ /^src\/cli\// && $2 != "gradguard.h" && $2 != "cli.h"' "$T/inc.txt" | tr '\n' ' ')
check "[ -z '$cli' ]" "src/cli includes internals (it uses the public API): $cli"
finish internal_headers
