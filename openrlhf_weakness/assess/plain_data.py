"""A strict codec for values that cross the sandbox boundary: exact built-in types only, bounded in depth and size.

Both sides use it: the sandboxed child encodes the candidate's outputs, the scorer decodes them. Only ``None``,
``bool``, ``int``, ``float``, ``str``, ``list``, ``tuple``, ``dict``, ``set`` and ``frozenset`` of *exactly* those
types pass (a subclass, or any other object, is refused), floats travel as ``float.hex`` so they come back bit-exact,
and tuples stay tuples. Standard library only: the sandbox imports this file by path, without the package.
"""

import json

MAX_DEPTH = 64
MAX_ITEMS = 1_000_000
TAGS = {"l": list, "t": tuple, "S": set, "F": frozenset}


class PlainDataError(ValueError):
    """A value that is not plain data, or a document that does not decode to it."""


def encode(value, _type=type, _len=len) -> list:
    """``value`` as a JSON-ready tagged tree; raises PlainDataError for anything that is not exact plain data."""
    budget = [MAX_ITEMS]

    def enc(v, depth):
        budget[0] -= 1
        if budget[0] < 0 or depth > MAX_DEPTH:
            raise PlainDataError("output too large or nested too deeply")
        kind = _type(v)
        if v is None:
            return ["n"]
        if kind is bool:
            return ["b", v]
        if kind is int:
            return ["i", str(v)]
        if kind is float:
            return ["f", v.hex()]
        if kind is str:
            return ["s", v]
        for tag, container in TAGS.items():
            if kind is container:
                return [tag, [enc(item, depth + 1) for item in v]]
        if kind is dict:
            return ["d", [[enc(k, depth + 1), enc(item, depth + 1)] for k, item in v.items()]]
        raise PlainDataError(f"an output of type {kind.__name__} is not plain data")

    return enc(value, 0)


def decode(tree) -> object:
    """The value a tagged tree stands for; raises PlainDataError on any malformed or unknown node."""
    budget = [MAX_ITEMS]

    def dec(node, depth):
        budget[0] -= 1
        if budget[0] < 0 or depth > MAX_DEPTH:
            raise PlainDataError("value too large or nested too deeply")
        if type(node) is not list or not node or type(node[0]) is not str:
            raise PlainDataError("malformed node")
        tag, body = node[0], node[1:]
        if tag == "n" and not body:
            return None
        if len(body) != 1:
            raise PlainDataError(f"malformed node {tag!r}")
        (payload,) = body
        if tag == "b" and type(payload) is bool:
            return payload
        if tag == "i" and type(payload) is str and len(payload) <= 4300:
            return int(payload)
        if tag == "f" and type(payload) is str and len(payload) <= 40:
            return float.fromhex(payload)
        if tag == "s" and type(payload) is str:
            return payload
        if tag in TAGS and type(payload) is list:
            return TAGS[tag](dec(item, depth + 1) for item in payload)
        if tag == "d" and type(payload) is list:
            if not all(type(pair) is list and len(pair) == 2 for pair in payload):
                raise PlainDataError("malformed dict")
            return {dec(k, depth + 1): dec(v, depth + 1) for k, v in payload}
        raise PlainDataError(f"malformed node {tag!r}")

    try:
        return dec(tree, 0)
    except (TypeError, ValueError, OverflowError) as err:  # an unhashable key, a bad number
        raise PlainDataError(f"{type(err).__name__}: {err}") from None


def dumps(value) -> str:
    return json.dumps(encode(value), separators=(",", ":"))


def loads(text: str | bytes):
    try:
        tree = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise PlainDataError(f"not a plain-data document: {type(err).__name__}") from None
    return decode(tree)
