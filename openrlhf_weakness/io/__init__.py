"""JSON Lines reading and writing: line numbers in every error, atomic writes."""

from openrlhf_weakness.io.jsonl import DataError, iter_jsonl, load_rows, write_json, write_jsonl
from openrlhf_weakness.io.run_lock import RunDirBusy, lock_run_dir

__all__ = ["DataError", "RunDirBusy", "iter_jsonl", "load_rows", "lock_run_dir", "write_json", "write_jsonl"]
