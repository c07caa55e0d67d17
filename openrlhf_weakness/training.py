"""A training run's flags, parsed once into a plan: OpenRLHF's own parser for its flags, this project's for
``--apt.*`` / ``--stat.*``. Callers change a plan by setting flags (each flag is held once, so none is appended twice);
argv exists only where :meth:`TrainingPlan.run` starts the process.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

# module -> (the OpenRLHF module it wraps, this project's flag group and its config class)
TRAINING_MODULES = {
    "openrlhf_weakness.cli.train_apt": (
        "openrlhf.cli.train_dpo",
        "apt",
        "openrlhf_weakness.apt.config:APTTrainConfig",
    ),
    "openrlhf_weakness.cli.train_stat_sft": (
        "openrlhf.cli.train_sft",
        "stat",
        "openrlhf_weakness.stat.config:StatSamplerConfig",
    ),
    "openrlhf.cli.train_dpo": ("openrlhf.cli.train_dpo", None, None),
    "openrlhf.cli.train_sft": ("openrlhf.cli.train_sft", None, None),
}


class TrainingPlanError(ValueError):
    """Training flags that cannot be used (the message names the flag)."""


def _config_class(path: str):
    import importlib

    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def project_parser(module: str) -> argparse.ArgumentParser | None:
    """The parser of this project's flags (``--apt.*`` or ``--stat.*``) for a training module; None for OpenRLHF's."""
    from openrlhf_weakness.config import add_flags

    _, group, config = TRAINING_MODULES[module]
    if group is None:
        return None
    parser = argparse.ArgumentParser(add_help=False, prog=module)
    add_flags(parser, _config_class(config), group)
    return parser


def split_flags(argv: list[str]) -> dict[str, tuple[str, ...]]:
    """``--a 1 --b --c x y`` as ``{--a: (1,), --b: (), --c: (x, y)}``; a flag given twice keeps its last values."""
    flags: dict[str, tuple[str, ...]] = {}
    name = None
    for token in argv:
        if token.startswith("--"):
            name, _, value = token.partition("=")
            flags.pop(name, None)  # the last occurrence wins and takes its place in the order
            flags[name] = (value,) if value else ()
        elif name is None:
            raise TrainingPlanError(f"training flags: {token!r} is not a --flag")
        else:
            flags[name] += (token,)
    return flags


@functools.lru_cache(maxsize=None)
def _openrlhf_defaults(openrlhf_module: str):
    from openrlhf_weakness import openrlhf_cli

    return openrlhf_cli.parse_args(openrlhf_module, [])


def _declared(namespace, name: str) -> bool:
    """Whether ``--a.b`` is one of the parsed namespace's settings."""
    node = namespace
    for part in name[2:].split("."):
        if not hasattr(node, part):
            return False
        node = getattr(node, part)
    return True


@dataclass(frozen=True)
class TrainingPlan:
    """One training process: the module and its flags; ``args`` is OpenRLHF's parsed namespace, ``project`` this
    project's config (``APTTrainConfig``, ``StatSamplerConfig``) or None."""

    module: str
    flags: dict[str, tuple[str, ...]]
    args: object = field(default=None, compare=False, repr=False)
    project: object = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, module: str, argv: list[str], refused: tuple[str, ...] = (), reason: str = "") -> TrainingPlan:
        """Parse ``argv`` once with the module's parsers (an unknown flag fails here, before any work); flags in
        ``refused`` are set by the caller and rejected with ``reason`` (e.g. "after -- are set by the loop")."""
        if module not in TRAINING_MODULES:
            raise TrainingPlanError(f"{module}: not a training module ({', '.join(TRAINING_MODULES)})")
        flags = split_flags(list(argv))
        fixed = sorted(set(flags) & set(refused))
        if fixed:
            raise TrainingPlanError(f"{', '.join(fixed)} {reason or 'are set by the caller'}; leave them out")
        openrlhf_module, group, config = TRAINING_MODULES[module]
        rest, project = list(argv), None
        parser = project_parser(module)
        if parser is not None:
            from openrlhf_weakness.config import from_namespace, nested

            known, rest = parser.parse_known_args(list(argv))
            project = from_namespace(_config_class(config), getattr(nested(known), group))
        from openrlhf_weakness import openrlhf_cli, patches

        patches.apply()  # OpenRLHF's modules import flash-attn: the stub must be in place on a CPU host
        try:
            args = openrlhf_cli.parse_args(openrlhf_module, rest)
        except SystemExit as exit_:  # argparse already said which flag, on stderr
            raise TrainingPlanError(f"{module}: its parser refused the training flags (exit {exit_.code})") from None
        return cls(module, flags, args, project)

    def has(self, name: str) -> bool:
        return name in self.flags

    def value(self, name: str):
        """A flag's value: as set on the plan, else the parsed default (``--train.batch_size`` reads
        ``args.train.batch_size``; ``--apt.sft_coef`` the project config's ``sft_coef``)."""
        if name in self.flags:
            values = self.flags[name]
            return True if not values else values[0] if len(values) == 1 else list(values)
        group, _, leaf = name[2:].partition(".")
        if self.project is not None and TRAINING_MODULES[self.module][1] == group:
            return getattr(self.project, leaf)
        node = self.args
        for part in name[2:].split("."):
            node = getattr(node, part, None)
        return node

    def set(self, **flags) -> TrainingPlan:
        """A new plan with flags set (``set(**{"--train.batch_size": 8, "--data.apply_chat_template": True})``):
        True is a switch, False or None removes the flag, a list gives several values."""
        new = dict(self.flags)
        for name, value in flags.items():
            new.pop(name, None)
            if value is True:
                new[name] = ()
            elif value is not False and value is not None:
                new[name] = tuple(str(v) for v in value) if isinstance(value, (list, tuple)) else (str(value),)
        return dataclasses.replace(self, flags=new)

    def with_defaults(self, **flags) -> TrainingPlan:
        """Set the flags the user did not set."""
        return self.set(**{k: v for k, v in flags.items() if k not in self.flags})

    def fit_batch(self, rows: int) -> TrainingPlan:
        """A round smaller than one batch trains one optimizer step over what there is (the batch shrinks to the
        largest multiple of the micro-batch that fits, the micro-batch to at most the rows)."""
        batch, micro = int(self.value("--train.batch_size")), int(self.value("--train.micro_batch_size"))
        if rows >= batch:
            return self
        micro = max(1, min(micro, rows))
        return self.set(**{"--train.batch_size": max(micro, rows // micro * micro), "--train.micro_batch_size": micro})

    def for_module(self, module: str) -> TrainingPlan:
        """The flags of this plan that ``module`` takes (DPO's ``--model.beta`` or ``--apt.*`` stay behind for an SFT
        module), as a plan for ``module``."""
        if module == self.module:
            return self
        openrlhf_module, group, _ = TRAINING_MODULES[module]
        project_groups = {g for _, g, _ in TRAINING_MODULES.values() if g}
        defaults = _openrlhf_defaults(openrlhf_module)
        keep = {}
        for name, values in self.flags.items():
            flag_group = name[2:].partition(".")[0]
            if flag_group in project_groups:
                if flag_group == group:
                    keep[name] = values
            elif _declared(defaults, name):
                keep[name] = values
        return TrainingPlan.parse(module, [token for name, values in keep.items() for token in (name, *values)])

    def argv(self) -> list[str]:
        return [token for name, values in self.flags.items() for token in (name, *values)]

    def run(
        self,
        log_path: str | os.PathLike,
        launcher: bool = False,
        hostfile: str | None = None,
        keep_fds=(),
    ) -> None:
        """Start the training and wait for it (its output in ``log_path``); see :func:`launch.run_training`."""
        from openrlhf_weakness.launch import launcher_wanted, run_training

        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        run_training(
            self.module,
            self.argv(),
            log_path,
            launcher_wanted(launcher, hostfile),
            keep_fds=keep_fds,
            hostfile=hostfile,
        )

    def as_record(self) -> dict:
        """What a run directory keeps as ``train_args.json``."""
        return {"module": self.module, "args": self.argv()}
