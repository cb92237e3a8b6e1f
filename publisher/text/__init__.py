"""The shared text layer: each network's length rule, entity detection and thread splitting.

Everything here is pure and deterministic; indexes are Python ``str`` (code point) indexes
unless a docstring says otherwise (``XParseResult`` ranges are UTF-16, as X reports them).
"""

from publisher.text.entities import Entity, EntityKind, find_entities
from publisher.text.graphemes import grapheme_length
from publisher.text.lengths import count_length, mastodon_length
from publisher.text.split import split_thread
from publisher.text.twitter import XParseResult, x_parse, x_weighted_length

__all__ = [
    "Entity",
    "EntityKind",
    "XParseResult",
    "count_length",
    "find_entities",
    "grapheme_length",
    "mastodon_length",
    "split_thread",
    "x_parse",
    "x_weighted_length",
]
