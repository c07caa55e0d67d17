"""Assessor file for the demo (``--assess.assessor function``): reasoning-gym's own ``score_answer`` on the last
number of the response. The reference is a JSON object: answer, datasource (the generator) and its metadata."""

import json
import re
from functools import lru_cache

NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@lru_cache(maxsize=None)
def _dataset(name: str):
    import reasoning_gym

    return reasoning_gym.create_dataset(name, size=1, seed=0)


def extract_answer(response: str) -> str:
    numbers = NUMBER.findall(str(response).replace(",", ""))
    return numbers[-1] if numbers else str(response).strip()


def score(prompt, response, reference) -> float:
    ref = json.loads(reference) if isinstance(reference, str) else reference
    entry = {"question": prompt, "answer": ref["answer"], "metadata": ref.get("metadata", {})}
    return float(_dataset(ref["datasource"]).score_answer(extract_answer(response), entry))
