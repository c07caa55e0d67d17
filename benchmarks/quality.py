"""Quality experiment: do APT and STAT-Sel make a model better than the same training budget spent on plain SFT?

    .venv/bin/python benchmarks/quality.py --setting controlled|real [--seeds 3] [--lr 1e-3]

Controlled setting: a small Llama pre-trained in-process to partial competence on letter-string skills
(openrlhf_weakness.experiment.controlled). Real setting: SmolLM2-135M-Instruct on reasoning-gym arithmetic where its
competence is mixed (openrlhf_weakness.experiment.real), trained in fp32 on a CPU. Arms, each trained from the same
student with OpenRLHF's engines (CPU patches) and the same rows, steps and learning rate as its baseline: base; APT
(the loop, best iteration on dev); SFT on as many random domain rows as APT's first pairs; DPO without the SFT term on
APT's pairs; STAT-Sel (profile from the student's dev failures, materialised draw); SFT on a uniform draw of the same
size; named in --arms only: STAT-Sel through the weighted sampler (stat_sel_sampler) and over reasoning-gym sub-skills
(stat_sel_subskills). Every choice is made on dev; the test split is scored once per final model. Results per (arm,
seed) are written as they finish, so a rerun resumes; an arm that fails is reported with its log and the others go on.
Output: JSON, a markdown table and a plot with 95% paired-bootstrap intervals (questions and seeds resampled).
"""

from __future__ import annotations

import argparse
import json
import random
import traceback
from pathlib import Path

ARMS = ("apt", "sft_same_budget", "dpo_only", "stat_sel", "sft_uniform")
OPTIONAL_ARMS = ("stat_sel_sampler", "stat_sel_subskills")  # run only when named in --arms
STAT_ARMS = {"stat_sel": "datasource", "stat_sel_sampler": "datasource", "stat_sel_subskills": "subskills"}
COMPARISONS = {  # name: (arm, against)
    "apt_vs_base": ("apt", "base"),
    "apt_vs_sft": ("apt", "sft_same_budget"),
    "dpo_only_vs_sft": ("dpo_only", "sft_same_budget"),
    "apt_vs_dpo_only": ("apt", "dpo_only"),
    "stat_sel_vs_uniform": ("stat_sel", "sft_uniform"),
    "stat_sel_sampler_vs_uniform": ("stat_sel_sampler", "sft_uniform"),
    "stat_sel_sampler_vs_stat_sel": ("stat_sel_sampler", "stat_sel"),
    "stat_sel_subskills_vs_uniform": ("stat_sel_subskills", "sft_uniform"),
    "stat_sel_subskills_vs_stat_sel": ("stat_sel_subskills", "stat_sel"),
    "stat_sel_vs_base": ("stat_sel", "base"),
    "sft_same_budget_vs_base": ("sft_same_budget", "base"),
}


class Experiment:
    def __init__(self, opts):
        self.opts, self.work = opts, Path(opts.work_dir)
        if opts.setting == "controlled":
            from openrlhf_weakness.experiment import exact_match
            from openrlhf_weakness.experiment.controlled import (
                DomainSizes,
                PretrainConfig,
                build_domain,
                pretrain_student,
            )

            sizes = DomainSizes(pretrain_weak=opts.pretrain_weak)
            self.paths = build_domain(self.work / "data", sizes, seed=opts.data_seed)
            self.student = str(
                pretrain_student(
                    self.work / "student", self.paths["pretrain"], PretrainConfig(steps=opts.pretrain_steps)
                )
            )
            self.assessor_file, self.max_new_tokens, self.max_len = exact_match.__file__, 16, 64
        else:
            from openrlhf_weakness.demo import rg_score
            from openrlhf_weakness.demo.student import student_model
            from openrlhf_weakness.experiment.real import RealSizes, build_real_domain

            self.paths = build_real_domain(self.work / "data", RealSizes(), seed=opts.data_seed)
            self.student = student_model(self.work / "models")
            self.assessor_file, self.max_new_tokens, self.max_len = rg_score.__file__, 48, 128
        self.splits = ("dev", "guard") if opts.dev_only_enable else ("dev", "guard", "test")
        self.rows = {k: [json.loads(line) for line in open(p)] for k, p in self.paths.items() if k != "pretrain"}
        for folder in ("results", "arms"):
            (self.work / folder).mkdir(parents=True, exist_ok=True)

    # ---- pieces ----------------------------------------------------------------------------------------------
    def common_train_args(self, seed: int) -> list[str]:
        o = self.opts
        return [
            "--train.micro_batch_size",
            "8",
            "--train.batch_size",
            "16",
            "--train.max_epochs",
            str(o.epochs),
            "--adam.lr",
            str(o.lr),
            "--data.max_len",
            str(self.max_len),
            "--ds.attn_implementation",
            "eager",
            "--train.seed",
            str(seed),
            "--ds.param_dtype",
            o.param_dtype,
        ]

    def gen(self, model: str):
        from openrlhf_weakness.backends.config import GenerationConfig

        return GenerationConfig(
            backend="hf",
            model=model,
            max_new_tokens=self.max_new_tokens,
            batch_size=64,
            dtype="float32",
            chat_template_enable=True,
            cache_dir=str(self.work / "cache"),
        )

    def assess_cfg(self):
        from openrlhf_weakness.assess.config import AssessConfig

        return AssessConfig(assessor="function", function_path=self.assessor_file, num_workers=1)

    def score(self, model: str, splits) -> dict:
        """Per-question right (1) / wrong (0) of ``model`` on each split, greedy."""
        from openrlhf_weakness.assess.answer import RowKeys, answer_and_assess
        from openrlhf_weakness.assess.function import FunctionAssessor
        from openrlhf_weakness.backends.config import SamplingParams
        from openrlhf_weakness.backends.hf import HFBackend

        backend = HFBackend(model, 64, "float32", True)
        out = {}
        for split in splits:
            scored, _ = answer_and_assess(
                backend,
                FunctionAssessor(self.assessor_file),
                self.rows[split],
                SamplingParams(max_new_tokens=self.max_new_tokens),
                RowKeys(),
                4,
                desc=split,
            )
            out[split] = [1.0 if r["score"] == 5 else 0.0 for r in scored]
        return out

    def train(self, module: str, args: list[str], out: Path) -> str:
        from openrlhf_weakness.cli.demo import _train_once

        return _train_once(module, args, out, out.with_name(out.name + ".log"))

    def sft(self, rows: list[dict], name: str, seed: int, weights: list[float] | None = None) -> str:
        """SFT on ``rows`` (OpenRLHF's train_sft), or, with ``weights``, on all of them through STAT's weighted
        sampler drawing ``--stat_rows`` rows per epoch (train_stat_sft): the same steps as the materialised draw."""
        from openrlhf_weakness.data.labels import reference_text
        from openrlhf_weakness.io import write_jsonl

        data = self.work / "arms" / f"{name}-s{seed}.jsonl"  # the real setting's worked solution, as APT's chosen
        out = [{"input": r["prompt"], "output": reference_text(r["reference"])} for r in rows]
        if weights is not None:
            out = [dict(row, stat_weight=w) for row, w in zip(out, weights)]
        write_jsonl(data, out)
        args = [
            "--model.model_name_or_path",
            self.student,
            "--data.dataset",
            str(data),
            "--data.input_key",
            "input",
            "--data.output_key",
            "output",
            "--data.apply_chat_template",
        ]
        args += self.common_train_args(seed)
        if weights is None:
            return self.train("openrlhf.cli.train_sft", args, self.work / "arms" / f"{name}-s{seed}")
        args += ["--stat.weight_key", "stat_weight", "--stat.total", str(self.opts.stat_rows)]
        return self.train("openrlhf_weakness.cli.train_stat_sft", args, self.work / "arms" / f"{name}-s{seed}")

    # ---- arms ------------------------------------------------------------------------------------------------
    def apt_loop(self, seed: int):
        from openrlhf_weakness.apt.loop import APTLoop, LoopData
        from openrlhf_weakness.apt.loop_config import APTLoopConfig
        from openrlhf_weakness.apt.pairs import PairsConfig
        from openrlhf_weakness.retrieve.config import RetrieveConfig

        o = self.opts
        train_args = self.common_train_args(seed) + [
            "--model.beta",
            str(o.beta),
            "--apt.sft_coef",
            str(o.sft_coef),
            "--apt.sft_norm",
            o.sft_norm,
        ]
        cfg = APTLoopConfig(
            model=self.student,
            run_dir=str(self.work / f"apt-s{seed}"),
            iterations=o.iterations,
            patience=o.iterations,
            guard_max_drop=0.1,
            train_args=train_args,
            ref_policy=o.ref_policy,
        )
        data = LoopData(
            train=self.paths["train"], pool=self.paths["pool"], dev=self.paths["dev"], guard=self.paths["guard"]
        )  # the test split stays unread until the final table
        retrieve = RetrieveConfig(
            tagger="field",
            tag_key="datasource",
            cache_dir=str(self.work / "embeddings"),
            scale=self.opts.retrieve_scale,
        )
        pairs = PairsConfig(chosen=o.chosen, rejected=o.rejected, samples=o.samples)
        loop = APTLoop(cfg, data, self.gen(self.student), self.assess_cfg(), retrieve, pairs)
        try:
            final = loop.run_loop()
        finally:
            loop.run.close()
        return final, Path(cfg.run_dir) / "iter_0" / "pairs.jsonl"

    def arm_model(self, arm: str, seed: int) -> tuple[str, dict]:
        if arm == "apt":
            final, _ = self.apt_loop(seed)
            return final["best"]["model"], {"best_iteration": final["best"]["iteration"], "stopped": final["stopped"]}
        if arm in ("sft_same_budget", "dpo_only"):
            _, pairs = self.apt_loop(seed)  # reused from the APT arm's run directory
            n_rows = sum(1 for _ in open(pairs))
            if arm == "sft_same_budget":
                pool = self.rows["train"] + self.rows["pool"]
                return self.sft(random.Random(seed).sample(pool, n_rows), arm, seed), {"rows": n_rows}
            args = [
                "--model.model_name_or_path",
                self.student,
                "--data.dataset",
                str(pairs),
                "--data.prompt_key",
                "prompt",
                "--apt.weight_key",
                "weight",
                "--apt.sft_coef",
                "0",
                "--model.beta",
                str(self.opts.beta),
                "--data.apply_chat_template",
                *self.common_train_args(seed),
            ]
            return self.train("openrlhf_weakness.cli.train_apt", args, self.work / "arms" / f"dpo_only-s{seed}"), {
                "rows": n_rows
            }
        if arm in STAT_ARMS:
            draw, weighted = self.stat_sel(seed, STAT_ARMS[arm])
            info = {"top_skills": self.top_skills(arm, seed)}
            if arm == "stat_sel_sampler":  # the whole pool, drawn with the weights each epoch
                return self.sft(weighted, arm, seed, [r["stat_weight"] for r in weighted]), {
                    "rows": self.opts.stat_rows,
                    **info,
                }
            return self.sft(draw, arm, seed), {"rows": len(draw), **info}
        if arm == "sft_uniform":
            return self.sft(random.Random(seed).sample(self.rows["pool"], self.opts.stat_rows), arm, seed), {
                "rows": self.opts.stat_rows
            }
        raise ValueError(f"unknown arm {arm}")

    def stat_run_dir(self, seed: int, key: str) -> Path:
        return self.work / (f"stat-{key}-s{seed}" if key == "subskills" else f"stat-s{seed}")

    def top_skills(self, arm: str, seed: int) -> list[str]:
        """The skills ``arm``'s STAT-Sel weights favour (read from its run directory; [] before it ran)."""
        path = self.stat_run_dir(seed, STAT_ARMS[arm]) / "stat_sel.jsonl"
        return upweighted_skills([json.loads(line) for line in open(path)], STAT_ARMS[arm]) if path.exists() else []

    def stat_sel(self, seed: int, key: str = "datasource") -> tuple[list[dict], list[dict]]:
        """STAT-Sel's materialised draw and the pool with its weights; skills are the category (``datasource``) or
        finer ``subskills``."""
        from openrlhf_weakness.backends.config import GenerationConfig
        from openrlhf_weakness.stat.config import StatConfig, StatData
        from openrlhf_weakness.stat.pipeline import StatPipeline

        pool, dev = self.paths["pool"], self.paths["dev"]
        if key == "subskills":
            pool, dev = self.with_subskills()
        cfg = StatConfig(
            run_dir=str(self.stat_run_dir(seed, key)),
            skill_key=key,
            k=self.opts.stat_k,
            size=self.opts.stat_rows,
            seed=seed,
        )
        data = StatData(train=pool, dev=dev, input_key="prompt", output_key="reference")
        pipeline = StatPipeline(cfg, data, self.gen(self.student), GenerationConfig(), self.assess_cfg())
        try:
            pipeline.run()
        finally:
            pipeline.close()
        draw = [json.loads(line) for line in open(Path(cfg.run_dir) / "stat_sel_draw.jsonl")]
        weighted = [json.loads(line) for line in open(Path(cfg.run_dir) / "stat_sel.jsonl")]
        return draw, weighted

    def with_subskills(self) -> tuple[str, str]:
        """The pool and dev splits with a ``subskills`` label per row (the category, operator, carries, borrows,
        negatives read off reasoning-gym's expression), less the labels every pool row shares (they select nothing)."""
        from openrlhf_weakness.io import write_jsonl
        from openrlhf_weakness.stat.subskills import reasoning_gym_skills

        if self.opts.setting != "real":
            raise ValueError("the stat_sel_subskills arm needs reasoning-gym questions (--setting real)")
        found = {split: [reasoning_gym_skills(r["reference"]) for r in self.rows[split]] for split in ("pool", "dev")}
        shared = set.intersection(*map(set, found["pool"]))
        paths = []
        for split, labels in found.items():
            path = self.work / "data" / f"{split}_subskills.jsonl"
            write_jsonl(
                path,
                [
                    dict(r, subskills=[s for s in skills if s not in shared])
                    for r, skills in zip(self.rows[split], labels)
                ],
            )
            paths.append(str(path))
        return paths[0], paths[1]

    def run_arm(self, arm: str, seed: int) -> dict:
        path = self.work / "results" / f"{arm}-s{seed}.json"
        from openrlhf_weakness.io import write_json

        if path.exists():
            result = json.loads(path.read_text())
            if result.get("status") == "done":
                if arm in STAT_ARMS:  # the favoured skills, always from the STAT run's weights
                    result["top_skills"] = self.top_skills(arm, seed) or result.get("top_skills")
                missing = [split for split in self.splits if split not in result["scores"]]
                if missing:  # a dev-only run's arm, now scored on the test split once
                    result["scores"].update(self.score(result["model"], missing))
                    write_json(path, result)
                return result

        try:
            model, info = self.arm_model(arm, seed)
            scores = self.score(model, self.splits)
            result = {"arm": arm, "seed": seed, "status": "done", "model": model, **info, "scores": scores}
        except Exception as err:  # one failed arm must not sink the others
            log = self.work / "results" / f"{arm}-s{seed}.error.log"
            log.write_text(traceback.format_exc())
            result = {
                "arm": arm,
                "seed": seed,
                "status": "failed",
                "error": f"{type(err).__name__}: {err}"[:300],
                "log": str(log),
            }
        write_json(path, result)
        print(f"[quality] {arm} seed {seed}: {result['status']}", flush=True)
        return result


def dev_table(exp: Experiment, results: list[dict]) -> str:
    """Dev accuracy per arm and skill (for choosing settings; the test split is not read)."""
    skills = sorted({r["datasource"] for r in exp.rows["dev"]})
    lines = ["| arm | seed | dev | guard | " + " | ".join(skills) + " |", "|---" * (len(skills) + 4) + "|"]
    for r in results:
        if r["status"] != "done":
            lines.append(f"| {r['arm']} | {r['seed']} | FAILED: {r['error']} | | " + " | " * len(skills))
            continue
        dev = r["scores"]["dev"]
        per = {s: [v for row, v in zip(exp.rows["dev"], dev) if row["datasource"] == s] for s in skills}
        guard = sum(r["scores"]["guard"]) / len(r["scores"]["guard"])
        lines.append(
            f"| {r['arm']} | {r['seed']} | {sum(dev) / len(dev):.3f} | {guard:.3f} | "
            + " | ".join(f"{sum(v) / len(v):.2f}" for v in per.values())
            + " |"
        )
    return "\n".join(lines)


def upweighted_skills(weighted: list[dict], key: str) -> list[str]:
    """The skills STAT-Sel moves budget toward: their share of the draw (by weight) exceeds their share of the pool.
    A STAT arm's "top skills" comparison is read on these, most favoured first."""
    from collections import Counter

    from openrlhf_weakness.stat.skills import normalize_skill

    total = sum(r["stat_weight"] for r in weighted)
    by_weight, by_rows = Counter(), Counter()
    for r in weighted:
        for skill in {normalize_skill(s) for s in (r[key] if isinstance(r[key], list) else [r[key]])}:
            by_weight[skill] += r["stat_weight"] / total
            by_rows[skill] += 1 / len(weighted)
    favoured = [s for s in by_rows if by_weight[s] > by_rows[s]]
    return sorted(favoured, key=lambda s: -by_weight[s] / by_rows[s])


def row_skills(setting: str, row: dict) -> set[str]:
    """A question's category, and in the real setting its sub-skills, in the spelling of a STAT profile."""
    from openrlhf_weakness.stat.skills import normalize_skill

    found = {row["datasource"]}
    if setting == "real":
        from openrlhf_weakness.stat.subskills import reasoning_gym_skills

        found.update(reasoning_gym_skills(row["reference"]))
    return {normalize_skill(s) for s in found}


def summarize(exp: Experiment, base: dict, results: list[dict], split: str = "test") -> dict:
    """Per arm and per compared pair, on ``split`` (the test split for the final table; dev while choosing)."""
    import numpy as np

    from openrlhf_weakness.experiment.stats import mean_ci, paired_difference, verdict
    from openrlhf_weakness.stat.skills import normalize_skill

    split_rows = exp.rows[split]
    skills = sorted({r["datasource"] for r in split_rows})
    arms = {"base": [base]}
    failed = {}
    for r in results:
        if r["status"] == "done":
            arms.setdefault(r["arm"], []).append(r)
        else:
            failed.setdefault(r["arm"], []).append({"seed": r["seed"], "error": r["error"], "log": r["log"]})
    tops = {arm: next((r["top_skills"] for r in runs if r.get("top_skills")), []) for arm, runs in arms.items()}
    top = tops.get("stat_sel", [])
    labels = {name: [row_skills(exp.opts.setting, row) for row in exp.rows[name]] for name in {"dev", "guard", split}}

    def matrix(arm: str, split: str, skill: list[str] | None = None) -> np.ndarray:
        wanted = {normalize_skill(s) for s in skill or ()}
        keep = [i for i, found in enumerate(labels[split]) if skill is None or found & wanted]
        return np.array([[r["scores"][split][i] for i in keep] for r in sorted(arms[arm], key=lambda r: r["seed"])])

    o = exp.opts
    budget = {
        "lr": o.lr,
        "epochs": o.epochs,
        "batch_size": 16,
        "iterations": o.iterations,
        "sft_coef": o.sft_coef,
        "retrieve_scale": o.retrieve_scale,
        "stat_rows": o.stat_rows,
        "stat_k": o.stat_k,
        "sft_norm": o.sft_norm,
        "chosen": o.chosen,
        "rejected": o.rejected,
        "samples": o.samples,
        "beta": o.beta,
        "param_dtype": o.param_dtype,
    }
    out = {
        "setting": o.setting,
        "split": split,
        "n_test": len(split_rows),
        "n_guard": len(exp.rows["guard"]),
        "skills": skills,
        "stat_top_skills": top,
        "arms": {},
        "comparisons": {},
        "failed": failed,
        "budget": budget,
    }
    for arm in arms:
        block = {"seeds": [r["seed"] for r in arms[arm]], "n_test": len(split_rows)}
        block.update(mean_ci(matrix(arm, split)).as_dict())
        block["dev"] = mean_ci(matrix(arm, "dev")).as_dict()
        block["guard"] = mean_ci(matrix(arm, "guard")).as_dict()
        block["by_skill"] = {s: mean_ci(matrix(arm, split, [s])).as_dict() for s in skills}
        out["arms"][arm] = block
    for name, (a, b) in COMPARISONS.items():
        if a in arms and b in arms and (len(arms[a]) == len(arms[b]) or "base" in (a, b)):
            diff = paired_difference(matrix(a, split), matrix(b, split))
            entry = {**diff.as_dict(), "verdict": verdict(diff)}
            entry["guard"] = paired_difference(matrix(a, "guard"), matrix(b, "guard")).as_dict()
            entry["by_skill"] = {
                s: paired_difference(matrix(a, split, [s]), matrix(b, split, [s])).as_dict() for s in skills
            }
            if tops.get(a) and name.startswith("stat_sel"):
                entry["top_skills"] = paired_difference(matrix(a, split, tops[a]), matrix(b, split, tops[a])).as_dict()
                entry["top_skills"]["skills"] = tops[a]
            out["comparisons"][name] = entry
    return out


def markdown(summary: dict) -> str:
    def ci(e: dict) -> str:
        return f"{e['mean']:.3f} [{e['ci_low']:.3f}, {e['ci_high']:.3f}]"

    split = summary.get("split", "test")
    lines = [
        f"{split.capitalize()}: {summary['n_test']} questions; guard: {summary['n_guard']}; 95% bootstrap "
        "intervals over questions and seeds.",
        "",
        f"| arm | seeds | {split} | guard | dev |",
        "|---|---|---|---|---|",
    ]
    for arm, b in summary["arms"].items():
        lines.append(f"| {arm} | {len(b['seeds'])} | {ci(b)} | {ci(b['guard'])} | {ci(b['dev'])} |")
    for arm, failures in summary["failed"].items():
        for f in failures:
            lines.append(f"| {arm} | seed {f['seed']} FAILED | {f['error']} (log: {f['log']}) | | |")
    lines += [
        "",
        f"| comparison (paired) | {split} difference | verdict | guard difference | top skills |",
        "|---|---|---|---|---|",
    ]
    for name, c in summary["comparisons"].items():
        top = ci(c["top_skills"]) if "top_skills" in c else ""
        lines.append(f"| {name} | {ci(c)} | {c['verdict']} | {ci(c['guard'])} | {top} |")
    if summary.get("stat_top_skills"):
        lines += [
            "",
            "Top skills (STAT-Sel's weights favour them over their share of the pool): "
            + ", ".join(summary["stat_top_skills"])
            + ".",
        ]
    skills = summary["skills"]
    lines += ["", "| arm | " + " | ".join(skills) + " |", "|---|" + "---|" * len(skills)]
    for arm, b in summary["arms"].items():
        lines.append(f"| {arm} | " + " | ".join(f"{b['by_skill'][s]['mean']:.2f}" for s in skills) + " |")
    return "\n".join(lines) + "\n"


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = list(summary["arms"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, key, title in ((axes[0], None, "domain test"), (axes[1], "guard", "guard")):
        blocks = [summary["arms"][a] if key is None else summary["arms"][a][key] for a in arms]
        means = [b["mean"] for b in blocks]
        err = [[m - b["ci_low"] for m, b in zip(means, blocks)], [b["ci_high"] - m for m, b in zip(means, blocks)]]
        ax.bar(arms, means, yerr=err, capsize=4, color="#4c72b0")
        ax.set_title(f"{title} accuracy (95% CI)")
        ax.set_ylim(0, 1)
        ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    from openrlhf_weakness.cli import show_library_logs

    show_library_logs()  # the loops' stage progress, as the commands show it
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--setting",
        default="controlled",
        choices=["controlled", "real"],
        help="controlled: the in-process Llama on letter skills; real: SmolLM2-135M on reasoning-gym",
    )
    parser.add_argument("--work_dir", default=None, help="default runs/quality_<setting>")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--arms",
        default=",".join(ARMS),
        help=f"comma-separated arms to run (base always); also: {', '.join(OPTIONAL_ARMS)} (STAT-Sel through the "
        "weighted sampler, --stat_rows draws per epoch; STAT-Sel over sub-skills read off reasoning-gym's "
        "expressions, real setting)",
    )
    parser.add_argument(
        "--lr",
        type=float,
        default=None,
        help="learning rate of every arm (chosen on dev; default 3e-4 controlled, 2e-5 real)",
    )
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=2, help="APT iterations (best on dev)")
    parser.add_argument("--sft_coef", type=float, default=0.5, help="APT's alpha")
    parser.add_argument(
        "--sft_norm",
        default="token",
        choices=["token", "sequence"],
        help="APT's SFT term averaged over response tokens or summed over the response",
    )
    parser.add_argument("--beta", type=float, default=0.1, help="DPO's beta (APT and DPO-only)")
    parser.add_argument(
        "--param_dtype",
        default=None,
        choices=["bf16", "fp32"],
        help="training dtype of every arm (default bf16 controlled, fp32 real; fp32: the CPU patch, 1.3-2.3x faster "
        "on a CPU without bf16)",
    )
    parser.add_argument(
        "--ref_policy",
        default="previous",
        choices=["previous", "initial"],
        help="APT: reference model of iteration t, M_t (previous) or M_0 (initial)",
    )
    parser.add_argument("--retrieve_scale", type=float, default=1.0, help="APT: similar cases per bad case")
    parser.add_argument("--chosen", default="reference", choices=["reference", "self_correct"], help="APT: chosen")
    parser.add_argument("--rejected", default="greedy", choices=["greedy", "sampled_wrong"], help="APT: rejected")
    parser.add_argument("--samples", type=int, default=0, help="APT: samples per bad case for the two above")
    parser.add_argument("--stat_k", type=int, default=5)
    parser.add_argument("--stat_rows", type=int, default=240, help="rows of STAT-Sel's draw and of the uniform draw")
    parser.add_argument("--pretrain_steps", type=int, default=1500)
    parser.add_argument("--pretrain_weak", type=int, default=400, help="pre-training questions per weak skill")
    parser.add_argument("--data_seed", type=int, default=1)
    parser.add_argument("--dev_only_enable", action="store_true", help="score dev and guard only (choosing settings)")
    parser.add_argument("--out", default=None, help="default benchmarks/results/quality_<setting>.json")
    opts = parser.parse_args()
    unknown = sorted(set(opts.arms.split(",")) - set(ARMS) - set(OPTIONAL_ARMS) - {""})
    if unknown:
        parser.error(f"--arms: unknown arm(s) {', '.join(unknown)}; known: {', '.join(ARMS + OPTIONAL_ARMS)}")
    real = opts.setting == "real"
    opts.lr = opts.lr if opts.lr is not None else (2e-5 if real else 3e-4)
    opts.param_dtype = opts.param_dtype or ("fp32" if real else "bf16")
    if opts.work_dir is None:
        opts.work_dir = f"runs/quality_{opts.setting}"
    if opts.out is None:
        opts.out = f"benchmarks/results/quality_{opts.setting}.json"
    from openrlhf_weakness import patches
    from openrlhf_weakness.io import write_json

    patches.apply()
    exp = Experiment(opts)
    base_path = exp.work / "results" / "base-s0.json"
    if not base_path.exists():
        write_json(base_path, {"arm": "base", "seed": 0, "status": "done", "model": exp.student, "scores": {}})
    base = exp.run_arm("base", 0)
    results = [exp.run_arm(arm, seed) for seed in range(opts.seeds) for arm in opts.arms.split(",") if arm]
    if opts.dev_only_enable:
        print(dev_table(exp, [base] + results))
        summary = summarize(exp, base, results, split="dev")  # the differences the choice rests on
        out = exp.work / "dev_summary.json"
        write_json(out, summary)
        table = markdown(summary)
        out.with_suffix(".md").write_text(table)
        print(table)
        return
    summary = summarize(exp, base, results)
    write_json(opts.out, summary)
    table = markdown(summary)
    Path(opts.out).with_suffix(".md").write_text(table)
    plot(summary, Path(opts.out).with_suffix(".png"))
    print(table)


if __name__ == "__main__":
    main()
