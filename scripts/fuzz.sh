#!/usr/bin/env bash
# fuzz.sh - builds the libFuzzer harnesses (tests/fuzz/fuzz_*.c) with clang,
# ASan and UBSan, then runs each one in turn for SECONDS and prints a summary.
#
#   scripts/fuzz.sh [SECONDS] [TARGET ...]      default: 600 s each, every target
#   scripts/fuzz.sh --build                     only build
#   scripts/fuzz.sh --regen-corpus              rewrite tests/fuzz/corpus/ (seed files)
#
# Everything goes under $FUZZ_DIR (default build-fuzz/): obj/ (the library
# built with the fuzzer's instrumentation), fuzz_<target> binaries,
# corpus/<target>/ (the growing working corpus, seeded from
# tests/fuzz/corpus/ and tests/fuzz/regress/), crashes/<target>/ (inputs
# that crashed, leaked, hung or broke a check) and logs/<target>.log.
# Targets run one at a time on one core. The exit status is 1 if any target
# saved a crash: replay one with build-fuzz/fuzz_<target> FILE, then, once
# fixed, copy it to tests/fuzz/regress/<target>/ so test_fuzz_regress keeps it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FUZZ_DIR=${FUZZ_DIR:-$ROOT/build-fuzz}
CC=${FUZZ_CC:-clang}
ALL_TARGETS=(idx csv npy safetensors config text)
# longest input per target: a few small files (the parsers' size checks are
# exercised by the header fields, not by megabytes of data)
declare -A MAX_LEN=([idx]=4096 [csv]=4096 [npy]=4096 [safetensors]=8192 [config]=8192 [text]=4096)

mode=run
secs=600
targets=()
for a in "$@"; do
  case $a in
    --build) mode=build ;;
    --regen-corpus) mode=corpus ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    [0-9]*) secs=$a ;;
    *) if [[ " ${ALL_TARGETS[*]} " == *" $a "* ]]; then targets+=("$a"); else
         echo "fuzz.sh: unknown target '$a' (targets: ${ALL_TARGETS[*]})" >&2; exit 2; fi ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")

if ! command -v "$CC" >/dev/null; then
  echo "fuzz.sh: $CC not found (Debian: apt-get install clang libclang-rt-dev)" >&2
  exit 1
fi

# OpenBLAS's pthread build: its OpenMP build needs gcc's libgomp, and clang's
# -fopenmp brings LLVM's libomp; two OpenMP runtimes in one process do not mix.
BLAS_DIR=/usr/lib/x86_64-linux-gnu/openblas-pthread
BLAS_INC=/usr/include/x86_64-linux-gnu/openblas-pthread
[ -d "$BLAS_DIR" ] || { BLAS_DIR=/usr/lib/x86_64-linux-gnu; BLAS_INC=/usr/include/x86_64-linux-gnu; }
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
CFLAGS="-std=c11 -D_POSIX_C_SOURCE=200809L -O1 -g -fno-omit-frame-pointer -fopenmp $SAN
        -I$ROOT/include -I$ROOT/src -I$ROOT/tests/fuzz -I$BLAS_INC -Wall -Wno-unknown-pragmas -Wno-pass-failed"
LIBS="-L$BLAS_DIR -Wl,-rpath,$BLAS_DIR -lopenblas -lyaml -ljansson -lz -lm"

build() {
  mkdir -p "$FUZZ_DIR/obj"
  local objs=() changed=0
  # the library as CMake builds it without MPI: every src/**/*.c but the
  # command; src/parallel compiles to its one-rank stand-in (no GG_HAVE_MPI)
  while IFS= read -r src; do
    local rel=${src#"$ROOT/src/"}
    local obj="$FUZZ_DIR/obj/${rel//\//_}.o"
    if [ ! -e "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find "$ROOT/src" "$ROOT/include" -name '*.h' -newer "$obj" -print -quit)" ]; then
      changed=1
      # shellcheck disable=SC2086
      if ! $CC $CFLAGS -fsanitize=fuzzer-no-link -c "$src" -o "$obj" 2>"$FUZZ_DIR/obj/last.err"; then
        # a file someone is in the middle of writing: the harnesses link
        # without it unless they need it (then the link says what is missing)
        echo "fuzz.sh: skipping src/$rel, which does not compile: $(grep -m1 'error:' "$FUZZ_DIR/obj/last.err")" >&2
        rm -f "$obj"
        continue
      fi
    fi
    objs+=("$obj")
  done < <(find "$ROOT/src" -name '*.c' ! -path '*/src/cli/*' | sort)
  # the report's inline script, embedded as the CMake build embeds it
  local js_c="$FUZZ_DIR/report_js.c" js_o="$FUZZ_DIR/obj/report_js.o"
  if [ ! -e "$js_o" ] || [ "$ROOT/src/report/report.js" -nt "$js_o" ]; then
    cmake -DIN="$ROOT/src/report/report.js" -DOUT="$js_c" -DNAME=gg_report_js -P "$ROOT/cmake/embed_text.cmake"
    # shellcheck disable=SC2086
    $CC $CFLAGS -fsanitize=fuzzer-no-link -c "$js_c" -o "$js_o"
  fi
  objs+=("$js_o")
  # objects of deleted sources must not linger in the archive
  rm -f "$FUZZ_DIR/libgg_fuzz.a"
  ar rcs "$FUZZ_DIR/libgg_fuzz.a" "${objs[@]}"
  for t in "${ALL_TARGETS[@]}"; do
    # shellcheck disable=SC2086
    $CC $CFLAGS -fsanitize=fuzzer "$ROOT/tests/fuzz/fuzz_$t.c" "$FUZZ_DIR/libgg_fuzz.a" $LIBS -o "$FUZZ_DIR/fuzz_$t"
  done
  # shellcheck disable=SC2086
  $CC $CFLAGS "$ROOT/tests/fuzz/mkcorpus.c" "$FUZZ_DIR/libgg_fuzz.a" $LIBS -fsanitize=fuzzer-no-link \
    -o "$FUZZ_DIR/mkcorpus"
  echo "fuzz.sh: built ${#ALL_TARGETS[@]} harnesses in $FUZZ_DIR ($([ $changed = 1 ] && echo rebuilt || echo up to date) library objects)"
}

build
[ "$mode" = build ] && exit 0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
if [ "$mode" = corpus ]; then
  rm -rf "$ROOT/tests/fuzz/corpus"
  "$FUZZ_DIR/mkcorpus" "$ROOT/tests/fuzz/corpus" "$ROOT/configs"
  echo "fuzz.sh: wrote $(find "$ROOT/tests/fuzz/corpus" -type f | wc -l) seed files to tests/fuzz/corpus/"
  exit 0
fi

summary=()
crashed=0
for t in "${targets[@]}"; do
  corpus="$FUZZ_DIR/corpus/$t" crashes="$FUZZ_DIR/crashes/$t" log="$FUZZ_DIR/logs/$t.log"
  mkdir -p "$corpus" "$crashes" "$FUZZ_DIR/logs"
  seeds=("$ROOT/tests/fuzz/corpus/$t")
  [ -d "$ROOT/tests/fuzz/regress/$t" ] && seeds+=("$ROOT/tests/fuzz/regress/$t")
  dict=()
  [ -f "$ROOT/tests/fuzz/dict/$t.dict" ] && dict=(-dict="$ROOT/tests/fuzz/dict/$t.dict")
  before=$(find "$crashes" -type f | wc -l)
  echo "fuzz.sh: $t for ${secs}s (max_len ${MAX_LEN[$t]}), log $log"
  start=$(date +%s)
  # new inputs go to the first corpus directory; the seeds are only read
  set +e
  "$FUZZ_DIR/fuzz_$t" "$corpus" "${seeds[@]}" "${dict[@]}" -max_len="${MAX_LEN[$t]}" -max_total_time="$secs" \
    -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$crashes/" >"$log" 2>&1
  rc=$?
  set -e
  el=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  after=$(find "$crashes" -type f | wc -l)
  found=$((after - before))
  [ $found -gt 0 ] || [ $rc -ne 0 ] && crashed=1
  summary+=("$(printf '%-12s %6ss %12s execs %6s cov %5s corpus %3d new crashes (rc %d)' "$t" "$el" "${execs:-?}" \
    "${cov:-?}" "$(find "$corpus" -type f | wc -l)" "$found" "$rc")")
done
echo
echo "fuzz.sh summary (crashes in $FUZZ_DIR/crashes/<target>/):"
printf '  %s\n' "${summary[@]}"
exit $crashed
