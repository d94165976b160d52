"""The rules every stored text and JSON value follows, so that every later read works.

Both databases must store a value and give it back, and every answer that
holds it must be able to serialise it again. So, in text and in JSON alike:

- no NUL characters: PostgreSQL refuses them in `text` and `jsonb`;
- no lone surrogates (half of a UTF-16 pair): they have no UTF-8 form, so
  neither a response nor a backup file could be written;
- numbers are finite: JSON has no NaN or Infinity, and `jsonb` refuses them;
- objects and arrays nest at most `MAX_JSON_DEPTH` levels: much deeper values
  are stored, then cannot be serialised back (every read answers 500).

HTTP input is validated with these rules, and so is everything a model or a
tool hands to the database; text from a model is cleaned instead (`clean_text`).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, TypeVar

# Levels of objects and arrays: `{}` is one level, `{"a": [1]}` two. Far below the
# response serialiser's limit (pydantic-core gives up near 255 levels), which leaves
# room for the envelopes a value is sent in (arguments sit two levels down in tool_calls).
MAX_JSON_DEPTH = 64

_UNSTORABLE_CHAR = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT_CHARACTER = "\ufffd"

JsonValue = TypeVar("JsonValue")


class Unstorable(ValueError):
    """A value breaks a storage rule; the message says where (a path) and why."""


def text_problem(text: str) -> str | None:
    """Say why a text cannot be stored, or None if it can."""
    found = _UNSTORABLE_CHAR.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "must not contain NUL characters"
    return "must be valid Unicode (no lone surrogates)"


def clean_text(text: str) -> str:
    """Return the text with each NUL and lone surrogate replaced by U+FFFD."""
    return _UNSTORABLE_CHAR.sub(REPLACEMENT_CHARACTER, text)


def check_text(text: str) -> str:
    """Return the text if it can be stored, else raise Unstorable."""
    problem = text_problem(text)
    if problem is not None:
        raise Unstorable(problem)
    return text


def check_json(value: JsonValue, max_depth: int = MAX_JSON_DEPTH) -> JsonValue:
    """Return the JSON value if it can be stored, else raise Unstorable naming the first path found.

    Iterative, so that hostile nesting cannot exhaust the interpreter's stack,
    and it stops at the depth limit without walking what lies below.
    """
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(value, 0, ())]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, str):
            _raise_if(text_problem(item), path)
        elif isinstance(item, float):
            _raise_if(None if math.isfinite(item) else "must be a finite number", path)
        elif item is None or isinstance(item, int):  # bool is an int
            continue
        elif isinstance(item, dict | list | tuple):
            if depth >= max_depth:
                _raise_if(f"must not nest deeper than {max_depth} levels", path)
            stack.extend(_children(item, depth + 1, path))
        else:
            _raise_if(f"must be JSON, not {type(item).__name__}", path)
    return value


def _children(
    item: dict[Any, Any] | list[Any] | tuple[Any, ...], depth: int, path: tuple[str | int, ...]
) -> list[tuple[Any, int, tuple[str | int, ...]]]:
    """The members of an object or array with their depth and path; object keys checked."""
    if not isinstance(item, dict):
        return [(child, depth, (*path, index)) for index, child in enumerate(item)]
    for key in item:
        if not isinstance(key, str):
            _raise_if("object keys must be strings", path)
        _raise_if(text_problem(key), (*path, key))
    return [(child, depth, (*path, key)) for key, child in item.items()]


def _raise_if(problem: str | None, path: tuple[str | int, ...]) -> None:
    if problem is None:
        return
    if not path:
        raise Unstorable(problem)
    raise Unstorable(f"{describe_path(path)}: {problem}")


def describe_path(path: tuple[str | int, ...]) -> str:
    """Render a path as `a.b[0].c`, with unstorable characters cleaned (it is echoed back)."""
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)
    return clean_text(text.lstrip("."))


def json_size(value: Any) -> int:
    """The size of a JSON value as stored: UTF-8 bytes of compact JSON, non-ASCII unescaped."""
    encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return len(encoded.encode())
