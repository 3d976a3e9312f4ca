# Thin wrapper over CMake for the README's commands.
BUILD      ?= build
ASAN_BUILD ?= build-asan
DEB_BUILD  ?= build-deb
DEB_OUT    ?= dist/deb
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

.PHONY: all deps build build-asan test test-fast demo demo-cluster bench fuzz clean deb

all: build

deps:
	@./scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DRKL_ENABLE_SANITIZERS=ON -DRKL_BUILD_BENCH=OFF $(CMAKE_ARGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# The whole suite, twice: a normal build and an ASan+UBSan build.
test: build build-asan
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
		ctest --output-on-failure -j $(JOBS)

# Normal build only, for quick iterations.
test-fast: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: build
	@./scripts/demo.sh $(BUILD)

# Three rkl-kmsd nodes on a throwaway PostgreSQL behind HAProxy, one killed mid-run.
demo-cluster: build
	@./scripts/demo-cluster.sh $(BUILD)

bench: build
	@./scripts/bench.sh $(BUILD)

# Debian packages (scripts/deb.sh) from a build with Debian's hardening flags (all of them, bindnow
# included), checked by lintian.
deb: deps
	@export DEB_BUILD_MAINT_OPTIONS=hardening=+all; \
		cmake -S . -B $(DEB_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF -DRKL_BUILD_BENCH=OFF \
		-DCMAKE_C_FLAGS="$$(dpkg-buildflags --get CFLAGS) $$(dpkg-buildflags --get CPPFLAGS)" \
		-DCMAKE_EXE_LINKER_FLAGS="$$(dpkg-buildflags --get LDFLAGS)" $(CMAKE_ARGS) >/dev/null
	@cmake --build $(DEB_BUILD) -j $(JOBS)
	@./scripts/deb.sh $(DEB_BUILD) $(DEB_OUT) --lintian

# libFuzzer builds (clang); run a target with e.g. build-fuzz/fuzz/fuzz_wire fuzz/corpus/wire
fuzz: deps
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DRKL_ENABLE_FUZZING=ON \
		-DRKL_ENABLE_SANITIZERS=ON -DRKL_BUILD_BENCH=OFF >/dev/null
	@cmake --build build-fuzz -j $(JOBS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(DEB_BUILD) build-fuzz
