"""What Bluesky's AppView says was said to the account, as ``Heard`` items (issue 20).

The inbox is ``app.bsky.notification.listNotifications`` with ``reasons`` mention, reply and
quote, newest first, older pages by its ``cursor``. It has no lower bound, so the reader
stops at the kept floor (the ``indexedAt`` of the newest notification read through) by
itself. Watches are ``app.bsky.feed.searchPosts`` (``sort=latest``), bounded below with
``since``, which the AppView compares with a post's sort time (the earlier of its creation
and its indexing): it is asked from ``SEARCH_OVERLAP`` before the floor so that a post
indexed after the floor but written a little before it is still found; what it repeats is
cut here by ``indexedAt``.

Both are called through the account's PDS (which proxies ``app.bsky.*`` to its AppView,
with the session's token). An answer to an item is a post whose ``reply`` names the item
as ``parent`` and its thread's ``root`` (both strong refs: uri and cid), which the item
carries in ``Heard.reply``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from publisher.adapters.base import TransientError
from publisher.adapters.listen_paging import Fetch, Page, Place, text_of
from publisher.adapters.listening import Heard, ItemKind
from publisher.adapters.waits import instant

LIST_NOTIFICATIONS = "app.bsky.notification.listNotifications"
SEARCH_POSTS = "app.bsky.feed.searchPosts"
PAGE = 100  # the lexicons' maximum for both
REASONS = {"mention": ItemKind.MENTION, "reply": ItemKind.REPLY, "quote": ItemKind.QUOTE}
EMPTY_FLOOR = ""  # below every time: after an empty first read, everything later is new
SEARCH_OVERLAP = timedelta(minutes=10)
APP_URL = "https://bsky.app"
# The strong refs an answer needs (``ReplyTarget.refs``).
REPLY_REFS = ("root_uri", "root_cid", "parent_uri", "parent_cid")

Read = Callable[[str, list[tuple[str, str]]], Awaitable[dict[str, Any]]]


def inbox_fetch(read: Read) -> Fetch:
    async def fetch(place: Place) -> Page:
        params = [("reasons", r) for r in REASONS]
        params.append(("limit", str(PAGE)))
        if place.next is not None:
            params.append(("cursor", place.next))
        doc = await read(LIST_NOTIFICATIONS, params)
        notes = doc.get("notifications")
        if not isinstance(notes, list):
            raise TransientError("listNotifications: the answer has no notifications")
        return _page(doc, [_from_notification(n) for n in notes], place)

    return fetch


def search_fetch(read: Read, term: str) -> Fetch:
    async def fetch(place: Place) -> Page:
        params = [("q", term), ("sort", "latest"), ("limit", str(PAGE))]
        floor = _floor(place.floor)
        if floor is not None:
            params.append(("since", created_at(floor[0] - SEARCH_OVERLAP)))
        if place.next is not None:
            params.append(("cursor", place.next))
        doc = await read(SEARCH_POSTS, params)
        posts = doc.get("posts")
        if not isinstance(posts, list):
            raise TransientError("searchPosts: the answer has no posts")
        found: list[tuple[str, Heard | None]] = [
            _from_post(p, ItemKind.FOUND, "searchPosts") for p in posts
        ]
        page = _page(doc, found, place)
        # ``since`` bounds the search: the last page is the one without a cursor or short.
        return Page(page.items, page.newest, page.older, len(posts) < PAGE)

    return fetch


def created_at(now: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``, as Bluesky's own clients write it."""
    now = now.astimezone(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _page(doc: Mapping[str, Any], found: list[tuple[str, Heard | None]], place: Place) -> Page:
    """The items above the floor, and the page's newest key.

    A key is ``indexedAt|uri``: the floor's own item is not read again, others indexed in
    the same millisecond are (a repeat the store drops, never a loss)."""
    floor = _floor(place.floor)
    keyed = [(_key(key), key, h) for key, h in found]
    kept = [
        h
        for (at, uri), _, h in keyed
        if floor is None or at > floor[0] or (at == floor[0] and uri != floor[1])
    ]
    newest = max(keyed, key=lambda k: k[0][0])[1] if keyed else None
    cursor = doc.get("cursor")
    older = cursor if isinstance(cursor, str) and cursor and found else None
    items = [h for h in kept if h is not None]
    return Page(items, newest, older, reached=len(kept) < len(found))


def _floor(key: str | None) -> tuple[datetime, str] | None:
    """The floor's time and uri; None for no floor, or the empty one (everything is new)."""
    at, _, uri = (key or "").partition("|")
    when = instant(at)
    return None if when is None else (when, uri)


def _key(key: str) -> tuple[datetime, str]:
    found = _floor(key)
    assert found is not None  # an item's indexedAt is checked when it is read
    return found


def _from_notification(raw: Any) -> tuple[str, Heard | None]:
    """The notification's time, and the item (None: a like, a follow... from an AppView
    that ignored ``reasons``: not said to the account)."""
    if not isinstance(raw, dict):
        raise TransientError("listNotifications: a notification of an unexpected shape")
    kind = REASONS.get(text_of(raw.get("reason")))
    if kind is None:
        indexed = text_of(raw.get("indexedAt"))
        if instant(indexed) is None:
            raise TransientError("listNotifications: a notification without indexedAt")
        return f"{indexed}|{text_of(raw.get('uri'))}", None
    at, heard = _from_post(raw, kind, "listNotifications")
    if kind is ItemKind.MENTION:
        return at, heard
    answers = text_of(raw.get("reasonSubject")) or _answered(raw.get("record"), kind)
    return at, replace(heard, answers=answers)


def _answered(record: Any, kind: ItemKind) -> str:
    """The uri of the post a reply answers or a quote quotes, from the record."""
    if not isinstance(record, dict):
        return ""
    if kind is ItemKind.REPLY:
        return text_of(_dig(record, "reply", "parent", "uri"))
    embed = record.get("embed")
    inner = _dig(embed, "record", "uri") or _dig(embed, "record", "record", "uri")
    return text_of(inner)


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _from_post(raw: Any, kind: ItemKind, what: str) -> tuple[str, Heard]:
    """A notification or a postView (both: uri, cid, author, record, indexedAt)."""
    if not isinstance(raw, dict):
        raise TransientError(f"{what}: a post of an unexpected shape")
    uri, cid, record = raw.get("uri"), raw.get("cid"), raw.get("record")
    handle = _dig(raw, "author", "handle")
    indexed = text_of(raw.get("indexedAt"))
    if not (
        isinstance(uri, str)
        and uri.startswith("at://")
        and isinstance(cid, str)
        and isinstance(record, dict)
        and isinstance(handle, str)
        and instant(indexed) is not None
    ):
        raise TransientError(f"{what}: a post without uri, cid, author, record or indexedAt")
    created = instant(text_of(record.get("createdAt"))) or instant(indexed)
    assert created is not None  # indexedAt was checked above
    root = _dig(record, "reply", "root")
    root_uri, root_cid = text_of(_dig(root, "uri")), text_of(_dig(root, "cid"))
    if not (root_uri and root_cid):  # not a reply: the item is its own thread's root
        root_uri, root_cid = uri, cid
    collection, _, rkey = uri.removeprefix("at://").partition("/")[2].partition("/")
    url = f"{APP_URL}/profile/{handle}/post/{rkey}" if collection.endswith(".post") else ""
    heard = Heard(
        remote_id=uri,
        kind=kind,
        author="@" + handle,
        text=text_of(record.get("text")),
        url=url,
        created_at=created,
        reply=dict(zip(REPLY_REFS, (root_uri, root_cid, uri, cid), strict=True)),
        author_name=text_of(_dig(raw, "author", "displayName")),
    )
    return f"{indexed}|{uri}", heard


def reply_of(refs: Mapping[str, str]) -> dict[str, dict[str, str]] | None:
    """A record's ``reply`` answering the item whose refs these are; None if incomplete."""
    if not all(refs.get(k) for k in REPLY_REFS):
        return None
    return {
        "root": {"uri": refs["root_uri"], "cid": refs["root_cid"]},
        "parent": {"uri": refs["parent_uri"], "cid": refs["parent_cid"]},
    }
