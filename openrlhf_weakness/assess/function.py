"""A user's Python function ``score(prompt, response, reference) -> float`` loaded from a file, mapped to 1..5."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from openrlhf_weakness.assess.base import Assessment, Item, PerItemAssessor, score_to_1_5
from openrlhf_weakness.errors import SettingsError


def load_score_function(path: str):
    file = Path(path)
    if not file.is_file():
        raise SettingsError(f"--assess.function_path {path}: no such file")
    spec = importlib.util.spec_from_file_location(f"orw_user_score_{abs(hash(file.resolve()))}", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = getattr(module, "score", None)
    if not callable(fn):
        raise SettingsError(f"{path} must define score(prompt, response, reference) -> float")
    return fn


class FunctionAssessor(PerItemAssessor):
    """Scores map to 1..5 by ``scale`` (see :func:`score_to_1_5`); a score out of range is a counted error."""

    def __init__(self, path: str, num_workers: int = 1, scale: str = "unit"):
        self.fn, self.num_workers, self.scale = load_score_function(path), num_workers, scale

    def assess(self, item: Item) -> Assessment:
        value = self.fn(item.prompt, item.response, item.reference)
        return Assessment(score_to_1_5(value, self.scale), f"score({value})")
