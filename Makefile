# A thin front for Meson. `make demo` and `make check` are the two set-up commands
# of the README: both install what is missing first (scripts/install-deps).
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
BENCH_BUILD ?= build-bench
BREAK_BUILD ?= build-break
DEB_BUILD  ?= build-deb
DEB_OUT    ?= dist

.PHONY: all deps build asan breakbuild fuzzbuild check check-fast demo bench fuzz deb clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dwerror=true

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false

# The test build with deliberate faults (src/base/testbreak.h): only for tests/breaks.
$(BREAK_BUILD)/build.ninja:
	meson setup $(BREAK_BUILD) -Dwerror=true -Dtest_break=true

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

breakbuild: $(BREAK_BUILD)/build.ninja
	ninja -C $(BREAK_BUILD)

fuzzbuild: $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)

# Every test, in the plain build and again under AddressSanitizer + UBSan (but for
# the slow suites, run once: real browsers, the Debian package, the fleet's engines
# and the collector's load test); then the proof that the tests can
# fail (each guarding test against its deliberate fault) and every fuzz target for 20 s (`make fuzz`: 60 s).
check: deps build asan breakbuild fuzzbuild
	tests/run $(BUILD) $(ASAN_BUILD):-browser,-package,-engines,-load $(BREAK_BUILD):breaks $(FUZZ_BUILD):fuzz

# Only the plain build, for a quick loop while working.
check-fast: build
	tests/run $(BUILD)

demo: deps build
	scripts/demo $(BUILD)/src/mimic

$(BENCH_BUILD)/build.ninja:
	meson setup $(BENCH_BUILD) -Dbuildtype=release

bench: deps $(BENCH_BUILD)/build.ninja
	ninja -C $(BENCH_BUILD)
	bench/run $(BENCH_BUILD)

fuzz: deps fuzzbuild
	scripts/run-fuzz $(FUZZ_BUILD)

# The Debian package(s) in $(DEB_OUT)/ (docs/FLEET.md, "Package and autostart").
deb: deps
	scripts/make-deb --build-dir $(DEB_BUILD) --out $(DEB_OUT)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(BENCH_BUILD) $(BREAK_BUILD) $(DEB_BUILD) $(DEB_OUT)
