"""Reading every input OpenRLHF's ``--data.dataset`` takes (numbers in every error), JSON Lines writing, atomic
writes."""

from openrlhf_weakness.io.jsonl import DataError, iter_jsonl, write_json, write_jsonl
from openrlhf_weakness.io.rows import iter_rows, load_rows
from openrlhf_weakness.io.run_lock import RunDirBusy, lock_run_dir

__all__ = [
    "DataError",
    "RunDirBusy",
    "iter_jsonl",
    "iter_rows",
    "load_rows",
    "lock_run_dir",
    "write_json",
    "write_jsonl",
]
