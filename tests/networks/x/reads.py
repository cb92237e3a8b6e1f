"""The X server's engagement reads: ``GET /2/tweets`` (Get Posts by IDs) and the follower
count of ``GET /2/users/me``, in the shapes of the vendored OpenAPI document
(``GetPostsByIdsResponse``, ``PostPublicMetrics``, ``UserPublicMetrics``); the server
validates every answer against it.

A post the server holds is in ``data``; one it never held or that was deleted is a
``resource-not-found`` problem in ``errors`` (a 200 all the same, as X answers); one whose
author is suspended is ``not-authorized-for-resource``. Figures not set read as zero.
``non_public_metrics`` are served for posts under 30 days old; asked of an older one, X
answers a ``not-authorized-for-field`` problem, and the server also records it as a problem
of the client's (an adapter must not ask: X bills the read all the same).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

NOT_FOUND = "https://api.x.com/2/problems/resource-not-found"
NOT_AUTHORIZED = "https://api.x.com/2/problems/not-authorized-for-resource"
NOT_AUTHORIZED_FIELD = "https://api.x.com/2/problems/not-authorized-for-field"
NON_PUBLIC_DAYS = timedelta(days=30)
# PostPublicMetrics, all required by the document.
PUBLIC_METRICS = (
    "bookmark_count",
    "impression_count",
    "like_count",
    "quote_count",
    "reply_count",
    "repost_count",
)
USER_METRICS = {"following_count": 180, "post_count": 2400, "listed_count": 12}


@dataclass
class Reads:
    """What the engagement endpoints answer; tests set it."""

    followers: int = 1200
    figures: dict[str, dict[str, int]] = field(default_factory=dict)  # post id: metrics
    deleted: set[str] = field(default_factory=set)
    hidden: set[str] = field(default_factory=set)  # suspended author: not authorized
    private: dict[str, dict[str, int]] = field(default_factory=dict)  # non_public_metrics

    def set(self, post_id: str, **metrics: int) -> None:
        unknown = set(metrics) - set(PUBLIC_METRICS)
        assert not unknown, f"not public_metrics: {unknown}"
        self.figures.setdefault(post_id, {}).update(metrics)


def _problem(kind: str, post_id: str) -> dict[str, Any]:
    if kind == NOT_FOUND:
        detail, title = f"Could not find tweet with ids: [{post_id}].", "Not Found Error"
    else:
        detail = f"Sorry, you are not authorized to see the Tweet with ids: [{post_id}]."
        title = "Authorization Error"
    return {
        "value": post_id,
        "detail": detail,
        "title": title,
        "resource_type": "tweet",
        "parameter": "ids",
        "resource_id": post_id,
        "type": kind,
    }


def posts_by_ids(
    reads: Reads,
    held: Mapping[str, tuple[str, datetime]],
    ids: list[str],
    fields: set[str],
    now: datetime,
) -> tuple[dict[str, Any], list[str]]:
    """The answer to ``GET /2/tweets?ids=…`` and the client's faults in asking it: ``held``
    maps the server's post ids to their text and creation time."""
    data: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    faults: list[str] = []
    for post_id in ids:
        if post_id not in held or post_id in reads.deleted:
            errors.append(_problem(NOT_FOUND, post_id))
            continue
        if post_id in reads.hidden:
            errors.append(_problem(NOT_AUTHORIZED, post_id))
            continue
        text, created = held[post_id]
        item: dict[str, Any] = {"id": post_id, "text": text, "edit_history_tweet_ids": [post_id]}
        if "public_metrics" in fields:
            given = reads.figures.get(post_id, {})
            item["public_metrics"] = {name: given.get(name, 0) for name in PUBLIC_METRICS}
        if "non_public_metrics" in fields and now - created < NON_PUBLIC_DAYS:
            item["non_public_metrics"] = {
                "impression_count": reads.figures.get(post_id, {}).get("impression_count", 0),
                "user_profile_clicks": 0,
                **reads.private.get(post_id, {}),
            }
        elif "non_public_metrics" in fields:
            faults.append(f"non_public_metrics asked of {post_id}, created {created:%Y-%m-%d}")
            errors.append(
                {
                    "value": post_id,
                    "detail": "Sorry, you are not authorized to access 'non_public_metrics' on "
                    "a Tweet older than 30 days.",
                    "title": "Field Authorization Error",
                    "resource_type": "tweet",
                    "parameter": "non_public_metrics",
                    "resource_id": post_id,
                    "section": "data",
                    "field": "non_public_metrics",
                    "type": NOT_AUTHORIZED_FIELD,
                }
            )
        data.append(item)
    doc: dict[str, Any] = {}
    if data:
        doc["data"] = data
    if errors:
        doc["errors"] = errors
    return doc, faults


def user_metrics(reads: Reads) -> dict[str, int]:
    """``public_metrics`` of the account (UserPublicMetrics)."""
    return {"followers_count": reads.followers, **USER_METRICS}
