"""Every ``--data.*`` input takes what OpenRLHF's ``--data.dataset`` takes: Parquet, JSON, CSV, saved folders and hub
names are read through ``datasets`` with row numbers in their errors; JSON Lines keep their line errors."""

from __future__ import annotations

import json

import pytest

from openrlhf_weakness.io import DataError, load_rows, write_jsonl
from openrlhf_weakness.io.stages import file_digest

ROWS = [
    {"prompt": "What is 1 plus 1?", "reference": "2", "datasource": "add"},
    {"prompt": "What is 2 times 3?", "reference": "6", "datasource": "mul"},
    {"prompt": "What is 3 plus 4?", "reference": None, "datasource": "add"},
]


def _dataset(rows):
    import datasets

    return datasets.Dataset.from_list(rows)


@pytest.fixture
def sources(tmp_path):
    """The same three rows as Parquet, JSON (an array), CSV, a save_to_disk folder and a folder of Parquet files."""
    ds = _dataset(ROWS)
    ds.to_parquet(str(tmp_path / "rows.parquet"))
    ds.to_csv(str(tmp_path / "rows.csv"), index=False)
    (tmp_path / "rows.json").write_text(json.dumps(ROWS))
    ds.save_to_disk(str(tmp_path / "saved"))
    (tmp_path / "parts").mkdir()
    _dataset(ROWS[:2]).to_parquet(str(tmp_path / "parts" / "a.parquet"))
    _dataset(ROWS[2:]).to_parquet(str(tmp_path / "parts" / "b.parquet"))
    return tmp_path


@pytest.mark.parametrize("name", ["rows.parquet", "rows.json", "rows.csv", "saved", "parts"])
def test_each_source_gives_the_rows_numbered_from_one(sources, name):
    rows, skipped = load_rows(sources / name, ["prompt"])
    assert skipped == []
    assert [n for n, _ in rows] == [1, 2, 3]
    assert [r["prompt"] for _, r in rows] == [r["prompt"] for r in ROWS]
    assert [r["datasource"] for _, r in rows] == ["add", "mul", "add"]
    assert [r["reference"] for _, r in rows[:2]] in (["2", "6"], [2, 6])  # CSV types its columns


@pytest.mark.parametrize("name", ["rows.parquet", "rows.json", "rows.csv", "saved", "parts"])
def test_a_missing_value_names_the_source_the_row_and_the_key(sources, name):
    with pytest.raises(DataError) as err:
        load_rows(sources / name, ["prompt", "reference"])
    assert str(err.value) == f"{sources / name}, row 3, key 'reference': missing"
    assert (err.value.line, err.value.key, err.value.unit) == (3, "reference", "row")
    rows, skipped = load_rows(sources / name, ["prompt", "reference"], skip_bad_rows=True)
    assert [n for n, _ in rows] == [1, 2]
    assert skipped == [f"{sources / name}, row 3, key 'reference': missing"]


def test_a_column_absent_from_the_file_is_missing_in_its_first_row(sources):
    with pytest.raises(DataError, match=r"rows.parquet, row 1, key 'answer': missing$"):
        load_rows(sources / "rows.parquet", ["answer"])


def test_json_lines_keep_their_line_errors(tmp_path):
    path = tmp_path / "rows.jsonl"
    write_jsonl(path, ROWS)
    with pytest.raises(DataError) as err:
        load_rows(path, ["reference"])
    assert str(err.value) == f"{path}, line 3, key 'reference': missing" and err.value.unit == "line"
    path.write_text('{"prompt": "a"}\n{"prompt": nope}\n')
    with pytest.raises(DataError, match=r"rows.jsonl, line 2: not valid JSON"):
        load_rows(path, ["prompt"])


@pytest.mark.parametrize("name", ["empty.parquet", "empty.csv", "empty.json"])
def test_an_empty_file_holds_no_rows(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    assert load_rows(tmp_path / name, ["prompt"]) == ([], [])
    with pytest.raises(DataError, match=rf"{name}: the file holds no rows \(it is empty\)$"):
        load_rows(tmp_path / name, ["prompt"], allow_empty=False)


def test_a_parquet_file_with_a_schema_and_no_rows_is_one_error_naming_it(tmp_path):
    _dataset(ROWS).select([]).to_parquet(str(tmp_path / "none.parquet"))  # datasets refuses a split without rows
    with pytest.raises(DataError, match=r"none.parquet: cannot be read as parquet data: .*no data"):
        load_rows(tmp_path / "none.parquet", ["prompt"])


def test_an_unreadable_parquet_file_is_one_error_naming_it(tmp_path):
    (tmp_path / "broken.parquet").write_text('{"prompt": "this is JSON, not Parquet"}\n')
    with pytest.raises(DataError) as err:
        load_rows(tmp_path / "broken.parquet", ["prompt"])
    assert str(err.value).startswith(f"{tmp_path / 'broken.parquet'}: cannot be read as parquet data: ")


def test_missing_local_inputs_stay_file_not_found(tmp_path):
    for name in ("nothing.parquet", "nothing.jsonl", "a/b/c"):
        with pytest.raises(FileNotFoundError):
            load_rows(tmp_path / name, ["prompt"])


def test_a_hub_name_without_a_hub_is_one_error_naming_it(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DataError) as err:
        load_rows("no-such-org/no-such-dataset", ["prompt"])
    assert str(err.value).startswith("no-such-org/no-such-dataset: is not a local file or folder")
    assert "HF_HUB_OFFLINE=1" in str(err.value)


def test_a_folder_digest_follows_its_files(sources):
    first = file_digest(sources / "parts")
    assert first == file_digest(sources / "parts") and len(first) == 16
    _dataset(ROWS[:1]).to_parquet(str(sources / "parts" / "b.parquet"))
    assert file_digest(sources / "parts") != first
    assert file_digest(sources / "saved") != file_digest(sources / "parts")
    single = sources / "rows.parquet"
    import hashlib

    assert file_digest(single) == hashlib.sha256(single.read_bytes()).hexdigest()[:16]  # files: unchanged digests
