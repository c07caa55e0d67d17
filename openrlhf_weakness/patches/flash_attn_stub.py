"""Stand-in ``flash_attn`` modules so that ``import openrlhf.models`` works where flash-attn is not installed (a CPU
host, or a GPU host for which no prebuilt wheel matched: the trainers then use sdpa).

OpenRLHF 0.11.2 imports ``flash_attn.bert_padding`` and ``flash_attn.utils.distributed`` at module level, but calls
them only for sample packing and ring attention, which need CUDA anyway. The stand-ins raise a clear error if called.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import types

from openrlhf_weakness.patches import Patch

STUB_MARKER = "__openrlhf_weakness_stub__"
_NEEDS_CUDA = (
    "flash_attn.{name} was called, but flash-attn is not installed (no CUDA here, or no prebuilt wheel matched this "
    "GPU host). It is only needed for --ds.packing_samples and ring attention: drop those flags, or install a "
    "flash-attn wheel (FLASH_ATTN_WHEEL=... make install)."
)


def _unavailable(name: str):
    def fn(*args, **kwargs):
        raise RuntimeError(_NEEDS_CUDA.format(name=name))

    fn.__name__ = name
    return fn


def _real_flash_attn_importable() -> bool:
    mod = sys.modules.get("flash_attn")
    if mod is not None:
        return not getattr(mod, STUB_MARKER, False)
    try:
        importlib.import_module("flash_attn.bert_padding")
        return True
    except Exception:  # a CUDA-less build raises ImportError or OSError from its extension
        for key in [k for k in sys.modules if k == "flash_attn" or k.startswith("flash_attn.")]:
            del sys.modules[key]
        return False


def _install() -> None:
    from einops import rearrange

    def module(name: str, **attrs) -> types.ModuleType:
        mod = types.ModuleType(name)
        setattr(mod, STUB_MARKER, True)
        mod.__path__ = []  # a package, so submodules resolve from sys.modules
        mod.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)  # transformers calls find_spec
        for key, value in attrs.items():
            setattr(mod, key, value)
        sys.modules[name] = mod
        return mod

    bert_padding = module(
        "flash_attn.bert_padding",
        rearrange=rearrange,
        **{n: _unavailable(f"bert_padding.{n}") for n in ("index_first_axis", "pad_input", "unpad_input")},
    )
    distributed = module("flash_attn.utils.distributed", all_gather=_unavailable("utils.distributed.all_gather"))
    utils = module("flash_attn.utils", distributed=distributed)
    module("flash_attn", bert_padding=bert_padding, utils=utils, __version__="0.0.0+openrlhf_weakness_stub")


PATCH = Patch(
    name="flash_attn_stub",
    why="openrlhf.models imports flash_attn.bert_padding at import time; flash-attn needs CUDA to build and import",
    needed=lambda: not _real_flash_attn_importable(),
    install=_install,
    on_cuda=True,
)
