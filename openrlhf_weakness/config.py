"""Config dataclasses whose fields are dotted CLI flags: defaults and one-line docs live where the field is defined."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")
_TYPES = {"float": float, "int": int, "str": str, "str | None": str, "float | None": float, "int | None": int}


def flag(default: Any, help: str, choices: list | None = None) -> Any:
    """A dataclass field that is also a CLI flag."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


def add_flags(parser: argparse.ArgumentParser, config_cls: type, namespace: str, exclude: tuple = ()) -> None:
    """Declare ``--{namespace}.{field}`` for every field but ``exclude`` (settings a caller fixes itself, so never
    offered as a flag that would be overwritten); bool fields must end in ``_enable`` (OpenRLHF's style)."""
    group = parser.add_argument_group(f"--{namespace}.*", config_cls.__doc__)
    for field in dataclasses.fields(config_cls):
        if field.name in exclude:
            continue
        name, meta = f"--{namespace}.{field.name}", field.metadata
        if field.type in (bool, "bool"):
            assert field.name.endswith("_enable"), f"switch {name} must end in _enable"
            group.add_argument(name, action="store_true", default=field.default, help=meta["help"])
        else:
            kind = _TYPES[field.type] if isinstance(field.type, str) else field.type
            group.add_argument(
                name,
                type=kind,
                default=field.default,
                choices=meta.get("choices"),
                help=f"{meta['help']} (default: {field.default})",
            )


def from_namespace(config_cls: type[T], args: argparse.Namespace, namespace: str) -> T:
    """Build the config from parsed flags (flat names such as ``apt.sft_coef``); fields left out of the parser keep
    their defaults."""
    values = {f.name: getattr(args, f"{namespace}.{f.name}") for f in dataclasses.fields(config_cls)
              if hasattr(args, f"{namespace}.{f.name}")}  # fmt: skip
    return config_cls(**values)
