"""The ``--apt.*`` flags of ``cli.train_apt``: the hybrid loss, row weights, provenance split and collapse guard."""

from __future__ import annotations

from dataclasses import dataclass

from openrlhf_weakness.config import flag


@dataclass
class APTTrainConfig:
    """APT hybrid DPO + SFT training (added to every flag of openrlhf.cli.train_dpo)."""

    sft_coef: float = flag(0.5, "alpha in L = L_DPO + alpha * L_SFT (APT's code uses 0.5; 0 gives plain DPO)")
    sft_norm: str = flag(
        "token",
        "SFT term per row: 'token' = mean NLL over response tokens (as OpenRLHF's NLL and APT's code), "
        "'sequence' = summed over the response",
        choices=["token", "sequence"],
    )
    weight_key: str | None = flag(None, "dataset key holding a non-negative per-row weight, applied to both terms")
    source_key: str = flag("source", "dataset key whose values (e.g. bad, similar) split the logged metrics")
    chosen_logp_drop_max: float = flag(
        0.5, "warn when the mean per-token chosen log-probability falls by more than this (nats) from its start"
    )
    stop_on_collapse_enable: bool = flag(False, "stop training (and save) when the chosen log-probability guard trips")
    guard_window: int = flag(4, "steps averaged for the start and the current chosen log-probability of the guard")
    metrics_file: str | None = flag(
        None, "JSON Lines of per-step metrics (default: <ckpt.output_dir>/apt_metrics.jsonl)"
    )
