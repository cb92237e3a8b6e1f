"""API versions a network serves only for a time: when each one ends, as data, and what
``accounts check`` tells the operator about the one configured. Pure: each takes ``now``.

A version the network no longer serves refuses every request (LinkedIn's 426, Graph's
deprecated-version errors): the adapters raise that as ``Attention.VERSION``, which holds the
account (nothing fails) until the operator moves the version; these warnings come a month
before, so it need not come to that.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType

# ``accounts check`` warns this long before a version's end.
VERSION_WARNING = timedelta(days=30)

# The Graph API's "Available until" dates (Facebook Pages, Instagram), from Meta's version
# table (developers.facebook.com/docs/graph-api/changelog/versions, as published in late
# 2026). v26.0's end is not published yet ("TBD"): no warning for it until it is added here.
GRAPH_END_OF_LIFE: Mapping[str, date] = MappingProxyType(
    {
        "v17.0": date(2025, 9, 12),
        "v18.0": date(2026, 1, 26),
        "v19.0": date(2026, 5, 21),
        "v20.0": date(2026, 9, 24),
        "v21.0": date(2027, 1, 21),
        "v22.0": date(2027, 5, 20),
        "v23.0": date(2027, 10, 8),
        "v24.0": date(2028, 2, 18),
        "v25.0": date(2028, 7, 29),
    }
)

# LinkedIn's sunset dates as its migrations table publishes them
# (learn.microsoft.com/linkedin/marketing/integrations/migrations). LinkedIn serves each
# monthly version "for a minimum of one year"; a version not listed here is reckoned to end
# on the 15th of its month a year later (the published sunsets fall on the 15th to 17th).
LINKEDIN_SUNSET: Mapping[str, date] = MappingProxyType(
    {
        "202510": date(2026, 10, 15),
        "202511": date(2026, 11, 16),
        "202601": date(2027, 1, 15),
        "202602": date(2027, 2, 15),
        "202603": date(2027, 3, 16),
    }
)

_GRAPH = re.compile(r"v(?P<major>\d+)\.(?P<minor>\d+)")
_LINKEDIN = re.compile(r"(?P<year>\d{4})(?P<month>\d{2})(?:\.\d{2})?")


def _instant(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def graph_end_of_life(version: str) -> datetime | None:
    """When Graph stops serving ``version`` (``v23.0``); None when it is not published. A
    version older than every one in the table ended before the oldest of them."""
    if version in GRAPH_END_OF_LIFE:
        return _instant(GRAPH_END_OF_LIFE[version])
    m = _GRAPH.fullmatch(version)
    if m is None:
        return None
    oldest = min(GRAPH_END_OF_LIFE, key=lambda v: GRAPH_END_OF_LIFE[v])
    oldest_major = int(oldest[1:].split(".")[0])
    if int(m.group("major")) < oldest_major:
        return _instant(GRAPH_END_OF_LIFE[oldest])
    return None


def linkedin_sunset(version: str) -> datetime | None:
    """When LinkedIn stops serving ``version`` (``YYYYMM``, or ``YYYYMM.NN``): the published
    date, else the 15th of its month a year after its release; None if it is not a version."""
    m = _LINKEDIN.fullmatch(version)
    if m is None:
        return None
    base = f"{m.group('year')}{m.group('month')}"
    if base in LINKEDIN_SUNSET:
        return _instant(LINKEDIN_SUNSET[base])
    year, month = int(m.group("year")), int(m.group("month"))
    if not 1 <= month <= 12:
        return None
    return _instant(date(year + 1, month, 15))


def version_warning(what: str, setting: str, end: datetime | None, now: datetime) -> str | None:
    """What to tell the operator at ``now`` about a version (``what``, e.g. "LinkedIn-Version
    202511") that ends at ``end``; ``setting`` names the account's key to change. None: more
    than a month left, or no end known."""
    if end is None:
        return None
    when = f"{end:%Y-%m-%d}"
    if now >= end:
        return (
            f"{what} is no longer served (since {when}): set `{setting}` to a version "
            "served today, then reload the daemon"
        )
    left = end - now
    if left <= VERSION_WARNING:
        days = left.days
        soon = f"in {days} day{'s' if days != 1 else ''}" if days else "within a day"
        return f"{what} stops being served {soon} ({when}): move `{setting}` to a newer version"
    return None
