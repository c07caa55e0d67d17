"""OpenRLHF reward hook: pass this file's path to ``--reward.remote_url`` (``python -m
openrlhf_weakness.cli.reward_hook_path`` prints it). Configured by environment variables (``ORW_REWARD_*``) or a JSON
file named in ``ORW_REWARD_CONFIG``, since OpenRLHF passes no arguments. Never raises."""

import logging
import threading

_LOCK = threading.Lock()
_REWARDER = None


def _rewarder():
    global _REWARDER
    with _LOCK:
        if _REWARDER is None:
            from openrlhf_weakness.hooks.rewarder import Rewarder, load_hook_config

            _REWARDER = Rewarder(load_hook_config())
        return _REWARDER


def reward_func(queries, prompts, labels, **kwargs):
    """OpenRLHF's contract: a dict with ``rewards``, ``scores`` (tensors, one per query) and ``extra_logs``."""
    import torch

    try:
        out = _rewarder()(list(queries), list(prompts), list(labels))
    except Exception as err:  # e.g. a bad configuration: every sample gets 0 and the fault is counted
        logging.getLogger(__name__).warning("reward hook: %s: %s", type(err).__name__, err)
        out = {
            "rewards": [0.0] * len(queries),
            "scores": [0.0] * len(queries),
            "extra_logs": {"hook_faults": float(len(queries)), "hook_fault_rate": 1.0},
        }
    return {
        "rewards": torch.tensor(out["rewards"], dtype=torch.float32),
        "scores": torch.tensor(out["scores"], dtype=torch.float32),
        "extra_logs": {k: torch.tensor(float(v)) for k, v in out["extra_logs"].items()},
    }
