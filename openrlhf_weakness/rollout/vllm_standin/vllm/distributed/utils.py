"""vLLM stand-in: ``StatelessProcessGroup`` (an address for the gloo weight-sync group)."""

from openrlhf_weakness.rollout.weight_sync import StatelessProcessGroup  # noqa: F401
