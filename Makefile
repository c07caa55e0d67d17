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

# The quality experiment's controlled setting (cli.compare's preset) at the configuration chosen on dev, 2 training
# seeds: a table of arms (95% bootstrap intervals) and paired comparisons (seed-level t intervals, the question-level
# interval beside them); about 10 minutes each on 2 cores, rerunning resumes. See docs/experiments.md.
DEMO_QUALITY := $(PY) -m openrlhf_weakness.cli.compare --compare.preset controlled --compare.data_seed 3 \
	--compare.seeds 2 --loop.iterations 1 --compare.work_dir runs/demo_quality

demo: install
	$(DEMO_QUALITY) --compare.arms apt,sft_same_budget --retrieve.scale 8 --compare.out runs/demo_quality/apt.json \
		-- --train.max_epochs 3 --ds.param_dtype fp32 --apt.sft_coef 3.0

demo-stat: install
	$(DEMO_QUALITY) --compare.arms stat_sel,sft_uniform --stat.size 720 --compare.out runs/demo_quality/stat.json \
		-- --train.max_epochs 3 --ds.param_dtype fp32

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
