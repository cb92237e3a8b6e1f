"""The shared text layer: length rules, entity detection and thread splitting.

Everything here is pure and deterministic, and imports nothing from the rest of the project;
indexes are Python ``str`` (code point) indexes unless a docstring says otherwise
(``XParseResult`` ranges are UTF-16, as X reports them).
"""

from publisher.text.entities import (
    Entity,
    EntityKind,
    extract_mentions,
    extract_urls,
    find_entities,
)
from publisher.text.graphemes import grapheme_length
from publisher.text.lengths import LengthRule, code_points, utf16_units
from publisher.text.split import split_thread
from publisher.text.twitter import XParseResult, x_parse, x_weighted_length

__all__ = [
    "Entity",
    "EntityKind",
    "LengthRule",
    "XParseResult",
    "code_points",
    "extract_mentions",
    "extract_urls",
    "find_entities",
    "grapheme_length",
    "split_thread",
    "utf16_units",
    "x_parse",
    "x_weighted_length",
]
