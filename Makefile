# Every target sets up .venv first (a no-op when it is current). See README.md.
PY := .venv/bin/python
export TORCH_EXTENSIONS_DIR := $(CURDIR)/.venv/torch_extensions
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install test test-all demo demo-stat demo-smollm demo-stat-smollm grpo-chain doctor bench format lint docs

install:
	@bash scripts/install.sh

# CI's run: every test but those marked slow (they need more minutes than CI's budget; `make test-all` runs them)
test: install
	$(PY) -m pytest -q -m "not slow"

test-all: install
	$(PY) -m pytest -q

# The controlled setting (cli.compare's preset, chosen on dev: docs/experiments.md) at a demo's size: data seed 3, 3
# training seeds, the test split, seed-level verdicts with the question-level interval beside them, per-skill tables.
# Threads fixed so that a rerun on the same machine prints the same numbers; under 10 minutes each on 2 cores; a rerun
# reuses finished cells.
DEMO_QUALITY := OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 $(PY) -m openrlhf_weakness.cli.compare --compare.preset controlled \
	--compare.data_seed 3 --compare.seeds 3 --compare.work_dir runs/demo_quality

demo: install
	$(DEMO_QUALITY) --compare.arms apt,sft_same_budget --compare.out runs/demo_quality/apt.json

demo-stat: install
	$(DEMO_QUALITY) --compare.arms stat_sel,sft_uniform,sft_uniform_redraw --compare.out runs/demo_quality/stat.json

# The first demos: APT / STAT-Sel on SmolLM2-135M-Instruct, one seed, no intervals
demo-smollm: install
	$(PY) -m openrlhf_weakness.cli.demo

demo-stat-smollm: install
	$(PY) -m openrlhf_weakness.cli.demo_stat

# STAT-Sel -> SFT -> GRPO -> next STAT round, and APT -> GRPO -> next APT pairs, on a tiny model (GRPO through the vLLM
# stand-in on a CPU host; a few minutes on 2 cores). See README "GRPO".
grpo-chain: install
	WORK=runs/stat_then_grpo_cpu PY=$(PY) bash recipes/stat_then_grpo_cpu.sh
	WORK=runs/apt_then_grpo_cpu PY=$(PY) bash recipes/apt_then_grpo_cpu.sh

# On a CUDA host the doctor also proves every GPU component (--gpu_enable); elsewhere it skips them.
doctor: install
	$(PY) -m openrlhf_weakness.cli.doctor $(if $(shell nvidia-smi -L 2>/dev/null),--gpu_enable,)

# docs/flags.md from every command's parser (tests/test_docs.py fails when it is stale)
docs: install
	$(PY) scripts/gen_flags.py

bench: install
	$(PY) benchmarks/bench_train_apt.py

format: install
	$(PY) -m isort openrlhf_weakness tests benchmarks && $(PY) -m black openrlhf_weakness tests benchmarks

lint: install
	$(PY) -m isort --check openrlhf_weakness tests benchmarks && $(PY) -m black --check openrlhf_weakness tests benchmarks
