"""Run any OpenRLHF CLI module with this project's CPU patches applied first.

Usage: ``python -m openrlhf_weakness.cli.run_openrlhf openrlhf.cli.train_sft <its flags>``. On a CUDA host the
patches stay off and this is the same as ``python -m openrlhf.cli.train_sft``.
"""

from __future__ import annotations

import sys

from openrlhf_weakness.cli import cli_entry


@cli_entry
def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or not argv[0].startswith("openrlhf."):
        print(__doc__.strip())
        raise SystemExit(0 if argv and argv[0] in ("-h", "--help") else 2)
    from openrlhf_weakness import openrlhf_cli
    from openrlhf_weakness.cli import apply_patches

    apply_patches("run_openrlhf")
    openrlhf_cli.run(argv[0], argv[1:])


if __name__ == "__main__":
    main()
