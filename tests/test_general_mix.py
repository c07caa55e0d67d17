"""General rows mixed into training sets at a fixed share, the budget unchanged (guard protection, issue 26)."""

from __future__ import annotations

import pytest

from openrlhf_weakness.apt.pairs import sft_only_rows
from openrlhf_weakness.data.mix import mix_in


def test_mix_in_replaces_the_share_and_keeps_the_budget():
    rows = [{"id": i} for i in range(50)]
    general = [{"general": i} for i in range(30)]
    mixed, count = mix_in(rows, general, 0.2, seed=3)
    assert len(mixed) == 50 and count == 10 and sum("general" in r for r in mixed) == 10
    assert len({r["general"] for r in mixed if "general" in r}) == 10  # drawn without replacement
    assert mix_in(rows, general, 0.2, seed=3) == (mixed, 10) and mix_in(rows, general, 0.0, seed=3) == (rows, 0)
    assert mix_in(rows, general[:4], 0.5, seed=1)[1] == 4  # no more than there are
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        mix_in(rows, general, 1.0, seed=0)


def test_general_rows_become_sft_only_rows_with_the_reference_as_chosen():
    keys = {"prompt": "q", "reference": "ref"}
    rows = sft_only_rows(
        [{"q": "gcd of 4 and 6?", "ref": '{"answer": "2", "datasource": "gcd"}'}], keys, True, 1, "general"
    )
    assert rows == [
        {
            "prompt": [{"role": "user", "content": "gcd of 4 and 6?"}],
            "chosen": [{"role": "assistant", "content": "2"}],
            "source": "general",
            "score": None,
            "weight": 1.0,
            "iteration": 1,
            "datasource": None,
        }
    ]
