"""LinkedIn's engagement figures, as data and pure functions (the reads are the adapter's).

An organization's posts: ``GET /rest/organizationalEntityShareStatistics?q=organizationalEntity
&organizationalEntity={org}&shares=List(…)&ugcPosts=List(…)`` (Community Management API,
``rw_organization_admin``), lifetime totals per post in ``totalShareStatistics``. Its
followers: ``GET /rest/networkSizes/{org}?edgeType=COMPANY_FOLLOWED_BY_MEMBER``
(``firstDegreeSize``). Both under the versioned REST API, URNs encoded as Rest.li 2.0 wants.

A member's posts report nothing here: their figures (``memberCreatorPostAnalytics``) and
follower count are given only to apps LinkedIn approved for ``r_member_postAnalytics``, which
this adapter does not ask for. Such a post reads as unavailable, never as zero.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from publisher.adapters.engagement import (
    CLICKS,
    IMPRESSIONS,
    LIKES,
    REPLIES,
    REPOSTS,
    Engagement,
    PostNumbers,
    numbers_from,
)

# Our name: LinkedIn's, in totalShareStatistics.
SHARE_STATISTICS: Mapping[str, str] = {
    LIKES: "likeCount",
    REPOSTS: "shareCount",
    REPLIES: "commentCount",
    IMPRESSIONS: "impressionCount",
    CLICKS: "clickCount",
}
EXTRA_STATISTICS: Mapping[str, str] = {"unique_impressions": "uniqueImpressionsCount"}
# LinkedIn documents no limit on the lists; 20 URNs keep the URL well under any proxy's.
READ_BATCH = 20
FOLLOWERS_EDGE = "COMPANY_FOLLOWED_BY_MEMBER"
ORGANIZATION = re.compile(r"urn:li:organization:\d+")
# Where each kind of post URN goes in the query, and the key naming it in an element.
POST_LISTS: Mapping[str, str] = {"urn:li:share:": "shares", "urn:li:ugcPost:": "ugcPosts"}
LIST_KEYS: Mapping[str, str] = {"shares": "share", "ugcPosts": "ugcPost"}

ENGAGEMENT = Engagement(
    metrics=tuple(SHARE_STATISTICS),
    batch=READ_BATCH,
    limits=(
        "organization pages only: a member's posts and follower count are given only to apps "
        "LinkedIn approved for r_member_postAnalytics, so a member account's figures read "
        "as unavailable and its follower count is not read; likes are reactions of every kind"
    ),
)


def statistics_query(organization: str, urns: Sequence[str]) -> str:
    """The query of one statistics read (``urns``: shares and ugcPosts, as ``POST_LISTS``)."""
    parts = [
        "q=organizationalEntity",
        f"organizationalEntity={quote(organization, safe='')}",
    ]
    for prefix, name in POST_LISTS.items():
        listed = [quote(u, safe="") for u in urns if u.startswith(prefix)]
        if listed:
            parts.append(f"{name}=List({','.join(listed)})")
    return "&".join(parts)


def organization_of(author: str) -> str | None:
    """The author's URN when it is an organization (a page); None for a member."""
    return author if ORGANIZATION.fullmatch(author) else None


def readable(urn: str) -> bool:
    """Whether ``urn`` is a post the statistics read takes."""
    return urn.startswith(tuple(POST_LISTS)) and urn.rsplit(":", 1)[-1].isdigit()


def statistics_by_post(doc: Any) -> dict[str, PostNumbers]:
    """Each post's figures, from the answer's elements, by the post's URN."""
    elements = doc.get("elements") if isinstance(doc, dict) else None
    found: dict[str, PostNumbers] = {}
    for element in elements if isinstance(elements, list) else []:
        if not isinstance(element, dict):
            continue
        urn = next((element[k] for k in LIST_KEYS.values() if isinstance(element.get(k), str)), "")
        stats = element.get("totalShareStatistics")
        if urn and isinstance(stats, dict):
            found[urn] = numbers_from(urn, stats, SHARE_STATISTICS, EXTRA_STATISTICS)
    return found
