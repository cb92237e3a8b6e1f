"""Engagement collection beside publishing (issue 16): its own task, its own requests.

The collector never takes one of the engine's slots, never waits on a delivery, and the
engine never waits on it: a slow or failing metrics endpoint delays only readings. It sleeps
until the next reading is due (or a publication, a config reload, or a hold's end wakes it),
plans the readings of what was published, takes the due ones one account at a time (batched
as the network allows), and reads each account's follower count once a day. What to do is
decided by ``publisher.engine.engagement``; only this loop reads the clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from publisher.adapters.base import Adapter
from publisher.clock import Clock
from publisher.config import Config
from publisher.engine import engagement as decide
from publisher.engine.companion import Companion
from publisher.engine.decide import RetryPolicy
from publisher.engine.engagement import AccountReading, FollowerRetry
from publisher.store import IO_ERRORS, Store, io_error
from publisher.store.records import FollowerCount, PublishedPost, Reading, ReadingChange

# Other daemons on a shared database publish too: their posts are planned at this pace (this
# daemon's own publications are planned as soon as their results are written).
PLAN_EVERY = timedelta(minutes=15)
# A burst publishes thousands of posts: their readings are planned at most this often, so
# the collector's queries stay off the store while the deliveries' results are written (the
# first reading is an hour away or more: a minute late to plan costs nothing).
PLAN_GAP = timedelta(minutes=1)
DUE_LIMIT = 500  # due readings looked at per pass
PLAN_LIMIT = 1000  # publications planned per query


class Collector(Companion):
    """Takes the engagement readings due, for the accounts whose network can read them."""

    action = "engagement"

    def __init__(
        self,
        store: Store,
        clock: Clock,
        rand: Callable[[], float],
        held: Callable[[], Mapping[str, datetime]],
        *,
        once: bool = False,
    ) -> None:
        super().__init__(store, clock, rand, held, once=once)
        self.accounts: dict[str, AccountReading] = {}
        self.adapters: dict[str, Adapter] = {}
        self.policy = RetryPolicy()
        self._replan = True
        self._reconcile = True  # at start and after a reload: plan ages added to the config
        self._planned_at: datetime | None = None
        self._follower_retries: dict[str, FollowerRetry] = {}

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

    def published(self) -> None:
        """Something was published: plan its readings (one wake for a burst)."""
        if self._replan:
            return  # a plan is coming already
        self._replan = True
        self._wake.set()

    # ---------------------------------------------------------------- loop

    def _burst_over(self, now: datetime, wake_at: datetime | None, failed: bool) -> bool:
        """``run --once``: nothing due now (or the pass failed)."""
        return failed or wake_at is None or wake_at > now

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
        planned = self._planned_at
        if self._replan and not self._reconcile and planned and now < planned + PLAN_GAP:
            replan_at = planned + PLAN_GAP  # planned a moment ago: the next plan then
        elif self._replan:
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
            self._start(account, self._work(account, work.get(account, []), account in followers))
        waiting = [a for a in idle if a not in self._running]
        next_reading = await self.store.next_reading_at(waiting)
        hold_end = min((t for t in held.values()), default=None)
        return decide.next_wake(next_reading, followers_next, hold_end, replan_at)

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
                after = 0
                while posts := await self.store.published_posts(
                    names, since, after=after, limit=PLAN_LIMIT
                ):
                    await self._add(posts, now)
                    after = posts[-1].delivery_id
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
            self.log.error(
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
            error = self.as_adapter_error(adapter, err)
            now = self.clock.now()
            failed = decide.failed(won, error, now, self.policy, self.rand())
            await self.store.settle_readings(failed.changes, now)
            self.note(logging.WARNING, adapter.account, f"reading failed: {error.reason}")
            if failed.hold_until is not None:
                self._hold(adapter.account, failed.hold_until, failed.reason)
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
        self.note(
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
            error = self.as_adapter_error(adapter, err)
            now = self.clock.now()
            retry = decide.follower_failed(
                error, self._follower_retries.get(account), now, self.policy, self.rand()
            )
            self._follower_retries[account] = retry
            self.note(logging.WARNING, account, f"follower count failed: {error.reason}")
            return
        self._follower_retries.pop(account, None)
        now = self.clock.now()
        taken = FollowerCount(account, adapter.network, now, count)
        if await self.store.add_follower_count(taken, decide.FOLLOWERS_GAP):
            self.note(logging.INFO, account, f"{count} followers")
