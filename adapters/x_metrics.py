"""X's engagement figures, as data and pure functions (the reads are ``XAdapter``'s).

``GET /2/tweets?ids=…`` (Get Posts by IDs, up to 100 ids) answers each post it has in
``data`` and each it has not in ``errors``, a 200 either way. Its ``public_metrics`` are
read for every post; ``non_public_metrics`` (link clicks, profile clicks) only exist for the
account's own posts created within the last 30 days (docs.x.com/x-api/fundamentals/metrics),
so they are asked for those alone, their age told by the id (X ids are snowflakes: the
creation time in milliseconds since X's epoch, shifted 22 bits left).

X bills every post read on its pay-per-use API: collection is off unless the account asks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from publisher.adapters.engagement import (
    CLICKS,
    IMPRESSIONS,
    LIKES,
    QUOTES,
    REPLIES,
    REPOSTS,
    Engagement,
    PostGone,
    PostNumbers,
    PostReading,
    numbers_from,
)

# Our name: X's, in public_metrics (docs.x.com/x-api/fundamentals/metrics). X's live answers
# say retweet_count where its OpenAPI document (PostPublicMetrics) says repost_count: either is
# read (``figures``).
PUBLIC_METRICS: Mapping[str, str] = {
    LIKES: "like_count",
    REPOSTS: "retweet_count",
    REPLIES: "reply_count",
    QUOTES: "quote_count",
    IMPRESSIONS: "impression_count",
}
REPOST_ALIAS = "repost_count"
# non_public_metrics: url_link_clicks is our clicks (absent on a post without a link: then
# unavailable); user_profile_clicks is kept beside the figures.
NON_PUBLIC_METRICS: Mapping[str, str] = {CLICKS: "url_link_clicks"}
NON_PUBLIC_EXTRA: Mapping[str, str] = {"profile_clicks": "user_profile_clicks"}
READ_BATCH = 100
NOT_FOUND_PROBLEM = "https://api.x.com/2/problems/resource-not-found"
NON_PUBLIC_AGE = timedelta(days=30) - timedelta(hours=1)  # a margin for clocks and the read
SNOWFLAKE_EPOCH_MS = 1288834974657

ENGAGEMENT = Engagement(
    metrics=(*PUBLIC_METRICS, CLICKS),
    batch=READ_BATCH,
    on_by_default=False,
    limits=(
        "X bills every post read (pay-per-use API): collection is off for X unless the "
        "account sets engagement = [...]; link clicks only for posts under 30 days old "
        "that carry a link"
    ),
)


def created_at(post_id: str) -> datetime | None:
    """When X created the post, from its snowflake id; None for an id that is not one."""
    if not post_id.isdigit() or len(post_id) > 19:
        return None
    millis = (int(post_id) >> 22) + SNOWFLAKE_EPOCH_MS
    return datetime.fromtimestamp(millis / 1000, UTC)


def by_fields(ids: Sequence[str], now: datetime) -> dict[tuple[str, ...], list[str]]:
    """The ids grouped by the ``tweet.fields`` to ask for them: the non-public metrics only
    for posts under 30 days old (asking them of an older one is an error of X's)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for post_id in ids:
        created = created_at(post_id)
        recent = created is not None and now - created < NON_PUBLIC_AGE
        fields = ("public_metrics", "non_public_metrics") if recent else ("public_metrics",)
        groups.setdefault(fields, []).append(post_id)
    return groups


def readings(doc: Mapping[str, Any], ids: Sequence[str], non_public: bool) -> list[PostReading]:
    """One reading per id from the answer to one read; ``non_public``: they were asked."""
    data = _objects(doc.get("data"))
    found = {item["id"]: item for item in data if isinstance(item.get("id"), str)}
    gone = {
        str(err.get("resource_id") or err.get("value")): str(err.get("detail") or "not found")
        for err in _objects(doc.get("errors"))
        if err.get("type") == NOT_FOUND_PROBLEM
    }
    out: list[PostReading] = []
    for post_id in ids:
        if post_id in found:
            out.append(figures(post_id, found[post_id], non_public))
        elif post_id in gone:
            out.append(PostGone(post_id, f"X: {gone[post_id]}"))
        else:  # a suspended author, withheld, or left out: not counted this time
            out.append(PostNumbers(post_id, {}, ENGAGEMENT.metrics))
    return out


def figures(post_id: str, post: Mapping[str, Any], non_public: bool) -> PostNumbers:
    """A post's figures: its public metrics, and its non-public ones when they were asked
    (not asked, clicks are unavailable)."""
    public = _object(post.get("public_metrics"))
    private = _object(post.get("non_public_metrics")) if non_public else {}
    flat = {**private, **public}
    flat.setdefault(PUBLIC_METRICS[REPOSTS], public.get(REPOST_ALIAS))
    names = {**PUBLIC_METRICS, **NON_PUBLIC_METRICS}
    return numbers_from(post_id, flat, names, NON_PUBLIC_EXTRA if non_public else None)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _objects(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON array (``data``, ``errors``); anything else: none."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
