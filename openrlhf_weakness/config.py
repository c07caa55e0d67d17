"""Config dataclasses whose fields are dotted CLI flags: defaults and one-line docs live where the field is defined."""

from __future__ import annotations

import argparse
import dataclasses
import logging
from types import SimpleNamespace
from typing import Any, TypeVar

T = TypeVar("T")
_TYPES = {"float": float, "int": int, "str": str, "str | None": str, "float | None": float, "int | None": int}


def flag(default: Any, help: str, choices: list | None = None, required: bool = False) -> Any:
    """A dataclass field that is also a CLI flag (``required``: the command refuses to start without it)."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices, "required": required})


def add_flags(
    parser: argparse.ArgumentParser,
    config_cls: type,
    namespace: str,
    exclude: tuple = (),
    defaults: dict | None = None,
    prefix: str = "",
) -> None:
    """Declare ``--{namespace}.{prefix}{field}`` for every field but ``exclude`` (settings a caller fixes itself, so
    never offered as a flag that would be overwritten); bool fields must end in ``_enable`` (OpenRLHF's style).
    ``defaults`` overrides some fields' defaults for this command (one dataclass, a command-specific default)."""
    defaults = defaults or {}
    unknown = set(defaults) - {f.name for f in dataclasses.fields(config_cls)}
    assert not unknown, f"defaults for fields {config_cls.__name__} lacks: {sorted(unknown)}"
    group = parser.add_argument_group(f"--{namespace}.{prefix}*", config_cls.__doc__)
    for field in dataclasses.fields(config_cls):
        if field.name in exclude or "help" not in field.metadata:  # fields without flag() are set by the caller
            continue
        name, meta = f"--{namespace}.{prefix}{field.name}", field.metadata
        default = defaults.get(field.name, field.default)
        if field.type in (bool, "bool"):
            assert field.name.endswith("_enable"), f"switch {name} must end in _enable"
            group.add_argument(name, action="store_true", default=default, help=meta["help"])
        else:
            kind = _TYPES[field.type] if isinstance(field.type, str) else field.type
            group.add_argument(
                name,
                type=kind,
                default=default,
                choices=meta.get("choices"),
                required=meta.get("required", False),
                help=meta["help"] if meta.get("required") else f"{meta['help']} (default: {default})",
            )


class _Deprecated(argparse.Action):
    """A renamed flag's old name: stores into the new flag and logs one deprecation line."""

    def __init__(self, *args, new: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None):
        logging.getLogger("openrlhf_weakness").warning(
            "%s is deprecated and will be removed: use %s", option_string, self.new
        )
        setattr(namespace, self.dest, values)


def add_renamed_flag(parser: argparse.ArgumentParser, old: str, new: str) -> None:
    """Keep ``old`` (a renamed value flag) working as ``new`` (declared before), hidden from --help, with a
    deprecation log line; it converts and checks its value as ``new`` does."""
    target = parser._option_string_actions[new]  # argparse keeps no public lookup of a declared flag
    parser.add_argument(
        old,
        dest=target.dest,
        action=_Deprecated,
        new=new,
        type=target.type,
        choices=target.choices,
        default=argparse.SUPPRESS,
        help=argparse.SUPPRESS,
    )


def nested(args: argparse.Namespace) -> SimpleNamespace:
    """Parsed dotted flags as nested attributes: ``--data.dataset`` is read as ``args.data.dataset``."""
    root: dict = {}
    for name, value in vars(args).items():
        *groups, leaf = name.split(".")
        node = root
        for group in groups:
            node = node.setdefault(group, {})
        node[leaf] = value

    def build(node):
        return SimpleNamespace(**{k: build(v) for k, v in node.items()}) if isinstance(node, dict) else node

    return build(root)


def from_namespace(config_cls: type[T], group: SimpleNamespace | None) -> T:
    """Build the config from one nested flag group (``args.gen``); fields the parser does not offer keep their
    defaults."""
    values = {f.name: getattr(group, f.name) for f in dataclasses.fields(config_cls) if hasattr(group, f.name)}
    return config_cls(**values)
