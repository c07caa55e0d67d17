"""vLLM stand-in: ``PyNcclCommunicator`` answered over gloo on the CPU (no NCCL here)."""

from openrlhf_weakness.rollout.weight_sync import GlooCommunicator as PyNcclCommunicator  # noqa: F401
