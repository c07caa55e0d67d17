"""JSON Lines reading and writing: line numbers in every error, atomic writes."""

from openrlhf_weakness.io.jsonl import DataError, iter_jsonl, load_rows, write_json, write_jsonl

__all__ = ["DataError", "iter_jsonl", "load_rows", "write_json", "write_jsonl"]
