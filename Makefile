# wrn: set-up, build, tests and the demo. `make help` lists the targets.
BUILD    ?= build
JOBS     ?= $(shell nproc)
CTEST_LABELS ?= unit|golden|e2e|interop
CMAKE_ARGS ?=

# Debian packages the build, the tests and the demo need.
DEB_PACKAGES := build-essential cmake pkg-config ccache \
  libtorch-dev libgtest-dev \
  libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libfmt-dev \
  libonnx-dev libprotobuf-dev libopencv-dnn-dev \
  zlib1g-dev libpng-dev libjpeg-dev libcurl4-openssl-dev libarchive-dev libmatio-dev libssl-dev \
  dataset-fashion-mnist

.PHONY: all deps build test test-all demo bench clean help format

all: build

help:
	@echo "make deps      install the Debian packages (as root; idempotent)"
	@echo "make           build the tool at $(BUILD)/wrn"
	@echo "make test      deps + build + ctest (labels: $(CTEST_LABELS))"
	@echo "make test-all  also the slow tests"
	@echo "make demo      deps + build + train the CPU demo on Fashion-MNIST"
	@echo "make bench     benchmarks against PyTorch (needs python3-torch)"

# Installs only what is missing, so a second run costs a dpkg query.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: deps
	$(MAKE) build
	ctest --test-dir $(BUILD) -L '$(CTEST_LABELS)' --output-on-failure -j $(JOBS)

test-all: deps
	$(MAKE) build
	ctest --test-dir $(BUILD) --output-on-failure

demo: deps
	$(MAKE) build
	./$(BUILD)/wrn train --preset demo --out runs/demo

bench: deps build
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="python3-torch python3-yaml"  # the reference side
	bash bench/compare_pytorch.sh

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf $(BUILD)
