"""What the account hears on the XRPC stand-in (issue 20), as the AppView serves it through
the PDS: ``app.bsky.notification.listNotifications`` and ``app.bsky.feed.searchPosts``, with
the lexicons' parameters only (anything else is ``InvalidRequest``), newest first, paged by
an opaque ``cursor``; and ``createRecord``'s check of a reply's strong refs.

Times are the stand-in's own: each item heard is indexed one second after the one before,
from ``publisher.testing.NOW`` (no wall clock). ``searchPosts``' ``since`` is compared with
the sort time, the earlier of ``createdAt`` and ``indexedAt``, as the AppView does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from publisher.adapters.listening import ItemKind
from publisher.adapters.waits import instant
from publisher.testing import NOW

LIST_NOTIFICATIONS = "app.bsky.notification.listNotifications"
SEARCH_POSTS = "app.bsky.feed.searchPosts"
LISTEN_NSIDS = (LIST_NOTIFICATIONS, SEARCH_POSTS)
OWN_DID = "did:plc:errortables0000000000000"  # the stand-in's account (xrpc.DID)

# The lexicons' parameters: name -> (kind, repeatable).
_PARAMS: dict[str, dict[str, tuple[str, bool]]] = {
    LIST_NOTIFICATIONS: {
        "reasons": ("string", True),
        "limit": ("limit", False),
        "priority": ("boolean", False),
        "cursor": ("string", False),
        "seenAt": ("datetime", False),
    },
    SEARCH_POSTS: {
        "q": ("string", False),
        "sort": ("sort", False),
        "since": ("datetime", False),
        "until": ("datetime", False),
        "mentions": ("string", False),
        "author": ("string", False),
        "lang": ("string", False),
        "domain": ("string", False),
        "url": ("string", False),
        "tag": ("string", True),
        "limit": ("limit", False),
        "cursor": ("string", False),
    },
}
_DEFAULT_LIMIT = {LIST_NOTIFICATIONS: 50, SEARCH_POSTS: 25}


def created_at(when: datetime) -> str:
    """A datetime as the AppView writes one (milliseconds, ``Z``), written here on its own
    rather than taken from the adapter it serves."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


@dataclass
class Post:
    """Someone's post as the AppView shows it."""

    uri: str
    cid: str
    did: str
    handle: str
    record: dict[str, Any]
    indexed_at: datetime

    def view(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "cid": self.cid,
            "author": {"did": self.did, "handle": self.handle, "displayName": self.handle[:3]},
            "record": self.record,
            "indexedAt": created_at(self.indexed_at),
            "replyCount": 0,
            "repostCount": 0,
            "likeCount": 0,
        }

    def sort_at(self) -> datetime:
        written = instant(self.record.get("createdAt")) or self.indexed_at
        return min(written, self.indexed_at)


@dataclass
class Notification:
    post: Post
    reason: str
    subject: str | None
    seq: int

    def view(self) -> dict[str, Any]:
        doc = {
            **{k: v for k, v in self.post.view().items() if k in ("uri", "cid", "author")},
            "reason": self.reason,
            "record": self.post.record,
            "isRead": False,
            "indexedAt": created_at(self.post.indexed_at),
            "labels": [],
        }
        if self.subject:
            doc["reasonSubject"] = self.subject
        return doc


@dataclass
class Listens:
    """The listening side of ``Xrpc`` (a dataclass base: its fields come first)."""

    posts: dict[str, Post] = field(default_factory=dict)  # others' posts, by uri
    notifications: list[Notification] = field(default_factory=list)
    listen_asked: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    _ticks: int = 0

    # -------------------------------------------------------------- test controls

    def post_public(
        self, text: str, *, author: str = "ana", written: datetime | None = None,
        record: Mapping[str, Any] | None = None,
    ) -> Post:
        """Someone's public post, indexed now (one second after the last); ``written``: its
        ``createdAt`` when it differs (a post written before it was indexed)."""
        self._ticks += 1
        when = NOW + timedelta(seconds=self._ticks)
        handle = author if "." in author else f"{author}.bsky.social"
        did = "did:plc:" + hashlib.sha256(handle.encode()).hexdigest()[:24]
        rkey = f"3l{self._ticks:011d}"
        uri = f"at://{did}/app.bsky.feed.post/{rkey}"
        cid = "bafyrei" + hashlib.sha256(uri.encode()).hexdigest()[:40]
        body = {
            "$type": "app.bsky.feed.post",
            "text": text,
            "createdAt": created_at(written or when),
            **(record or {}),
        }
        post = Post(uri, cid, did, handle, body, when)
        self.posts[uri] = post
        return post

    def hear(
        self, kind: ItemKind, text: str, *, author: str = "ana", answers: str | None = None
    ) -> tuple[str, str]:
        """Someone mentions the account, or replies to or quotes its post ``answers`` (an
        at-uri the stand-in gave one of our records): (the post's uri, its bsky.app URL)."""
        extra: dict[str, Any] = {}
        if kind is ItemKind.MENTION:
            extra["facets"] = [
                {
                    "index": {"byteStart": 0, "byteEnd": len(text.encode())},
                    "features": [
                        {"$type": "app.bsky.richtext.facet#mention", "did": OWN_DID}
                    ],
                }
            ]
        elif kind in (ItemKind.REPLY, ItemKind.QUOTE):
            ours = self.strong_ref(answers or "")
            if ours is None or not (answers or "").startswith(f"at://{OWN_DID}/"):
                raise ValueError(f"{answers!r} is not a post of the account's")
            if kind is ItemKind.REPLY:
                root = self._root_of(answers or "") or ours
                extra["reply"] = {"root": root, "parent": ours}
            else:
                extra["embed"] = {"$type": "app.bsky.embed.record", "record": ours}
        else:
            raise ValueError(f"Bluesky notifies no {kind}")
        post = self.post_public(text, author=author, record=extra)
        subject = answers if kind is not ItemKind.MENTION else None
        self.notifications.append(Notification(post, kind.value, subject, self._ticks))
        rkey = post.uri.rsplit("/", 1)[-1]
        return post.uri, f"https://bsky.app/profile/{post.handle}/post/{rkey}"

    def notify(self, reason: str, post: Post) -> None:
        """A notification of another reason (like, repost, follow...), for the filter."""
        self.notifications.append(Notification(post, reason, None, self._ticks))

    def replies_to(self, remote_id: str) -> list[str]:
        """Our posts whose reply's parent is ``remote_id`` (with its cid, as the AppView
        threads a reply)."""
        target = self.strong_ref(remote_id)
        out = []
        for record in self._own_records().values():
            parent = (record["value"].get("reply") or {}).get("parent")
            if target is not None and parent == target:
                out.append(str(record["uri"]))
        return out

    # -------------------------------------------------------------- what the PDS checks

    def strong_ref(self, uri: str) -> dict[str, str] | None:
        if uri in self.posts:
            return {"uri": uri, "cid": self.posts[uri].cid}
        for record in self._own_records().values():
            if record["uri"] == uri:
                return {"uri": uri, "cid": str(record["cid"])}
        return None

    def _root_of(self, uri: str) -> dict[str, str] | None:
        for record in self._own_records().values():
            if record["uri"] == uri:
                root = (record["value"].get("reply") or {}).get("root")
                return dict(root) if isinstance(root, dict) else None
        return None

    def _own_records(self) -> dict[str, dict[str, Any]]:
        records: dict[str, dict[str, Any]] = getattr(self, "records", {})
        return records

    def check_reply(self, record: Mapping[str, Any]) -> str:
        """The lexicon's check of ``reply`` (two com.atproto.repo.strongRef): "" when sound.
        A ref to a post the stand-in does not know, or with another cid, is refused too:
        the AppView would never thread it, so a test must not pass with one."""
        reply = record.get("reply")
        if reply is None:
            return ""
        if not isinstance(reply, dict) or set(reply) - {"root", "parent"}:
            return "reply must be an object with root and parent"
        for name in ("root", "parent"):
            ref = reply.get(name)
            if not isinstance(ref, dict) or set(ref) != {"uri", "cid"}:
                return f"reply/{name} must be a strongRef (uri, cid)"
            if not str(ref["uri"]).startswith("at://") or not str(ref["cid"]).startswith("b"):
                return f"reply/{name} must hold an at-uri and a cid"
            if self.strong_ref(str(ref["uri"])) != ref:
                return f"reply/{name} names no post it knows ({ref['uri']})"
        return ""

    # -------------------------------------------------------------- the AppView

    def listen(self, nsid: str, query: Any) -> tuple[int, dict[str, Any]]:
        pairs = [(str(k), str(v)) for k, v in query.items()]
        self.listen_asked.append((nsid, pairs))
        problem = _check_params(nsid, pairs)
        if problem:
            return 400, {"error": "InvalidRequest", "message": problem}
        limit = int(query.get("limit", _DEFAULT_LIMIT[nsid]))
        if nsid == LIST_NOTIFICATIONS:
            return 200, self._list_notifications(query, limit)
        return 200, self._search_posts(query, limit)

    def _list_notifications(self, query: Any, limit: int) -> dict[str, Any]:
        reasons = set(query.getall("reasons", []))
        notes = sorted(
            (n for n in self.notifications if not reasons or n.reason in reasons),
            key=lambda n: (n.post.indexed_at, n.seq),
            reverse=True,
        )
        cursor = query.get("cursor")
        if cursor is not None:
            at, _, seq = cursor.partition("::")
            key = (instant(at), int(seq))
            notes = [n for n in notes if (n.post.indexed_at, n.seq) < key]
        page = notes[:limit]
        doc: dict[str, Any] = {"notifications": [n.view() for n in page]}
        if len(notes) > limit:
            last = page[-1]
            doc["cursor"] = f"{created_at(last.post.indexed_at)}::{last.seq}"
        return doc

    def _search_posts(self, query: Any, limit: int) -> dict[str, Any]:
        words = query["q"].lower().split()
        since = instant(query.get("since"))
        found = sorted(
            (
                p
                for p in self.posts.values()
                if all(w in p.record.get("text", "").lower().split() for w in words)
                and (since is None or p.sort_at() >= since)
            ),
            key=lambda p: (p.sort_at(), p.uri),
            reverse=True,
        )
        offset = int(query.get("cursor", "0"))
        page = found[offset : offset + limit]
        doc: dict[str, Any] = {"posts": [p.view() for p in page], "hitsTotal": len(found)}
        if offset + limit < len(found):
            doc["cursor"] = str(offset + limit)
        return doc


def _check_params(nsid: str, pairs: list[tuple[str, str]]) -> str:
    allowed = _PARAMS[nsid]
    seen: set[str] = set()
    for name, value in pairs:
        if name not in allowed:
            return f"Error: Params must not have the property \"{name}\""
        kind, repeatable = allowed[name]
        if name in seen and not repeatable:
            return f"Error: Params/{name} must be a single value"
        seen.add(name)
        if kind == "limit" and not (value.isdigit() and 1 <= int(value) <= 100):
            return f"Error: Params/{name} must be an integer from 1 to 100"
        if kind == "boolean" and value not in ("true", "false"):
            return f"Error: Params/{name} must be a boolean"
        if kind == "datetime" and instant(value) is None:
            return f"Error: Params/{name} must be a valid datetime"
        if kind == "sort" and value not in ("top", "latest"):
            return f"Error: Params/{name} must be top or latest"
        if name == "cursor" and nsid == SEARCH_POSTS and not value.isdigit():
            return "Error: Params/cursor is not a cursor this AppView gave"
    if nsid == SEARCH_POSTS and "q" not in seen:
        return 'Error: Params must have the property "q"'
    return ""
