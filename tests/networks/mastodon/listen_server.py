"""What the strict Mastodon server hears (issue 20): notifications, hashtag timelines and
search, paged as Mastodon pages them, and the two controls every network's test server has
(``hear``, ``replies_to``).

Paging, as Mastodon's ``paginate_by_id`` does it: newest first; ``max_id`` an upper bound,
``since_id`` a lower one; ``min_id`` the page immediately above it (still sent newest first).
In search (``StatusesSearchService``), ``min_id`` and ``max_id`` are range filters on the
Elasticsearch query: a lower and an upper bound, newest first. Limits are clamped to the
documented maxima (40 notifications by default, 80 at most; 20 and 40 statuses).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from publisher.adapters.listening import ItemKind

if TYPE_CHECKING:
    from tests.networks.mastodon.server import Accepted, Operation, Status

ELSEWHERE = "elsewhere.example"  # the instance the people the account hears from are on


@dataclass
class Notification:
    id: str
    type: str
    account: str  # who did it (acct)
    status_id: str | None
    created_at: datetime


class Listened:
    """The listening side of ``MastodonServer`` (a mixin: it uses the server's statuses)."""

    def __init__(self) -> None:
        self.notifications: list[Notification] = []
        self.full_text_search = True  # an instance without Elasticsearch finds no statuses
        self.filters_types = True  # False: a server before 3.5, which ignores ``types[]``
        self._accounts: dict[str, str] = {}
        self._notification_seq = 0

    # -------------------------------------------------------------- test controls

    def account_id_of(self, acct: str) -> str:
        return self._accounts.setdefault(acct, str(110_000_000_000_000 + len(self._accounts)))

    def post_public(self, text: str, *, author: str = "ana") -> Status:
        """A public status by someone else: found by the hashtag timeline and the search."""
        from tests.networks.mastodon.server import Status

        server: Any = self
        when = server.now()
        status = Status(server._snowflake(when), text, when, author=_acct(author))
        server.statuses.append(status)
        return status

    def hear(
        self, kind: ItemKind, text: str, *, author: str = "ana", answers: str | None = None
    ) -> tuple[str, str]:
        """Someone mentions the account, replies to or quotes its status ``answers``: the
        status and the notification Mastodon would make; (status id, its URL)."""
        server: Any = self
        status = self.post_public(text, author=author)
        if kind is ItemKind.REPLY or kind is ItemKind.QUOTE:
            ours = server.status(answers or "")
            if ours is None or ours.author is not None:
                raise ValueError(f"{answers!r} is not a status of the account's")
            if kind is ItemKind.REPLY:
                status.in_reply_to_id = ours.id
            else:
                status.quote_of = ours.id
        elif kind is not ItemKind.MENTION:
            raise ValueError(f"Mastodon notifies no {kind}")
        self.notify("quote" if kind is ItemKind.QUOTE else "mention", status)
        return status.id, server._status_json(status)["url"]

    def notify(self, kind: str, status: Status | None, *, account: str = "ana") -> Notification:
        """A notification of any type (a favourite, a follow...), for the filters."""
        server: Any = self
        self._notification_seq += 1
        note = Notification(
            id=str(9_000_000 + self._notification_seq),
            type=kind,
            account=status.author if status is not None and status.author else _acct(account),
            status_id=status.id if status is not None else None,
            created_at=server.now(),
        )
        self.notifications.append(note)
        return note

    def replies_to(self, remote_id: str) -> list[str]:
        """The account's statuses that answer ``remote_id``."""
        server: Any = self
        return [s.id for s in server.statuses if s.author is None and s.in_reply_to_id == remote_id]

    # -------------------------------------------------------------- handlers

    def listening_handlers(self) -> dict[tuple[str, str], Any]:
        return {
            ("GET", "/api/v1/notifications"): self._notifications,
            ("GET", "/api/v1/timelines/tag/{hashtag}"): self._tag_timeline,
            ("GET", "/api/v2/search"): self._search,
        }

    async def _notifications(
        self, req: Accepted, op: Operation
    ) -> tuple[int, Any, dict[str, str]]:
        server: Any = self
        types = set(_many(req, "types")) if self.filters_types else set()
        excluded = set(_many(req, "exclude_types"))
        notes = [
            n
            for n in self.notifications
            if (not types or n.type in types)
            and n.type not in excluded
            and (n.status_id is None or not server.status(n.status_id).deleted)
        ]
        page = _paginate(notes, req, default=40, most=80)
        body = [self._notification_json(n) for n in page]
        return 200, body, _link(server, op, page)

    async def _tag_timeline(
        self, req: Accepted, op: Operation
    ) -> tuple[int, Any, dict[str, str]]:
        from tests.networks.mastodon.server import tags_of

        server: Any = self
        tag = op.params["hashtag"].lower()
        found = [
            s
            for s in server.statuses
            if not s.deleted and s.visibility == "public" and tag in tags_of(s.text)
        ]
        page = _paginate(found, req, default=20, most=40)
        return 200, [server._status_json(s) for s in page], _link(server, op, page)

    async def _search(self, req: Accepted, op: Operation) -> tuple[int, Any, dict[str, str]]:
        server: Any = self
        wanted = req.query.get("type")
        words = req.query["q"].lower().split()
        found = []
        if self.full_text_search and wanted in (None, "statuses"):
            found = [
                s
                for s in server.statuses
                if not s.deleted
                and s.visibility == "public"
                and all(w in s.text.lower() for w in words)
            ]
        # Elasticsearch's range filters: min_id is a lower bound here, not "immediately above".
        page = _paginate(found, req, default=20, most=40, min_is_bound=True)
        statuses = [server._status_json(s) for s in page]
        body = {"accounts": [], "hashtags": [], "statuses": statuses}
        return 200, body, {}

    def _notification_json(self, note: Notification) -> dict[str, Any]:
        server: Any = self
        status = server.status(note.status_id) if note.status_id else None
        from tests.networks.mastodon.server import _iso

        doc = {
            "id": note.id,
            "type": note.type,
            "group_key": f"ungrouped-{note.id}",
            "created_at": _iso(note.created_at),
            "account": server._account_json(note.account),
        }
        if status is not None:
            doc["status"] = server._status_json(status)
        return doc


def _acct(author: str) -> str:
    return author if "@" in author else f"{author}@{ELSEWHERE}"


def _many(req: Accepted, name: str) -> list[str]:
    return [v for k, v in req.raw_query if k in (name, f"{name}[]")]


def _paginate(
    items: list[Any],
    req: Accepted,
    *,
    default: int,
    most: int,
    min_is_bound: bool = False,
) -> list[Any]:
    """Newest first within the bounds the query sets; see the module's docstring."""
    q = req.query
    limit = max(1, min(int(q.get("limit", str(default))), most))
    ordered = sorted(items, key=lambda i: int(i.id), reverse=True)
    if "max_id" in q:
        ordered = [i for i in ordered if int(i.id) < int(q["max_id"])]
    bound = q.get("since_id") or (q.get("min_id") if min_is_bound else None)
    if bound is not None:
        ordered = [i for i in ordered if int(i.id) > int(bound)]
    if "min_id" in q and not min_is_bound:
        above = [i for i in reversed(ordered) if int(i.id) > int(q["min_id"])]
        ordered = list(reversed(above[:limit]))
    offset = int(q.get("offset", "0")) if min_is_bound else 0
    return ordered[offset : offset + limit]


def _link(server: Any, op: Operation, page: list[Any]) -> dict[str, str]:
    """Mastodon's Link header: ``next`` (older, max_id) and ``prev`` (newer, min_id)."""
    if not page:
        return {}
    path = op.template.replace("{hashtag}", op.params.get("hashtag", ""))
    base = f"https://{server.domain}{path}"
    return {
        "Link": f'<{base}?max_id={page[-1].id}>; rel="next", '
        f'<{base}?min_id={page[0].id}>; rel="prev"'
    }
