"""What Mastodon's answers say was said to the account, as ``Heard`` items (issue 20).

The inbox is ``GET /api/v1/notifications`` with ``types[]=mention`` and ``types[]=quote``:
a reply to one of our statuses is a ``mention`` (Mastodon mentions the author replied to)
whose status answers a status of ours (``in_reply_to_account_id`` is the account); a quote
notification (Mastodon 4.5) carries the quoting status, whose ``quote`` names ours. A server
that does not know ``quote`` drops it from ``types[]`` and still sends mentions. The
``status`` type (someone the account follows with notifications on posted) is not said to
the account and is not asked for.

Watches: a ``#tag`` term reads the hashtag timeline (``GET /api/v1/timelines/tag/:hashtag``,
served by every instance); any other term ``GET /api/v2/search?type=statuses``, which finds
statuses only where the instance runs full-text search (Elasticsearch or OpenSearch), and
there only posts whose authors allow search or that the account interacted with.

Every one of these pages newest first with ``since_id`` (search: ``min_id``, a lower bound
there too) and ``max_id``; the ids are built from the items, as the API documents (the Link
header carries the same ones).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from publisher.adapters.base import TransientError
from publisher.adapters.listen_paging import Page, Place, text_of
from publisher.adapters.listening import Heard, ItemKind
from publisher.adapters.waits import instant

NOTIFICATIONS = "/api/v1/notifications"
TAG_TIMELINE = "/api/v1/timelines/tag/{tag}"
SEARCH = "/api/v2/search"
NOTIFICATIONS_PAGE = 80  # the documented maximum (40 by default)
STATUSES_PAGE = 40  # the hashtag timeline's and the search's maximum
INBOX_TYPES = ("mention", "quote")
EMPTY_FLOOR = "0"  # below every id: after an empty first read, everything later is new

_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_PARAGRAPH = re.compile(r"</p>\s*<p[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")


def html_to_text(content: str) -> str:
    """Mastodon's status HTML back to plain text: paragraphs, line breaks, entities."""
    text = _PARAGRAPH.sub("\n\n", content)
    text = _BR.sub("\n", text)
    return html.unescape(_TAG.sub("", text))


def notification_params(place: Place) -> list[tuple[str, str]]:
    params = [("types[]", t) for t in INBOX_TYPES]
    params.append(("limit", str(NOTIFICATIONS_PAGE)))
    return params + _bounds(place, "since_id")


def tag_of(term: str) -> str | None:
    """The hashtag a term names ("#Launch" -> "launch"), or None for a word search."""
    term = term.strip()
    if term.startswith("#") and len(term) > 1:
        return term[1:].lower()
    return None


def statuses_request(term: str, place: Place) -> tuple[str, list[tuple[str, str]]]:
    """The path and query of one page of a watch term's statuses."""
    tag = tag_of(term)
    if tag is not None:
        path = TAG_TIMELINE.format(tag=quote(tag, safe=""))
        return path, [("limit", str(STATUSES_PAGE)), *_bounds(place, "since_id")]
    params = [
        ("q", term.strip()),
        ("type", "statuses"),
        ("resolve", "false"),
        ("limit", str(STATUSES_PAGE)),
    ]
    return SEARCH, params + _bounds(place, "min_id")


def _bounds(place: Place, lower: str) -> list[tuple[str, str]]:
    out = []
    if place.floor is not None:
        out.append((lower, place.floor))
    if place.next is not None:
        out.append(("max_id", place.next))
    return out


def notifications_page(doc: Any, own_id: str) -> Page:
    """One page of notifications: the mentions, replies and quotes in it."""
    if not isinstance(doc, list):
        raise TransientError("notifications: the answer is not a list")
    items: list[Heard] = []
    ids: list[str] = []
    for raw in doc:
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            raise TransientError("notifications: a notification without an id")
        ids.append(raw["id"])
        heard = _from_notification(raw, own_id)
        if heard is not None:
            items.append(heard)
    return _page(items, ids, NOTIFICATIONS_PAGE)


def statuses_page(doc: Any, *, searched: bool) -> Page:
    """One page of a hashtag timeline (a list) or of a search (``statuses`` of a Search)."""
    what = "search" if searched else "hashtag timeline"
    if searched:
        doc = doc.get("statuses") if isinstance(doc, dict) else None
    if not isinstance(doc, list):
        raise TransientError(f"{what}: the answer has an unexpected shape")
    items = [status_heard(raw, ItemKind.FOUND, what) for raw in doc]
    return _page(items, [h.remote_id for h in items], STATUSES_PAGE)


def _page(items: list[Heard], ids: list[str], size: int) -> Page:
    newest = max(ids, key=_order) if ids else None
    oldest = min(ids, key=_order) if ids else None
    full = len(ids) >= size
    return Page(items, newest, oldest if full else None, reached=not full)


def _order(status_id: str) -> tuple[int, str]:
    """Mastodon ids are numbers in strings: longer is newer."""
    return len(status_id), status_id


def _from_notification(raw: Mapping[str, Any], own_id: str) -> Heard | None:
    kind = raw.get("type")
    if kind not in INBOX_TYPES:
        return None  # an older server that ignored ``types[]``
    status = raw.get("status")
    if status is None:
        return None  # the status was deleted since
    if kind == "quote":
        return status_heard(status, ItemKind.QUOTE, "a quote", answers=_quoted_id(status))
    replied = status.get("in_reply_to_id") if isinstance(status, dict) else None
    if isinstance(status, dict) and status.get("in_reply_to_account_id") == own_id and replied:
        return status_heard(status, ItemKind.REPLY, "a reply", answers=str(replied))
    return status_heard(status, ItemKind.MENTION, "a mention")


def _quoted_id(status: Any) -> str:
    """The id of the status a quote quotes (Quote or ShallowQuote), "" if not shown."""
    quoted = status.get("quote") if isinstance(status, dict) else None
    if not isinstance(quoted, dict):
        return ""
    inner = quoted.get("quoted_status")
    if isinstance(inner, dict):
        return text_of(inner.get("id"))
    return text_of(quoted.get("quoted_status_id"))


def status_heard(raw: Any, kind: ItemKind, what: str, *, answers: str = "") -> Heard:
    """A Status entity as an item: its text without HTML, its author's ``@acct``."""
    if not isinstance(raw, dict):
        raise TransientError(f"{what}: the status has an unexpected shape")
    status_id, content, account = raw.get("id"), raw.get("content"), raw.get("account")
    created = instant(raw.get("created_at")) if isinstance(raw.get("created_at"), str) else None
    if not (
        isinstance(status_id, str)
        and status_id
        and isinstance(content, str)
        and isinstance(account, dict)
        and isinstance(account.get("acct"), str)
        and isinstance(created, datetime)
    ):
        raise TransientError(f"{what}: a status without id, content, account or created_at")
    text = html_to_text(content).strip()
    warning = text_of(raw.get("spoiler_text")).strip()
    if warning:
        text = f"[{warning}]\n\n{text}"
    return Heard(
        remote_id=status_id,
        kind=kind,
        author="@" + account["acct"],
        text=text,
        url=text_of(raw.get("url")) or text_of(raw.get("uri")),
        created_at=created,
        answers=answers,
        author_name=text_of(account.get("display_name")),
    )
