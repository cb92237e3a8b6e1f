"""Listening beside publishing (issue 20): its own task, its own requests.

The listener reads each account's inbox and each watch at their intervals, one read at a
time per account (a network's limits are per account), keeps what it heard with the cursor
in one transaction, marks items handled once our answer is published, and hands new items to
the alert rules. It never takes one of the engine's slots and the engine never waits on it: a
slow notification endpoint delays only listening. When to read is decided by
``publisher.engine.hearing``; only this loop reads the clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from publisher import alerts
from publisher.adapters.base import (
    Adapter,
    AdapterError,
    Heard,
    HeardPage,
    OwnPost,
)
from publisher.clock import Clock
from publisher.config import Config
from publisher.engine import companion, hearing
from publisher.engine.companion import Companion
from publisher.engine.decide import RetryPolicy
from publisher.engine.hearing import Stream
from publisher.listenconfig import AlertSettings
from publisher.store import IO_ERRORS, Store, io_error
from publisher.store.inbox import INBOX, InboxItem, NewItem

SETTLE_EVERY = timedelta(minutes=1)  # answers published by other daemons are noticed this soon

Alert = Callable[[dict[str, Any]], None]


class Listener(Companion):
    """Reads what is said to the accounts, and what the watches find."""

    action = "listen"

    def __init__(
        self,
        store: Store,
        clock: Clock,
        rand: Callable[[], float],
        held: Callable[[], Mapping[str, datetime]],
        alert: Alert | None = None,
        *,
        once: bool = False,
    ) -> None:
        super().__init__(store, clock, rand, held, once=once)
        self.alert = alert
        self.streams: dict[tuple[str, str], Stream] = {}
        self.adapters: dict[str, Adapter] = {}
        self.policy = RetryPolicy()
        self.rules = AlertSettings()
        self._next: dict[tuple[str, str], datetime] = {}
        self._failures: dict[tuple[str, str], int] = {}
        self._settle = True
        self._settled_at: datetime | None = None
        self._read_once: set[tuple[str, str]] = set()  # `run --once`: streams read to the end

    # ------------------------------------------------------------ controls

    def configure(
        self, config: Config, adapters: Mapping[str, Adapter], policy: RetryPolicy
    ) -> None:
        listening = [n for n, a in adapters.items() if a.listening is not None]
        streams = {s.key: s for s in hearing.streams(config, listening)}
        for key in list(self._next):
            if key not in streams:
                self._next.pop(key)
        self.streams = streams
        self.adapters = dict(adapters)
        self.policy = policy
        self.rules = config.alerts
        self._wake.set()

    def published(self) -> None:
        """Something was published: maybe an answer (one wake for a burst)."""
        self._settle = True
        self._wake.set()

    # ---------------------------------------------------------------- loop

    def _burst_over(self, now: datetime, wake_at: datetime | None, failed: bool) -> bool:
        """``run --once``: every stream read to its end (or the pass failed)."""
        return failed or all(key in self._read_once for key in self.streams)

    async def _pass(self, now: datetime) -> datetime | None:
        await self._settle_answers(now)
        if not self.streams:
            return now + SETTLE_EVERY
        if not self._next:
            read_at = {k: v[1] for k, v in (await self.store.listen_cursors()).items()}
            self._next = hearing.first_reads(self.streams.values(), read_at, now)
            if self.once:
                self._next = {k: now for k in self.streams}
        held = self._held(now)
        if self.once:  # a burst does not wait for a hold's end
            self._read_once.update(k for k in self.streams if k[0] in held)
        due: dict[str, list[Stream]] = {}
        for key, stream in self.streams.items():
            at = self._next.setdefault(key, now)
            if self.once and key in self._read_once:
                continue
            if at <= now and stream.account not in held and stream.account not in self._running:
                due.setdefault(stream.account, []).append(stream)
        for account, streams in due.items():
            self._start(account, self._work(account, streams))
        waiting = [
            at
            for key, at in self._next.items()
            if key[0] not in self._running and key[0] not in held
        ]
        return hearing_next(waiting, held.values(), now + SETTLE_EVERY)

    async def _settle_answers(self, now: datetime) -> None:
        """Mark handled the items whose answer is out; a store error here is logged and
        tried again at the next pass, never in listening's way."""
        if not (self._settle or self._settled_at is None or now >= self._settled_at + SETTLE_EVERY):
            return
        self._settle = False
        self._settled_at = now
        try:
            marked = await self.store.settle_answers(now)
        except IO_ERRORS as err:
            self._settle = True
            self.log.error(
                "listen: answers not marked yet, store error: %s",
                io_error(err),
                extra={"action": "listen"},
            )
            return
        for item_id in marked:
            self.log.info("inbox item %d answered: handled", item_id, extra={"action": "listen"})

    # ---------------------------------------------------------------- reads

    async def _work(self, account: str, streams: list[Stream]) -> None:
        adapter = self.adapters.get(account)
        if adapter is None:
            return
        try:
            for stream in streams:
                if not await self._read(adapter, stream):
                    return  # held: the rest waits for the hold's end
        except IO_ERRORS as err:
            self.log.error(
                "listen %s: store error: %s",
                account,
                io_error(err),
                extra={"action": "listen", "account": account},
            )
            self._next.update({s.key: self.clock.now() + companion.STORE_RETRY for s in streams})
            if self.once:
                self._read_once.update(s.key for s in streams)

    async def _read(self, adapter: Adapter, stream: Stream) -> bool:
        """Read one stream, page after page while ``once`` (else one call); False if the
        account is held now."""
        cursor = await self.store.listen_cursor(adapter.account, stream.name)
        kept = cursor is not None
        while True:
            try:
                page = await self._call(adapter, stream, cursor)
            except Exception as err:
                error = self.as_adapter_error(adapter, err)
                return self._failed(adapter, stream, error)
            now = self.clock.now()
            self._failures.pop(stream.key, None)
            ids: list[int] = []
            # Nothing heard and the same place (most reads): nothing to write.
            if page.items or page.cursor != cursor or not kept:
                ids = await self.store.hear(
                    adapter.account,
                    adapter.network,
                    stream.name,
                    [_new(h) for h in page.items],
                    page.cursor,
                    now,
                )
                kept = True
            if ids:
                self.note(logging.INFO, adapter.account, f"{len(ids)} new in {stream.name}")
                await self._alert(ids, stream, now)
            cursor = page.cursor
            self._next[stream.key] = hearing.after_read(stream, page.more, now)
            if not (self.once and page.more):
                break
        if self.once:
            self._read_once.add(stream.key)
        return True

    async def _call(self, adapter: Adapter, stream: Stream, cursor: str | None) -> HeardPage:
        if stream.name != INBOX:
            return await adapter.search(stream.terms, cursor)
        # Our recent posts: a per-post network reads their comments, and another may tell
        # a quote of one of them from a mention (X).
        since = self.clock.now() - hearing.OWN_POSTS_AGE
        rows = await self.store.own_posts(adapter.account, since, hearing.OWN_POSTS_LIMIT)
        own = [OwnPost(remote_id, at) for remote_id, at in rows]
        return await adapter.read_inbox(cursor, own)

    def _failed(self, adapter: Adapter, stream: Stream, error: AdapterError) -> bool:
        now = self.clock.now()
        attempts = self._failures.get(stream.key, 0) + 1
        step = hearing.after_failure(stream, error, attempts, now, self.policy, self.rand())
        self._failures[stream.key] = step.attempts
        self._next[stream.key] = step.next_at
        self.note(logging.WARNING, adapter.account, f"{stream.name}: read failed: {error.reason}")
        if self.once:
            self._read_once.add(stream.key)  # a burst does not wait for a retry
        if step.hold_until is not None:
            self._hold(adapter.account, step.hold_until, step.reason)
            return False
        return True

    # -------------------------------------------------------------- alerts

    async def _alert(self, ids: Sequence[int], stream: Stream, now: datetime) -> None:
        if self.alert is None:
            return
        rules = self.rules
        items = {i.id: i for i in await self.store.unalerted_items(now - alerts.HOUR)}
        for item_id in ids:
            item = items.get(item_id)
            if item is None:
                continue
            term = alerts.matching_term(item.text, rules.terms)
            if term is not None or stream.alert:
                why = (
                    f"term {term!r}"
                    if term is not None
                    else f"watch {stream.name.removeprefix('watch:')}"
                )
                self.alert(item_event(item, why, now))
        await self.store.mark_alerted(list(ids), now)
        if rules.per_hour is None and rules.factor is None:
            return
        received = await self.store.received_times(now - rules.baseline - alerts.HOUR, now)
        found = alerts.spikes(
            {stream.account: received.get(stream.account, [])},
            now,
            per_hour=rules.per_hour,
            factor=rules.factor,
            baseline=rules.baseline,
            min_items=rules.min_items,
        )
        for spike in found:
            if await self.store.alert_once(
                spike.rule, spike.account, spike.window, spike.count, now
            ):
                self.alert(spike_event(spike, now))


def hearing_next(
    waiting: Sequence[datetime], holds: Iterable[datetime], fallback: datetime
) -> datetime:
    """The earliest stream due or hold ending; ``fallback`` (the next settle) at the latest."""
    return min([*waiting, *holds, fallback])


def _new(h: Heard) -> NewItem:
    return NewItem(
        h.remote_id,
        h.kind.value,
        h.author,
        h.text,
        h.url,
        h.created_at,
        h.answers,
        dict(h.reply),
        h.author_name,
    )


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def item_event(item: InboxItem, why: str, now: datetime) -> dict[str, Any]:
    """A new item for ``[notify]``: what was said, where to read it, why it is sent."""
    return {
        "event": "inbox.item",
        "at": _iso(now),
        "item": item.id,
        "account": item.account,
        "network": item.network,
        "kind": item.kind,
        "author": item.author,
        "text": item.text,
        "url": item.url,
        "why": why,
    }


def spike_event(spike: alerts.Spike, now: datetime) -> dict[str, Any]:
    return {
        "event": "inbox.spike",
        "at": _iso(now),
        "account": spike.account,
        "count": spike.count,
        "usual_per_hour": round(spike.usual, 2),
        "rule": spike.rule,
        "hour": _iso(spike.window),
    }
