"""Entity tags of versioned resources, and the conditional headers that name them (RFC 9110)."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_VERSION = 2**31 - 1  # versions are 32-bit integer columns

# One entity-tag: an optional weak marker, then an opaque tag in double quotes.
_ENTITY_TAG = re.compile(r'(W/)?"([\x21\x23-\x7e]*)"')


@dataclass(frozen=True, slots=True)
class EntityTag:
    """One entity-tag of a conditional header."""

    weak: bool
    opaque: str

    @property
    def version(self) -> int | None:
        """The version this tag names, if its opaque part is one (ASCII digits, 32-bit)."""
        text = self.opaque
        if not (text.isascii() and text.isdigit()) or len(text) > 10:
            return None  # "²" or "١" pass str.isdigit(); they name no version
        number = int(text)
        return number if number <= MAX_VERSION else None


def etag(version: int) -> str:
    """Return the strong ETag of a version."""
    return f'"{version}"'


def parse_tags(value: str) -> list[EntityTag] | None:
    """Parse `*` (None) or a comma-separated list of entity-tags; [] if malformed."""
    value = value.strip(" \t")
    if value == "*":
        return None
    tags = []
    for part in value.split(","):
        match = _ENTITY_TAG.fullmatch(part.strip(" \t"))
        if match is None:
            return []
        tags.append(EntityTag(weak=match.group(1) is not None, opaque=match.group(2)))
    return tags


def strong_versions(value: str) -> list[int] | None:
    """The versions an If-Match names: None for `*`, else its strong tags' versions.

    If-Match uses the strong comparison: a weak tag (`W/"3"`) never matches.
    """
    tags = parse_tags(value)
    if tags is None:
        return None
    return sorted({v for tag in tags if not tag.weak and (v := tag.version) is not None})


def none_match(value: str, version: int) -> bool:
    """Whether an If-None-Match matches `version` (the weak comparison: `W/` is ignored)."""
    tags = parse_tags(value)
    return tags is None or any(tag.version == version for tag in tags)
