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

from collections.abc import Mapping
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


def counted(value: object) -> int | None:
    """A count as a network sends it: a non-negative integer (not a bool), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def numbers_from(
    remote_id: str,
    doc: Mapping[str, object],
    names: Mapping[str, str],
    extra: Mapping[str, str] | None = None,
) -> PostNumbers:
    """A post's figures from a network's JSON object: ``names`` maps each of our names to
    the network's key. A key absent (an older server: Mastodon's ``quotes_count`` came in
    4.5) or not a count is named in ``unavailable``, never read as zero."""
    counts: dict[str, int] = {}
    unavailable: list[str] = []
    for ours, theirs in names.items():
        value = counted(doc.get(theirs))
        if value is None:
            unavailable.append(ours)
        else:
            counts[ours] = value
    more = {}
    for ours, theirs in (extra or {}).items():
        value = counted(doc.get(theirs))
        if value is not None:
            more[ours] = value
    return PostNumbers(remote_id, counts, tuple(unavailable), more)
