"""APT's hybrid loss on fixed log-probabilities equals a hand computation."""

from __future__ import annotations

import math

import pytest
import torch

from openrlhf_weakness.apt.collapse_guard import ChosenLogpGuard
from openrlhf_weakness.apt.hybrid_loss import hybrid_loss

PC = [-10.0, -12.0, -8.0, -20.0]  # policy chosen (summed over response tokens)
PR = [-11.0, -11.5, -8.0, -25.0]  # policy rejected (row 2 is SFT-only: its value must not matter)
RC = [-10.5, -12.0, -9.0, -21.0]
RR = [-10.5, -12.5, -9.0, -24.0]
NLL = [2.0, 3.0, 1.0, 4.0]  # chosen NLL per row, already normalised
HAS = [True, True, False, True]


def _t(xs):
    return torch.tensor(xs, dtype=torch.float64)


def _hand(weights, beta, alpha, label_smoothing=0.0):
    def dpo(i):
        z = beta * ((PC[i] - PR[i]) - (RC[i] - RR[i]))
        return (
            -math.log(1 / (1 + math.exp(-z))) * (1 - label_smoothing)
            - math.log(1 / (1 + math.exp(z))) * label_smoothing
        )

    pairs = [i for i in range(4) if HAS[i]]
    pref = sum(weights[i] * dpo(i) for i in pairs) / len(pairs)
    sft = sum(weights[i] * NLL[i] for i in range(4)) / 4
    return pref, sft, pref + alpha * sft


@pytest.mark.parametrize("weights", [[1, 1, 1, 1], [1.0, 2.0, 0.5, 0.0]])
@pytest.mark.parametrize("alpha", [0.0, 0.5])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_hybrid_loss_matches_hand_computation(weights, alpha, label_smoothing):
    out = hybrid_loss(
        _t(PC),
        _t(PR),
        _t(RC),
        _t(RR),
        _t(NLL),
        torch.tensor(HAS),
        _t(weights),
        beta=0.1,
        sft_coef=alpha,
        label_smoothing=label_smoothing,
    )
    pref, sft, total = _hand(weights, 0.1, alpha, label_smoothing)
    assert out.preference.item() == pytest.approx(pref, rel=1e-12)
    assert out.sft.item() == pytest.approx(sft, rel=1e-12)
    assert out.loss.item() == pytest.approx(total, rel=1e-12)
    assert out.per_row_preference[2].item() == 0.0  # SFT-only row: no DPO term


def test_sft_only_row_rejected_value_is_ignored_and_weights_scale_rows():
    base = hybrid_loss(_t(PC), _t(PR), _t(RC), _t(RR), _t(NLL), torch.tensor(HAS), _t([1] * 4), beta=0.1, sft_coef=1)
    changed_pr = list(PR)
    changed_pr[2] = -1000.0
    same = hybrid_loss(_t(PC), _t(changed_pr), _t(RC), _t(RR), _t(NLL), torch.tensor(HAS), _t([1] * 4), 0.1, 1)
    assert same.loss.item() == base.loss.item()
    doubled = hybrid_loss(
        _t(PC), _t(PR), _t(RC), _t(RR), _t(NLL), torch.tensor(HAS), _t([2] * 4), beta=0.1, sft_coef=1
    )
    assert doubled.loss.item() == pytest.approx(2 * base.loss.item(), rel=1e-12)


def test_ipo_variant_matches_formula():
    out = hybrid_loss(_t(PC), _t(PR), _t(RC), _t(RR), _t(NLL), torch.tensor(HAS), _t([1] * 4), 0.1, 0.0, ipo=True)
    expected = sum(((PC[i] - PR[i]) - (RC[i] - RR[i]) - 1 / 0.2) ** 2 for i in (0, 1, 3)) / 3
    assert out.preference.item() == pytest.approx(expected, rel=1e-12)


def test_gradient_flows_to_chosen_through_the_sft_term():
    pc = _t(PC).requires_grad_()
    nll = -pc / 5  # a chosen NLL that depends on the chosen log-probability
    hybrid_loss(pc, _t(PR), _t(RC), _t(RR), nll, torch.tensor(HAS), _t([1] * 4), 0.1, 1.0).loss.backward()
    assert pc.grad[2].item() == pytest.approx(-1 / 5 / 4)  # SFT-only row: only the SFT gradient


def test_collapse_guard_trips_once_after_the_windows_fill():
    guard = ChosenLogpGuard(max_drop=0.5, window=2)
    assert guard.update(1, -2.0) is None and guard.update(2, -2.0) is None  # start window: -2.0
    assert guard.update(3, -2.25) is None  # recent window (-2.0, -2.25): drop 0.125
    assert guard.update(4, -2.75) is None and guard.drop() == 0.5  # exactly the limit is not beyond it
    tripped = guard.update(5, -3.25)
    assert tripped == 1.0 and guard.tripped_at == 5
    assert guard.update(6, -4.0) is None  # warns once
