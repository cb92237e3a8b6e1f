"""What the engine's companions share: a task beside publishing, one account at a time.

Engagement collection (``collect.Collector``) and listening (``listen.Listener``) each run
as their own task: they start once the engine's first pass is done (the posts due at start
never wait behind them), read one account at a time (a network's limits are per account),
honour the engine's holds and their own, and never take publishing down: a store error or
a bug in a pass is logged and retried later. Only this loop reads the clock; what to do in a
pass is each companion's ``_pass``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime, timedelta
from typing import Any

from publisher.adapters.base import Adapter, AdapterError, TransientError
from publisher.clock import Clock
from publisher.config import Config
from publisher.engine.decide import RetryPolicy
from publisher.redact import REDACTOR
from publisher.store import IO_ERRORS, Store, io_error

FAR = timedelta(days=1)
STORE_RETRY = timedelta(seconds=5)
BUG_RETRY = timedelta(minutes=1)


class Companion(ABC):
    """A task beside the engine; subclasses say what a pass does and when a burst is over."""

    action = "companion"  # the log's ``action`` field, and the word in its messages

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
        self.log = logging.getLogger(f"publisher.{self.action}")
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._begun = asyncio.Event()  # the engine's first pass is done
        self._holds: dict[str, datetime] = {}  # accounts this companion waits for
        self._running: dict[str, asyncio.Task[None]] = {}

    # ------------------------------------------------------------ controls

    @abstractmethod
    def configure(
        self, config: Config, adapters: Mapping[str, Adapter], policy: RetryPolicy
    ) -> None:
        """The accounts it serves, at start and after each reload."""

    @abstractmethod
    def published(self) -> None:
        """Something was published (one call for a burst's batch of results)."""

    def begin(self) -> None:
        """The engine has made its first pass: this companion may start."""
        self._begun.set()

    def stop(self) -> None:
        self._stopping.set()
        self._begun.set()
        self._wake.set()

    # ---------------------------------------------------------------- loop

    @abstractmethod
    async def _pass(self, now: datetime) -> datetime | None:
        """Start what is due; when to look again (None: nothing to wait for)."""

    @abstractmethod
    def _burst_over(self, now: datetime, wake_at: datetime | None, failed: bool) -> bool:
        """With ``once`` and nothing running: is the burst's work done?"""

    async def run(self) -> None:
        """Until stopped; with ``once``, until ``_burst_over``."""
        await self._begun.wait()
        try:
            while not self._stopping.is_set():
                now = self.clock.now()
                self._wake.clear()
                failed = True  # a burst ends at a failed pass: nothing is forced
                try:
                    wake_at = await self._pass(now)
                    failed = False
                except IO_ERRORS as err:
                    self.log.error(
                        "%s: store error, retrying in %ss: %s",
                        self.action,
                        STORE_RETRY.total_seconds(),
                        io_error(err),
                        extra={"action": self.action},
                    )
                    wake_at = now + STORE_RETRY
                except Exception as err:  # a bug here must never take publishing down
                    detail = REDACTOR.scrub("".join(traceback.format_exception(err)))
                    self.log.error("%s: unexpected error:\n%s", self.action, detail)
                    wake_at = now + BUG_RETRY
                if self.once and not self._running and self._burst_over(now, wake_at, failed):
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

    def _held(self, now: datetime) -> dict[str, datetime]:
        held = {a: t for a, t in self._holds.items() if t > now}
        for account, until in self.engine_holds().items():
            if until > now and until > held.get(account, now):
                held[account] = until
        return held

    def _hold(self, account: str, until: datetime, why: str) -> None:
        self._holds[account] = max(until, self._holds.get(account, until))
        self.note(
            logging.WARNING,
            account,
            f"{self.action} waits until {until:%Y-%m-%d %H:%M:%S}Z: {why}",
        )

    def _start(self, account: str, work: Coroutine[Any, Any, None]) -> None:
        """One account's work as a task; the loop wakes when it ends."""
        task = asyncio.ensure_future(work)
        self._running[account] = task

        def done(_task: object) -> None:
            self._running.pop(account, None)
            self._wake.set()

        task.add_done_callback(done)

    def as_adapter_error(self, adapter: Adapter, err: Exception) -> AdapterError:
        """Our error classes pass as they are; anything else is an adapter bug, logged and
        retried like a transient failure (a read creates nothing)."""
        if isinstance(err, AdapterError):
            return err
        detail = adapter.scrub("".join(traceback.format_exception(err)))
        self.log.error("%s: adapter bug (%s):\n%s", adapter.account, self.action, detail)
        return TransientError(adapter.scrub(f"adapter bug: {type(err).__name__}: {err}"))

    def note(self, level: int, account: str, message: str) -> None:
        self.log.log(
            level,
            "%s: %s",
            account,
            REDACTOR.scrub(message),
            extra={"action": self.action, "account": account},
        )
