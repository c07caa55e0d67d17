"""Print the path of the reward hook file for OpenRLHF's ``--reward.remote_url``."""

from pathlib import Path


def main() -> None:
    print(Path(__file__).resolve().parent.parent / "hooks" / "reward_hook.py")


if __name__ == "__main__":
    main()
