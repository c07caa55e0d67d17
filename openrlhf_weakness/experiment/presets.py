"""The two settings of the quality experiment as presets of ``cli.compare``: each builds its data and student and
returns the flags it fills (before ``--``) and its training flags (after), which the user's own flags override."""

from __future__ import annotations

from pathlib import Path

PRESETS = ("controlled", "real")


def _common(work: Path, paths: dict, student: str) -> list[str]:
    flags = ["--gen.model", student, "--gen.backend", "hf", "--gen.batch_size", "64", "--gen.dtype", "float32"]
    flags += ["--gen.chat_template_enable", "--gen.cache_dir", str(work / "cache")]
    for split in ("train", "pool", "dev", "test", "guard"):
        flags += [f"--data.{split}", paths[split]]
    flags += ["--retrieve.tagger", "field", "--retrieve.tag_key", "datasource"]
    flags += ["--retrieve.cache_dir", str(work / "embeddings")]
    flags += ["--loop.patience", "1000", "--loop.guard_max_drop", "0.1"]
    flags += ["--stat.skill_key", "datasource", "--stat.k", "5"]
    return flags


def _training(lr: str, max_len: str, param_dtype: str, sft_coef: str = "0.5", epochs: str = "3") -> list[str]:
    flags = ["--train.micro_batch_size", "8", "--train.batch_size", "16", "--train.max_epochs", epochs]
    flags += ["--adam.lr", lr, "--data.max_len", max_len, "--ds.attn_implementation", "eager"]
    flags += ["--ds.param_dtype", param_dtype, "--model.beta", "0.1"]
    return flags + ["--apt.sft_coef", sft_coef, "--apt.sft_norm", "token"]


def build_preset(name: str, compare) -> tuple[list[str], list[str]]:
    """(flags, training flags) of preset ``name`` for the ``--compare.*`` settings ``compare`` (its work_dir,
    data_seed, pretrain_steps, pretrain_weak, weak_skills); data and the student are built once and reused."""
    work = Path(compare.work_dir)
    if name == "controlled":
        from openrlhf_weakness.experiment import exact_match
        from openrlhf_weakness.experiment.controlled import DomainSizes, PretrainConfig, build_domain, pretrain_student

        sizes, weak = DomainSizes(pretrain_weak=compare.pretrain_weak), tuple(compare.weak_skills.split(","))
        paths = build_domain(work / "data", sizes, seed=compare.data_seed, weak=weak)
        student = pretrain_student(work / "student", paths["pretrain"], PretrainConfig(steps=compare.pretrain_steps))
        flags = _common(work, paths, str(student)) + ["--gen.max_new_tokens", "16"]
        flags += ["--assess.assessor", "function", "--assess.function_path", exact_match.__file__]
        # chosen on dev (benchmarks/results/controlled-setting.md): a budget at which a uniform draw leaves the weak
        # skills short, one APT round, and the student's own pre-training rows mixed in against forgetting
        flags += ["--stat.size", "720", "--loop.iterations", "1", "--retrieve.scale", "16"]
        flags += ["--pairs.general_data", paths["pretrain"], "--pairs.general_ratio", "0.3"]
        return flags + ["--assess.num_workers", "1"], _training("1e-3", "64", "fp32", sft_coef="3.0")
    if name == "real":
        from openrlhf_weakness.demo import rg_score
        from openrlhf_weakness.demo.student import student_model
        from openrlhf_weakness.experiment.real import RealSizes, build_real_domain, build_real_general

        paths = build_real_domain(work / "data", RealSizes(), seed=compare.data_seed)
        build_real_general(work / "data", RealSizes())  # for --pairs.general_data <work_dir>/data/general.jsonl
        student = student_model(work / "models")
        flags = _common(work, paths, student) + ["--gen.max_new_tokens", "48"]
        flags += ["--stat.size", "100", "--loop.iterations", "2"]  # half the pool of 200
        flags += ["--assess.assessor", "function", "--assess.function_path", rg_score.__file__]
        # lr and epochs of the real dev pilot (experiment-quality-real.md)
        return flags + ["--assess.num_workers", "1"], _training("1e-4", "128", "fp32", epochs="1")
    raise ValueError(f"unknown preset {name!r} ({', '.join(PRESETS)})")
