"""Version-checked changes that let OpenRLHF's DeepSpeed engines run on a machine without CUDA.

Call :func:`apply` first thing in every entry point. With CUDA present only the flash-attn stand-in can apply (a GPU
host whose install found no prebuilt flash-attn wheel; the trainers then use sdpa); it never shadows an importable
flash-attn, and refuses an OpenRLHF version the patches were not written for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from openrlhf_weakness import SUPPORTED_OPENRLHF

ALLOW_ANY_VERSION_ENV = "OPENRLHF_WEAKNESS_ALLOW_ANY_OPENRLHF"


class UnsupportedOpenRLHFVersion(RuntimeError):
    """Raised when the installed OpenRLHF is not one the CPU patches were checked against."""


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


def openrlhf_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("openrlhf")
    except PackageNotFoundError:
        return None


def check_openrlhf_version() -> str:
    """Return the installed OpenRLHF version, or raise when it is missing or not one the patches know."""
    found = openrlhf_version()
    if found is None:
        raise UnsupportedOpenRLHFVersion(
            "OpenRLHF is not installed. Run `make install` (CPU) or `pip install openrlhf-weakness[gpu]`."
        )
    if found not in SUPPORTED_OPENRLHF and os.environ.get(ALLOW_ANY_VERSION_ENV) != "1":
        raise UnsupportedOpenRLHFVersion(
            f"openrlhf-weakness's CPU patches were written for OpenRLHF {', '.join(SUPPORTED_OPENRLHF)}, "
            f"found {found}. Install openrlhf=={SUPPORTED_OPENRLHF[-1]}, or set {ALLOW_ANY_VERSION_ENV}=1 to try anyway."
        )
    return found


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
    """Apply the patches that this machine needs and return the names now active."""
    cuda = cuda_available()
    if not cuda:
        check_openrlhf_version()
    for patch in _patches():
        if (patch.on_cuda or not cuda) and patch.name not in _APPLIED and patch.needed():
            patch.install()
            _APPLIED.append(patch.name)
    return list(_APPLIED)


def active() -> list[str]:
    """Names of the patches applied in this process."""
    return list(_APPLIED)


def describe() -> list[tuple[str, str]]:
    """(name, why) of every patch this package carries, for the doctor and the README."""
    return [(p.name, p.why) for p in _patches()]
