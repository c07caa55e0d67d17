"""Score file for ``--assess.assessor function``: 1 when the answer, spaces normalised, equals the reference."""


def score(prompt, response, reference) -> float:
    return 1.0 if " ".join(str(response).split()) == " ".join(str(reference).split()) else 0.0
