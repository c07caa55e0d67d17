"""Rows from whatever OpenRLHF's ``--data.dataset`` takes: one entry point for every ``--data.*`` input.

JSON Lines go through this project's strict reader (file, line and key in every error). JSON, CSV, Parquet and Arrow
files, folders saved by ``datasets.Dataset.save_to_disk`` (or folders of data files) and hub names are read through
``datasets``, as OpenRLHF reads them; their rows are numbered from 1 and errors say "row N".
"""

from __future__ import annotations

import errno
import os
import re
from typing import Iterator

from openrlhf_weakness.io.jsonl import DataError, iter_jsonl

# extension -> the ``datasets`` builder that reads it (the ones OpenRLHF's blending_datasets hands to load_dataset)
DATASETS_FORMATS = {".json": "json", ".csv": "csv", ".parquet": "parquet", ".arrow": "arrow"}
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def is_jsonl(path: str | os.PathLike) -> bool:
    """True for inputs read by the JSON Lines reader: ``.jsonl``, and any other existing file without a
    ``datasets`` extension (as before this module, so ``.txt`` or extension-less JSON Lines files keep working)."""
    name = os.fspath(path)
    ext = os.path.splitext(name)[1].lower()
    if ext == ".jsonl":
        return True
    return ext not in DATASETS_FORMATS and os.path.isfile(name)


def row_unit(path: str | os.PathLike) -> str:
    """What errors number: a JSON Lines file's lines, every other source's rows."""
    return "line" if is_jsonl(path) else "row"


def _is_hub_name(name: str) -> bool:
    """A name that can only mean the hub: not on disk, no file extension, at most ``org/name``."""
    return not os.path.exists(name) and bool(_HUB_NAME.match(name)) and not os.path.splitext(name)[1]


def _one_split(name: str, data):
    """A ``DatasetDict``'s ``train`` split (OpenRLHF's default split), or its only split."""
    from datasets import DatasetDict

    if not isinstance(data, DatasetDict):
        return data
    if "train" in data:
        return data["train"]
    if len(data) == 1:
        return next(iter(data.values()))
    raise DataError(name, None, f"holds the splits {', '.join(data)}: none is 'train' (give one split's files)")


def _load_with_datasets(name: str):
    """The ``datasets.Dataset`` behind ``name``; a local input ``datasets`` cannot read raises :class:`DataError`."""
    import datasets

    ext = os.path.splitext(name)[1].lower()
    if ext in DATASETS_FORMATS or os.path.isdir(name):
        if not os.path.exists(name):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)
        if os.path.isdir(name):
            what = "a folder saved by datasets or a folder of data files"
        else:
            what = f"{DATASETS_FORMATS[ext]} data"
        try:
            if os.path.isfile(name):
                return datasets.load_dataset(DATASETS_FORMATS[ext], data_files=name)
            try:
                return datasets.load_from_disk(name)
            except FileNotFoundError:  # not a save_to_disk folder: a folder of data files
                return datasets.load_dataset(name)
        except Exception as err:  # the reader's own errors (pyarrow, pandas, datasets) are bad input here
            raise DataError(name, None, f"cannot be read as {what}: {type(err).__name__}: {err}") from err
    if not _is_hub_name(name):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)
    from huggingface_hub import constants

    try:
        return datasets.load_dataset(name)
    except Exception as err:
        why = (
            "the hub is offline here (HF_HUB_OFFLINE=1) and no cached copy was found"
            if constants.HF_HUB_OFFLINE
            else f"{type(err).__name__}: {err}"
        )
        raise DataError(name, None, f"is not a local file or folder and cannot be loaded from the hub: {why}") from err


def read_dataset_rows(path: str | os.PathLike) -> list[dict]:
    """Every row of a source read through ``datasets`` (an empty file holds no rows)."""
    name = os.fspath(path)
    if os.path.isfile(name) and os.path.getsize(name) == 0:
        return []
    return _one_split(name, _load_with_datasets(name)).to_list()


def iter_rows(path: str | os.PathLike, start: int = 1) -> Iterator[tuple[int, dict]]:
    """(1-based line or row number, row) of any source, from number ``start``; see :func:`row_unit`."""
    if is_jsonl(path):
        yield from iter_jsonl(path, start)
        return
    for number, row in enumerate(read_dataset_rows(path), start=1):
        if number >= start:
            yield number, row


def load_rows(
    path: str | os.PathLike, required: list[str], skip_bad_rows: bool = False, allow_empty: bool = True
) -> tuple[list[tuple[int, dict]], list[str]]:
    """(line or row number, row) pairs having every ``required`` key, and the reasons for the rows skipped.

    Without ``skip_bad_rows`` the first bad row raises; with it, bad rows are skipped and each reason is returned
    so that the caller reports a count. Nothing is dropped silently. ``allow_empty=False``: an input with no rows at
    all (an empty file, or only blank lines) raises, for inputs where that can only be a mistake.
    """
    rows, skipped, unit = [], [], row_unit(path)
    numbered = iter_rows(path)
    while True:
        try:
            number, row = next(numbered)
        except StopIteration:
            break
        except DataError as err:
            if not skip_bad_rows or err.line is None:
                raise
            skipped.append(str(err))
            numbered = iter_rows(path, start=err.line + 1)
            continue
        missing = [k for k in required if row.get(k) is None]
        if missing:
            err = DataError(path, number, "missing", missing[0], unit)
            if not skip_bad_rows:
                raise err
            skipped.append(str(err))
            continue
        rows.append((number, row))
    if not rows and not skipped and not allow_empty:
        detail = "it is empty or only blank lines" if unit == "line" else "it is empty"
        raise DataError(path, None, f"the file holds no rows ({detail})")
    return rows, skipped
