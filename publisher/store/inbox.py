"""The inbox's records and statements: items heard, cursors, answers, alerts (issue 20).

Plain functions of a ``Connection``, run by ``Store`` in one transaction each. An item is
stored once (unique per network and remote id: a second page, a restart or another of our
accounts hearing it again stores nothing), in the transaction that moves the stream's cursor
past it, so a crash re-reads at most what it had not kept.

An answer (a post with ``reply_to:``) is linked to its item before it is sent
(``plan_answer``); the item turns handled once that delivery is published
(``settle_answers``), which the listener runs after every publication and at each pass: a
crash between the answer going out and the item being marked leaves the link and the
published delivery, and the next pass marks it. The answer itself goes out once, by the
delivery's own never-twice rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from publisher.content import ReplyTarget
from publisher.states import DeliveryState
from publisher.store.models import InboxAlertRow, InboxItemRow, ListenCursorRow
from publisher.store.tables import D

I = InboxItemRow.__table__  # type: ignore[attr-defined]  # noqa: E741
C = ListenCursorRow.__table__  # type: ignore[attr-defined]
L = InboxAlertRow.__table__  # type: ignore[attr-defined]

INBOX = "inbox"  # the stream of what is said to the account; watches are "watch:<name>"


def watch_stream(name: str) -> str:
    return f"watch:{name}"


class ItemState(StrEnum):
    NEW = "new"  # needs a look
    HANDLED = "handled"  # answered (our reply published) or marked by a person
    IGNORED = "ignored"  # a person decided it needs nothing


@dataclass(frozen=True)
class NewItem:
    """An item as heard, for the store (``publisher.adapters.listening.Heard`` and where)."""

    remote_id: str
    kind: str
    author: str
    text: str
    url: str
    created_at: datetime
    answers: str = ""
    reply: Mapping[str, str] | None = None
    author_name: str = ""


@dataclass(frozen=True)
class InboxItem:
    id: int
    network: str
    remote_id: str
    account: str
    watch: str | None
    kind: str
    author: str
    author_name: str
    text: str
    url: str
    created_at: datetime
    received_at: datetime
    answers: str | None
    answers_post: str | None
    reply_refs: Mapping[str, str]
    state: ItemState
    state_at: datetime | None
    answer_post: str | None
    answer_account: str | None
    answered_at: datetime | None
    alerted_at: datetime | None

    def target(self, ref: str) -> ReplyTarget:
        """What an answer to it (written as ``ref``) publishes against."""
        return ReplyTarget(ref, self.network, self.remote_id, dict(self.reply_refs), self.id)


def _item(r: Any) -> InboxItem:
    return InboxItem(
        r.id,
        r.network,
        r.remote_id,
        r.account,
        r.watch,
        r.kind,
        r.author,
        r.author_name,
        r.text,
        r.url,
        r.created_at,
        r.received_at,
        r.answers,
        r.answers_post,
        json.loads(r.reply_refs or "{}"),
        ItemState(r.state),
        r.state_at,
        r.answer_post,
        r.answer_account,
        r.answered_at,
        r.alerted_at,
    )


def _insert(conn: Connection, table: Any) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _insert_ignoring_duplicates(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> int:
    """Insert ``rows``, skipping those a unique constraint already holds (another daemon
    stored the same item a moment ago): never an error that would abort the transaction.
    How many were inserted."""
    if not rows:
        return 0
    return int(conn.execute(_insert(conn, table).on_conflict_do_nothing(), rows).rowcount)


def hear(
    conn: Connection,
    account: str,
    network: str,
    stream: str,
    items: Sequence[NewItem],
    cursor: str | None,
    now: datetime,
) -> list[int]:
    """Store what ``account`` heard on ``stream`` and move its cursor; the ids of the items
    stored now (those not already in the inbox), oldest first."""
    fresh: dict[str, NewItem] = {}
    for item in items:
        fresh.setdefault(item.remote_id, item)
    if fresh:
        known = conn.execute(
            select(I.c.remote_id).where(I.c.network == network, I.c.remote_id.in_(list(fresh)))
        )
        for (remote_id,) in known:
            fresh.pop(remote_id, None)
    ours = _our_posts(conn, account, network, [i.answers for i in fresh.values() if i.answers])
    watch = stream.removeprefix("watch:") if stream != INBOX else None
    _insert_ignoring_duplicates(
        conn,
        I,
        [
            {
                "network": network,
                "remote_id": i.remote_id,
                "account": account,
                "watch": watch,
                "kind": i.kind,
                "author": i.author[:256],
                "author_name": i.author_name[:256],
                "text": i.text,
                "url": i.url[:2048],
                "created_at": i.created_at,
                "received_at": now,
                "answers": i.answers or None,
                "answers_post": ours.get(i.answers),
                "reply_refs": json.dumps(dict(i.reply or {}), sort_keys=True),
                "state": ItemState.NEW.value,
            }
            for i in sorted(fresh.values(), key=lambda i: (i.created_at, i.remote_id))
        ],
    )
    _save_cursor(conn, account, stream, cursor, now)
    if not fresh:
        return []
    stored = conn.execute(
        select(I.c.id)
        .where(
            I.c.network == network,
            I.c.remote_id.in_(list(fresh)),
            I.c.account == account,
            I.c.received_at == now,
        )
        .order_by(I.c.created_at, I.c.id)
    )
    return [r.id for r in stored]


def _our_posts(
    conn: Connection, account: str, network: str, remote_ids: list[str]
) -> dict[str, str]:
    """Our post ids by their first part's remote id, for the items answering them: the
    hearing account's own, or another of ours on the network."""
    if not remote_ids:
        return {}
    q = select(D.c.remote_id, D.c.post_id).where(
        or_(D.c.account == account, D.c.network == network), D.c.remote_id.in_(remote_ids)
    )
    return {r.remote_id: r.post_id for r in conn.execute(q)}


def _save_cursor(
    conn: Connection, account: str, stream: str, cursor: str | None, now: datetime
) -> None:
    values = {"account": account, "stream": stream, "cursor": cursor, "read_at": now}
    statement = _insert(conn, C).values(values)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["account", "stream"], set_={"cursor": cursor, "read_at": now}
        )
    )


def cursor(conn: Connection, account: str, stream: str) -> str | None:
    """Where ``account``'s ``stream`` resumes (None: never read)."""
    row = conn.execute(
        select(C.c.cursor).where(C.c.account == account, C.c.stream == stream)
    ).first()
    return None if row is None else row.cursor


def cursors(conn: Connection) -> dict[tuple[str, str], tuple[str | None, datetime]]:
    """Every stream's cursor and last read, by (account, stream)."""
    return {(r.account, r.stream): (r.cursor, r.read_at) for r in conn.execute(select(C))}


def items(
    conn: Connection,
    *,
    states: Sequence[ItemState] = (),
    accounts: Sequence[str] = (),
    watch: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
) -> list[InboxItem]:
    """Items by the time they were said, newest first."""
    q = select(I)
    if states:
        q = q.where(I.c.state.in_([s.value for s in states]))
    if accounts:
        q = q.where(I.c.account.in_(list(accounts)))
    if watch is not None:
        q = q.where(I.c.watch == watch)
    if since is not None:
        q = q.where(I.c.received_at >= since)
    if until is not None:
        q = q.where(I.c.received_at < until)
    q = q.order_by(I.c.created_at.desc(), I.c.id.desc())
    if limit is not None:
        q = q.limit(limit)
    return [_item(r) for r in conn.execute(q)]


def find(conn: Connection, ref: str) -> InboxItem | None:
    """The item ``reply_to:`` names: its inbox id (digits) or its URL."""
    ref = ref.strip()
    if ref.isdigit():
        q = select(I).where(I.c.id == int(ref))
    else:
        q = select(I).where(I.c.url == ref).order_by(I.c.id).limit(1)
    row = conn.execute(q).first()
    return None if row is None else _item(row)


def set_state(conn: Connection, item_id: int, state: ItemState, now: datetime) -> bool:
    """A person's decision (``publisher inbox handle|ignore|reopen``); False: no such item."""
    done = conn.execute(update(I).where(I.c.id == item_id).values(state=state.value, state_at=now))
    return done.rowcount > 0


def plan_answer(conn: Connection, item_id: int, post_id: str, account: str) -> None:
    """Link the item to the delivery that answers it, before that delivery is sent."""
    conn.execute(
        update(I).where(I.c.id == item_id).values(answer_post=post_id, answer_account=account)
    )


def settle_answers(conn: Connection, now: datetime) -> list[int]:
    """Mark handled the items whose answer is published (``answered_at``: its publication);
    the ids marked now."""
    q = (
        select(I.c.id, D.c.published_at)
        .join(
            D,
            and_(
                D.c.post_id == I.c.answer_post,
                D.c.account == I.c.answer_account,
                D.c.state == DeliveryState.PUBLISHED.value,
            ),
        )
        .where(I.c.answered_at.is_(None), I.c.answer_post.is_not(None))
    )
    marked = []
    for r in conn.execute(q).all():
        conn.execute(
            update(I)
            .where(I.c.id == r.id, I.c.answered_at.is_(None))
            .values(answered_at=r.published_at)
        )
        conn.execute(
            update(I)
            .where(I.c.id == r.id, I.c.state == ItemState.NEW.value)
            .values(state=ItemState.HANDLED.value, state_at=now)
        )
        marked.append(r.id)
    return marked


def own_posts(
    conn: Connection, account: str, since: datetime, limit: int
) -> list[tuple[str, datetime]]:
    """The account's published posts since ``since``, newest first: the posts whose
    comments a per-post network reads."""
    q = (
        select(D.c.remote_id, D.c.published_at)
        .where(
            D.c.account == account,
            D.c.state == DeliveryState.PUBLISHED.value,
            D.c.published_at >= since,
            D.c.remote_id.is_not(None),
        )
        .order_by(D.c.published_at.desc())
        .limit(limit)
    )
    return [(r.remote_id, r.published_at) for r in conn.execute(q)]


def unalerted(conn: Connection, since: datetime) -> list[InboxItem]:
    """Items received since ``since`` that no alert has looked at yet, oldest first."""
    q = (
        select(I)
        .where(I.c.alerted_at.is_(None), I.c.received_at >= since)
        .order_by(I.c.received_at, I.c.id)
    )
    return [_item(r) for r in conn.execute(q)]


def mark_alerted(conn: Connection, ids: Sequence[int], now: datetime) -> None:
    if ids:
        conn.execute(update(I).where(I.c.id.in_(list(ids))).values(alerted_at=now))


def received_counts(
    conn: Connection, since: datetime, until: datetime
) -> dict[str, list[datetime]]:
    """When each account's items were received in (since, until]: the volume rules' input,
    over the same span as ``alerts.spikes`` (an item stored at ``until``, the read being
    judged, is in it)."""
    q = select(I.c.account, I.c.received_at).where(
        I.c.received_at > since, I.c.received_at <= until
    )
    out: dict[str, list[datetime]] = {}
    for r in conn.execute(q):
        out.setdefault(r.account, []).append(r.received_at)
    return out


def alert_once(
    conn: Connection, rule: str, account: str, window: datetime, count: int, now: datetime
) -> bool:
    """Record a volume alert for (account, hour); False if one was already sent for them (by
    this daemon or another), whichever rule it was: a burst that first passes ``factor`` and
    later ``per_hour`` within the hour is one spike. ``rule`` says which rule sent it."""
    sent = select(L.c.id).where(L.c.account == account, L.c.window == window).limit(1)
    if conn.execute(sent).first() is not None:
        return False
    row = {"rule": rule, "account": account, "window": window, "sent_at": now, "count": count}
    return _insert_ignoring_duplicates(conn, L, [row]) > 0
