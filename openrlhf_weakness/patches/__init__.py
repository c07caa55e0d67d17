"""Version-checked changes that let OpenRLHF's DeepSpeed engines run on a machine without CUDA.

Call :func:`apply` first thing in every entry point. It checks the installed OpenRLHF, DeepSpeed and transformers
against the tested versions on every host (:mod:`openrlhf_weakness.compat`). With CUDA present only the flash-attn
stand-in can apply (a GPU host whose install found no prebuilt flash-attn wheel; the trainers then use sdpa); it never
shadows an importable flash-attn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from openrlhf_weakness.compat import ALLOW_ANY_VERSION_ENV, UnsupportedOpenRLHFVersion, check_versions


@dataclass(frozen=True)
class Patch:
    name: str
    why: str
    needed: Callable[[], bool]
    install: Callable[[], None]
    on_cuda: bool = False  # also needed on a CUDA host


_APPLIED: list[str] = []


def _patches() -> list[Patch]:
    from openrlhf_weakness.patches import flash_attn_stub, fp32_params, strategy_cpu

    return [flash_attn_stub.PATCH, strategy_cpu.PATCH, fp32_params.PATCH]


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def check_openrlhf_version() -> str:
    """Return the installed OpenRLHF version, or raise :class:`UnsupportedOpenRLHFVersion` when it, DeepSpeed or
    transformers is missing or untested (see :func:`openrlhf_weakness.compat.check_versions`)."""
    return check_versions()["openrlhf"]


def default_attn_implementation(cuda: bool | None = None) -> str:
    """The attention a training gets when its flags name none: flash-attn on CUDA when the real package imports, sdpa
    on CUDA without it (OpenRLHF's own default, flash_attention_2, would fail there), eager on CPU."""
    if not (cuda_available() if cuda is None else cuda):
        return "eager"
    from openrlhf_weakness.patches.flash_attn_stub import _real_flash_attn_importable

    return "flash_attention_2" if _real_flash_attn_importable() else "sdpa"


def cpu_training_dtype_args() -> list[str]:
    """``--ds.param_dtype fp32`` on a host without CUDA (the fp32_params patch; emulated bf16 is 2-10x slower on a
    CPU), nothing on a GPU host, where OpenRLHF's bf16 default stands. For the demos, which must fit 15 minutes."""
    return [] if cuda_available() else ["--ds.param_dtype", "fp32"]


def apply() -> list[str]:
    """Check the OpenRLHF stack's versions (every host), apply the patches that this machine needs and return the
    names now active."""
    check_openrlhf_version()
    cuda = cuda_available()
    for patch in _patches():
        if (patch.on_cuda or not cuda) and patch.name not in _APPLIED and patch.needed():
            patch.install()
            _APPLIED.append(patch.name)
    return list(_APPLIED)


def active() -> list[str]:
    """Names of the patches applied in this process."""
    return list(_APPLIED)
