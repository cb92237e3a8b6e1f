"""What a published post earned, as a network reports it: the engagement capability.

A network that can read its posts' numbers declares ``Adapter.engagement`` (an
``Engagement``: which figures, how many posts one read takes, whether collection is on unless
the operator says otherwise) and implements ``Adapter.read_engagement`` and
``Adapter.read_followers``. The engine decides when to read (``publisher.engagement``); the
adapter only reads, through the same HTTP boundary and the same four error classes as
publishing (a read creates nothing, so it is never ambiguous).

Figures carry the shared names below, so weeks and networks compare: a network's own word
for one of them (Facebook's reactions, Mastodon's favourites) is mapped in its adapter.
A figure the network did not give for a post is absent from ``counts`` and named in
``unavailable`` (a partial answer), never reported as zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

LIKES = "likes"
REPOSTS = "reposts"
REPLIES = "replies"
QUOTES = "quotes"
IMPRESSIONS = "impressions"
CLICKS = "clicks"

# The figures every report knows, in the order reports show them. A network may report
# others (``Engagement.metrics`` names them); reports keep them per network.
STANDARD_METRICS = (LIKES, REPOSTS, REPLIES, QUOTES, IMPRESSIONS, CLICKS)

# What "engagement" sums in reports: the interactions a person made, not views.
INTERACTIONS = (LIKES, REPOSTS, REPLIES, QUOTES)


@dataclass(frozen=True)
class Engagement:
    """A network's engagement reading, as data."""

    metrics: tuple[str, ...]  # the figures it can report (STANDARD_METRICS names first)
    batch: int = 1  # how many posts one read takes (Bluesky getPosts: 25; X: 100)
    followers: bool = True  # can it read the account's follower count?
    on_by_default: bool = True  # X: False, its reads are paid
    # Said plainly where it matters: what this network (or this kind of account) cannot
    # report, shown by ``accounts check`` and the engagement audit.
    limits: str = ""


@dataclass(frozen=True)
class PostNumbers:
    """One post's figures at the moment of the read."""

    remote_id: str
    counts: Mapping[str, int]
    unavailable: tuple[str, ...] = ()  # figures asked for and not given (partial answer)
    extra: Mapping[str, int] = field(default_factory=dict)  # network-specific figures


@dataclass(frozen=True)
class PostGone:
    """The network says the post is not there any more (deleted: 404, 410, or absent from
    a batch answer that names it as not found). It is marked gone and read no more."""

    remote_id: str
    reason: str


PostReading = PostNumbers | PostGone


def count_of(value: object) -> int | None:
    """A figure as a network gave it: a whole number of zero or more, or None (absent,
    null, negative, a string, a boolean: not a count)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def post_numbers(
    remote_id: str,
    given: Mapping[str, object],
    asked: Sequence[str],
    *,
    extra: Mapping[str, object] | None = None,
) -> PostNumbers:
    """A post's reading from what the network gave, by our names: each figure ``asked`` for
    whose value in ``given`` is a count (``count_of``) is in ``counts``; every other one is
    named in ``unavailable``, never reported as zero. ``extra`` keeps the network's own
    figures that are counts."""
    counts: dict[str, int] = {}
    missing: list[str] = []
    for name in asked:
        value = count_of(given.get(name))
        if value is None:
            missing.append(name)
        else:
            counts[name] = value
    kept: dict[str, int] = {}
    for name, raw in (extra or {}).items():
        value = count_of(raw)
        if value is not None:
            kept[name] = value
    return PostNumbers(remote_id, counts, tuple(missing), kept)


def nothing_read(remote_id: str, asked: Sequence[str]) -> PostNumbers:
    """A post whose figures the network did not give at all (not gone, not counted)."""
    return PostNumbers(remote_id, {}, tuple(asked))


def chunked(ids: Sequence[str], size: int) -> list[Sequence[str]]:
    """``ids`` in reads of at most ``size`` (at least one per read), in order."""
    step = max(size, 1)
    return [ids[i : i + step] for i in range(0, len(ids), step)]
