"""The daemon loop: sync, sleep until the next due delivery or a change, publish, record.

Only this loop reads the clock. It never polls: it sleeps until the earliest due time and is
woken early by a queue-file change, SIGHUP, a finished delivery freeing capacity, or stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import functools
import gc
import logging
import os
import random
import socket
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.exc import DBAPIError

from publisher import lifecycle
from publisher.adapters.base import (
    Absent,
    Adapter,
    AdapterError,
    Found,
    LookupResult,
    Unknowable,
)
from publisher.clock import Clock
from publisher.config import Config
from publisher.content import DeliveryRef, PostContent, Published, RemotePart, Rendered
from publisher.engine.answers import answering
from publisher.engine.collect import Collector
from publisher.engine.decide import (
    AccountRules,
    GiveUp,
    HoldAccount,
    RetryAt,
    RetryPolicy,
    Unresolved,
    after_error,
    triage,
)
from publisher.engine.listen import Listener
from publisher.engine.notify import HumanAlerts
from publisher.engine.runtime import Mode, post_scope
from publisher.lifecycle import expect
from publisher.redact import REDACTOR, Verbatim, enter_post
from publisher.states import DeliveryState, Outcome
from publisher.store import (
    IO_ERRORS,
    Attempt,
    Delivery,
    LoadState,
    LookupAsk,
    Store,
    TakeDue,
    Transition,
    io_error,
)
from publisher.sync import SyncCache, SyncReport, sync_queue
from publisher.triage import Triage

log = logging.getLogger("publisher.engine")

FAR = timedelta(days=1)
PREPARE_TIMEOUT = 15.0
BLOCKED_RECHECK = timedelta(seconds=1)
DB_RETRY = timedelta(seconds=2)
SYNC_BUSY_RETRY = timedelta(seconds=1)
# A sync that met an I/O error (disk full, read-only, the database away) is tried again after
# this, doubled at each failure up to the maximum: a disk remounted read-write is seen within
# a minute, and a lasting failure costs a log line a minute.
SYNC_IO_RETRY = timedelta(seconds=2)
SYNC_IO_RETRY_MAX = timedelta(minutes=1)
# How far ahead of its time `publisher run` claims a delivery (alone on SQLite; see
# `_dispatch`): the `sending` commit that must precede each request then costs no lateness,
# even on a disk whose fsync stalls for half a second now and then. A crash in that second
# leaves the delivery `unknown`, resolved by a lookup like any other.
CLAIM_AHEAD = timedelta(seconds=1)
STOPPED_BEFORE = "not sent: the daemon stopped before its time"
# Texts up to this long render on the loop: at most ~40 ms on the slowest text found for X
# (bench/render.py), less than the hop to a worker thread costs in CPU for a usual post.
# Longer ones, up to MAX_TEXT_CHARS, render in a worker thread, so the loop never stops.
INLINE_RENDER_CHARS = 1024


class Observer(Protocol):
    """Metrics, sd_notify and the like watch the engine through this."""

    def on_sync(self, report: SyncReport, now: datetime) -> None: ...

    def on_pass(self, now: datetime, next_due: datetime | None) -> None: ...

    def on_result(self, delivery: Delivery, transition: Transition) -> None: ...


def settle_memory(churned: bool) -> None:
    """After a sync: keep what it left out of the cyclic GC's way, and give freed memory back.

    The sync cache holds every parsed post and planned delivery for the daemon's life. A full
    collection walks all of it (~70 ms for 10,000 posts, the event loop and the database
    thread stopped), and a burst of deliveries sets one off every second or so. Frozen objects
    are never walked (reference counting still frees them). A sync that changed much thaws,
    collects and trims first, so a cycle left behind is not kept frozen for good; after a small
    edit, only what it added is frozen.
    """
    if churned:
        gc.unfreeze()
        gc.collect()
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            libc.malloc_trim(0)  # glibc keeps freed memory otherwise
        except (OSError, AttributeError):  # not glibc: nothing to trim
            pass
    gc.freeze()


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _ref(d: Delivery) -> DeliveryRef:
    hint = d.remote_id if d.state is DeliveryState.UNKNOWN else None
    return DeliveryRef(d.id, d.post_id, d.account, d.scheduled_at, remote_hint=hint)


async def _render(adapter: Adapter, content: PostContent) -> Rendered:
    """``adapter.render(content)``, off the event loop when the text is long."""
    if len(content.text) + sum(len(p) for p in content.extra_parts) <= INLINE_RENDER_CHARS:
        return adapter.render(content)
    return await asyncio.to_thread(adapter.render, content)


def _event(level: int, action: str, msg: str, d: Delivery | None = None, **fields: Any) -> None:
    extra: dict[str, Any] = {"action": action, **fields}
    if d is not None:
        extra.update(post=d.post_id, account=d.account, network=d.network, delivery=d.id)
    log.log(level, msg, extra=extra)


@dataclass
class EngineOptions:
    once: bool = False
    worker: str = field(default_factory=default_worker_id)
    lease: timedelta = timedelta(minutes=5)
    heartbeat: timedelta = timedelta(seconds=20)
    rand: Callable[[], float] = random.random
    # Claim deliveries this much before their time and hold them (see ``Store.take_due``):
    # the commit that must precede each request is then off the critical path.
    lead: timedelta = timedelta(0)
    # Called on each maintenance tick (e.g. to re-measure the database clock's offset).
    tick: Callable[[], Awaitable[None]] | None = None


class Engine:
    def __init__(
        self,
        config: Config,
        store: Store,
        clock: Clock,
        adapters: Mapping[str, Adapter],
        mode: Mode,
        options: EngineOptions | None = None,
        observers: Iterable[Observer] = (),
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.adapters = dict(adapters)
        self.mode = mode
        self.options = options or EngineOptions()
        self.observers = list(observers)
        # Engagement readings and listening, beside publishing and never in its way (a dry
        # run reads nothing): each its own task, told of the config and of publications.
        self.collector: Collector | None = None
        self.listener: Listener | None = None
        if mode.sends:
            once = self.options.once
            self.collector = Collector(store, clock, self.options.rand, self.holds, once=once)
            alert = next(
                (o.send for o in self.observers if isinstance(o, HumanAlerts) and o.enabled), None
            )
            self.listener = Listener(store, clock, self.options.rand, self.holds, alert, once=once)
        self._derive()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._resync = True
        self._inflight: dict[int, asyncio.Task[None]] = {}  # until its result is written
        self._out: set[int] = set()  # deliveries holding a slot: their request is out
        self._per_account: dict[str, int] = {}  # slots held, by account
        self._results: asyncio.Queue[tuple[Transition, asyncio.Future[None]] | None] = (
            asyncio.Queue()
        )
        self._tasks: set[asyncio.Future[None]] = set()
        self._flagged: set[str] = set()  # accounts whose credentials need a human
        self._held: dict[str, datetime] = {}  # accounts rate-limited (or held) until then
        self._lookups: dict[int, tuple[str, asyncio.Task[None]]] = {}  # lookups in flight
        self.last_sync: SyncReport | None = None
        self._sync_backoff: timedelta | None = None  # the last I/O retry's delay, while failing
        self._sync_retry: asyncio.Future[None] | None = None
        self._replan: asyncio.Future[None] | None = None  # the next sync a rule asks for
        self.last_pass: datetime | None = None
        # Parsed posts and the applied plan, kept between syncs: a re-sync after an edit
        # re-parses and re-reads only what the edit changed.
        self.sync_cache = SyncCache()

    # ------------------------------------------------------------ controls

    def replace_config(self, config: Config, adapters: Mapping[str, Adapter]) -> None:
        """A reloaded config: new policies and adapters apply to the next claims."""
        self.config = config
        self.adapters = dict(adapters)
        self._derive()

    def _derive(self) -> None:
        """What each pass needs from the config, worked out once per config."""
        config = self.config
        self.policy = RetryPolicy(
            config.retry.max_attempts,
            config.retry.base_delay,
            config.retry.max_delay,
            config.retry.jitter,
        )
        self._rules = {
            name: AccountRules(acc.max_per_day, acc.min_interval)
            for name, acc in config.accounts.items()
            if name in self.adapters
        }
        self._served = frozenset(self.adapters)  # accounts whose unknowns this daemon looks up
        self._capped = frozenset(
            name
            for name, acc in config.accounts.items()
            if acc.max_per_day is not None or acc.min_interval is not None
        )
        for companion in self._companions:
            companion.configure(config, self.adapters, self.policy)

    @property
    def _companions(self) -> list[Collector | Listener]:
        return [c for c in (self.collector, self.listener) if c is not None]

    def request_sync(self) -> None:
        self._resync = True
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    def holds(self) -> Mapping[str, datetime]:
        """Accounts held (rate-limited, or credentials to fix) until then: readings wait too."""
        return self._held

    # ---------------------------------------------------------------- loop

    @property
    def shared(self) -> bool:
        """Several daemons may share this database: leases matter."""
        return self.store.shared

    async def run(self) -> None:
        writer = asyncio.create_task(self._write_results(), name="result-writer")
        upkeep = asyncio.create_task(self._maintain(), name="maintenance") if self.shared else None
        companions = {
            c: asyncio.create_task(c.run(), name=type(c).__name__.lower()) for c in self._companions
        }
        try:
            if self.mode.sends:
                # Learn what render needs (e.g. an instance's limits), all accounts at once
                # and bounded: a slow network must not hold the others' posts back.
                prepares = [asyncio.ensure_future(self._prepare(a)) for a in self.adapters.values()]
                if prepares:
                    _done, pending = await asyncio.wait(prepares, timeout=PREPARE_TIMEOUT)
                    for task in pending:
                        task.cancel()
            await self._recover()
            while True:
                if self._resync:
                    self._resync = False
                    await self._sync()
                now = self.clock.now()
                self._wake.clear()
                if self.stopping:
                    break
                try:
                    launched, next_due = await self._dispatch(now)
                except DBAPIError as err:
                    # The database is away (a PostgreSQL restart, a locked file): nothing was
                    # claimed; try again shortly instead of dying.
                    log.error(
                        "database error, retrying in %ss: %s",
                        DB_RETRY.total_seconds(),
                        REDACTOR.scrub(str(err).splitlines()[0]),
                        extra={"action": "db"},
                    )
                    await self.clock.sleep_until(now + DB_RETRY, self._wake)
                    continue
                self.last_pass = now
                for companion in companions:
                    companion.begin()
                for o in self.observers:
                    o.on_pass(now, next_due)
                idle = self.options.once and not self._inflight and not launched
                if idle and (next_due is None or next_due > self.clock.now()):
                    break
                due_now = next_due is not None and next_due <= now
                if launched and self._capacity() > 0 and due_now:
                    continue  # more due work than one batch: go on at once
                if self._capacity() <= 0:
                    # Due work waits for a slot: a finishing delivery wakes the loop.
                    wake_at = now + FAR
                elif due_now:
                    # Due work held by limits this daemon cannot see end (another daemon's
                    # requests in flight): look again shortly rather than spin.
                    wake_at = now + BLOCKED_RECHECK
                elif next_due is None:
                    wake_at = now + FAR
                else:
                    # Wake to claim ahead; what is too near for that (a capped account's, or
                    # more than one pass could take) is claimed at its time.
                    early = next_due - self.options.lead
                    wake_at = early if early > now else next_due
                hold_end = self._hold_ends(now)
                if hold_end is not None:
                    wake_at = min(wake_at, hold_end)  # a held account's work may go again
                await self.clock.sleep_until(min(wake_at, now + FAR), self._wake)
        finally:
            await self._drain()
            for companion, task in companions.items():
                # ``run --once`` takes the readings due now and reads each stream before it
                # ends (once it has made a pass); otherwise they stop with the engine.
                if not self.options.once or self.stopping or self.last_pass is None:
                    companion.stop()
                await task
            if upkeep is not None:
                upkeep.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await upkeep
            self._results.put_nowait(None)  # the writer commits what is queued, then ends
            await writer

    async def _prepare(self, adapter: Adapter) -> None:
        try:
            await adapter.prepare()
        except AdapterError as err:
            _event(
                logging.WARNING,
                "prepare",
                f"{adapter.account}: {err.reason}",
                account=adapter.account,
            )

    async def _sync(self) -> None:
        """Apply the queue file: the boundary nothing a sync meets crosses.

        Whatever the file holds and whatever the disk or the database does, the daemon goes
        on with the last good plan: a file it cannot apply is a reported error, an I/O error
        is retried with a backoff, and both show in the log, /healthz and ``status``.
        """
        now = self.clock.now()
        try:
            report = await sync_queue(self.config, self.store, now, cache=self.sync_cache)
        except Exception as err:
            report = await self._sync_failed(err, now)
        else:
            self._sync_backoff = None
            if self._sync_retry is not None:
                self._sync_retry.cancel()  # done without it
                self._sync_retry = None
            if not report.skipped:
                settle_memory(self.sync_cache.churned)
        self.last_sync = report
        if report.busy:
            # Another daemon is applying the file: sync again shortly, so this one learns
            # of the deliveries it adds instead of sleeping through them.
            self._background(self._resync_after(SYNC_BUSY_RETRY))
        for o in self.observers:
            o.on_sync(report, now)
        # Diagnostics quote the queue file: shown as written, never masked (publisher.redact).
        if report.failed:
            for d in report.errors:
                _event(logging.ERROR, "sync", Verbatim(d))
            _event(logging.ERROR, "sync", report.summary())
        elif not report.skipped:
            _event(logging.INFO, "sync", report.summary())
        for w in report.warnings:
            _event(logging.WARNING, "sync", Verbatim(w))
        for n in report.notices:
            _event(logging.WARNING, "sync", Verbatim(n))
        for c in report.choices:  # one line per evergreen choice, with why (publisher.rules)
            _event(logging.INFO, "evergreen", Verbatim(c))
        if report.replan_at is not None and not self.options.once:
            # Repeats and evergreen posts are planned from the time too: plan again then.
            if self._replan is not None:
                self._replan.cancel()
            self._replan = self._background(self._resync_after(report.replan_at - now))

    async def _sync_failed(self, err: Exception, now: datetime) -> SyncReport:
        """A sync that raised: nothing of it was applied (the store applies a plan in one
        transaction). Say why, where ``status`` reads it when the store takes the write, and
        retry what a retry may fix."""
        if isinstance(err, IO_ERRORS):
            # The disk or the database (full, read-only, away): they come back by
            # themselves, so try again, less and less often. What the sync had parsed and
            # remembered is still true: nothing was written.
            delay = SYNC_IO_RETRY if self._sync_backoff is None else self._sync_backoff * 2
            self._sync_backoff = delay = min(delay, SYNC_IO_RETRY_MAX)
            why = f"{io_error(err)}; retrying in {delay.total_seconds():.0f}s"
            if not self.options.once:
                if self._sync_retry is not None:
                    self._sync_retry.cancel()  # one retry pending at a time
                self._sync_retry = self._background(self._resync_after(delay))
        else:
            # A bug, or a file the parser does not bound yet (an overflowing date, memory
            # exhausted): the same file fails the same way, so the next edit tries again.
            # What the sync cache holds may be half updated: start it afresh.
            detail = REDACTOR.scrub("".join(traceback.format_exception(err)))
            log.error("sync failed on an unexpected error:\n%s", detail, extra={"action": "sync"})
            self.sync_cache = SyncCache()
            settle_memory(churned=True)  # and hand back what it took (an expansion, say)
            self._sync_backoff = None
            text = str(err)
            message = REDACTOR.scrub(text.splitlines()[0][:200] if text else "")
            why = (
                f"{self.config.queue_path}: cannot be applied "
                f"({type(err).__name__}{': ' + message if message else ''})"
            )
        report = SyncReport(applied=False, failure=why)
        try:
            await self.store.record_load(LoadState(now, False, None, report.summary(), None))
        except Exception as again:  # the store fails too: the log and /healthz tell
            if not isinstance(err, IO_ERRORS):  # (else the error line says it already)
                log.warning(
                    "the failed sync is not recorded for `publisher status`: %s",
                    io_error(again),
                    extra={"action": "sync"},
                )
        return report

    async def _resync_after(self, delay: timedelta) -> None:
        await self.clock.sleep_until(self.clock.now() + delay, self._stopping)
        self.request_sync()

    def _capacity(self) -> int:
        return self.config.engine.concurrency - len(self._out)

    def _saturated(self) -> list[str]:
        """Accounts that take no new request now: at their limit in flight, or held."""
        limit = self.config.engine.per_account
        now = self.clock.now()
        full = [a for a, n in self._per_account.items() if n >= limit]
        return full + [a for a, until in self._held.items() if until > now and a not in full]

    def _hold_ends(self, now: datetime) -> datetime | None:
        ends = [until for until in self._held.values() if until > now]
        return min(ends) if ends else None

    async def _dispatch(self, now: datetime) -> tuple[int, datetime | None]:
        """Start what is due (lookups of unknown deliveries, then deliveries within capacity
        and caps); returns how many started and when the next work is due. One transaction."""
        free = self._capacity()
        if free <= 0:
            return 0, None  # only a finishing delivery can let work start: no need to ask
        rules = self._rules

        def decide(
            candidates: list[Delivery],
            history: dict[str, list[datetime]],
            in_flight: dict[str, int],
            granted: datetime,  # now, once the claim holds its account locks
            slots: int,
        ) -> Triage:
            return triage(
                candidates,
                granted,
                slots,
                zone=self.config.timezone,
                max_lateness=self.config.max_lateness,
                per_account=self.config.engine.per_account,
                rules=rules,
                history=history,
                in_flight=in_flight,
            )

        saturated = self._saturated()
        lookups = None
        if self.mode.sends:
            lookups = LookupAsk(free, self._served, frozenset(self._inflight))
        taken = await self.store.take_due(
            TakeDue(
                now,
                free,
                self.options.worker,
                self.options.lease,
                decide,
                exclude_accounts=frozenset(saturated),
                # Only alone: another daemon's hold on an account (a rate limit's reset)
                # reaches this one through the database, at claim time, too late for a
                # claim made ahead.
                ahead=timedelta(0) if self.shared else self.options.lead,
                lookups=lookups,
                per_account=self.config.engine.per_account,
                capped=self._capped,
                in_flight=self._per_account,
                clock=self.clock.now,
            )
        )
        for d in taken.lookups:
            task = self._start(d, self.resolve_unknown(d))
            self._lookups[d.id] = (d.account, task)
        plan = taken.plan
        for d, why in plan.missed:
            _event(logging.WARNING, "missed", f"{d.post_id} → {d.account} missed: {why}", d)
        for d, until, why in plan.deferred:
            _event(
                logging.INFO,
                "defer",
                f"{d.post_id} → {d.account} deferred to {until:%Y-%m-%d %H:%M}Z: {why}",
                d,
            )
        for d in plan.chosen:
            self._start(d, self._deliver(d, d.updated_at))  # the claim's time, its lease's start
        return len(taken.lookups) + len(plan.chosen), taken.next_due

    def _start(self, d: Delivery, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        self._per_account[d.account] = self._per_account.get(d.account, 0) + 1
        self._out.add(d.id)
        task = asyncio.create_task(work, name=f"delivery-{d.id}")
        self._inflight[d.id] = task
        task.add_done_callback(functools.partial(self._done, d))
        return task

    def _release(self, d: Delivery) -> None:
        """The request is over: its slot goes to the next delivery (its result may still be
        on its way to the database, where the delivery stays ``sending`` until then)."""
        if d.id not in self._out:
            return
        self._out.discard(d.id)
        n = self._per_account.get(d.account, 1) - 1
        if n <= 0:
            self._per_account.pop(d.account, None)
        else:
            self._per_account[d.account] = n
        # Under a burst, refill slots several at a time: a pass (a claim transaction) per
        # finished delivery would cost more than the deliveries. An account that was at its
        # limit, or the last request out, wakes the loop at once.
        refill = max(1, self.config.engine.concurrency // 8)
        was_full = n + 1 >= self.config.engine.per_account
        if was_full or self._capacity() >= refill or not self._out:
            self._wake.set()

    def _done(self, d: Delivery, _task: object = None) -> None:
        self._inflight.pop(d.id, None)
        self._lookups.pop(d.id, None)
        self._release(d)
        if not self._inflight:
            self._wake.set()  # `run --once` settles when nothing is left in flight

    # ------------------------------------------------------------ delivery

    async def _deliver(self, d: Delivery, claimed: datetime) -> None:
        adapter = self.adapters[d.account]
        try:
            content = await answering(self.store, d.content())
        except IO_ERRORS as err:  # the inbox unread: the answer waits, nothing is failed
            why = f"not sent: the inbox could not be read: {io_error(err)}"
            await self._finish(d, self._unsent(d, why, claimed + DB_RETRY))
            return
        try:
            # This task's text from outside is scrubbed knowing what the editor wrote for it.
            enter_post(post_scope(content))
            # A long text takes a while to split (bounded, see publisher.text): meanwhile the
            # loop keeps serving other posts, /healthz and the watchdog.
            rendered = await _render(adapter, content)
        except asyncio.CancelledError:
            await self._finish(d, self._unsent(d, STOPPED_BEFORE), wait=False)
            raise
        except Exception as err:  # a bug in a render: the post cannot go out as it is
            reason = REDACTOR.scrub(f"render failed: {err!r}")
            await self._finish(d, self._fail(d, claimed, reason, Outcome.INVALID))
            return
        scope = post_scope(content, rendered)
        enter_post(scope)
        if rendered.errors:
            reason = "; ".join(rendered.errors)
            scope.keep(reason)  # our words about the editor's own text: shown as written
            await self._finish(d, self._fail(d, claimed, reason, Outcome.INVALID))
            return
        started = claimed
        if d.due_at > claimed:
            # Claimed ahead (``EngineOptions.lead``): rendered, committed, and never sent early.
            try:
                await self.clock.sleep_until(d.due_at)
            except asyncio.CancelledError:
                await self._finish(d, self._unsent(d, STOPPED_BEFORE), wait=False)
                raise
            started = self.clock.now()
            held = self._held.get(d.account)
            if held is not None and held > started:
                # The account was held meanwhile (a rate limit's reset, a revoked token).
                why = f"not sent: account held until {held:%Y-%m-%d %H:%M:%S}Z"
                await self._finish(d, self._unsent(d, why, held))
                return
        ref = _ref(d)
        if self.shared and not await self._lease_holds(d, claimed):
            return
        try:
            published = await adapter.publish(rendered, ref, d.parts)
        except AdapterError as err:
            await self._finish(d, self._after_error(d, started, err))
            return
        except asyncio.CancelledError:
            await self._finish(
                d, self._unknown(d, started, "interrupted at shutdown", ()), wait=False
            )
            raise
        except Exception as err:  # an adapter bug: we cannot know whether it landed
            detail = REDACTOR.scrub("".join(traceback.format_exception(err)))
            log.error("adapter bug for %s → %s:\n%s", d.post_id, d.account, detail)
            await self._finish(
                d, self._unknown(d, started, f"adapter error: {REDACTOR.scrub(repr(err))}", ())
            )
            return
        await self._finish(d, self._success(d, started, published))

    async def _lease_holds(self, d: Delivery, claimed: datetime) -> bool:
        """Just before the request leaves: is the lease on this delivery still safely ours?

        The fence guards the database, not the network. A daemon frozen (SIGSTOP, a paused
        VM) or starved between its claim and its send may have lost the lease: another daemon
        then took the delivery over, looked it up, found nothing and sent it; sending now would
        post it twice. So no send starts on a lease that has run out, or nearly (a third of it
        is kept as margin for the request to leave). Fresh claims are known good without asking.
        """
        now = self.clock.now()
        margin = self.options.lease / 3
        if now < claimed + self.options.lease - margin:
            return True  # claimed moments ago, and leases are only ever extended
        if await self.store.lease_holds(d, now + margin):
            return True
        change = expect(lifecycle.lapsed(d.state, attempts=d.attempts, now=now))
        _event(logging.WARNING, "release", f"{d.post_id} → {d.account}: {change.reason}", d)
        await self._finish(d, Transition.of(d, change, now))
        return False

    def _unsent(self, d: Delivery, why: str, due_at: datetime | None = None) -> Transition:
        """Claimed ahead of its time, and not sent after all: it waits again as it was (no
        attempt was made, so the ledger has none)."""
        when = due_at or d.due_at
        change = lifecycle.released(d.state, attempts=d.attempts, due_at=when, reason=why)
        return Transition.of(d, expect(change), self.clock.now())

    def _attempt(self, d: Delivery, started: datetime, outcome: Outcome, **kw: Any) -> Attempt:
        return Attempt(
            d.id,
            d.post_id,
            d.account,
            d.network,
            d.attempts,
            started,
            self.clock.now(),
            outcome,
            worker=self.options.worker,
            **kw,
        )

    def _success(
        self,
        d: Delivery,
        started: datetime,
        published: Published,
        change: lifecycle.Change | None = None,
        attempt: Attempt | None = None,
    ) -> Transition:
        """Out: published (a rehearsal's ``dry-run``), or ``change`` (a lookup found it)."""
        now = self.clock.now()
        if d.account in self._flagged and self.mode.sends:
            self._flagged.discard(d.account)
            self._background(self.store.set_account_state(d.account, now))
        if change is None:
            change = expect(lifecycle.published(d.state, rehearsal=not self.mode.sends))
        if attempt is None:
            attempt = self._attempt(
                d,
                started,
                self.mode.success_outcome,
                remote_id=published.remote_id,
                remote_url=published.url,
            )
        return Transition.of(
            d,
            change,
            now,
            parts=published.parts,
            remote_id=published.remote_id,
            remote_url=published.url,
            attempt=attempt,
        )

    def _fail(
        self,
        d: Delivery,
        started: datetime,
        reason: str,
        outcome: Outcome,
        status: int | None = None,
        parts: tuple[RemotePart, ...] | None = None,
    ) -> Transition:
        change = expect(lifecycle.give_up(d.state, error=reason, outcome=outcome))
        attempt = self._attempt(d, started, outcome, error=reason, status_code=status)
        return Transition.of(d, change, self.clock.now(), parts=parts, attempt=attempt)

    def _unknown(
        self,
        d: Delivery,
        started: datetime,
        reason: str,
        parts: tuple[RemotePart, ...] | None,
        status: int | None = None,
        remote_id: str | None = None,
    ) -> Transition:
        now = self.clock.now()
        lookup_at = now + self.config.engine.resolve_delay
        change = expect(lifecycle.unresolved(d.state, reason=reason, lookup_at=lookup_at))
        attempt = self._attempt(d, started, Outcome.AMBIGUOUS, error=reason, status_code=status)
        return Transition.of(d, change, now, parts=parts, remote_id=remote_id, attempt=attempt)

    def _after_error(self, d: Delivery, started: datetime, err: AdapterError) -> Transition:
        now = self.clock.now()
        parts = (*d.parts, *err.partial) if err.partial else None
        reason = REDACTOR.scrub(err.reason)
        step = after_error(err, d.attempts, now, self.policy, self.options.rand())
        if isinstance(step, GiveUp):
            return self._fail(
                d, started, REDACTOR.scrub(step.reason), step.outcome, err.status, parts
            )
        if isinstance(step, Unresolved):
            return self._unknown(d, started, reason, parts, err.status, step.remote_id or None)
        if isinstance(step, HoldAccount):
            why = f"account needs attention ({step.attention.value}): {reason}"
            self._hold_account(d.account, step.until, why, step.attention.value)
            change = lifecycle.hold(d.state, until=step.until, reason=why, error=reason)
            return Transition.of(
                d,
                expect(change),
                now,
                parts=parts,
                attention=step.attention.value,
                attempt=self._attempt(
                    d, started, Outcome.PERMANENT, error=reason, status_code=err.status
                ),
            )
        assert isinstance(step, RetryAt)
        attention = step.attention.value if step.attention else None
        if step.account_limited_until is not None:
            self._hold_account(
                d.account,
                step.account_limited_until,
                f"rate-limited until {step.account_limited_until:%Y-%m-%d %H:%M:%S}Z",
                attention,
            )
        change = lifecycle.retry(
            d.state,
            at=step.at,
            reason=REDACTOR.scrub(step.reason),
            error=reason,
            outcome=step.outcome,
        )
        return Transition.of(
            d,
            expect(change),
            now,
            parts=parts,
            attention=attention,
            attempt=self._attempt(d, started, step.outcome, error=reason, status_code=err.status),
        )

    def _hold_account(self, account: str, until: datetime, why: str, attention: str | None) -> None:
        """The account's other deliveries wait too, instead of hammering the network."""
        if attention:
            self._flagged.add(account)
        # In memory at once: the loop, woken by this very result, must not claim the
        # account's next delivery before the hold is written.
        self._held[account] = max(until, self._held.get(account, until))
        # Lookups are only reads: stop the account's (their pages would hit the limit too);
        # the deliveries stay unknown and are looked up again after the hold.
        for lookup_account, task in list(self._lookups.values()):
            if lookup_account == account:
                task.cancel()

        async def write() -> None:
            await self.store.set_account_state(
                account,
                self.clock.now(),
                limited_until=until,
                attention=attention,
                attention_reason=why if attention else None,
            )
            await self.store.defer_account(account, until, why)

        self._background(write())

    def _background(self, coro: Any) -> asyncio.Future[None]:
        task: asyncio.Future[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _finish(self, d: Delivery, t: Transition, wait: bool = True) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._results.put_nowait((t, fut))
        level = (
            logging.INFO
            if t.state in (DeliveryState.PUBLISHED, DeliveryState.DRY_RUN, DeliveryState.RETRYING)
            else logging.WARNING
        )
        what = t.remote_url or t.remote_id or t.last_error or ""
        _event(
            level,
            t.state.value,
            f"{d.post_id} → {d.account}: {t.state.value} {what}".rstrip(),
            d,
            state=t.state.value,
            attempt=d.attempts,
        )
        for o in self.observers:
            o.on_result(d, t)
        self._release(d)
        if wait:
            await fut

    async def _write_results(self) -> None:
        """Group commit: every result waiting is written in one transaction."""
        closing = False
        while not closing:
            first = await self._results.get()
            batch = [] if first is None else [first]
            closing = first is None
            while not self._results.empty():
                item = self._results.get_nowait()
                if item is None:
                    closing = True
                else:
                    batch.append(item)
            if not batch:
                continue
            try:
                stale = await self.store.finish([t for t, _ in batch])
            except Exception as err:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(err)
                continue
            if any(t.state is DeliveryState.PUBLISHED for t, _ in batch):
                for companion in self._companions:
                    companion.published()  # written: readings to plan, answers to mark
            for t, fut in batch:
                if t.delivery_id in stale:
                    log.warning(
                        "delivery %d: result not written, another worker owns it now", t.delivery_id
                    )
                if not fut.done():
                    fut.set_result(None)

    # ----------------------------------------------------------- recovery

    async def _maintain(self) -> None:
        """With several daemons: keep our leases alive, and take over the ones that lapsed.

        A daemon that died or is paused stops renewing its leases; once one has lapsed its
        delivery becomes unknown (its fence moves on, so the old owner's late write is
        refused) and is resolved by lookup like any crash.
        """
        while True:
            await asyncio.sleep(self.options.heartbeat.total_seconds())
            try:
                if self.options.tick is not None:
                    await self.options.tick()
                now = self.clock.now()
                if self._inflight:
                    await self.store.heartbeat(self.options.worker, now + self.options.lease)
                lapsed = await self.store.recover_in_flight(
                    now, expired_only=True, lookup_at=now + self.config.engine.resolve_delay
                )
                for d in lapsed:
                    _event(
                        logging.WARNING,
                        "unknown",
                        f"{d.post_id} → {d.account}: its daemon's lease lapsed",
                        d,
                    )
                # Other daemons change what is due (a sync, a deferral): look again each tick.
                self._wake.set()
            except Exception as err:  # a database hiccup must not end the daemon
                log.warning(
                    "maintenance failed: %s",
                    REDACTOR.scrub(repr(err)),
                    extra={"action": "maintenance"},
                )

    async def _recover(self) -> None:
        """After a crash: what was being sent becomes unknown, to be looked up."""
        now = self.clock.now()
        states = await self.store.account_states()
        self._flagged = {a for a, st in states.items() if st.attention}
        self._held = {
            a: st.limited_until
            for a, st in states.items()
            if st.limited_until is not None and st.limited_until > now
        }
        # Alone on SQLite, everything left in `sending` is ours from a dead process; with
        # several daemons, only what a lapsed lease shows to be abandoned.
        found = await self.store.recover_in_flight(
            now, expired_only=self.shared, lookup_at=now + self.config.engine.resolve_delay
        )
        for d in found:
            _event(
                logging.WARNING,
                "unknown",
                f"{d.post_id} → {d.account}: was being sent when the daemon stopped",
                d,
            )

    async def resolve_unknown(self, d: Delivery) -> None:
        """Ask the network whether an unknown delivery went out; never resend blindly."""
        adapter = self.adapters.get(d.account)
        if adapter is None:
            return
        now = self.clock.now()
        mine = await self.store.take_unknown(d, now, self.options.worker, self.options.lease)
        if mine is None:
            return
        content = await answering(self.store, mine.content())
        rendered: Rendered = await _render(adapter, content)
        enter_post(post_scope(content, rendered))
        window = adapter.idempotency_window
        if window is not None:
            first = await self.store.first_attempt_at(mine.id)
            if first is not None and now < first + window:
                # The network ignores a repeat under the same key: sending again settles it.
                why = lifecycle.SAME_KEY_REASON
                change = expect(lifecycle.same_key(mine.state, now=now))
                attempt = self._attempt(mine, now, Outcome.RESOLVED, error=why)
                stale = await self.store.finish([Transition.of(mine, change, now, attempt=attempt)])
                if stale:
                    why = "another daemon took this delivery over meanwhile; left to it"
                _event(logging.INFO, "resolve", f"{mine.post_id} → {mine.account}: {why}", mine)
                return
        since = mine.scheduled_at - timedelta(hours=1)
        try:
            result = await adapter.lookup(_ref(mine), rendered, since)
        except AdapterError as err:
            result = Unknowable(f"lookup failed: {REDACTOR.scrub(err.reason)}")
        now = self.clock.now()
        t = self._resolution(mine, rendered, result, now)
        if await self.store.finish([t]):
            log.warning(
                "delivery %d: result not written, another worker owns it now",
                mine.id,
                extra={"action": "resolve", "delivery": mine.id},
            )
            return
        _event(
            logging.INFO if t.state is not DeliveryState.UNKNOWN else logging.WARNING,
            "resolve",
            f"{mine.post_id} → {mine.account}: {t.reason}",
            mine,
        )

    def _may_still_send(self, d: Delivery) -> bool:
        """Was this taken over from a lapsed lease, and is this its first lookup?

        A lapsed lease shows a daemon dead, or only paused (SIGSTOP, a frozen VM, a starved
        process), perhaps just past its last check before the request leaves: woken, it sends
        at once. A lookup right after the takeover cannot see that request yet, so "absent" is
        only believed a second time, a lease later; by then a daemon paused for up to about
        two leases has sent it (the second lookup finds it) or handed it back unsent.
        """
        return self.shared and d.error_class == Outcome.INTERRUPTED.value and d.lookups == 0

    def _resolution(
        self, d: Delivery, rendered: Rendered, result: LookupResult, now: datetime
    ) -> Transition:
        if isinstance(result, Found) and len(result.published.parts) < len(rendered.parts):
            # Only the start of a thread is out: resume after it, never repost it.
            n, total = len(result.published.parts), len(rendered.parts)
            change = expect(lifecycle.found_part(d.state, now=now, found=n, total=total))
            return Transition.of(
                d,
                change,
                now,
                parts=result.published.parts,
                attempt=self._attempt(d, now, Outcome.RESOLVED, error="thread partly out"),
            )
        if isinstance(result, Found):
            change = expect(lifecycle.found(d.state))
            return self._success(
                d,
                now,
                result.published,
                change,
                self._attempt(
                    d,
                    now,
                    Outcome.RESOLVED,
                    remote_id=result.published.remote_id,
                    remote_url=result.published.url,
                    error=lifecycle.FOUND_REASON,
                ),
            )
        if isinstance(result, Absent) and self._may_still_send(d):
            recheck = now + self.options.lease
            change = expect(lifecycle.not_yet(d.state, recheck_at=recheck, lookups=d.lookups))
            return Transition.of(d, change, now)
        if isinstance(result, Absent):
            return Transition.of(
                d,
                expect(lifecycle.absent(d.state, now=now)),
                now,
                attempt=self._attempt(d, now, Outcome.RESOLVED, error="proven absent; resending"),
            )
        change = expect(
            lifecycle.unknowable(
                d.state, now=now, lookups=d.lookups, why=result.reason, delivery_id=d.id
            )
        )
        return Transition.of(d, change, now)

    async def _drain(self) -> None:
        """Stop taking work; let in-flight requests finish up to the shutdown timeout."""
        if self._inflight:
            timeout = self.config.engine.shutdown_timeout.total_seconds()
            _event(
                logging.INFO,
                "stop",
                f"waiting for {len(self._inflight)} in-flight deliveries (up to {timeout:.0f}s)",
            )
            tasks = list(self._inflight.values())
            _done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=10)
