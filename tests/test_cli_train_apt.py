"""``cli.train_apt`` end to end on OpenRLHF's DeepSpeed engine (CPU, ZeRO-2), its flags and its bad-input errors."""

from __future__ import annotations

import json

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from openrlhf_weakness.cli import train_apt
from openrlhf_weakness.io import write_jsonl
from openrlhf_weakness.launch import run_training
from openrlhf_weakness.testing.make_toy import toy_apt_rows as _apt_rows


def _args(model, data, out, *extra):
    return [
        "--model.model_name_or_path",
        str(model),
        "--data.dataset",
        str(data),
        "--data.prompt_key",
        "prompt",
        "--train.micro_batch_size",
        "4",
        "--train.batch_size",
        "8",
        "--ds.zero_stage",
        "2",
        "--ds.attn_implementation",
        "eager",
        "--data.max_len",
        "64",
        "--ckpt.output_dir",
        str(out),
        *extra,
    ]


def _metrics(out) -> list[dict]:
    return [json.loads(line) for line in (out / "apt_metrics.jsonl").read_text().splitlines()]


def test_train_apt_end_to_end_margin_rises_chosen_holds_and_model_reloads(tiny_model, tmp_path):
    data = tmp_path / "apt.jsonl"
    write_jsonl(data, _apt_rows(32))
    out = tmp_path / "out"
    args = _args(
        tiny_model,
        data,
        out,
        "--train.max_epochs",
        "3",
        "--adam.lr",
        "1e-3",
        "--apt.sft_coef",
        "0.5",
        "--apt.weight_key",
        "weight",
    )
    run_training("openrlhf_weakness.cli.train_apt", args, tmp_path / "log.txt", use_launcher=False)

    metrics = _metrics(out)
    assert len(metrics) == 12  # 32 rows / 8 per step * 3 epochs
    first, last = metrics[0], metrics[-1]
    assert first["margin"] == pytest.approx(0.0, abs=1e-6)  # policy == reference at the start
    assert last["margin"] > 0.02 and last["acc"] > 0.5
    assert last["chosen_logp"] > first["chosen_logp"] - 0.1  # alpha > 0: chosen does not collapse
    assert {"bad/margin", "similar/margin", "bad/sft_loss", "similar/chosen_logp"} <= set(last)
    summary = json.loads((out / "apt_summary.json").read_text())
    assert summary["stopped_early"] is None and summary["guard"]["tripped_at"] is None

    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    ids = tok("What is 2 plus 3?", return_tensors="pt")
    assert model.generate(**ids, max_new_tokens=4, do_sample=False, pad_token_id=tok.pad_token_id).shape[1] > 4


def test_collapse_guard_stops_training_when_asked(tiny_model, tmp_path):
    data = tmp_path / "apt.jsonl"
    write_jsonl(data, _apt_rows(32))
    out = tmp_path / "out"
    # A negative limit trips as soon as both windows are full: this checks the wiring (warn, stop, save).
    args = _args(
        tiny_model,
        data,
        out,
        "--train.max_epochs",
        "2",
        "--apt.chosen_logp_drop_max",
        "-100",
        "--apt.guard_window",
        "2",
        "--apt.stop_on_collapse_enable",
    )
    run_training("openrlhf_weakness.cli.train_apt", args, tmp_path / "log.txt", use_launcher=False)
    log = (tmp_path / "log.txt").read_text()
    assert "[APT] WARNING: mean chosen log-probability fell" in log
    summary = json.loads((out / "apt_summary.json").read_text())
    assert summary["guard"]["tripped_at"] == 2 and summary["steps"] == 2 and "step 2" in summary["stopped_early"]
    assert (out / "model.safetensors").exists()


@pytest.mark.parametrize(
    "rows, extra, message",
    [
        ([{"prompt": "q", "chosen": "a"}, {"prompt": "q", "rejected": "b"}], [], "line 2, key 'chosen': missing"),
        ([], [], "the file holds no rows"),
        ([{"prompt": "q", "chosen": "a", "w": "heavy"}], ["--apt.weight_key", "w"], "line 1, key 'w': weight must"),
        (
            [{"prompt": "q", "chosen": "a", "w": 1}, {"prompt": "q", "chosen": "a", "w": -2}],
            ["--apt.weight_key", "w"],
            "line 2, key 'w': weight must be a number >= 0, got -2",
        ),
    ],
)
def test_bad_training_data_fails_clearly_before_any_model_loads(tmp_path, rows, extra, message):
    data = tmp_path / "bad.jsonl"
    write_jsonl(data, rows)
    with pytest.raises(SystemExit) as err:
        train_apt.main(_args(tmp_path / "no-model-here", data, tmp_path / "out", *extra))
    assert str(data) in str(err.value) and message in str(err.value)


def test_unknown_flag_fails_with_openrlhfs_own_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        train_apt.main(["--model.model_name_or_path", "x", "--not_a_flag", "1"])
    assert err.value.code == 2
    assert "openrlhf.cli.train_dpo: error: unrecognized arguments: --not_a_flag 1" in capsys.readouterr().err


def test_help_lists_apt_flags_and_openrlhfs_flags(capsys):
    with pytest.raises(SystemExit):
        train_apt.main(["--help"])
    out = capsys.readouterr().out
    assert "--apt.sft_coef" in out and "--apt.stop_on_collapse_enable" in out
    assert "--model.nll_loss_coef" in out and "--ds.zero_stage" in out  # from the installed OpenRLHF


CHAT = [{"role": "user", "content": "What is 2 plus 3?"}]


@pytest.mark.parametrize(
    "lines, extra, message",
    [
        (
            ['{"prompt": "q", "chosen": "a", "chosen": "b", "rejected": "c"}'],
            [],
            "line 1, key 'chosen': appears twice",
        ),
        (
            [json.dumps({"prompt": CHAT, "chosen": "5", "rejected": "6"})],
            ["--data.apply_chat_template"],
            "line 1, key 'chosen': must be a list of chat messages with --data.apply_chat_template",
        ),
        (
            [json.dumps({"prompt": "q", "chosen": "5", "rejected": "6"})],
            ["--data.apply_chat_template"],
            "line 1, key 'prompt': must be a list of chat messages",
        ),  # OpenRLHF's RewardDataset: a jinja traceback
        ([json.dumps({"prompt": 7, "chosen": "5", "rejected": "6"})], [], "line 1, key 'prompt': must be a string"),
        (
            [json.dumps({"prompt": "q", "chosen": ["5"], "rejected": "6"})],
            [],
            "line 1, key 'chosen': must be a string",
        ),
        ([json.dumps({"prompt": "q", "chosen": "5", "rejected": "   "})], [], "line 1, key 'rejected': empty string"),
        ([json.dumps({"prompt": "q", "chosen": "5", "rejected": 6})], [], "line 1, key 'rejected': must be a string"),
        (
            [json.dumps({"prompt": [{"role": "user"}], "chosen": [], "rejected": []})],
            ["--data.apply_chat_template"],
            "line 1, key 'prompt': message 0 needs a string 'content'",
        ),
    ],
)
def test_rows_openrlhf_would_crash_on_fail_before_any_model_loads(tmp_path, lines, extra, message):
    data = tmp_path / "bad.jsonl"
    data.write_text("\n".join(lines) + "\n")
    with pytest.raises(SystemExit) as err:
        train_apt.main(_args(tmp_path / "no-model-here", data, tmp_path / "out", *extra))
    assert str(data) in str(err.value) and message in str(err.value)


def test_stat_sft_rows_are_checked_like_openrlhfs_sft_dataset(tmp_path):
    from openrlhf_weakness.cli import train_stat_sft

    data = tmp_path / "sft.jsonl"
    data.write_text(
        json.dumps({"input": "q", "output": "a", "stat_weight": 1.0})
        + "\n"
        + json.dumps({"input": CHAT, "output": "5", "stat_weight": 1.0})
        + "\n"
    )
    args = [
        "--model.model_name_or_path",
        str(tmp_path / "no-model"),
        "--data.dataset",
        str(data),
        "--data.input_key",
        "input",
        "--data.output_key",
        "output",
        "--ckpt.output_dir",
        str(tmp_path / "o"),
    ]
    with pytest.raises(SystemExit) as err:
        train_stat_sft.main(args)
    assert f"{data}, line 2, key 'input': must be a string" in str(err.value)
