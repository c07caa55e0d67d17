"""Write the tiny offline Llama and the toy data sets of the CPU recipes into DIR, and print their paths.

python -m openrlhf_weakness.cli.make_toy DIR
"""

from __future__ import annotations

import argparse
import sys

from openrlhf_weakness.cli import cli_entry


@cli_entry
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="openrlhf_weakness.cli.make_toy", description=__doc__.splitlines()[0])
    parser.add_argument("dir", help="folder to write into (created if missing)")
    args = parser.parse_args(argv)
    from openrlhf_weakness.testing.make_toy import write_toy_files

    for path in write_toy_files(args.dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
