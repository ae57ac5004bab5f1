# bertrec: `make run` runs the whole pipeline on the built-in data; `make test` runs the tests.
# Both set up the virtual environment first (skipped when requirements.txt and setup.py are unchanged).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
STAMP := $(VENV)/.setup-stamp
# The build tools (pip freeze leaves them out of requirements.txt); the project is
# installed with --no-build-isolation, so these build it, offline of any resolver.
BUILD_TOOLS := pip==26.3 setuptools==65.5.0 wheel==0.48.0
# Keras 2 in every process (TensorFlow Recommenders and keras-nlp 0.12 need it).
export TF_USE_LEGACY_KERAS := 1

# The first interpreter that really is Python 3.10 (a pyenv shim may exist but not resolve).
PYTHON310 = $(shell for p in python3.10 $$(pyenv root 2>/dev/null)/versions/3.10*/bin/python3.10 /usr/local/bin/python3.10 /usr/bin/python3.10; do \
  "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)

.PHONY: help setup run test test-fast lint serve bench bench-train bench-quality bench-index bench-scale clean

help:
	@echo "make run    set up, run the whole TFX pipeline on the built-in data, push a model"
	@echo "make test   set up, run the test suite (what CI runs)"
	@echo "make test-fast  the unit tests alone, without the shared pipeline run"
	@echo "make lint   ruff: line length, pyflakes, import order (ruff.toml); CI runs it before the tests"
	@echo "make serve  serve the pushed models over TF Serving's gRPC API on port 8500 (Ctrl-C stops)"
	@echo "make bench  serving benchmark: 10,000-item model, in-process vs gRPC, 8 concurrent clients"
	@echo "make bench-train  training throughput: today's step vs the cached / sequence / bfloat16 steps"
	@echo "make bench-quality  quality vs training time vs model size for the model's cost knobs"
	@echo "make bench-index  1,000 new items live through gRPC under load with bertrec index (after make run)"
	@echo "make bench-scale  10k / 100k / 1M-item catalogues: index build, size, memory, latency, recall (after make run)"
	@echo "make clean  remove runs/ (pipeline outputs, metadata, pushed models)"

setup: $(STAMP)

$(STAMP): requirements.txt setup.py
	@py="$(PYTHON310)"; \
	if [ -z "$$py" ]; then \
	  echo "error: bertrec needs Python 3.10 (TFX 1.16 supports <3.11) and none was found." >&2; \
	  echo "       Install it (e.g. 'pyenv install 3.10') and re-run." >&2; exit 1; \
	fi; \
	echo "setting up $(VENV) with $$py"; \
	"$$py" -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade $(BUILD_TOOLS)
	$(VENV)/bin/python -m pip install -q --no-deps -r requirements.txt
	$(VENV)/bin/python -m pip install -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

run: setup
	$(VENV)/bin/bertrec run

test: setup
	$(VENV)/bin/python -m pytest tests

# The unit tests alone: everything but the tests that share a real pipeline run.
test-fast: setup
	$(VENV)/bin/python -m pytest tests --ignore=tests/test_end_to_end.py --ignore=tests/test_serving.py

lint: setup
	$(VENV)/bin/ruff check .

serve: setup
	$(VENV)/bin/bertrec serve

BENCH_CONFIG := benchmarks/serving.json
bench: setup
	$(VENV)/bin/bertrec --config $(BENCH_CONFIG) run
	$(VENV)/bin/python benchmarks/serving_bench.py --config $(BENCH_CONFIG)

bench-train: setup
	$(VENV)/bin/python benchmarks/train_bench.py

bench-quality: setup
	$(VENV)/bin/python benchmarks/quality_cost.py

bench-index: setup
	$(VENV)/bin/python benchmarks/index_bench.py

bench-scale: setup
	$(VENV)/bin/python benchmarks/scale_bench.py

clean:
	rm -rf runs
