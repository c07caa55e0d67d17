"""Which settings reach which stage, in process, with a real HTTP student/teacher on 127.0.0.1 and no training.

Each test here failed on the loop that drove CLIs through argv strings (the defects of the stage-API issue).
"""

from __future__ import annotations

import json

import pytest

from openrlhf_weakness.apt import stages
from openrlhf_weakness.apt.loop import APTLoop, LoopData, LoopError
from openrlhf_weakness.apt.loop_config import APTLoopConfig
from openrlhf_weakness.apt.pairs import PairsConfig
from openrlhf_weakness.assess.config import AssessConfig
from openrlhf_weakness.backends.config import GenerationConfig
from openrlhf_weakness.io import write_jsonl
from openrlhf_weakness.retrieve.config import RetrieveConfig
from openrlhf_weakness.testing.scripted_openai_server import ScriptedOpenAIServer


def _question(a: int, b: int) -> dict:
    return {"prompt": f"What is {a} plus {b}? Add the two numbers.", "reference": str(a + b), "datasource": "add"}


def _student(message: str) -> str:
    if message.startswith("You are a helpful assistant. Please identify tags"):
        return '[{"tag": "addition", "explanation": "adds"}]'
    return "\\boxed{0}"  # wrong on every question: all bad cases


@pytest.fixture
def apt_files(tmp_path):
    dev, guard, test = [_question(7, 8)], [_question(40, 2)], [_question(31, 9)]
    pool = [_question(a, a + 3) for a in range(1, 16)] + dev + guard + test  # evaluation questions planted in the pool
    for name, rows in {
        "train": [_question(2, 3), _question(5, 6)],
        "dev": dev,
        "guard": guard,
        "test": test,
        "pool": pool,
    }.items():
        write_jsonl(tmp_path / f"{name}.jsonl", rows)
    return tmp_path


def _loop(tmp_path, server, pairs: PairsConfig | None = None, **gen) -> APTLoop:
    data = LoopData(**{k: str(tmp_path / f"{k}.jsonl") for k in ("train", "pool", "dev", "guard", "test")})
    cfg = APTLoopConfig(model="student-0", run_dir=str(tmp_path / "run"))
    gen_cfg = GenerationConfig(backend="openai", base_url=server.base_url, max_retries=0, **gen)
    retrieve = RetrieveConfig(tagger="llm", scale=20.0, cache_dir=str(tmp_path / "emb"))
    assess = AssessConfig(assessor="math", bad_below=4)
    return APTLoop(cfg, data, gen_cfg, assess, retrieve, pairs or PairsConfig())


def _first_round(loop: APTLoop, iteration: int = 0):
    """Iteration ``iteration``'s stages up to the pairs, as run_loop calls them (no training)."""
    from openrlhf_weakness.io.stages import file_digest

    it = loop.iteration(iteration)
    scored, scored_sig = stages.score(
        loop, it, "scored", "student-0", "student-0", loop.load(loop.data.train), file_digest(loop.data.train)
    )
    bad, bad_sig = stages.mine(loop, it, scored, scored_sig, iteration)
    similar, similar_sig = stages.retrieve(loop, it, bad, bad_sig, "student-0", "student-0")
    similar_scored, ss_sig = stages.score(loop, it, "similar_scored", "student-0", "student-0", similar, similar_sig)
    path, _ = stages.pairs(loop, it, bad, similar_scored, iteration, [bad_sig, ss_sig])
    return bad, similar, [json.loads(line) for line in open(path)]


def test_apt_loop_hands_its_settings_to_retrieval_pairs_and_the_cache(apt_files):
    with ScriptedOpenAIServer(answer_fn=_student) as server:
        loop = _loop(apt_files, server, cache_dir=str(apt_files / "my-cache"))
        try:
            bad, similar, pairs = _first_round(loop, 3)
        finally:
            loop.run.close()
        tagged_by = server.models["student-0"]
    assert len(bad) == 2
    # --gen.cache_dir is used (it was ignored: answers went to <run_dir>/cache)
    assert (apt_files / "my-cache").is_dir() and not (apt_files / "run" / "cache").exists()
    # the LLM tagger got the loop's generation settings and the model being trained (it failed: no --gen.model)
    assert tagged_by >= len(bad) + 18
    # dev, guard and test questions planted in the pool are never retrieved (decontamination was off in the loop)
    evaluation = {_question(7, 8)["prompt"], _question(40, 2)["prompt"], _question(31, 9)["prompt"]}
    assert similar and not evaluation & {row["prompt"] for row in similar}
    # the loop sets the iteration and judges similar answers by --assess.bad_below (4, not the dataclass's 2)
    assert {row["iteration"] for row in pairs} == {3}
    assert all(row["rejected"] for row in pairs)  # every similar answer scored 1 < 4: a full pair, no SFT-only row


def test_apt_rerun_recomputes_a_changed_stage_and_those_after_it(apt_files):
    """One run-directory contract: a changed pair setting rebuilds the pairs only; an edited pool re-retrieves."""
    with ScriptedOpenAIServer(answer_fn=_student) as server:
        loop = _loop(apt_files, server)
        try:
            _, _, pairs = _first_round(loop)
        finally:
            loop.run.close()
        asked = server.requests
        loop = _loop(apt_files, server, PairsConfig(similar_weight=0.25))
        try:
            _, _, reweighted = _first_round(loop)
        finally:
            loop.run.close()
        assert server.requests == asked  # nothing answered again
        decisions = {d["stage"]: (d["action"], d.get("why")) for d in loop.runner.decisions}
        assert decisions["iter_0/pairs"] == ("computed", "settings changed: pairs")
        assert all(
            decisions[f"iter_0/{s}"] == ("reused", None) for s in ("scored", "bad", "similar", "similar_scored")
        )
        assert (
            {p["weight"] for p in reweighted if p["source"] == "similar"}
            == {0.25}
            != {p["weight"] for p in pairs if p["source"] == "similar"}
        )
        with open(apt_files / "pool.jsonl", "a") as f:
            f.write(json.dumps(_question(50, 53)) + "\n")
        loop = _loop(apt_files, server, PairsConfig(similar_weight=0.25))
        try:
            _first_round(loop)
        finally:
            loop.run.close()
        decisions = {d["stage"]: (d["action"], d.get("why")) for d in loop.runner.decisions}
    assert decisions["iter_0/similar"] == ("computed", "an input changed (a file or an earlier stage)")
    assert decisions["iter_0/similar_scored"][0] == decisions["iter_0/pairs"][0] == "computed"
    assert decisions["iter_0/scored"] == ("reused", None)


def test_apt_loop_without_a_cache_writes_none(apt_files):
    with ScriptedOpenAIServer(answer_fn=_student) as server:
        loop = _loop(apt_files, server, no_cache_enable=True)
        try:
            loop.scorer.answer("student-0", loop.load(loop.data.dev), "dev")
            loop.scorer.answer("student-0", loop.load(loop.data.dev), "dev")
        finally:
            loop.run.close()
        assert server.requests == 2  # asked twice: nothing was cached
    assert not (apt_files / "run" / "cache").exists()


@pytest.mark.parametrize("flag", ["--pairs.bad_below", "--pairs.iteration"])
def test_cli_apt_does_not_offer_pair_settings_that_the_loop_sets(flag, capsys):
    from openrlhf_weakness.cli.apt import build_parser

    with pytest.raises(SystemExit) as err:
        build_parser().parse_args(
            ["--data.train", "t", "--data.dev", "d", "--data.pool", "p", "--loop.model", "m", flag, "2"]
        )
    assert err.value.code == 2 and f"unrecognized arguments: {flag} 2" in capsys.readouterr().err


def _teacher(message: str) -> str:
    if "Is the student's answer correct" in message:
        return (
            "<judge>incorrect</judge><reason>wrong</reason><skill>"
            + ("add" if "plus" in message else "sub")
            + "</skill>"
        )
    if message.startswith("Skill:"):
        return "<question>What is 31 plus 9? Add the two numbers.</question><question>What is 12 plus 30?</question>"
    if message.startswith("What is"):
        return "\\boxed{42}"
    return "\\boxed{0}"  # the student: always wrong


def _stat_argv(tmp_path, server, k: int) -> list[str]:
    return [
        "--data.train",
        str(tmp_path / "train.jsonl"),
        "--data.dev",
        str(tmp_path / "dev.jsonl"),
        "--data.test",
        str(tmp_path / "test.jsonl"),
        "--stat.run_dir",
        str(tmp_path / "run"),
        "--stat.skill_key",
        "skill",
        "--stat.k",
        str(k),
        "--stat.syn_enable",
        "--gen.backend",
        "openai",
        "--gen.base_url",
        server.base_url,
        "--gen.model",
        "student",
        "--gen.cache_dir",
        str(tmp_path / "student-cache"),
        "--teacher.backend",
        "openai",
        "--teacher.base_url",
        server.base_url,
        "--teacher.model",
        "teacher",
        "--assess.assessor",
        "math",
    ]


def test_stat_reruns_what_a_changed_setting_touches_and_reads_test_and_cache_settings(tmp_path):
    from openrlhf_weakness.cli import stat

    train = [
        {"input": f"What is {i} plus {i + 1}?", "output": f"\\boxed{{{2 * i + 1}}}", "skill": "add"} for i in range(12)
    ]
    train += [{"input": f"What is {i + 9} minus {i}?", "output": "\\boxed{9}", "skill": "sub"} for i in range(6)]
    write_jsonl(tmp_path / "train.jsonl", train)
    write_jsonl(
        tmp_path / "dev.jsonl",
        [{"input": "What is 7 plus 8?", "reference": "15"}, {"input": "What is 9 minus 4?", "reference": "5"}],
    )
    write_jsonl(tmp_path / "test.jsonl", [{"input": "What is 31 plus 9? Add the two numbers."}])
    run = tmp_path / "run"
    with ScriptedOpenAIServer(answer_fn=_teacher) as server:
        assert stat.main(_stat_argv(tmp_path, server, k=5)) == 0
        weights_k5 = [json.loads(line)["stat_weight"] for line in open(run / "stat_sel.jsonl")]
        draw_k5 = sum(1 for _ in open(run / "stat_sel_draw.jsonl"))
        asked = server.requests
        assert stat.main(_stat_argv(tmp_path, server, k=1)) == 0
        assert server.requests == asked  # only selection reran: no student or teacher call
    weights_k1 = [json.loads(line)["stat_weight"] for line in open(run / "stat_sel.jsonl")]
    draw_k1 = sum(1 for _ in open(run / "stat_sel_draw.jsonl"))
    assert draw_k1 > 0 and draw_k5 == 5 * draw_k1  # --stat.size 0: k rows per (difficult question, missing skill)
    final = json.loads((run / "final.json").read_text())
    profile = json.loads((run / "profile.json").read_text())
    assert profile["k"] == 1 and weights_k1 != weights_k5  # stat_sel.jsonl kept the k=5 weights before
    actions = {d["stage"]: (d["action"], d.get("why")) for d in final["stages"]}
    assert actions["select"] == ("computed", "settings changed: k")
    assert all(actions[s] == ("reused", None) for s in ("skills", "labels", "difficult", "missing", "synthesize"))
    assert "Stages" in (run / "report.md").read_text()
    # --data.test is read: the synthesised copy of a test question is dropped, the other kept
    syn = [json.loads(line)["input"] for line in open(run / "stat_syn.jsonl")]
    assert syn and "What is 31 plus 9? Add the two numbers." not in syn and "What is 12 plus 30?" in syn
    # the student stage uses --gen.cache_dir (it always used <run_dir>/cache)
    assert (tmp_path / "student-cache").is_dir()


def test_answer_and_assess_scores_every_sample_and_keeps_the_rows():
    """The one answer-and-assess stage (APT loop, STAT, cli.assess, demos): n samples, each scored, rows kept."""
    from openrlhf_weakness.assess.answer import RowKeys, answer_and_assess
    from openrlhf_weakness.assess.config import make_assessor
    from openrlhf_weakness.backends.config import SamplingParams
    from openrlhf_weakness.backends.driver import make_backend

    rows = [dict(_question(2, 3), extra=1), _question(5, 6)]
    answers = {rows[0]["prompt"]: "\\boxed{5}", rows[1]["prompt"]: "\\boxed{12}"}
    with ScriptedOpenAIServer(answer_fn=answers.get) as server:
        gen = GenerationConfig(
            backend="openai", model="student", base_url=server.base_url, max_retries=0, no_cache_enable=True
        )
        assessor = make_assessor(AssessConfig(assessor="math", num_workers=1), isolated=False)
        scored, timing = answer_and_assess(
            make_backend(gen), assessor, rows, SamplingParams(n=2, temperature=1.0), RowKeys(), bad_below=4
        )
    assert [r["scores"] for r in scored] == [[5, 5], [1, 1]] and [len(r["responses"]) for r in scored] == [2, 2]
    assert [r["response"] for r in scored] == ["\\boxed{5}", "\\boxed{12}"] and [r["bad"] for r in scored] == [
        False,
        True,
    ]
    assert scored[0]["extra"] == 1 and timing["cache_hits"] == 0


def test_cli_apt_checks_training_flags_before_any_work(apt_files, capsys):
    """Training flags come after --, as a list; the loop's own and misspelt ones fail at once with exit status 2."""
    from openrlhf_weakness.cli import apt

    argv = [
        "--loop.model",
        "no-such-model",
        "--loop.run_dir",
        str(apt_files / "run"),
        "--data.train",
        str(apt_files / "train.jsonl"),
        "--data.dev",
        str(apt_files / "dev.jsonl"),
        "--data.pool",
        str(apt_files / "pool.jsonl"),
    ]
    with pytest.raises(SystemExit) as err:
        apt.main(argv + ["--", "--adam.lr", "1e-6", "--ckpt.output_dir", "elsewhere"])
    assert err.value.code == 2 and "--ckpt.output_dir after -- are set by the loop itself" in str(err.value)
    with pytest.raises(SystemExit) as err:
        apt.main(argv + ["--", "--train.batchsize", "8"])
    assert err.value.code == 2 and "--train.batchsize" in capsys.readouterr().err
    assert not (apt_files / "run").exists()  # refused before the run directory was made


def test_a_run_directory_of_the_earlier_layout_is_refused_not_overwritten(apt_files):
    run = apt_files / "run"
    (run / "iter_0" / "model").mkdir(parents=True)
    (run / "iter_0" / "model" / "weights").write_text("trained")
    (run / "manifest.json").write_text('{"config": {}}')
    with ScriptedOpenAIServer(answer_fn=_student) as server:
        with pytest.raises(LoopError, match="written by an earlier version"):
            _loop(apt_files, server)
    assert (run / "iter_0" / "model" / "weights").read_text() == "trained"


def _student_and_judge(message: str) -> str:
    """One HTTP server, two models: the judge grades by the reference; the student answers 11 to everything."""
    if "###Response to evaluate:" in message:
        answer = message.split("###Response to evaluate:\n", 1)[1].split("\n\n###Reference Answer", 1)[0]
        reference = message.split("###Reference Answer (Score 5):\n", 1)[1].split("\n", 1)[0]
        right = answer.strip() == f"\\boxed{{{reference.strip()}}}"
        return "Feedback: " + ("right. [RESULT] 5" if right else "wrong. [RESULT] 1")
    return "\\boxed{11}"


def test_the_judge_scores_the_student_inside_the_loop_with_its_own_settings(apt_files):
    """APT as published: --assess.assessor judge with --judge.* (its own model), apart from the student's --gen.*."""
    from openrlhf_weakness.io.stages import file_digest

    with ScriptedOpenAIServer(answer_fn=_student_and_judge) as server:
        data = LoopData(**{k: str(apt_files / f"{k}.jsonl") for k in ("train", "pool", "dev")})
        gen = GenerationConfig(backend="openai", base_url=server.base_url, max_retries=0)
        judge = GenerationConfig(backend="openai", base_url=server.base_url, model="judge-7b", max_retries=0)
        assess = AssessConfig(assessor="judge", bad_below=4)
        cfg = APTLoopConfig(model="student-0", run_dir=str(apt_files / "run"))
        with pytest.raises(LoopError, match="needs a judge model: --judge.model"):
            APTLoop(cfg, data, gen, assess, RetrieveConfig(), PairsConfig())
        loop = APTLoop(cfg, data, gen, assess, RetrieveConfig(), PairsConfig(), judge)
        try:
            it = loop.iteration(0)
            rows = loop.load(loop.data.train)
            scored, _ = stages.score(loop, it, "scored", "student-0", "student-0", rows, file_digest(loop.data.train))
        finally:
            loop.run.close()
        models = dict(server.models)
    # the student answers 11: right for 5 + 6, wrong for 2 + 3; the judge (its own model name) says so
    assert [(r["reference"], r["score"], r["bad"]) for r in scored] == [("5", 1, True), ("11", 5, False)]
    assert models == {"student-0": 2, "judge-7b": 2}


def test_evaluating_a_model_outside_the_run_directory_is_kept_and_reused(apt_files):
    """The demo scores its baselines (trained elsewhere) with the loop's evaluation stage."""
    with ScriptedOpenAIServer(answer_fn=_student) as server:
        loop = _loop(apt_files, server)
        try:
            elsewhere = apt_files / "baselines" / "sft"
            elsewhere.mkdir(parents=True)
            first = loop.evaluate("student-0", "SFT", elsewhere)
            asked = server.requests
            assert loop.evaluate("student-0", "SFT", elsewhere) == first and server.requests == asked
        finally:
            loop.run.close()
    assert first["dev"]["score"] == 0.0 and f"{elsewhere}/eval" in json.loads(
        (apt_files / "run" / "stages.json").read_text()
    )


def _sampling_student(message: str):
    """Greedy (one answer) it says 11, wrong; among four samples it also finds the right sum once."""
    if message.startswith("You are a helpful assistant. Please identify tags"):
        return '[{"tag": "addition", "explanation": "adds"}]'
    if "2 plus 3" in message:
        return ["\\boxed{11}", "\\boxed{9}", "\\boxed{5}", "\\boxed{11}"]
    return ["\\boxed{12}", "\\boxed{13}"]  # 5 plus 6: never right


def test_pair_options_choose_the_models_own_right_sample_and_a_sampled_wrong_one(apt_files):
    """--pairs.chosen self_correct / --pairs.rejected sampled_wrong with --pairs.samples 4: the bad cases are
    sampled in their own stage; chosen is the model's right sample where one exists, else the reference."""
    from openrlhf_weakness.io.stages import file_digest

    options = PairsConfig(chosen="self_correct", rejected="sampled_wrong", samples=4, sample_temperature=0.9)
    with ScriptedOpenAIServer(answer_fn=_sampling_student) as server:
        with pytest.raises(LoopError, match="set --pairs.samples"):
            _loop(apt_files, server, PairsConfig(chosen="self_correct"))
        loop = _loop(apt_files, server, options)
        try:
            it = loop.iteration(0)
            scored, scored_sig = stages.score(
                loop, it, "scored", "student-0", "student-0", loop.load(loop.data.train), file_digest(loop.data.train)
            )
            bad, bad_sig = stages.mine(loop, it, scored, scored_sig, 0)
            sampled, sampled_sig = stages.sample(loop, it, bad, bad_sig, "student-0", "student-0")
            path, _ = stages.pairs(loop, it, sampled, [], 0, [sampled_sig, None])
            asked = server.requests
            assert (
                stages.sample(loop, it, bad, bad_sig, "student-0", "student-0")[1] == sampled_sig
            )  # kept, not redone
            assert server.requests == asked
        finally:
            loop.run.close()
    assert [r["response"] for r in sampled] == ["\\boxed{11}", "\\boxed{12}"]  # the greedy answers stay
    assert [r["scores"] for r in sampled] == [[1, 1, 5, 1], [1, 1, 1, 1]]
    pairs = {r["prompt"].split("?")[0]: r for r in map(json.loads, open(path))}
    two, five = pairs["What is 2 plus 3"], pairs["What is 5 plus 6"]
    assert two["chosen"] == "\\boxed{5}" and two["rejected"] in ("\\boxed{11}", "\\boxed{9}")
    assert five["chosen"] == "11" and five["rejected"] in ("\\boxed{12}", "\\boxed{13}")  # reference fall-back


def test_a_judge_server_that_is_down_stops_the_loop_before_any_student_work(apt_files):
    from openrlhf_weakness.backends.config import RoleConfig
    from openrlhf_weakness.launch import free_port

    dead = f"http://127.0.0.1:{free_port()}/v1"
    with ScriptedOpenAIServer(answer_fn=_student) as server:
        data = LoopData(**{k: str(apt_files / f"{k}.jsonl") for k in ("train", "pool", "dev")})
        gen = GenerationConfig(backend="openai", base_url=server.base_url, max_retries=0)
        judge = RoleConfig(backend="openai", base_url=dead, model="judge-7b")
        cfg = APTLoopConfig(model="student-0", run_dir=str(apt_files / "run"))
        with pytest.raises(LoopError, match=rf"^--judge.base_url: no OpenAI-compatible server answers at {dead} "):
            APTLoop(cfg, data, gen, AssessConfig(assessor="judge"), RetrieveConfig(), PairsConfig(), judge)
        assert server.requests == 0 and not (apt_files / "run").exists()


def test_a_student_server_failing_mid_run_stops_cli_apt_with_one_line(apt_files, capsys):
    """Before: OpenAIRetriesExhausted went up through cli.apt as a traceback."""
    from openrlhf_weakness.cli import apt

    def broken(message: str) -> str:
        raise RuntimeError("scripted crash")

    with ScriptedOpenAIServer(answer_fn=broken) as server:
        argv = [
            "--loop.model",
            "student-0",
            "--loop.run_dir",
            str(apt_files / "run"),
            "--gen.backend",
            "openai",
            "--gen.base_url",
            server.base_url,
            "--gen.max_retries",
            "0",
        ]
        argv += [f"--data.{k}={apt_files / f'{k}.jsonl'}" for k in ("train", "pool", "dev")]
        with pytest.raises(SystemExit) as stop:
            apt.main(argv)
    assert stop.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("apt: ") and "still failing after 0 retries (HTTP 500" in line
    assert line.endswith("in the response cache: rerun the same command to go on")


def test_general_rows_take_their_share_of_the_pairs_but_never_an_evaluation_question(apt_files, caplog):
    """--pairs.general_data/--pairs.general_ratio: SFT-only general rows in place of as many pairs; a general row that
    is a guard question is left out."""
    caplog.set_level("INFO", logger="openrlhf_weakness")
    general = [_question(60 + i, 1) for i in range(6)] + [_question(40, 2)]  # the last is the guard's question
    write_jsonl(apt_files / "general.jsonl", general)
    with ScriptedOpenAIServer(answer_fn=_student) as server:
        loop = _loop(apt_files, server, PairsConfig(general_data=str(apt_files / "general.jsonl"), general_ratio=0.5))
        try:
            _, _, pairs = _first_round(loop)
        finally:
            loop.run.close()
    mixed = [p for p in pairs if p["source"] == "general"]
    assert len(mixed) == min(round(len(pairs) * 0.5), 6) == 6 and all("rejected" not in p for p in mixed)  # 6 usable
    assert _question(40, 2)["prompt"] not in {p["prompt"] for p in mixed}
    assert {p["chosen"] for p in mixed} <= {str(60 + i + 1) for i in range(6)}
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("[apt] pairs:")]
    assert f"general: {len(mixed)}" in logged[0]  # the log counts the rows written, after the mix
