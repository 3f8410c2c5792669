# Thin wrapper around CMake: the README's two commands are `scripts/setup.sh && make run` and
# `scripts/setup.sh && make test` (setup first: a bare Debian 12 has no make).
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# Debian's matplotlib lives in the system interpreter, not in a pyenv/venv one.
PYTHON ?= $(shell [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)
SANITIZE ?= OFF

.PHONY: all setup configure build run test bench mla-report fuzz format clean

all: build

setup:
	@scripts/setup.sh

configure: setup
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DMLASIM_SANITIZE=$(SANITIZE) \
	  -DMLASIM_PYTHON=$(PYTHON) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j$(JOBS)

run: build
	@$(BUILD_DIR)/mlasim run --out results/default

test: build
	@ctest --test-dir $(BUILD_DIR) --output-on-failure -j$(JOBS)

# MLA against MHA/GQA across models: KV cache, HBM wall, decode traffic (results/mla-report/).
mla-report: build
	@$(PYTHON) scripts/mla_report.py --mlasim $(BUILD_DIR)/mlasim --out results/mla-report

bench: build
	@$(BUILD_DIR)/mlasim_bench

# libFuzzer targets, built with clang in build-fuzz/; FUZZ_SECONDS per target (default 30).
fuzz: setup
	@JOBS=$(JOBS) scripts/fuzz.sh

format:
	@git ls-files '*.cpp' '*.h' | xargs clang-format -i

clean:
	@rm -rf $(BUILD_DIR)
