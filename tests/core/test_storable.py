"""The storage rules: no NUL, no lone surrogates, finite numbers, bounded nesting."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.storable import (
    MAX_JSON_DEPTH,
    Unstorable,
    check_json,
    check_text,
    clean_text,
    json_size,
)


def nested(levels: int) -> Any:
    """`levels` arrays inside each other around a 1 (`[[1]]` is two levels)."""
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"a": [1, 2.5, True, None, "é ☃ 😀"], "b": {"c": -0.0}},
        nested(MAX_JSON_DEPTH),
        {"k": nested(MAX_JSON_DEPTH - 1)},
        "plain",
        10**100,
    ],
)
def test_storable_values_pass_unchanged(value: Any) -> None:
    assert check_json(value) is value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": "x\x00y"}, "a: must not contain NUL characters"),
        ({"a": [1, "\ud800"]}, "a[1]: must be valid Unicode (no lone surrogates)"),
        ({"k\x00": 1}, "k\ufffd: must not contain NUL characters"),
        ({"\udfff": 1}, "\ufffd: must be valid Unicode (no lone surrogates)"),
        ({"n": float("nan")}, "n: must be a finite number"),
        ({"n": [float("inf")]}, "n[0]: must be a finite number"),
        ({"n": -float("inf")}, "n: must be a finite number"),
        (nested(MAX_JSON_DEPTH + 1), f"must not nest deeper than {MAX_JSON_DEPTH} levels"),
        ({1: "x"}, "object keys must be strings"),
        ({"s": {1, 2}}, "s: must be JSON, not set"),
    ],
)
def test_unstorable_values_name_the_path_and_the_rule(value: Any, message: str) -> None:
    with pytest.raises(Unstorable) as info:
        check_json(value)
    assert message in str(info.value)
    assert check_text(str(info.value))  # the message itself can be stored and echoed


def test_deep_nesting_is_refused_without_recursion() -> None:
    with pytest.raises(Unstorable, match="deeper than"):
        check_json(nested(1_000_000))


def test_text_rules_and_cleaning() -> None:
    assert check_text("héllo 😀") == "héllo 😀"
    for bad in ("a\x00b", "a\ud800b", "\udc80"):
        with pytest.raises(Unstorable):
            check_text(bad)
    assert clean_text("a\x00b\ud800c\udfff") == "a\ufffdb\ufffdc\ufffd"
    assert clean_text("fine 😀") == "fine 😀"


def test_json_size_counts_utf8_bytes_not_escapes() -> None:
    value = {"m": "é" * 10, "k": [1, 2]}
    assert json_size(value) == len('{"m":"","k":[1,2]}') + 20
    assert json_size(value) < len(json.dumps(value, separators=(",", ":")))
