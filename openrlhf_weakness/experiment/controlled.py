"""A controlled multi-skill domain and a small Llama pre-trained in-process to partial competence on it.

Questions are letter-string transformations ("reverse: c a f b" -> "b f a c"). Pre-training sees plenty of the strong
skills and little of the weak ones, so the model masters some skills and mostly fails others that it can learn; the
``length`` skill is never in the domain data and serves as the guard (general capability that training on the domain
must not destroy). Everything is deterministic in its seed, offline, and fits minutes on two CPU cores.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

LETTERS = "abcdefgh"
SKILLS = {
    "copy": lambda s: s,
    "first": lambda s: s[:1],
    "last": lambda s: s[-1:],
    "reverse": lambda s: s[::-1],
    "sort": lambda s: sorted(s),
    "rotate": lambda s: s[1:] + s[:1],
    "length": lambda s: [str(len(s))],
}
DOMAIN = ("copy", "first", "last", "reverse", "sort", "rotate")
WEAK = ("reverse", "rotate")  # the default weak skills: pre-trained on few questions (chosen on dev)
GUARD = ("length",)


class DomainError(ValueError):
    """A controlled-domain folder built with other settings, or weak skills that are not domain skills."""


def question(skill: str, letters: list[str]) -> dict:
    answer = " ".join(SKILLS[skill](letters))
    return {"prompt": f"{skill}: {' '.join(letters)}", "reference": answer, "datasource": skill}


@dataclass
class DomainSizes:
    """Questions per skill in each split (test at least 500 in all)."""

    pretrain_strong: int = 1500
    pretrain_weak: int = 150
    train: int = 40
    pool: int = 400
    dev: int = 40
    test: int = 100
    guard: int = 200


def build_domain(
    out_dir: str | os.PathLike, sizes: DomainSizes, seed: int = 0, weak: tuple[str, ...] = WEAK
) -> dict[str, str]:
    """Write pretrain/train/pool/dev/test/guard JSON Lines (no question in two splits); return their paths. The
    ``weak`` skills get ``sizes.pretrain_weak`` pre-training questions, the others ``pretrain_strong``. A folder is
    reused only when it was built with the same settings (``domain.json``)."""
    from dataclasses import asdict

    from openrlhf_weakness.io import write_json, write_jsonl

    unknown = [s for s in weak if s not in DOMAIN]
    if unknown or not weak:
        raise DomainError(f"weak skills {list(weak)}: name one or more of {', '.join(DOMAIN)}")
    out = Path(out_dir)
    paths = {name: str(out / f"{name}.jsonl") for name in ("pretrain", "train", "pool", "dev", "test", "guard")}
    settings = {"sizes": asdict(sizes), "seed": seed, "weak": list(weak)}
    marker = out / "domain.json"
    if all(Path(p).exists() for p in paths.values()):
        built = json.loads(marker.read_text()) if marker.exists() else settings  # older folders carry no marker
        if built != settings:
            raise DomainError(f"{out} was built with {built}, not {settings}: use another work directory")
        return paths
    out.mkdir(parents=True, exist_ok=True)
    rng, seen = random.Random(seed), set()

    def draw(skill: str, n: int) -> list[dict]:
        rows = []
        while len(rows) < n:
            letters = [rng.choice(LETTERS) for _ in range(rng.randint(3, 5))]
            row = question(skill, letters)
            if row["prompt"] not in seen:
                seen.add(row["prompt"])
                rows.append(row)
        return rows

    splits: dict[str, list[dict]] = {name: [] for name in paths}
    for skill in DOMAIN:  # evaluation splits first, so they are never in training data
        splits["dev"] += draw(skill, sizes.dev)
        splits["test"] += draw(skill, sizes.test)
    splits["guard"] += draw("length", sizes.guard)
    for skill in DOMAIN:
        splits["train"] += draw(skill, sizes.train)
        splits["pool"] += draw(skill, sizes.pool)
        splits["pretrain"] += draw(skill, sizes.pretrain_weak if skill in weak else sizes.pretrain_strong)
    splits["pretrain"] += draw("length", sizes.pretrain_strong)
    for name, rows in splits.items():
        rng.shuffle(rows)
        write_jsonl(paths[name], rows)
    write_json(marker, settings)
    return paths


@dataclass
class PretrainConfig:
    hidden_size: int = 128
    num_layers: int = 4
    steps: int = 1500
    batch_size: int = 32
    lr: float = 3e-3
    seed: int = 0


def pretrain_student(out_dir: str | os.PathLike, pretrain_file: str, cfg: PretrainConfig) -> Path:
    """A small Llama (tokenizer and chat template of :mod:`openrlhf_weakness.testing.tiny_model`) trained on the
    chat-formatted pre-training rows, loss on the answers only; reused when ``out_dir`` is complete."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from openrlhf_weakness.testing.tiny_model import build_tiny_model

    out = Path(out_dir)
    if (out / "pretrain.json").exists():
        built = json.loads((out / "pretrain.json").read_text())["config"]
        if built != cfg.__dict__:
            raise DomainError(f"{out} was pre-trained with {built}, not {cfg.__dict__}: use another work directory")
        return out
    init = build_tiny_model(out.with_name(out.name + "-init"), cfg.hidden_size, cfg.num_layers, cfg.seed)
    tok = AutoTokenizer.from_pretrained(init)
    model = AutoModelForCausalLM.from_pretrained(init)
    rows = [json.loads(line) for line in open(pretrain_file)]
    examples = []
    for row in rows:
        prompt = tok.apply_chat_template(
            [{"role": "user", "content": row["prompt"]}], tokenize=False, add_generation_prompt=True
        )
        p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        a_ids = tok(row["reference"] + "<|im_end|>", add_special_tokens=False)["input_ids"]
        examples.append((p_ids + a_ids, len(p_ids)))
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    model.train()
    losses = []
    for step in range(cfg.steps):
        batch = [examples[rng.randrange(len(examples))] for _ in range(cfg.batch_size)]
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), tok.pad_token_id)
        labels = torch.full((len(batch), width), -100)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, (ids, start) in enumerate(batch):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            labels[i, start : len(ids)] = torch.tensor(ids[start:])
            mask[i, : len(ids)] = 1
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        losses.append(loss.item())
    tmp = out.with_name(f"{out.name}.tmp{os.getpid()}")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    (tmp / "pretrain.json").write_text(
        json.dumps({"config": cfg.__dict__, "loss_first": losses[:10], "loss_last": losses[-10:]})
    )
    os.replace(tmp, out)
    return out
