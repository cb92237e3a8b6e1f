"""The LinkedIn server's engagement reads, as strict as the rest of it.

* ``GET /rest/organizationalEntityShareStatistics?q=organizationalEntity&organizationalEntity=
  {org}&shares=List(…)&ugcPosts=List(…)``: every URN encoded (Rest.li 2.0), the organization
  the token administers (else 403 ``ACCESS_DENIED``), only those parameters. Each post of
  that organization the server holds gets an element with ``totalShareStatistics``; a post it
  does not hold (deleted) or that is someone else's gets none, as LinkedIn leaves them out.
* ``GET /rest/networkSizes/{org}?edgeType=COMPANY_FOLLOWED_BY_MEMBER``: ``firstDegreeSize``.

Shapes: learn.microsoft.com/linkedin/marketing/community-management/organizations/
share-statistics and .../organizations/follower-statistics (networkSizes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

STATISTICS = (
    "uniqueImpressionsCount", "shareCount", "engagement", "clickCount", "likeCount",
    "impressionCount", "commentCount",
)
LISTS = {"shares": "share", "ugcPosts": "ugcPost"}
LIST_VALUE = re.compile(r"List\(([^()]*)\)")


class Refused(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


@dataclass
class LinkedInReads:
    """What the engagement endpoints answer; tests set it."""

    followers: int = 2300
    figures: dict[str, dict[str, int]] = field(default_factory=dict)  # urn: statistics
    unprocessed: set[str] = field(default_factory=set)  # held, but no statistics yet

    def set(self, urn: str, **stats: int) -> None:
        unknown = set(stats) - set(STATISTICS)
        assert not unknown, f"not totalShareStatistics: {unknown}"
        self.figures.setdefault(urn, {}).update(stats)

    def statistics(self, query: str, organization: str, held: set[str]) -> dict[str, Any]:
        """The answer to a statistics read whose raw query is ``query``."""
        pairs = [p.partition("=") for p in query.split("&") if p]
        params = {k: v for k, _, v in pairs}
        if len(params) != len(pairs):
            raise Refused(400, "strict server: a parameter is repeated")
        if unknown := sorted(set(params) - {"q", "organizationalEntity", *LISTS}):
            raise Refused(400, f"strict server: unknown parameter {unknown[0]}")
        if params.get("q") != "organizationalEntity":
            raise Refused(400, "strict server: only the organizationalEntity finder is served")
        org = params.get("organizationalEntity", "")
        if org != quote(unquote(org), safe=""):
            raise Refused(400, "strict server: the organization URN must be URL-encoded")
        if unquote(org) != organization:
            raise Refused(403, f"Not enough permissions to access {unquote(org)}", "ACCESS_DENIED")
        elements: list[dict[str, Any]] = []
        for name, key in LISTS.items():
            if name not in params:
                continue
            m = LIST_VALUE.fullmatch(params[name])
            if m is None or not m.group(1):
                raise Refused(400, f"strict server: {name} must be List(urn,...)")
            for raw in m.group(1).split(","):
                urn = unquote(raw)
                if raw == urn or raw != quote(urn, safe=""):
                    raise Refused(400, f"strict server: {urn} must be URL-encoded in a List")
                if not urn.startswith(f"urn:li:{key}:"):
                    raise Refused(400, f"strict server: {urn} is not a {key}")
                if urn not in held or urn in self.unprocessed:
                    continue
                given = self.figures.get(urn, {})
                stats: dict[str, Any] = {s: given.get(s, 0) for s in STATISTICS}
                stats["engagement"] = _rate(stats)
                elements.append(
                    {"totalShareStatistics": stats, key: urn, "organizationalEntity": organization}
                )
        if not elements and not any(n in params for n in LISTS):
            raise Refused(400, "strict server: this server serves per-post statistics only")
        return {"paging": {"count": 10, "start": 0, "links": []}, "elements": elements}

    def network_size(self, raw_urn: str, query: str, organization: str) -> dict[str, Any]:
        urn = unquote(raw_urn)
        if raw_urn == urn:
            raise Refused(400, "strict server: a URN in a Rest.li 2.0 path must be URL-encoded")
        if query != "edgeType=COMPANY_FOLLOWED_BY_MEMBER":
            raise Refused(400, f"strict server: unexpected query {query!r}")
        if urn != organization:
            raise Refused(403, f"Not enough permissions to access {urn}", "ACCESS_DENIED")
        return {"firstDegreeSize": self.followers}


def _rate(stats: dict[str, Any]) -> float:
    done = stats["likeCount"] + stats["commentCount"] + stats["shareCount"] + stats["clickCount"]
    return done / stats["impressionCount"] if stats["impressionCount"] else 0.0
