"""APT's hybrid loss on per-row log-probabilities: weighted DPO on rows with a rejected answer, plus weighted SFT.

Kept free of the trainer so that it can be checked against a hand computation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class HybridLoss:
    loss: torch.Tensor  # what is back-propagated (before OpenRLHF's aux/NLL terms)
    preference: torch.Tensor  # weighted mean DPO loss over rows that have a rejected answer
    sft: torch.Tensor  # weighted mean NLL of the chosen answer over all rows
    per_row_preference: torch.Tensor  # zero on SFT-only rows
    chosen_reward: torch.Tensor
    rejected_reward: torch.Tensor


def preference_losses(
    logits: torch.Tensor, beta: float, label_smoothing: float = 0.0, ipo: bool = False
) -> torch.Tensor:
    """Per-row DPO (cDPO with label smoothing) or IPO loss of ``logits`` = policy minus reference log-ratio."""
    if ipo:
        return (logits - 1 / (2 * beta)) ** 2
    return -F.logsigmoid(beta * logits) * (1 - label_smoothing) - F.logsigmoid(-beta * logits) * label_smoothing


def hybrid_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    chosen_nll: torch.Tensor,
    has_rejected: torch.Tensor,
    weights: torch.Tensor,
    beta: float,
    sft_coef: float,
    label_smoothing: float = 0.0,
    ipo: bool = False,
) -> HybridLoss:
    """Both terms are means over rows of ``weight * row loss``, so a row of weight 2 counts as two rows of weight 1
    whatever else is in the micro-batch. The DPO mean runs over rows with a rejected answer only.

    ``policy_*``/``ref_*``: summed response log-probabilities per row; ``chosen_nll``: the chosen answer's NLL per row,
    already normalised (token mean or sequence sum); ``has_rejected``: bool per row.
    """
    mask = has_rejected.to(policy_chosen.dtype)
    weights = weights.to(policy_chosen.dtype)
    logits = (policy_chosen - policy_rejected) - (ref_chosen - ref_rejected)
    per_row = preference_losses(logits, beta, label_smoothing, ipo) * mask
    n_pairs = mask.sum()
    preference = (per_row * weights).sum() / n_pairs.clamp(min=1)
    sft = (chosen_nll * weights).sum() / chosen_nll.numel()
    loss = preference + sft_coef * sft if sft_coef else preference
    return HybridLoss(
        loss=loss,
        preference=preference,
        sft=sft,
        per_row_preference=per_row,
        chosen_reward=beta * (policy_chosen - ref_chosen).detach(),
        rejected_reward=beta * (policy_rejected - ref_rejected).detach(),
    )
