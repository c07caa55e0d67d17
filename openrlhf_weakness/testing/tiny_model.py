"""A tiny random Llama and a byte-level BPE tokenizer with a chat template, built offline and deterministically.

OpenRLHF's engines need a real HF model folder; no hub is reachable in CI, so one is built from scratch in seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<|pad|>", "<|im_start|>", "<|im_end|>"]

_CORPUS = [
    "What is {a} plus {b}? The answer is {c}.",
    "Compute {a} times {b}. Answer: {c}",
    "Question: how many apples are left if you have {a} and eat {b}? Answer: {c}",
    "The quick brown fox jumps over the lazy dog {a} times.",
    "user assistant system: answer the question with a number.",
]


def _corpus() -> list[str]:
    lines = []
    for i in range(200):
        a, b = i % 17, (i * 7) % 13
        for t in _CORPUS:
            lines.append(t.format(a=a, b=b, c=a + b))
    return lines


def build_tiny_model(out_dir: str | os.PathLike, hidden_size: int = 64, num_layers: int = 2, seed: int = 0) -> Path:
    """Write a tiny LlamaForCausalLM plus tokenizer to ``out_dir`` (reused when already complete) and return it."""
    out = Path(out_dir)
    if (out / "tokenizer.json").exists() and (out / "config.json").exists():
        return out

    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<|pad|>", bos_token="<|im_start|>", eos_token="<|im_end|>"
    )
    fast.chat_template = CHAT_TEMPLATE

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=fast.pad_token_id,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    tmp = out.with_name(f"{out.name}.tmp{os.getpid()}")
    model.save_pretrained(tmp)
    fast.save_pretrained(tmp)
    try:
        os.rename(tmp, out)  # atomic: a reader sees no folder or a complete one
    except OSError:  # another process finished first; its model is identical (same seed)
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return out
