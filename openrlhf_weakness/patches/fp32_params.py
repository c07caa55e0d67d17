"""``--ds.param_dtype fp32`` for OpenRLHF's trainers on a CPU: float32 weights, DeepSpeed with bf16 and fp16 off.

OpenRLHF 0.11.2 offers bf16 and fp16 only. A CPU without native bf16 (AVX2) emulates it, and a 135M model's training
step then takes minutes; in float32 it takes seconds. Two pieces: ``convert_to_torch_dtype`` (which the model loaders
import at call time) learns "fp32", and :func:`split_param_dtype` lets the flag past OpenRLHF's parser, whose choices
are bf16/fp16, by parsing bf16 and setting "fp32" on the parsed arguments (DeepSpeed's config then enables neither
bf16 nor fp16, which is DeepSpeed's float32 training).
"""

from __future__ import annotations

from openrlhf_weakness.patches import Patch

FP32 = "fp32"
FLAG = "--ds.param_dtype"
UTILS_MODULE = "openrlhf.utils.utils"


def split_param_dtype(argv: list[str]) -> tuple[list[str], bool]:
    """``argv`` with ``--ds.param_dtype fp32`` (or ``=fp32``) replaced by bf16 for OpenRLHF's parser, and whether
    it was there."""
    out, fp32, i = [], False, 0
    while i < len(argv):
        arg = argv[i]
        if arg == FLAG and i + 1 < len(argv) and argv[i + 1] == FP32:
            out += [FLAG, "bf16"]
            fp32, i = True, i + 2
            continue
        if arg == f"{FLAG}={FP32}":
            out.append(f"{FLAG}=bf16")
            fp32 = True
        else:
            out.append(arg)
        i += 1
    return out, fp32


def _installed() -> bool:
    import importlib

    return getattr(importlib.import_module(UTILS_MODULE).convert_to_torch_dtype, "knows_fp32", False)


def _install() -> None:
    import importlib

    import torch

    utils = importlib.import_module(UTILS_MODULE)
    real = utils.convert_to_torch_dtype

    def convert_to_torch_dtype(param_dtype: str):
        return torch.float32 if param_dtype == FP32 else real(param_dtype)

    convert_to_torch_dtype.knows_fp32 = True
    utils.convert_to_torch_dtype = convert_to_torch_dtype


PATCH = Patch(
    name="fp32_params",
    why="OpenRLHF's --ds.param_dtype offers bf16/fp16 only; a CPU without native bf16 trains far faster in fp32",
    needed=lambda: not _installed(),
    install=_install,
)
