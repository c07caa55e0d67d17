"""Print the path of the reward hook file for OpenRLHF's ``--reward.remote_url``."""

from pathlib import Path

from openrlhf_weakness.cli import cli_entry


def hook_path() -> str:
    return str(Path(__file__).resolve().parent.parent / "hooks" / "reward_hook.py")


@cli_entry
def main() -> None:
    print(hook_path())


if __name__ == "__main__":
    main()
