"""The Graph server's engagement reads, as strict as the rest of it.

* ``GET /?ids=a,b&fields=…`` (up to 50 ids) and ``GET /{post-id}?fields=…``: a post's
  ``reactions`` and ``comments`` edges with ``summary(total_count)`` (and ``limit(0)``: no
  list) and its ``shares`` (``{"count": n}``, left out when nobody shared, as Graph does).
  Any other field or modifier is ``(#100) Tried accessing nonexisting field``. One id the
  server does not hold (deleted) fails the multi-id call with ``(#803) Some of the aliases
  you requested do not exist``; read alone it is ``(#100)`` subcode 33, Graph's "does not
  exist, cannot be loaded due to missing permissions".
* ``GET /{post-id}/insights?metric=…``: the metrics Meta still serves, each ``lifetime``;
  a retired one (``post_impressions``) is ``(#100) … must be a valid insights metric``, and a
  token without the insights permission gets ``(#10)`` (``insights_refused``).
* ``GET /{page}?fields=followers_count``.

Shapes: developers.facebook.com/docs/graph-api/reference/post (reactions, comments,
shares), /docs/graph-api/reference/page-post/insights, /docs/graph-api/reference/page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

MAX_IDS = 50
EDGE_FIELD = re.compile(r"(reactions|comments)((?:\.(?:summary|limit)\([a-z0-9_]+\))*)")
MODIFIER = re.compile(r"\.(summary|limit)\(([a-z0-9_]+)\)")
# Metrics Meta serves for page posts, and those it retired for every Graph version.
INSIGHT_METRICS = frozenset(
    {"post_media_view", "post_total_media_view_unique", "post_clicks",
     "post_reactions_by_type_total"}
)
RETIRED_METRICS = frozenset({"post_impressions", "post_impressions_unique", "post_engaged_users"})
INSIGHTS_QUERY = frozenset({"metric", "period", "access_token"})
READ_QUERY = frozenset({"ids", "fields", "access_token"})


class Refused(Exception):
    """A Graph error: (code, message, subcode, HTTP status)."""

    def __init__(self, code: int, message: str, subcode: int | None = None, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.subcode, self.status = code, message, subcode, status


def nonexisting(name: str) -> Refused:
    return Refused(100, f"(#100) Tried accessing nonexisting field ({name}) on node type (Post)")


@dataclass
class Figures:
    reactions: int = 0
    comments: int = 0
    shares: int = 0
    insights: dict[str, int] = field(default_factory=dict)


@dataclass
class GraphReads:
    """What the engagement endpoints answer; tests set it."""

    followers: int = 5400
    figures: dict[str, Figures] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    insights_refused: bool = False

    def of(self, post_id: str) -> Figures:
        return self.figures.setdefault(post_id, Figures())

    def post_fields(self, post_id: str, raw: str) -> dict[str, Any]:
        """One post's object for ``fields=raw``."""
        figures = self.of(post_id)
        doc: dict[str, Any] = {"id": post_id}
        for item in _split_fields(raw):
            if item == "id":
                continue
            if item == "shares":
                if figures.shares:
                    doc["shares"] = {"count": figures.shares}
                continue
            m = EDGE_FIELD.fullmatch(item)
            if m is None:
                raise nonexisting(item.split(".")[0].split("(")[0])
            mods = dict(MODIFIER.findall(m.group(2)))
            total = figures.reactions if m.group(1) == "reactions" else figures.comments
            edge: dict[str, Any] = {"data": [] if mods.get("limit") == "0" else _people(total)}
            if "summary" in mods:
                if mods["summary"] not in ("total_count", "true"):
                    raise nonexisting(f"summary({mods['summary']})")
                summary: dict[str, Any] = {"total_count": total}
                if m.group(1) == "comments":
                    summary.update(order="chronological", can_comment=True)
                else:
                    summary["viewer_reaction"] = "NONE"
                edge["summary"] = summary
            doc[m.group(1)] = edge
        return doc

    def insights(self, post_id: str, query: dict[str, str]) -> dict[str, Any]:
        if unknown := set(query) - INSIGHTS_QUERY:
            raise Refused(100, f"(#100) strict server: unknown parameters {sorted(unknown)}")
        if query.get("period", "lifetime") != "lifetime":
            raise Refused(100, "(#100) strict server: page post insights are lifetime")
        if self.insights_refused:
            raise Refused(10, "(#10) Application does not have permission for this action")
        metrics = [m for m in query.get("metric", "").split(",") if m]
        if not metrics:
            raise Refused(
                3001, "No metric was specified to be fetched.", subcode=1504028
            )
        for metric in metrics:
            if metric in RETIRED_METRICS or metric not in INSIGHT_METRICS:
                raise Refused(100, "(#100) The value must be a valid insights metric")
        given = self.of(post_id).insights
        data = [
            {
                "name": metric,
                "period": "lifetime",
                "values": [{"value": given.get(metric, 0)}],
                "title": metric.replace("_", " ").capitalize(),
                "description": f"Lifetime: {metric}",
                "id": f"{post_id}/insights/{metric}/lifetime",
            }
            for metric in metrics
        ]
        return {"data": data, "paging": {"previous": "", "next": ""}}


def _split_fields(raw: str) -> list[str]:
    """A ``fields`` value split at its top-level commas (not those inside modifiers)."""
    out, depth, current = [], 0, ""
    for ch in raw:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            out.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        out.append(current.strip())
    return out


def _people(n: int) -> list[dict[str, str]]:
    return [{"id": str(9_000 + i), "name": f"Person {i}"} for i in range(min(n, 25))]
