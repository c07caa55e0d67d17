# Every target sets up .venv first (a no-op when it is current). See README.md.
PY := .venv/bin/python
export TORCH_EXTENSIONS_DIR := $(CURDIR)/.venv/torch_extensions
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install test test-all demo demo-stat doctor bench format lint

install:
	@bash scripts/install.sh

# CI's run: every test but those marked slow (they need more minutes than CI's budget; `make test-all` runs them)
test: install
	$(PY) -m pytest -q -m "not slow"

test-all: install
	$(PY) -m pytest -q

demo: install
	$(PY) -m openrlhf_weakness.cli.demo

demo-stat: install
	$(PY) -m openrlhf_weakness.cli.demo_stat

# On a CUDA host the doctor also proves every GPU component (--gpu_enable); elsewhere it skips them.
doctor: install
	$(PY) -m openrlhf_weakness.cli.doctor $(if $(shell nvidia-smi -L 2>/dev/null),--gpu_enable,)

bench: install
	$(PY) benchmarks/bench_train_apt.py

format: install
	$(PY) -m isort openrlhf_weakness tests benchmarks && $(PY) -m black openrlhf_weakness tests benchmarks

lint: install
	$(PY) -m isort --check openrlhf_weakness tests benchmarks && $(PY) -m black --check openrlhf_weakness tests benchmarks
