"""Print the path of the reward hook file for OpenRLHF's ``--reward.remote_url``."""

from pathlib import Path


def hook_path() -> str:
    return str(Path(__file__).resolve().parent.parent / "hooks" / "reward_hook.py")


def main() -> None:
    print(hook_path())


if __name__ == "__main__":
    main()
