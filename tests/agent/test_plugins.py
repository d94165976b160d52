"""Plugin tools: loaded from entry points next to the built-ins; a broken one is named."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from agent import ENTRY_POINT_GROUP, PluginError, load_tool_catalog
from tests.agent.conftest import MemoryContext

SAMPLES = "tests.agent.plugin_samples"


def point(name: str, target: str) -> EntryPoint:
    return EntryPoint(name, f"{SAMPLES}:{target}", ENTRY_POINT_GROUP)


async def test_plugin_tools_join_the_builtins() -> None:
    catalog = load_tool_catalog([point("whisper", "make_whisper"), point("shout", "shout_tool")])
    registry = catalog.registry
    assert registry.names() == ["calculator", "clock", "remember", "recall", "shout", "whisper"]
    assert catalog.plugins == {"shout": SAMPLES, "whisper": SAMPLES}
    shout = registry.get("shout")
    assert shout is not None and shout.spec.side_effects is False
    assert not registry.needs_approval("shout")
    assert await shout.run({"text": "hi"}, MemoryContext()) == {"text": "HI"}
    with pytest.raises(Exception, match="'text' is a required property"):
        registry.validate("shout", {})


def test_no_plugins_means_the_builtins() -> None:
    assert load_tool_catalog([]).registry.names() == ["calculator", "clock", "remember", "recall"]
    assert load_tool_catalog([]).plugins == {}


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (EntryPoint("gone", "no_such_module:tool", ENTRY_POINT_GROUP), "cannot be imported"),
        (point("shout", "missing_attribute"), "cannot be imported"),
        (point("failing", "failing_factory"), "its factory failed: RuntimeError: no config"),
        (point("shout", "not_a_tool"), "it is a dict, not a Tool"),
        (point("bad_schema", "bad_schema"), "not a valid JSON Schema"),
        (point("yell", "shout_tool"), "the tool is called 'shout', not 'yell'"),
        (point("clock", "clock_again"), "another tool is already called 'clock'"),
        (point("two words", "spaced_name"), "a tool name is 1 to 64 of A-Z a-z 0-9 _ -"),
    ],
)
def test_a_broken_plugin_is_named_in_one_line(entry: EntryPoint, reason: str) -> None:
    with pytest.raises(PluginError) as info:
        load_tool_catalog([point("shout", "shout_tool"), entry])
    message = str(info.value)
    assert message.startswith(f"plugin tool {entry.name!r} ({entry.value}) is broken: ")
    assert reason in message
    assert "\n" not in message and len(message) < 500
