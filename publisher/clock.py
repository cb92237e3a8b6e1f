"""The one clock seam: every component that needs the time gets a Clock.

Pure decisions take ``now`` as an argument; only the engine's loop asks a Clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...

    async def sleep_until(self, when: datetime, wake: asyncio.Event | None = None) -> None:
        """Sleep until ``when`` or until ``wake`` is set, whichever comes first."""
        ...


async def _wait(event: asyncio.Event | None, seconds: float) -> None:
    if event is None:
        await asyncio.sleep(max(seconds, 0.0))
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=max(seconds, 0.0))


class SystemClock:
    """Wall time, read once per call; sleeping uses the loop's monotonic timer."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime, wake: asyncio.Event | None = None) -> None:
        await _wait(wake, (when - self.now()).total_seconds())


class OffsetClock:
    """Another clock's time, shifted: several daemons on one PostgreSQL all use the
    database server's clock (the offset is measured against it and refreshed)."""

    def __init__(self, base: Clock, offset: timedelta = timedelta(0)) -> None:
        self._base = base
        self.offset = offset

    def now(self) -> datetime:
        return self._base.now() + self.offset

    async def sleep_until(self, when: datetime, wake: asyncio.Event | None = None) -> None:
        await self._base.sleep_until(when - self.offset, wake)


class TravelClock:
    """A clock that starts at ``origin`` and runs ``speed`` times faster than wall time.

    Used by ``run --dry-run --time-travel`` so a rehearsal of next week happens now.
    """

    def __init__(self, origin: datetime, speed: float = 1.0) -> None:
        if origin.tzinfo is None:
            raise ValueError("origin must be timezone-aware")
        self._origin = origin.astimezone(UTC)
        self._speed = speed
        self._start = time.monotonic()

    def now(self) -> datetime:
        return self._origin + timedelta(seconds=(time.monotonic() - self._start) * self._speed)

    async def sleep_until(self, when: datetime, wake: asyncio.Event | None = None) -> None:
        await _wait(wake, (when - self.now()).total_seconds() / self._speed)


class FakeClock:
    """A clock tests move by hand; sleepers wake when the time they wait for is reached."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._now = start.astimezone(UTC)
        self._changed = asyncio.Condition()

    def now(self) -> datetime:
        return self._now

    async def advance(self, delta: timedelta) -> None:
        await self.set(self._now + delta)

    async def set(self, when: datetime) -> None:
        self._now = when.astimezone(UTC)
        async with self._changed:
            self._changed.notify_all()
        await asyncio.sleep(0)

    async def sleep_until(self, when: datetime, wake: asyncio.Event | None = None) -> None:
        async def reached() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: self._now >= when)

        if self._now >= when:
            await asyncio.sleep(0)
            return
        tasks: list[asyncio.Future[object]] = [asyncio.ensure_future(reached())]
        if wake is not None:
            tasks.append(asyncio.ensure_future(wake.wait()))
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
