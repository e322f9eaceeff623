# gradguard - the two commands: `make run` and `make test`.
# Both install the Debian packages that are missing (scripts/install-deps.sh),
# configure and build; run trains the default model, test passes every test.

BUILD ?= build
SAN_BUILD ?= build-san
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CONFIG ?= configs/fashion-mlp.yaml
RUN_DIR ?= runs/fashion-mlp

.PHONY: all deps deps-test build san run install test test-fast test-valgrind bench fuzz clean

all: build

# what building and training need
deps:
	@scripts/install-deps.sh

# what the tests add: PyTorch (parity and interop checks), Chromium (the report render test),
# valgrind and the fortunes text (the text-directory check; the corpus of bench/lr_sweep)
deps-test:
	@scripts/install-deps.sh --with-torch --with-chromium --with-valgrind --with-fortunes

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

$(SAN_BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=Sanitize -DGG_NATIVE=OFF >/dev/null

san: deps $(SAN_BUILD)/Makefile
	cmake --build $(SAN_BUILD) -j $(JOBS)

# the demo run replaces its own earlier run (and says so)
run: build
	$(BUILD)/gradguard train $(CONFIG) -o $(RUN_DIR) --overwrite

# The library, header, command, man page, CMake and pkg-config files and the
# Python package (docs/getting-started.md) under PREFIX (default /usr/local, where
# Debian's /usr/bin/python3 finds the package); DESTDIR stages it.
PREFIX ?= /usr/local
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# The full suite: the Release build, then the same tests under ASan+UBSan;
# the C test programs run under the OpenBLAS kernels the command picks, then
# once more under each kernel family the CPU has (scripts/test-kernels.sh).
test: deps-test build san
	cd $(BUILD) && GG_REQUIRE_PEERS=1 ctest --output-on-failure -j $(JOBS)
	cd $(SAN_BUILD) && GG_REQUIRE_PEERS=1 ASAN_OPTIONS=detect_leaks=1 GG_SANITIZE=1 ctest --output-on-failure -j $(JOBS)
	JOBS=$(JOBS) scripts/test-kernels.sh $(BUILD)
	JOBS=$(JOBS) ASAN_OPTIONS=detect_leaks=1 GG_SANITIZE=1 scripts/test-kernels.sh $(SAN_BUILD)

# The C test programs again under valgrind memcheck (no leak, no invalid
# access), from a build without -march=native (valgrind does not decode
# AVX-512). Separate from `make test` to keep that under 10 minutes; CI
# runs both.
VG_BUILD ?= build-vg
$(VG_BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(VG_BUILD) -DCMAKE_BUILD_TYPE=Debug -DGG_NATIVE=OFF >/dev/null

test-valgrind: deps-test $(VG_BUILD)/Makefile
	cmake --build $(VG_BUILD) -j $(JOBS)
	scripts/valgrind-tests.sh $(VG_BUILD)

# libFuzzer: installs clang, builds every harness (tests/fuzz/) with
# ASan+UBSan and runs each for FUZZ_SECONDS, one after another on one core
# (scripts/fuzz.sh; docs/robustness.md; the runs: docs/results.md). Fails
# only if an input crashed, leaked, hung or broke a check; it is then under
# build-fuzz/crashes/.
FUZZ_SECONDS ?= 600
fuzz:
	@scripts/install-deps.sh --with-fuzz
	scripts/fuzz.sh $(FUZZ_SECONDS)

# gradguard against PyTorch, one after the other in one run (bench/README.md);
# not part of make test. BENCH_ARGS passes options to bench/run.py.
bench: build
	@scripts/install-deps.sh --with-torch
	bench/run.sh $(BUILD) $(BENCH_ARGS)

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(VG_BUILD)
