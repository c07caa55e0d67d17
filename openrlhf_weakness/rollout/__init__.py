"""A stand-in for vLLM that generates with transformers, so OpenRLHF's own GRPO (``train_ppo_ray``) runs on hosts
where vLLM cannot be imported: CPU machines, CI, debugging, small hardware.

It is never used where the real vLLM imports. The folder :data:`STANDIN_PATH` holds a package named ``vllm`` with the
few names OpenRLHF 0.11.x reaches (sampling parameters, an async engine, the weight-sync communicator); put on
``sys.path`` of the driver and of every Ray worker, it lets OpenRLHF's ``RolloutRayActor``, agent executors, reward
functions, samples generator and weight broadcast run unchanged.
"""

from __future__ import annotations

import os

STANDIN_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vllm_standin")
STANDIN_VERSION = "0.10.2+hf.standin"  # above the versions OpenRLHF asserts (0.8.5 streaming, 0.10.0 logprobs_mode)


_POLICY_STEP: list[int] = []  # set by a stand-in engine in this process: weight syncs received + 1


def policy_step() -> int | None:
    """The GRPO step whose weights the stand-in engine in this process generates with (1 before any weight sync), or
    None where no stand-in engine runs here (with the real vLLM the reward hook cannot see the step)."""
    return _POLICY_STEP[-1] if _POLICY_STEP else None


def set_policy_step(step: int) -> None:
    _POLICY_STEP[:] = [step]


def real_vllm_available() -> bool:
    """Whether a real vLLM (not this stand-in) can be imported in this environment."""
    import importlib.util

    spec = importlib.util.find_spec("vllm")
    if spec is None or spec.origin is None:
        return False
    return not os.path.abspath(spec.origin).startswith(STANDIN_PATH)
