# Two commands on a fresh machine (Python 3.11 + pip): `make run` and `make test`.
# Both are idempotent: the virtual environment is built once and reused.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test bench bench-gpu clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned to the wheels on disk, so that no later requirement pulls another build
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[test,ray]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/hashbench run --suite standard
	$(BIN)/hashbench report

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	# two workers of one thread each; a test file's tests stay on one worker (module fixtures
	# are built once)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_metrics.py
	$(BIN)/python benchmarks/bench_attacks.py
	$(BIN)/python benchmarks/suite_breakdown.py results/standard-v2

# a literature-scale cell (ResNet-50, 224x224): meant for a CUDA machine
bench-gpu: $(STAMP)
	$(BIN)/python benchmarks/bench_literature_cell.py

clean:
	rm -rf $(VENV)
