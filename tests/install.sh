#!/usr/bin/env bash
# The installed library as another project sees it: `cmake --install` into a
# temporary prefix (then moved, so nothing may depend on the install path),
# the files it must hold, the installed command and man page, the Python
# package (importable from the prefix, with the prefix's library), and
# programs built out of tree against it
#   (a) with pkg-config: examples/spirals.c on the shared library (it must
#       reach its 99% accuracy) and a small check program on the static one;
#   (b) with CMake's find_package(gradguard): spirals.c on gradguard::gradguard
#       and the check program on gradguard::gradguard_static.
# In a Sanitize build the programs are compiled with the same sanitizers, and
# the second spirals run is left out (the check program still runs).
set -u
# one thread, as the example_spirals test: spirals' tensors are tiny, and two
# OpenMP threads on a loaded machine made it ten times slower
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
SRC=${GG_SRC:?}
B=${GG_BUILD:?}
CC=${CC:-cc}
. "$(dirname "$0")/common.bash"

build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$B/CMakeCache.txt")
SAN_FLAGS=""
if [ "$build_type" = Sanitize ]; then SAN_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all"; fi
version=$(sed -n 's/^#define GG_VERSION_STRING "\(.*\)"/\1/p' "$SRC/include/gradguard/core.h")

# --- install, then move the tree: both package files must find it anyway ---
if ! cmake --install "$B" --prefix "$T/stage" >"$T/install.log" 2>&1; then
  cat "$T/install.log" >&2
  echo "install: cmake --install failed" >&2
  exit 1
fi
mv "$T/stage" "$T/prefix"
P=$T/prefix
for f in lib/libgradguard.a lib/libgradguard.so lib/libgradguard.so.0 "lib/libgradguard.so.$version" include/gradguard.h \
  bin/gradguard share/man/man1/gradguard.1 lib/pkgconfig/gradguard.pc lib/cmake/gradguard/gradguardConfig.cmake \
  lib/cmake/gradguard/gradguardConfigVersion.cmake lib/cmake/gradguard/gradguardTargets.cmake; do
  check "[ -e '$P/$f' ]" "installed $f"
done
check "[ -L '$P/lib/libgradguard.so' ] && [ -L '$P/lib/libgradguard.so.0' ]" "soname links are symlinks"
# the public headers: gradguard.h and every part it includes, each as in the source
for h in gradguard.h $(cd "$SRC/include" && ls gradguard/*.h); do
  check "cmp -s '$SRC/include/$h' '$P/include/$h'" "installed include/$h is the source header"
done
check "[ \$(ls '$P'/include/gradguard/*.h | wc -l) -eq \$(ls '$SRC'/include/gradguard/*.h | wc -l) ]" \
  "include/gradguard/ installed with exactly the source's headers"
if command -v readelf >/dev/null; then
  check "readelf -d '$P/lib/libgradguard.so' | grep -q 'SONAME.*libgradguard.so.0'" "soname libgradguard.so.0"
fi

# --- the command and its man page ---
expect 0 "^gradguard $version\$" "$P/bin/gradguard" --version
expect 0 "usage: gradguard COMMAND" "$P/bin/gradguard" --help
# a few steps of a real run: the installed command finds its libraries
expect 0 "completed: test loss" "$P/bin/gradguard" train "$SRC/configs/fashion-mlp.yaml" -o "$T/run" --quiet \
  --set train.max_steps=3 --set train.epochs=1 --set data.limit_train=600 --set data.limit_test=200 \
  --set train.threads=1
if command -v man >/dev/null; then
  check "man -l '$P/share/man/man1/gradguard.1' >/dev/null 2>&1" "man -l renders the man page"
  warn=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z \
    "$P/share/man/man1/gradguard.1" 2>&1 >/dev/null)
  check "[ -z \"\$warn\" ]" "man page renders without warnings: $warn"
  check "man -l '$P/share/man/man1/gradguard.1' 2>/dev/null | grep -q 'EXIT STATUS'" "man page has EXIT STATUS"
else
  echo "install: man is not installed; man page checks skipped"
fi

# --- the Python package: in the prefix, found by Debian's /usr/bin/python3
# (for /usr and /usr/local), loading the library it was installed with ---
pydir=$(sed -n 's/^GG_PYTHON_DIR:[A-Z]*=//p' "$B/CMakeCache.txt")
for f in __init__.py _lib.py _install.py run.py weights.py torch.py; do
  check "[ -f '$P/$pydir/gradguard/$f' ]" "installed $pydir/gradguard/$f"
done
for pre in /usr /usr/local; do
  check "/usr/bin/python3 -c 'import site, sys; sys.exit(\"$pre/$pydir\" not in site.getsitepackages())'" \
    "$pre/$pydir is one of /usr/bin/python3's site directories"
done
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  gg_python_env # for a Sanitize build's preloads; the paths are replaced
  expect 0 "^$P/lib/libgradguard.so.0 6\$" env "${PYENV[@]}" PYTHONPATH="$P/$pydir" GRADGUARD_LIB= /usr/bin/python3 -c \
    "import gradguard; print(gradguard.library_path, len(gradguard.load_weights('$T/run/model.safetensors', numpy=True)))"
else
  echo "install: /usr/bin/python3 has no numpy; the installed package is not imported"
fi

# A small program with a known answer: x = (1, 2, 3), two dense layers with
# every weight 0.5 and zero biases give equal logits (6, 6), so the loss is
# log 2, and the gradient of out.weight row 0 is (0.5 - 1) * h = -1.5 with
# h = relu(0.5 * 6) = 3.
cat >"$T/check.c" <<'EOF'
#include <gradguard.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    if (strcmp(GG_VERSION_STRING, GG_EXPECT_VERSION) != 0) return printf("version %s\n", GG_VERSION_STRING), 1;
    gg_graph *g = gg_graph_new(2);
    gg_init half = {GG_INIT_CONST, 0.5f, 0};
    gg_node x = gg_input(g, "x", gg_shape1(3)), y = gg_input(g, "y", gg_shape1(1));
    gg_node h = gg_dense(g, x, "fc1", 4, GG_ACT_RELU, half, 1);
    gg_node loss = gg_softmax_xent(g, gg_dense(g, h, "out", 2, GG_ACT_NONE, half, 1), y, 0);
    if (gg_graph_compile(g) || gg_graph_init_params(g, 1)) return printf("build: %s\n", gg_errmsg()), 1;
    float *xd = gg_graph_data(g, x), *yd = gg_graph_data(g, y);
    for (int i = 0; i < 6; i++) xd[i] = (float)(i % 3 + 1);
    yd[0] = yd[1] = 0;
    gg_graph_zero_grad(g);
    if (gg_graph_forward(g, GG_TRAIN, loss) || gg_graph_backward(g, loss, 1)) return printf("run: %s\n", gg_errmsg()), 1;
    gg_param_info pi;
    size_t n;
    gg_graph_param(g, 2, &pi); /* out.weight (2, 4) */
    float gw = gg_graph_grads(g, &n)[pi.offset];
    double l = gg_graph_scalar(g, loss);
    printf("%s: loss %.6f (log 2 = %.6f), d loss / d %s[0] = %.6f (want -1.5)\n", GG_VERSION_STRING, l, log(2.0),
           pi.name, gw);
    int good = fabs(l - log(2.0)) < 1e-5 && fabs(gw + 1.5) < 1e-5 && strcmp(pi.name, "out.weight") == 0;
    gg_graph_free(g);
    return good ? 0 : 1;
}
EOF

# --- (a) pkg-config ---
export PKG_CONFIG_PATH=$P/lib/pkgconfig
check "[ \"\$(pkg-config --modversion gradguard)\" = '$version' ]" "pkg-config --modversion is $version"
check "[ -f \"\$(pkg-config --variable=includedir gradguard)/gradguard.h\" ]" "pkg-config includedir follows the moved prefix"
cflags=$(pkg-config --cflags gradguard)
libs=$(pkg-config --libs gradguard)
static_libs=$(pkg-config --static --libs gradguard)
# shared: the loader finds libgradguard in the prefix through LD_LIBRARY_PATH
# shellcheck disable=SC2086
if $CC -O2 $SAN_FLAGS "$SRC/examples/spirals.c" $cflags $libs -o "$T/spirals_pc" 2>"$T/cc.log"; then
  ok
  check "LD_LIBRARY_PATH='$P/lib' ldd '$T/spirals_pc' | grep -q '$P/lib/libgradguard.so.0'" \
    "spirals (pkg-config) uses the installed libgradguard.so"
  expect 0 "training accuracy" env LD_LIBRARY_PATH="$P/lib" "$T/spirals_pc"
else
  bad "cc spirals.c \$(pkg-config --cflags --libs gradguard): $(cat "$T/cc.log")"
fi
# static: the archive picked by name, everything it needs from Libs.private
# shellcheck disable=SC2086
if $CC -O2 $SAN_FLAGS -DGG_EXPECT_VERSION="\"$version\"" "$T/check.c" $cflags ${static_libs/-lgradguard/-l:libgradguard.a} \
  -o "$T/check_pc_static" 2>"$T/cc.log"; then
  ok
  check "! ldd '$T/check_pc_static' | grep -q libgradguard" "static check program does not need libgradguard.so"
  expect 0 "want -1.5" "$T/check_pc_static"
else
  bad "cc check.c with pkg-config --static: $(cat "$T/cc.log")"
fi

# --- (b) CMake find_package ---
mkdir -p "$T/proj"
cp "$SRC/examples/spirals.c" "$T/check.c" "$T/proj/"
cat >"$T/proj/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.18)
project(consumer LANGUAGES C)
find_package(gradguard $version REQUIRED)
message(STATUS "found gradguard \${gradguard_VERSION}")
add_executable(spirals spirals.c)
target_link_libraries(spirals PRIVATE gradguard::gradguard)
add_executable(check_static check.c)
target_compile_definitions(check_static PRIVATE GG_EXPECT_VERSION="$version")
target_link_libraries(check_static PRIVATE gradguard::gradguard_static)
EOF
if cmake -S "$T/proj" -B "$T/proj/build" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_FLAGS="$SAN_FLAGS" -DCMAKE_EXE_LINKER_FLAGS="$SAN_FLAGS" >"$T/cmake.log" 2>&1 &&
  cmake --build "$T/proj/build" -j2 >>"$T/cmake.log" 2>&1; then
  ok
  check "grep -q 'found gradguard $version' '$T/cmake.log'" "find_package reports version $version"
  check "ldd '$T/proj/build/spirals' | grep -q '$P/lib/libgradguard.so.0'" \
    "spirals (CMake) links the installed libgradguard.so and finds it without LD_LIBRARY_PATH"
  check "! ldd '$T/proj/build/check_static' | grep -q libgradguard" "gradguard::gradguard_static is the archive"
  expect 0 "want -1.5" "$T/proj/build/check_static"
  if [ -z "$SAN_FLAGS" ]; then expect 0 "training accuracy" "$T/proj/build/spirals"; fi
else
  bad "CMake consumer project: $(cat "$T/cmake.log")"
fi
# the version file refuses an incompatible request
sed -i "s/find_package(gradguard $version REQUIRED)/find_package(gradguard 9.0 REQUIRED)/" "$T/proj/CMakeLists.txt"
check "! cmake -S '$T/proj' -B '$T/proj/build9' -DCMAKE_PREFIX_PATH='$P' >/dev/null 2>&1" \
  "find_package(gradguard 9.0) fails against $version"

finish install
