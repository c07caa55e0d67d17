"""One process per run directory, training that dies with its loop, and the small input checks around them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from openrlhf_weakness.io import RunDirBusy, lock_run_dir, write_jsonl

PARENT = textwrap.dedent("""
    import signal, sys
    from openrlhf_weakness.io import lock_run_dir

    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (a background job ignores SIGINT)
    from openrlhf_weakness.launch import run_training

    fd = lock_run_dir(sys.argv[1])
    run_training("timeit", ["-n", "1", "-r", "1", "import time; time.sleep(120)"], sys.argv[2], use_launcher=False,
                 keep_fds=(fd,))
""")


def test_a_second_process_on_a_run_directory_is_refused_naming_the_holder(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path), str(tmp_path / "log.txt")])
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / ".lock").exists() or not (tmp_path / ".lock").read_text().strip():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        with pytest.raises(RunDirBusy, match=rf"in use by another process \(PID {holder.pid}\)"):
            lock_run_dir(tmp_path)
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_training_child_dies_with_its_parent_and_releases_the_run_directory(tmp_path, how):
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path), str(tmp_path / "log.txt")])
    deadline = time.monotonic() + 30
    children = []
    while not children:
        assert time.monotonic() < deadline, "the training child never started"
        children = psutil.Process(parent.pid).children()
        time.sleep(0.1)
    child = children[0]
    assert os.getpgid(child.pid) != os.getpgid(parent.pid)  # its own process group
    parent.send_signal(how)
    parent.wait(10)
    gone, alive = psutil.wait_procs([child], timeout=10)
    assert not alive, f"training child {child.pid} outlived its parent ({how.name})"
    os.close(lock_run_dir(tmp_path))  # the lock went with both of them


def test_judge_parser_takes_ascii_digits_only():
    from openrlhf_weakness.assess.judge import parse_judgement

    assert parse_judgement("Feedback: fine [RESULT] ５").score is None
    assert parse_judgement("Feedback: fine [RESULT] 5").score == 5
    assert parse_judgement("Feedback: fine [RESULT] 45").score is None  # out of range, not 4


@pytest.mark.parametrize("content", ["", "\n  \n\t\n"])
def test_empty_inputs_are_an_error_in_assess_build_pairs_and_retrieve(tmp_path, content):
    from openrlhf_weakness.cli import assess, build_pairs, retrieve

    empty = tmp_path / "empty.jsonl"
    empty.write_text(content)
    pool = tmp_path / "pool.jsonl"
    write_jsonl(pool, [{"prompt": "What is 1 plus 1?", "reference": "2"}])
    out = str(tmp_path / "out.jsonl")
    calls = [
        lambda: assess.main(["--data.dataset", str(empty), "--data.output", out]),
        lambda: build_pairs.main(["--data.bad", str(empty), "--data.output", out]),
        lambda: retrieve.main(["--data.bad", str(empty), "--data.pool", str(pool), "--data.output", out]),
    ]
    for call in calls:
        with pytest.raises(SystemExit) as err:
            call()
        assert f"{empty}: the file holds no rows" in str(err.value)
    assert not os.path.exists(out)


def test_chat_list_prompts_are_embedded_as_their_words(tmp_path):
    from openrlhf_weakness.retrieve.stage import load_texts

    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 plus 3?"}]
    write_jsonl(tmp_path / "bad.jsonl", [{"prompt": chat}, {"prompt": "plain"}])
    assert load_texts(str(tmp_path / "bad.jsonl"), "prompt")[2] == ["Be brief.\nWhat is 2 plus 3?", "plain"]
