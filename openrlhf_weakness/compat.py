"""The OpenRLHF, DeepSpeed and transformers versions this package is tested with, and the OpenRLHF internals it uses.

Every entry point that subclasses or swaps OpenRLHF internals calls :func:`check_versions` first (through
``patches.apply()``), on GPU hosts as on CPU: outside ``TESTED`` it stops with one line, unless
``OPENRLHF_WEAKNESS_ALLOW_ANY_OPENRLHF=1``, which logs a warning and goes on.

``SURFACE`` lists each OpenRLHF method signature, attribute, import, module-level name, CLI flag and CUDA call this
package overrides, calls or swaps. :func:`surface_problems` checks it against an OpenRLHF source tree without importing
it; ``tests/test_openrlhf_versions.py`` runs it on every 0.11.x release on the registry, which is what makes the
OpenRLHF versions in ``TESTED`` a fact. Light: no heavy import here.
"""

from __future__ import annotations

import ast
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from openrlhf_weakness import SUPPORTED_OPENRLHF

logger = logging.getLogger(__name__)

ALLOW_ANY_VERSION_ENV = "OPENRLHF_WEAKNESS_ALLOW_ANY_OPENRLHF"
OPENRLHF_REQUIREMENT = "openrlhf>=0.11,<0.12"
TESTED = {
    # every release whose sources pass SURFACE (tests/test_openrlhf_versions.py); CI trains on the lock's 0.11.2
    "openrlhf": SUPPORTED_OPENRLHF,
    # what those releases pin: deepspeed==0.19.5 (0.11.0, 0.11.1), 0.19.6 (0.11.2); transformers==5.15.0 (all three)
    "deepspeed": ("0.19.5", "0.19.6"),
    "transformers": ("5.15.0",),
}
LABELS = {"openrlhf": "OpenRLHF", "deepspeed": "DeepSpeed", "transformers": "transformers"}


class UnsupportedOpenRLHFVersion(RuntimeError):
    """The installed OpenRLHF (or its DeepSpeed or transformers) is missing or not a version this package was tested
    with. The message is one line, fit to print as it is."""


def installed_version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _release(version: str) -> str:
    """``0.19.6+cpu`` -> ``0.19.6``: a local build of a tested release is that release."""
    return version.split("+", 1)[0]


def tested_line() -> str:
    return ", ".join(f"{LABELS[name]} {'/'.join(versions)}" for name, versions in TESTED.items())


_WARNED: set[tuple] = set()


def check_versions(found: dict[str, str | None] | None = None) -> dict[str, str | None]:
    """The installed versions of the packages in ``TESTED`` (``found`` stands in for them in tests).

    Raises :class:`UnsupportedOpenRLHFVersion` when OpenRLHF is missing, or when one of them is outside ``TESTED`` and
    ``OPENRLHF_WEAKNESS_ALLOW_ANY_OPENRLHF`` is not 1; with it set, logs a warning (once per process) instead.
    """
    found = {name: installed_version(name) for name in TESTED} if found is None else found
    if found.get("openrlhf") is None:
        raise UnsupportedOpenRLHFVersion(
            f"OpenRLHF is not installed: pip install '{OPENRLHF_REQUIREMENT}' (it brings its own DeepSpeed and "
            "transformers), or run `make install` in a clone of openrlhf-weakness (CPU or GPU)."
        )
    off = [
        f"{LABELS[name]} {found.get(name) or 'missing'}"
        for name, versions in TESTED.items()
        if found.get(name) is None or _release(found[name]) not in versions
    ]
    if not off:
        return found
    tested = f"openrlhf-weakness is tested with {tested_line()}; found {', '.join(off)}."
    if os.environ.get(ALLOW_ANY_VERSION_ENV) == "1":
        if tuple(off) not in _WARNED:
            _WARNED.add(tuple(off))
            logger.warning("%s Going on because %s=1: subclasses and patches may fail.", tested, ALLOW_ANY_VERSION_ENV)
        return found
    raise UnsupportedOpenRLHFVersion(
        f"{tested} Install a tested OpenRLHF (pip install '{OPENRLHF_REQUIREMENT}' brings its own DeepSpeed and "
        f"transformers pins), or set {ALLOW_ANY_VERSION_ENV}=1 to go on at your own risk."
    )


# ---- the OpenRLHF internals this package relies on --------------------------------------------------------------
@dataclass(frozen=True)
class Fact:
    """One thing about an OpenRLHF source file (``path`` relative to the folder holding the ``openrlhf`` package).

    kind ``def``: ``name`` (``Class.method`` or a function) has the signature ``value`` (names and defaults, no
    annotations); ``attr``: class ``name`` sets or defines attribute ``value``; ``import``: the module imports
    ``value`` from module ``name`` at module level (so swapping ``name.value`` before running it takes effect);
    ``binding``: module-level name ``name`` exists; ``flag``: the module's parser declares ``name``; ``cuda``: every
    ``torch.cuda.<x>`` the module uses is one of ``value`` (space-separated: what ``strategy_cpu`` answers for);
    ``flash_attn``: every module-level ``from flash_attn.<m> import <x>`` in the package names a stand-in of
    ``flash_attn_stub`` (``value``: ``module:name,name module:name``).
    """

    kind: str
    path: str
    name: str
    value: str = ""
    why: str = ""


DPO = "openrlhf/trainer/dpo_trainer.py"
RD = "openrlhf/datasets/reward_dataset.py"
SD = "openrlhf/datasets/sft_dataset.py"
SAMPLER = "openrlhf/utils/distributed_sampler.py"
STRATEGY = "openrlhf/utils/deepspeed/deepspeed.py"
UTILS = "openrlhf/utils/utils.py"
CLI_DPO = "openrlhf/cli/train_dpo.py"
CLI_SFT = "openrlhf/cli/train_sft.py"
_APT = "APTTrainer (apt/trainer.py)"
_APT_DS = "APTRewardDataset (apt/dataset.py)"
_STAT = "StatSFTDataset, SkillWeightedSampler, install_sampler (stat/, cli/train_stat_sft.py)"
_CLI = "openrlhf_cli: parse with OpenRLHF's parser, run with components swapped in"

DPO_FLAGS = (
    "--model.model_name_or_path --ref.model_name_or_path --data.dataset --data.prompt_key --data.chosen_key "
    "--data.rejected_key --data.apply_chat_template --data.max_len --train.micro_batch_size --train.batch_size "
    "--train.max_epochs --ds.zero_stage --ds.param_dtype --ds.attn_implementation --adam.lr --ckpt.output_dir "
    "--ckpt.save_steps --eval.steps --model.beta --model.label_smoothing --model.ipo_enable --model.aux_loss_coef "
    "--model.nll_loss_coef"
)
SFT_FLAGS = (
    "--model.model_name_or_path --data.dataset --data.input_key --data.output_key --data.apply_chat_template "
    "--data.max_len --train.micro_batch_size --train.batch_size --train.max_epochs --ds.param_dtype "
    "--ds.attn_implementation --ckpt.output_dir"
)
PPO_CLI = "openrlhf/cli/train_ppo_ray.py"
ENGINE = "openrlhf/trainer/ray/vllm_engine.py"
_STANDIN = "the vLLM stand-in (rollout/): OpenRLHF's engine actor drives it through these names and calls"
_RAY_CPU = "patches/ray_cpu.py answers these torch.cuda calls on a CPU"
PPO_FLAGS = (
    "--vllm.sync_backend --vllm.sync_with_ray --vllm.num_engines --vllm.tensor_parallel_size "
    "--ds.attn_implementation --reward.remote_url --train.agent_func_path --eval.dataset --ckpt.best_metric_key "
    "--actor.model_name_or_path --data.prompt_dataset --data.label_key --rollout.n_samples_per_prompt"
)
RAY_CPU_MODULES = (
    "openrlhf/trainer/ray/ppo_actor.py openrlhf/trainer/ray/ppo_critic.py openrlhf/trainer/ray/launcher.py "
    "openrlhf/trainer/ppo_utils/replay_buffer.py openrlhf/utils/deepspeed/deepspeed_utils.py"
)
DPO_ATTRS = "strategy args model ref_model optimizer scheduler train_dataloader epochs beta aux_loss nll_loss _wandb"
STRATEGY_ATTRS = "ds_device_mesh seed accumulated_gradient ring_attn_group is_rank_0 print optimizer_step"
FLASH_ATTN_STUB = (
    "flash_attn.bert_padding:index_first_axis,pad_input,unpad_input,rearrange "
    "flash_attn.utils.distributed:all_gather"
)


def _many(kind: str, path: str, names: str, why: str, owner: str = "") -> tuple[Fact, ...]:
    """One fact per space-separated name: ``attr`` facts of class ``owner``, or ``flag``/``binding`` facts."""
    return tuple(Fact(kind, path, owner, n, why) if owner else Fact(kind, path, n, "", why) for n in names.split())


SURFACE: tuple[Fact, ...] = (
    Fact("def", DPO, "DPOTrainer.fit", "(self, args, consumed_samples=0, num_update_steps_per_epoch=None)", _APT),
    Fact("def", DPO, "DPOTrainer.evaluate", "(self, eval_dataloader, steps=0)", _APT),
    Fact(
        "def",
        DPO,
        "DPOTrainer.save_logs_and_checkpoints",
        "(self, args, global_step, step_bar, logs_dict=None, client_states=None)",
        _APT,
    ),
    Fact(
        "def",
        DPO,
        "DPOTrainer.concatenated_inputs",
        "(self, chosen_ids, c_mask, reject_ids, r_mask, prompt_id_lens)",
        _APT,
    ),
    Fact("def", DPO, "DPOTrainer._get_batch_logps", "(self, per_token_logps, attention_mask, prompt_id_lens)", _APT),
    *_many("attr", DPO, DPO_ATTRS + " _tensorboard", _APT, owner="DPOTrainer"),
    Fact(
        "def",
        RD,
        "RewardDataset.__init__",
        "(self, dataset, tokenizer, max_length, strategy, input_template=None, is_dpo=False, num_processors=8)",
        _APT_DS,
    ),
    Fact("def", RD, "RewardDataset.process_data", "(self, data)", _APT_DS),
    Fact("def", RD, "RewardDataset.collate_fn", "(self, item_list)", _APT_DS),
    *_many("attr", RD, "extras chosen_key rejected_key", _APT_DS, owner="RewardDataset"),
    Fact(
        "def",
        SD,
        "SFTDataset.__init__",
        "(self, dataset, tokenizer, max_length, strategy, input_template=None, pretrain_mode=False, "
        "num_processors=8, multiturn=False)",
        _STAT,
    ),
    Fact("def", SD, "SFTDataset.process_data", "(self, data)", _STAT),
    Fact(
        "def",
        SAMPLER,
        "DistributedSampler.__init__",
        "(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False, consumed_samples=0)",
        _STAT,
    ),
    Fact("def", SAMPLER, "DistributedSampler.set_epoch", "(self, epoch, consumed_samples=0)", _STAT),
    *_many(
        "attr",
        SAMPLER,
        "seed epoch rank num_replicas num_samples total_size consumed_indicies",
        _STAT,
        owner="DistributedSampler",
    ),
    Fact(
        "def",
        STRATEGY,
        "DeepspeedStrategy.setup_dataloader",
        "(self, replay_buffer, batch_size, pin_memory=False, shuffle=True, collate_fn=None, drop_last=True, "
        "sampler=None, consumed_samples=0, num_workers=0)",
        _STAT,
    ),
    Fact("def", STRATEGY, "DeepspeedStrategy.all_reduce", "(self, data, op='mean')", _APT),
    Fact("def", STRATEGY, "DeepspeedStrategy.backward", "(self, loss, model, _optimizer, **kwargs)", _APT),
    Fact("def", STRATEGY, "DeepspeedStrategy.get_grad_norm", "(self, model)", _APT),
    *_many("attr", STRATEGY, STRATEGY_ATTRS, f"{_APT}; {_STAT}", owner="DeepspeedStrategy"),
    *_many("binding", STRATEGY, "torch init_device_mesh torch_dist_barrier_and_cuda_sync", "patches/strategy_cpu.py"),
    Fact(
        "cuda", STRATEGY, "torch.cuda", "set_device current_device synchronize empty_cache", "patches/strategy_cpu.py"
    ),
    Fact("def", UTILS, "convert_to_torch_dtype", "(param_dtype)", "patches/fp32_params.py wraps it"),
    Fact("def", UTILS, "get_strategy", "(args)", _CLI),
    Fact("import", "openrlhf/utils/__init__.py", ".utils", "get_strategy", _CLI),
    Fact("import", CLI_DPO, "openrlhf.utils", "get_strategy", _CLI),
    Fact("import", CLI_DPO, "openrlhf.trainer.dpo_trainer", "DPOTrainer", "cli/train_apt.py swaps it"),
    Fact("import", CLI_DPO, "openrlhf.datasets", "RewardDataset", "cli/train_apt.py swaps it"),
    Fact("import", CLI_SFT, "openrlhf.utils", "get_strategy", _CLI),
    Fact("import", CLI_SFT, "openrlhf.datasets", "SFTDataset", "cli/train_stat_sft.py swaps it"),
    *_many("flag", CLI_DPO, DPO_FLAGS, "passed or read by cli.train_apt, cli.apt, the demos, the doctor"),
    *_many("flag", CLI_SFT, SFT_FLAGS, "passed or read by cli.train_stat_sft and the STAT demo"),
    Fact("flash_attn", "openrlhf", "flash_attn", FLASH_ATTN_STUB, "patches/flash_attn_stub.py stands in for them"),
    Fact("import", "openrlhf/trainer/ppo_utils/samples_generator.py", "vllm", "SamplingParams", _STANDIN),
    Fact("import", ENGINE, "vllm.inputs", "TokensPrompt", _STANDIN),
    Fact("import", ENGINE, "vllm.utils", "random_uuid", _STANDIN),
    Fact(
        "def",
        ENGINE,
        "RolloutRayActor.init_process_group",
        "(self, master_address, master_port, rank_offset, world_size, group_name, backend, use_ray)",
        _STANDIN,
    ),
    Fact("def", ENGINE, "RolloutRayActor.update_weight", "(self, name, dtype, shape, empty_cache=False)", _STANDIN),
    Fact(
        "def",
        ENGINE,
        "RolloutRayActor.generate",
        "(self, prompt_token_ids, sampling_params, multi_modal_data=None)",
        _STANDIN,
    ),
    Fact("def", ENGINE, "RolloutRayActor.get_num_unfinished_requests", "(self)", _STANDIN),
    Fact(
        "def",
        "openrlhf/utils/distributed_util.py",
        "stateless_init_process_group",
        "(master_address, master_port, rank, world_size, device)",
        _STANDIN,
    ),
    Fact(
        "import",
        "openrlhf/trainer/ray/ppo_actor.py",
        "openrlhf.utils.distributed_util",
        "torch_dist_barrier_and_cuda_sync",
        _RAY_CPU,
    ),
    *(
        Fact(
            "cuda",
            m,
            "torch",
            "set_device current_device current_stream synchronize empty_cache is_available",
            _RAY_CPU,
        )
        for m in RAY_CPU_MODULES.split()
    ),
    *_many("flag", PPO_CLI, PPO_FLAGS, "passed or set by cli.train_grpo, its tests and the GRPO recipes"),
)


def _parse(path: Path) -> ast.Module:
    with warnings.catch_warnings():  # OpenRLHF's own sources carry invalid escape sequences in some strings
        warnings.simplefilter("ignore")
        return ast.parse(path.read_text(encoding="utf-8"))


def _signature(args: ast.arguments) -> str:
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    parts = [a.arg if d is None else f"{a.arg}={ast.unparse(d)}" for a, d in zip(positional, defaults)]
    if args.vararg:
        parts.append(f"*{args.vararg.arg}")
    elif args.kwonlyargs:
        parts.append("*")
    parts += [a.arg if d is None else f"{a.arg}={ast.unparse(d)}" for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    if args.kwarg:
        parts.append(f"**{args.kwarg.arg}")
    return f"({', '.join(parts)})"


def _top_level(tree: ast.Module) -> list[ast.stmt]:
    """Module-level statements, looking into try/if blocks (optional imports)."""
    out, todo = [], list(tree.body)
    while todo:
        node = todo.pop(0)
        out.append(node)
        if isinstance(node, ast.Try):
            todo += node.body + [s for h in node.handlers for s in h.body] + node.orelse + node.finalbody
        elif isinstance(node, ast.If):
            todo += node.body + node.orelse
    return out


def _class(tree: ast.Module, name: str) -> ast.ClassDef | None:
    return next((n for n in _top_level(tree) if isinstance(n, ast.ClassDef) and n.name == name), None)


def _function(tree: ast.Module, qualname: str) -> ast.FunctionDef | None:
    owner, _, name = qualname.rpartition(".")
    body = _top_level(tree) if not owner else getattr(_class(tree, owner), "body", [])
    return next((n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name), None)


def _sets_attr(cls: ast.ClassDef, attr: str) -> bool:
    for node in cls.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == attr:
            return True
    for node in ast.walk(cls):
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for t in targets:
                if isinstance(t, ast.Attribute) and t.attr == attr and getattr(t.value, "id", None) == "self":
                    return True
    return False


def _bindings(tree: ast.Module) -> set[str]:
    names = set()
    for node in _top_level(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def _imports_from(tree: ast.Module, module: str, name: str) -> bool:
    for node in _top_level(tree):
        if isinstance(node, ast.ImportFrom):
            found = "." * node.level + (node.module or "")
            if found == module and any(a.name == name and a.asname in (None, name) for a in node.names):
                return True
    return False


def _flags(tree: ast.Module) -> set[str]:
    return {
        arg.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument"
        for arg in node.args
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
    }


def _cuda_calls(tree: ast.Module) -> set[str]:
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "cuda"
        and getattr(node.value.value, "id", None) == "torch"
    }


def _flash_attn_problems(root: Path, fact: Fact) -> list[str]:
    provided = {m: set(names.split(",")) for m, names in (p.split(":") for p in fact.value.split())}
    problems = []
    for path in sorted((root / fact.path).rglob("*.py")):
        for node in _top_level(_parse(path)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "flash_attn":
                missing = {a.name for a in node.names} - provided.get(node.module, set())
                if missing:
                    rel = path.relative_to(root)
                    problems.append(f"{rel}: imports {', '.join(sorted(missing))} from {node.module} at module level")
    return problems


def surface_problems(root: str | os.PathLike, surface: tuple[Fact, ...] = SURFACE) -> list[str]:
    """What in ``surface`` does not hold for the OpenRLHF sources under ``root`` (the folder holding ``openrlhf/``);
    an empty list when everything does."""
    root, trees, problems = Path(root), {}, []
    for fact in surface:
        if fact.kind == "flash_attn":
            problems += _flash_attn_problems(root, fact)
            continue
        if fact.path not in trees:
            path = root / fact.path
            trees[fact.path] = _parse(path) if path.is_file() else None
        tree, where = trees[fact.path], f"{fact.path}: {fact.name}"
        if tree is None:
            problems.append(f"{fact.path}: missing")
        elif fact.kind == "def":
            fn = _function(tree, fact.name)
            if fn is None:
                problems.append(f"{where} is gone")
            elif _signature(fn.args) != fact.value:
                problems.append(f"{where}{_signature(fn.args)}, expected {fact.value}")
        elif fact.kind == "attr":
            cls = _class(tree, fact.name)
            if cls is None or not _sets_attr(cls, fact.value):
                problems.append(f"{where}.{fact.value} is gone")
        elif fact.kind == "import":
            if not _imports_from(tree, fact.name, fact.value):
                problems.append(f"{fact.path}: no module-level `from {fact.name} import {fact.value}`")
        elif fact.kind == "binding":
            if fact.name not in _bindings(tree):
                problems.append(f"{where} is not bound at module level")
        elif fact.kind == "flag":
            if fact.name not in _flags(tree):
                problems.append(f"{where} is not a flag")
        elif fact.kind == "cuda":
            extra = _cuda_calls(tree) - set(fact.value.split())
            if extra:
                problems.append(f"{fact.path}: uses torch.cuda.{', torch.cuda.'.join(sorted(extra))}")
        else:
            raise ValueError(f"unknown fact kind {fact.kind!r}")
    return problems


def installed_openrlhf_root() -> Path | None:
    """The folder holding the installed ``openrlhf`` package, found without importing it."""
    import importlib.util

    spec = importlib.util.find_spec("openrlhf")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]).parent
