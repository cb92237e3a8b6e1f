"""Reading a newest-first stream (notifications, a hashtag timeline, a search) from a kept
place, for ``read_inbox`` and ``search`` (issue 20).

Networks page these streams from the newest item down. To resume without losing anything,
the place keeps the ``floor`` (the newest item every older one of which has been read) and,
while a read is walking down towards it, the ``ceiling`` (the newest item when that walk
began) and the network's token for the next older page. Items that arrive during a walk are
above the ceiling: the read after the walk finds them. The first read ever (no floor) takes
the newest page only, never the history. A page may repeat items (the store keeps one).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from publisher.adapters.listening import Heard, HeardPage

PAGES_PER_READ = 3  # a read takes at most this many pages of one stream; ``more`` says the rest


@dataclass(frozen=True)
class Place:
    """Where one stream resumes; see the module's docstring."""

    floor: str | None = None
    ceiling: str | None = None
    next: str | None = None  # set while walking down

    def to_json(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v is not None}

    @classmethod
    def from_json(cls, raw: Any) -> Place:
        if not isinstance(raw, dict):
            return cls()
        values = {k: raw.get(k) for k in ("floor", "ceiling", "next")}
        if not all(v is None or isinstance(v, str) for v in values.values()):
            return cls()
        place = cls(**values)
        if (place.next is None) != (place.ceiling is None):  # half a walk: read afresh
            return cls(floor=place.floor)
        return place


@dataclass(frozen=True)
class Page:
    """One page as the network gave it, newest first."""

    items: Sequence[Heard]  # the ones to report (already cut at the floor by the reader)
    newest: str | None  # the key of the newest item on the page (even one not reported)
    older: str | None  # the token of the next older page; None: the stream ends here
    reached: bool  # the page reaches down to the floor: nothing below it is new


Fetch = Callable[[Place], Awaitable[Page]]


async def walk(place: Place, fetch: Fetch, *, empty_floor: str | None = None) -> tuple[
    list[Heard], Place, bool
]:
    """Read down from ``place`` at most ``PAGES_PER_READ`` pages: the items, the new place,
    and whether more is waiting. ``fetch`` is given the place to read the page at (its
    ``next`` token, its ``floor``). ``empty_floor``: the floor to keep when the first read
    finds nothing, so that everything after it is read (None: the next read is first again)."""
    heard: list[Heard] = []
    for _ in range(PAGES_PER_READ):
        page = await fetch(place)
        heard.extend(page.items)
        walking = place.next is not None
        top = place.ceiling if walking else (page.newest or place.floor)
        if place.floor is None:  # the first read: the newest page only
            return heard, Place(floor=page.newest or empty_floor), False
        if page.reached or page.older is None:
            return heard, Place(floor=top), False
        place = Place(floor=place.floor, ceiling=top, next=page.older)
    return heard, place, True


async def walk_terms(
    terms: Sequence[str],
    cursor: str | None,
    fetch_for: Callable[[str], Fetch],
    *,
    empty_floor: str | None = None,
) -> HeardPage:
    """A watch's search: each term its own stream, all their places in one cursor (a term
    dropped from the watch is forgotten, a new one starts at its newest page)."""
    kept = decode(cursor)
    places: dict[str, Place] = {}
    found: list[Heard] = []
    more = False
    for term in dict.fromkeys(t.strip() for t in terms if t.strip()):
        items, places[term], waiting = await walk(
            kept.get(term, Place()), fetch_for(term), empty_floor=empty_floor
        )
        found.extend(items)
        more = more or waiting
    return HeardPage(tuple(found), encode(places), more)


def encode(places: Mapping[str, Place]) -> str:
    """The cursor the engine keeps for these streams (by name: "inbox", or a watch term)."""
    return json.dumps({"v": 1, "places": {k: p.to_json() for k, p in places.items()}})


def decode(cursor: str | None) -> dict[str, Place]:
    """The places a cursor of ours holds; one it cannot read (from another version, or
    damaged): none, so every stream starts afresh at its newest page."""
    if not cursor:
        return {}
    try:
        doc = json.loads(cursor)
    except ValueError:
        return {}
    places = doc.get("places") if isinstance(doc, dict) and doc.get("v") == 1 else None
    if not isinstance(places, dict):
        return {}
    return {str(k): Place.from_json(v) for k, v in places.items()}


def text_of(value: Any) -> str:
    return value if isinstance(value, str) else ""
