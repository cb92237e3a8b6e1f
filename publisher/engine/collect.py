"""Engagement collection beside publishing (issue 16): its own task, its own requests.

The collector never takes one of the engine's slots, never waits on a delivery, and the
engine never waits on it: a slow or failing metrics endpoint delays only readings. It sleeps
until the next reading is due (or a publication, a config reload, or a hold's end wakes it),
plans the readings of what was published, takes the due ones one account at a time (batched
as the network allows), and reads each account's follower count once a day. What to do is
decided by ``publisher.engine.engagement``; only this loop reads the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from publisher.adapters.base import Adapter, AdapterError, TransientError
from publisher.clock import Clock
from publisher.config import Config
from publisher.engine import engagement as decide
from publisher.engine.decide import RetryPolicy
from publisher.engine.engagement import AccountReading, FollowerRetry
from publisher.redact import REDACTOR
from publisher.store import IO_ERRORS, Store, io_error
from publisher.store.records import FollowerCount, PublishedPost, Reading, ReadingChange

log = logging.getLogger("publisher.engagement")

FAR = timedelta(days=1)
# Other daemons on a shared database publish too: their posts are planned at this pace (this
# daemon's own publications are planned as soon as their results are written).
PLAN_EVERY = timedelta(minutes=15)
DUE_LIMIT = 500  # due readings looked at per pass
PLAN_LIMIT = 1000  # publications planned per query
STORE_RETRY = timedelta(seconds=5)


class Collector:
    """Takes the engagement readings due, for the accounts whose network can read them."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        rand: Callable[[], float],
        held: Callable[[], Mapping[str, datetime]],
        *,
        once: bool = False,
    ) -> None:
        self.store = store
        self.clock = clock
        self.rand = rand
        self.engine_holds = held  # the engine's holds (rate limits, credentials): ours too
        self.once = once
        self.accounts: dict[str, AccountReading] = {}
        self.adapters: dict[str, Adapter] = {}
        self.policy = RetryPolicy()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._replan = True
        self._reconcile = True  # at start and after a reload: plan ages added to the config
        self._planned_at: datetime | None = None
        self._holds: dict[str, datetime] = {}  # accounts whose reads were rate-limited
        self._follower_retries: dict[str, FollowerRetry] = {}
        self._running: dict[str, asyncio.Task[None]] = {}

    # ------------------------------------------------------------ controls

    def configure(
        self, config: Config, adapters: Mapping[str, Adapter], policy: RetryPolicy
    ) -> None:
        """The accounts that collect: engagement ages configured and a network that reads."""
        accounts = {}
        for name, acc in config.accounts.items():
            adapter = adapters.get(name)
            capability = None if adapter is None else adapter.engagement
            if capability is None or not acc.engagement:
                continue
            accounts[name] = AccountReading(
                name, acc.engagement, capability.batch, capability.followers
            )
        self.accounts = accounts
        self.adapters = dict(adapters)
        self.policy = policy
        self._replan = self._reconcile = True
        self._wake.set()

    @property
    def active(self) -> bool:
        return bool(self.accounts)

    def published(self) -> None:
        """Something was published: plan its readings."""
        self._replan = True
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    # ---------------------------------------------------------------- loop

    async def run(self) -> None:
        """Until stopped; with ``once``, until nothing is due now and no read is out."""
        try:
            while not self._stopping.is_set():
                now = self.clock.now()
                self._wake.clear()
                try:
                    wake_at = await self._pass(now)
                except IO_ERRORS as err:
                    log.error(
                        "engagement: store error, retrying in %ss: %s",
                        STORE_RETRY.total_seconds(),
                        io_error(err),
                        extra={"action": "engagement"},
                    )
                    wake_at = now + STORE_RETRY
                if self.once and not self._running and (wake_at is None or wake_at > now):
                    break
                if self.once and self._running and (wake_at is None or wake_at > now):
                    await asyncio.wait(list(self._running.values()))
                    continue
                limit = now + FAR
                await self.clock.sleep_until(min(wake_at or limit, limit), self._wake)
        finally:
            for task in list(self._running.values()):
                task.cancel()
            for task in list(self._running.values()):
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _pass(self, now: datetime) -> datetime | None:
        """Plan, start what is due; returns when to look again."""
        if not self.accounts:
            return None
        replan_at = None
        if not self.once:
            due_plan = (self._planned_at or now) + PLAN_EVERY
            if due_plan <= now:
                self._replan = True
            replan_at = now + PLAN_EVERY if self._replan else due_plan
        if self._replan:
            await self._plan(now)
        held = self._held(now)
        idle = [a for a in self.accounts if a not in held and a not in self._running]
        due = await self.store.due_readings(now, idle, DUE_LIMIT)
        batches = decide.sort_due(due, self.accounts, now)
        if batches.missed:
            await self.store.settle_readings(batches.missed, now)
        work: dict[str, list[list[Reading]]] = {}
        for batch in batches.reads:
            work.setdefault(batch[0].account, []).append(batch)
        last = await self.store.last_follower_counts(idle)
        followers, followers_next = decide.followers_due(
            (self.accounts[a] for a in idle), last, self._follower_retries, held, now
        )
        for account in {*work, *followers}:
            self._start(account, work.get(account, []), account in followers)
        waiting = [a for a in idle if a not in self._running]
        next_reading = await self.store.next_reading_at(waiting)
        hold_end = min((t for t in held.values()), default=None)
        return decide.next_wake(next_reading, followers_next, hold_end, replan_at)

    def _held(self, now: datetime) -> dict[str, datetime]:
        held = {a: t for a, t in self._holds.items() if t > now}
        for account, until in self.engine_holds().items():
            if until > now and until > held.get(account, now):
                held[account] = until
        return held

    async def _plan(self, now: datetime) -> None:
        """Readings for what was published (and, after a start or reload, for ages added)."""
        reconcile, self._reconcile = self._reconcile, False
        self._replan = False
        self._planned_at = now
        by_horizon: dict[timedelta, list[str]] = {}
        for acc in self.accounts.values():
            by_horizon.setdefault(acc.horizon, []).append(acc.account)
        for horizon, names in by_horizon.items():
            since = now - horizon
            if reconcile:
                posts = await self.store.published_posts(names, since)
                await self._add(posts, now)
                continue
            while True:
                posts = await self.store.unplanned_posts(names, since, PLAN_LIMIT)
                added = await self._add(posts, now)
                if len(posts) < PLAN_LIMIT or not added:
                    break

    async def _add(self, posts: Sequence[PublishedPost], now: datetime) -> int:
        readings = [r for p in posts for r in decide.plan(p, self.accounts[p.account].ages, now)]
        return await self.store.plan_readings(readings, now) if readings else 0

    # ---------------------------------------------------------------- reads

    def _start(self, account: str, batches: list[list[Reading]], followers: bool) -> None:
        task = asyncio.ensure_future(self._work(account, batches, followers))
        self._running[account] = task

        def done(_task: object) -> None:
            self._running.pop(account, None)
            self._wake.set()

        task.add_done_callback(done)

    async def _work(self, account: str, batches: list[list[Reading]], followers: bool) -> None:
        """One account's due reads, one request at a time (a network's limits are per
        account); stops at a hold."""
        adapter = self.adapters.get(account)
        if adapter is None:
            return
        try:
            for batch in batches:
                if not await self._read(adapter, batch):
                    return  # held: the rest waits for the hold's end
            if followers:
                await self._followers(adapter)
        except IO_ERRORS as err:
            log.error(
                "engagement %s: store error: %s",
                account,
                io_error(err),
                extra={"action": "engagement", "account": account},
            )

    async def _read(self, adapter: Adapter, batch: list[Reading]) -> bool:
        """Read one batch; False if the account is held now."""
        now = self.clock.now()
        won = await self.store.claim_readings(batch, now, now + decide.READ_LEASE)
        if not won:
            return True
        try:
            answer = list(await adapter.read_engagement([r.remote_id for r in won]))
        except Exception as err:
            error = _as_adapter_error(adapter, err)
            now = self.clock.now()
            failed = decide.failed(won, error, now, self.policy, self.rand())
            await self.store.settle_readings(failed.changes, now)
            _note(logging.WARNING, adapter.account, f"reading failed: {error.reason}")
            if failed.hold_until is not None:
                self._hold(adapter.account, failed.hold_until, failed.reason, now)
                await self.store.hold_readings(
                    adapter.account, failed.hold_until, failed.reason, now
                )
                return False
            return True
        now = self.clock.now()
        changes: list[ReadingChange] = decide.taken(won, answer, now)
        changes += [
            decide.left_out(r, now, self.policy, self.rand())
            for r in decide.unanswered(won, answer)
        ]
        appended = await self.store.settle_readings(changes, now)
        _note(
            logging.INFO,
            adapter.account,
            f"{appended} snapshot{'s' if appended != 1 else ''} taken "
            f"({', '.join(sorted({r.age_label for r in won}))})",
        )
        return True

    async def _followers(self, adapter: Adapter) -> None:
        account = adapter.account
        try:
            count = await adapter.read_followers()
        except Exception as err:
            error = _as_adapter_error(adapter, err)
            now = self.clock.now()
            retry = decide.follower_failed(
                error, self._follower_retries.get(account), now, self.policy, self.rand()
            )
            self._follower_retries[account] = retry
            _note(logging.WARNING, account, f"follower count failed: {error.reason}")
            return
        self._follower_retries.pop(account, None)
        now = self.clock.now()
        await self.store.add_follower_count(FollowerCount(account, adapter.network, now, count))
        _note(logging.INFO, account, f"{count} followers")

    def _hold(self, account: str, until: datetime, why: str, now: datetime) -> None:
        self._holds[account] = max(until, self._holds.get(account, until))
        _note(logging.WARNING, account, f"readings wait until {until:%Y-%m-%d %H:%M:%S}Z: {why}")


def _as_adapter_error(adapter: Adapter, err: Exception) -> AdapterError:
    """Our four error classes pass as they are; anything else is an adapter bug, logged and
    retried like a transient failure (a read creates nothing)."""
    if isinstance(err, AdapterError):
        return err
    detail = adapter.scrub("".join(traceback.format_exception(err)))
    log.error("%s: adapter bug while reading engagement:\n%s", adapter.account, detail)
    return TransientError(adapter.scrub(f"adapter bug: {type(err).__name__}: {err}"))


def _note(level: int, account: str, message: str) -> None:
    log.log(
        level,
        "%s: %s",
        account,
        REDACTOR.scrub(message),
        extra={"action": "engagement", "account": account},
    )
