# wrn: set-up, build, tests and the demo. `make help` lists the targets.
BUILD    ?= build
JOBS     ?= $(shell nproc)
CTEST_LABELS ?= unit|golden|e2e|interop

# Debian packages the build, the tests and the demo need. LibTorch is not among them: it comes
# from PyPI's torch wheel, in the venv below. libgloo-dev: the Gloo headers that LibTorch's
# ProcessGroupGloo.hpp includes and the wheel does not ship (headers only; the code is in LibTorch).
DEB_PACKAGES := build-essential cmake pkg-config ccache python3-venv \
  libgtest-dev \
  libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libfmt-dev \
  libonnx-dev libprotobuf-dev libopencv-dnn-dev \
  zlib1g-dev libpng-dev libjpeg-dev libcurl4-openssl-dev libarchive-dev libmatio-dev libssl-dev \
  libgloo-dev dataset-fashion-mnist

# The pinned torch wheel (its LibTorch is what wrn builds against) and the Python consumers the
# reference scripts, interop tests and benchmarks use, in one venv outside the clone, keyed by
# the pin and the hash of scripts/requirements.txt, so every clone and CI run on a machine shares
# it (about 5 GB installed; the wheels are ~3 GB: torch is PyPI's CUDA 13.0 build).
PYTHON_REQUIREMENTS := scripts/requirements.txt
TORCH_PIN := $(shell sed -n 's/^torch==//p' $(PYTHON_REQUIREMENTS))
WRN_VENV_ROOT ?= $(HOME)/.cache/wrn
WRN_VENV ?= $(WRN_VENV_ROOT)/venv-torch$(TORCH_PIN)-$(shell sha256sum $(PYTHON_REQUIREMENTS) | cut -c1-8)
WRN_PYTHON := $(WRN_VENV)/bin/python
CMAKE_ARGS ?=

# `make examples`: the package installed here, then examples/ built against it and run.
EXAMPLES_PREFIX ?= $(BUILD)/examples-prefix
EXAMPLES_BUILD  ?= $(BUILD)/examples
EXAMPLES_LAUNCHER := $(if $(shell command -v ccache),-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

.PHONY: all deps deb-packages venv build test test-all examples demo bench man clean help format sanitize sanitize-build fuzz

all: build

help:
	@echo "make deps      install the Debian packages (as root; idempotent) and the venv $(WRN_VENV)"
	@echo "make           build the tool at $(BUILD)/wrn"
	@echo "make test      deps + build + ctest (labels: $(CTEST_LABELS)) + examples"
	@echo "make examples  install into $(EXAMPLES_PREFIX), build examples/ against it, run them"
	@echo "make test-all  also the slow tests"
	@echo "make demo      deps + build + train the CPU demo on Fashion-MNIST"
	@echo "make bench     issue 23's benchmarks against PyTorch 2.x (the venv's) and ONNX Runtime: training,"
	@echo "               inference, peak RSS, scaling, data parallel; then the target table (bench/targets.py)"
	@echo "make sanitize  the library and the unit tests under ASan + UBSan (clang), in $(SAN_BUILD)"
	@echo "make fuzz      each reader's libFuzzer target for FUZZ_SECONDS ($(FUZZ_SECONDS)) under ASan + UBSan"
	@echo "make man       the man page $(BUILD)/wrn.1 from the tool's --help (installs help2man)"

# Installs only what is missing, so a second run costs a dpkg query and a stat.
deps: deb-packages venv

deb-packages:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Built beside its final name and renamed into place when complete (a venv of Python 3.11 can
# move: bin/python is a link to Debian's python3 and pip runs as `python -m pip`), so an
# interrupted install never leaves a venv that looks finished. No prerequisite on the
# requirements file: its hash is in the name, and a fresh clone's file is always newer.
venv: $(WRN_VENV)/.complete

$(WRN_VENV)/.complete:
	@$(MAKE) --no-print-directory deb-packages DEB_PACKAGES=python3-venv
	@echo "making $(WRN_VENV) (pinned torch $(TORCH_PIN) and the Python consumers; ~3 GB download once)"
	rm -rf $(WRN_VENV).partial
	mkdir -p $(WRN_VENV_ROOT)
	/usr/bin/python3 -m venv $(WRN_VENV).partial
	$(WRN_VENV).partial/bin/python -m pip install -q --disable-pip-version-check -r $(PYTHON_REQUIREMENTS)
	touch $(WRN_VENV).partial/.complete
	rm -rf $(WRN_VENV) && mv $(WRN_VENV).partial $(WRN_VENV)

$(BUILD)/CMakeCache.txt: | $(WRN_VENV)/.complete
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DWRN_PYTHON=$(WRN_PYTHON) $(CMAKE_ARGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: deps
	$(MAKE) build
	ctest --test-dir $(BUILD) -L '$(CTEST_LABELS)' --output-on-failure -j $(JOBS)
	$(MAKE) examples

test-all: deps
	$(MAKE) build
	ctest --test-dir $(BUILD) --output-on-failure

# Only the installed package is visible to the examples' build: a fresh prefix, no build
# tree on the search path, no user package registry.
examples: build
	rm -rf $(EXAMPLES_PREFIX) $(EXAMPLES_BUILD)
	cmake --install $(BUILD) --prefix $(EXAMPLES_PREFIX)
	cmake -S examples -B $(EXAMPLES_BUILD) -DCMAKE_BUILD_TYPE=Release $(EXAMPLES_LAUNCHER) \
	  -DCMAKE_PREFIX_PATH=$(abspath $(EXAMPLES_PREFIX)) -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
	cmake --build $(EXAMPLES_BUILD) -j $(JOBS)
	$(EXAMPLES_BUILD)/train_one_epoch /usr/share/datasets/fashion-mnist $(EXAMPLES_BUILD)/run
	$(EXAMPLES_BUILD)/classify $(EXAMPLES_BUILD)/run/checkpoints/last.ckpt $(EXAMPLES_BUILD)/run/sample.png
	env -u WRN_PRESET_DIR $(EXAMPLES_PREFIX)/bin/wrn train --list-presets \
	  | grep -F "presets in $(abspath $(EXAMPLES_PREFIX))/share/wrn/presets"  # beside the installed tool

# Only the tool: the demo needs none of the test executables (most of a full build's time).
demo: deps
	@$(MAKE) --no-print-directory $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS) --target wrn
	./$(BUILD)/wrn train --preset demo --out runs/demo --force  # re-runnable: replaces an earlier demo run

# Sanitizers and fuzzing (docs/reliability.md "Sanitizers and fuzzing"): one clang build with ASan + UBSan
# (every report fatal) and libFuzzer's coverage instrumentation, for the unit tests and the
# fuzz targets of tests/fuzz. LeakSanitizer is off: LibTorch keeps its thread pools and
# registries until exit. The unit tests let a failed allocation return null, as malloc does
# (BatchLoader's allocation-failure test asks for 4 TB); the fuzzers count it as a finding.
SAN_BUILD    ?= build-san
# -O1 as ASan recommends, and line tables only (what a report's stack needs): the full -O2 -g of
# RelWithDebInfo made this build the slowest step of CI on two cores.
SAN_OPT_FLAGS ?= -O1 -gline-tables-only -DNDEBUG
FUZZ_SECONDS ?= 600
SAN_ENV  := ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1
FUZZ_ENV := ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1

sanitize-build: deps
	@$(MAKE) --no-print-directory deb-packages DEB_PACKAGES="clang-14 libfuzzer-14-dev"
	cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$(SAN_OPT_FLAGS)" -DWRN_PYTHON=$(WRN_PYTHON) \
	  -DWRN_FUZZ=ON -DWRN_FUZZ_SECONDS=$(FUZZ_SECONDS) -DWRN_TESTS_UNIT_ONLY=ON
	cmake --build $(SAN_BUILD) -j $(JOBS)

sanitize: sanitize-build
	$(SAN_ENV) ctest --test-dir $(SAN_BUILD) -L unit --output-on-failure -j $(JOBS)

fuzz: sanitize-build
	$(FUZZ_ENV) ctest --test-dir $(SAN_BUILD) -L fuzz --output-on-failure -j $(JOBS)

# Both sides with the malloc thresholds wrn's main() sets for itself (core/memory.cpp), so the
# rows compare the same allocator; `make bench BENCH_GLIBC_TUNABLES=` runs PyTorch with glibc's
# defaults instead (the scripts then label the rows "wrn's allocator fix only").
BENCH_GLIBC_TUNABLES ?= glibc.malloc.mmap_threshold=67108864:glibc.malloc.trim_threshold=536870912

# Every row of issue 23's target table, then the table (bench/targets.py reads the scripts' JSON
# in /tmp). data_parallel.sh runs the target's shape, 2 ranks x 1 thread against 1 rank x 2.
# bf16 rows only where the CPU has bf16 instructions: elsewhere both sides emulate bf16 in
# software (~20 GFLOP/s on a 2-core Zen 3), WRN-28-10's rows would take hours, and the figures
# say nothing about bf16 on real hardware. bench/targets.py reports those targets as not measured.
BENCH_PRECISIONS ?= $(shell grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo 2>/dev/null && echo "fp32 bf16" || echo fp32)
BENCH_MEM_PRECISION ?= $(lastword $(BENCH_PRECISIONS))
bench: export PRECISIONS = $(BENCH_PRECISIONS)
bench: export PRECISION = $(BENCH_MEM_PRECISION)
bench: deps build
	GLIBC_TUNABLES=$(BENCH_GLIBC_TUNABLES) WRN=$(abspath $(BUILD))/wrn PYTHON=$(WRN_PYTHON) bash bench/compare_pytorch.sh
	GLIBC_TUNABLES=$(BENCH_GLIBC_TUNABLES) WRN=$(abspath $(BUILD))/wrn PYTHON=$(WRN_PYTHON) bash bench/compare_inference.sh
	GLIBC_TUNABLES=$(BENCH_GLIBC_TUNABLES) WRN=$(abspath $(BUILD))/wrn PYTHON=$(WRN_PYTHON) bash bench/peak_memory.sh
	GLIBC_TUNABLES=$(BENCH_GLIBC_TUNABLES) WRN=$(abspath $(BUILD))/wrn PYTHON=$(WRN_PYTHON) bash bench/scaling.sh
	GLIBC_TUNABLES=$(BENCH_GLIBC_TUNABLES) WRN=$(abspath $(BUILD))/wrn PYTHON=$(WRN_PYTHON) RANKS=2 THREADS=2 bash bench/data_parallel.sh
	$(WRN_PYTHON) bench/targets.py --wrn $(abspath $(BUILD))/wrn

# wrn.1 from `wrn --help`, `wrn --version` and every command's --help (help2man, Debian).
man: $(BUILD)/CMakeCache.txt
	@$(MAKE) --no-print-directory deb-packages DEB_PACKAGES="help2man"
	cmake --build $(BUILD) -j $(JOBS) --target wrn
	@{ echo '[COMMANDS]'; echo '.nf'; \
	  for c in $$(./$(BUILD)/wrn --help | awk '/^Subcommands:/{f=1;next} f&&/^$$/{exit} f&&/^  [a-z]/{print $$1}'); do \
	    ./$(BUILD)/wrn $$c --help | sed 's/\\/\\\\/g; s/^\./\\\&./'; echo; done; \
	  echo '.fi'; } > $(BUILD)/wrn.h2m
	help2man --no-info --name "ResNet, pre-activation ResNet and Wide ResNet on LibTorch" \
	  --include $(BUILD)/wrn.h2m --output $(BUILD)/wrn.1 ./$(BUILD)/wrn
	@echo "wrote $(BUILD)/wrn.1 (man $(BUILD)/wrn.1)"

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf $(BUILD)

# The venv's python, for scripts (bench/*.sh default their PYTHON to it).
python-path:
	@echo $(WRN_PYTHON)
