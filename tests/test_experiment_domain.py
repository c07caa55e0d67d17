"""The controlled domain: right answers on known questions, no question in two splits, and a student that trains."""

from __future__ import annotations

import json
from collections import Counter

from openrlhf_weakness.experiment.controlled import (
    DomainSizes,
    PretrainConfig,
    build_domain,
    pretrain_student,
    question,
)
from openrlhf_weakness.experiment.exact_match import score


def test_known_questions_have_the_right_answers():
    assert question("reverse", list("cab"))["reference"] == "b a c"
    assert question("sort", list("cab"))["reference"] == "a b c"
    assert question("rotate", list("cab"))["reference"] == "a b c"
    assert question("first", list("cab"))["reference"] == "c" and question("last", list("cab"))["reference"] == "b"
    assert (
        question("length", list("cabd"))["reference"] == "4"
        and question("copy", list("cab"))["prompt"] == "copy: c a b"
    )
    assert score("", " b  a c ", "b a c") == 1.0 and score("", "b a", "b a c") == 0.0


def test_splits_are_disjoint_and_sized(tmp_path):
    sizes = DomainSizes(pretrain_strong=30, pretrain_weak=5, train=4, pool=10, dev=3, test=6, guard=7)
    paths = build_domain(tmp_path, sizes, seed=3)
    rows = {k: [json.loads(line) for line in open(p)] for k, p in paths.items()}
    assert len(rows["test"]) == 6 * 6 and len(rows["guard"]) == 7 and len(rows["pool"]) == 60
    assert {r["datasource"] for r in rows["guard"]} == {"length"} and "length" not in {
        r["datasource"] for r in rows["train"]
    }
    prompts = [r["prompt"] for split in rows.values() for r in split]
    assert len(prompts) == len(set(prompts))
    assert build_domain(tmp_path, sizes, seed=3) == paths  # reused as it is
    pretrain = Counter(r["datasource"] for r in rows["pretrain"])
    assert pretrain == {"copy": 30, "first": 30, "last": 30, "reverse": 5, "sort": 30, "rotate": 5, "length": 30}


def test_the_weak_skills_are_chosen_and_a_folder_is_reused_only_as_built(tmp_path):
    import pytest

    from openrlhf_weakness.experiment.controlled import DomainError

    sizes = DomainSizes(pretrain_strong=30, pretrain_weak=5, train=4, pool=10, dev=3, test=6, guard=7)
    paths = build_domain(tmp_path, sizes, seed=3, weak=("rotate",))
    pretrain = Counter(json.loads(line)["datasource"] for line in open(paths["pretrain"]))
    assert pretrain["rotate"] == 5 and pretrain["reverse"] == pretrain["sort"] == 30
    with pytest.raises(DomainError, match="was built with .*'weak': \\['rotate'\\].*use another work directory"):
        build_domain(tmp_path, sizes, seed=3, weak=("reverse", "rotate"))
    with pytest.raises(DomainError, match="name one or more of copy"):
        build_domain(tmp_path / "other", sizes, weak=("length",))


def test_pretraining_lowers_the_loss_and_writes_a_loadable_model(tmp_path):
    from transformers import AutoModelForCausalLM

    paths = build_domain(tmp_path / "data", DomainSizes(pretrain_strong=40, pretrain_weak=5), seed=0)
    out = pretrain_student(
        tmp_path / "student", paths["pretrain"], PretrainConfig(hidden_size=32, num_layers=1, steps=60, batch_size=16)
    )
    info = json.loads((out / "pretrain.json").read_text())
    assert sum(info["loss_last"]) < 0.7 * sum(info["loss_first"])
    assert AutoModelForCausalLM.from_pretrained(out).config.hidden_size == 32


def test_real_domain_splits_are_disjoint_labelled_and_their_solutions_score_right(tmp_path):
    from openrlhf_weakness.data.labels import reference_text
    from openrlhf_weakness.demo.rg_score import score as rg_score
    from openrlhf_weakness.experiment.real import (
        GENERAL,
        SPLITS,
        RealSizes,
        build_real_domain,
        build_real_general,
        canonical,
    )

    sizes = RealSizes(test=20, dev=10, train=10, pool=20, guard=3)
    paths = build_real_domain(tmp_path / "seed5", sizes, seed=5)
    rows = {k: [json.loads(line) for line in open(p)] for k, p in paths.items()}
    assert [len(rows[k]) for k in ("dev", "test", "train", "pool", "guard")] == [10, 20, 10, 20, 6]
    assert {r["datasource"] for r in rows["guard"]} == {"lcm", "gcd"}
    for split in ("test", "dev", "train", "pool"):  # one category mix in every split (10/20/70)
        mix = Counter(r["datasource"] for r in rows[split])
        assert mix == {name: round(len(rows[split]) * share) for name, share in sizes.mix.items()}, (split, mix)
    # no question twice, not even as a near-duplicate (another template, a commutative swap), across splits
    keys = [canonical(json.loads(r["reference"])["metadata"]["expression"]) for s in SPLITS for r in rows[s]]
    assert len(keys) == len(set(keys)) and canonical("( 4 + 3 )") == canonical("3+4") != canonical("4 - 3")
    # the test split is the same for every data seed and never in another seed's dev, train or pool
    other = build_real_domain(tmp_path / "seed6", sizes, seed=6)
    other_rows = {k: [json.loads(line) for line in open(p)] for k, p in other.items()}
    assert sorted(r["prompt"] for r in other_rows["test"]) == sorted(r["prompt"] for r in rows["test"])
    assert {r["prompt"] for r in other_rows["dev"]} != {r["prompt"] for r in rows["dev"]}
    test_prompts = {r["prompt"] for r in rows["test"]}
    assert not test_prompts & {r["prompt"] for s in ("dev", "train", "pool") for r in other_rows[s] + rows[s]}
    for row in rows["test"]:
        label = json.loads(row["reference"])
        text = reference_text(row["reference"])  # the worked solution, for SFT rows and APT's chosen answers
        assert text == f"{label['metadata']['expression']} = {label['answer']}"
        assert rg_score(row["prompt"], text, row["reference"]) == 1.0
        assert (
            rg_score(
                row["prompt"], f"{label['metadata']['expression']} = {int(label['answer']) + 1}", row["reference"]
            )
            == 0.0
        )
    # general rows (--pairs.general_data): neither the domain's nor the guard's tasks, the bare answer as target
    general = [json.loads(line) for line in open(build_real_general(tmp_path / "seed5", RealSizes(general=4)))]
    assert Counter(r["datasource"] for r in general) == {name: 4 for name in GENERAL}
    assert not set(GENERAL) & {r["datasource"] for s in rows for r in rows[s]}
    assert all(reference_text(r["reference"]) == json.loads(r["reference"])["answer"] for r in general)
    assert len(open(build_real_general(tmp_path / "seed5", RealSizes(general=9))).readlines()) == 12  # reused
    assert reference_text('{"answer": "7", "datasource": "x"}') == "7"  # no solution: the answer, as before
    assert reference_text('{"answer": "7", "solution": "  "}') == "7"
