"""Issue 19, items 4 and 5, in process: nothing a sync meets stops the engine.

A queue file the parser cannot take (it raised, on the code these tests were written
against: an offset that overflows the date range, an id the int parser refuses) and a disk
that fills up while a queue edit is applied: the engine keeps the last good plan, publishes
it, reports why, retries what a retry may fix, and applies the file once it can. The same
as real processes, with /healthz and `publisher status`, is in tests/daemon/test_survival.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.clock import FakeClock
from publisher.states import DeliveryState
from tests.conftest import T0, Project
from tests.engine.test_engine import QUEUE, start, stop
from tests.smallfs import SmallFs, small_fs

# The engine must survive whatever these raise in the parser; once the parser gives them a
# located error instead, they must still be reported and change nothing.
OVERFLOW = """\
  - id: overflow
    at: 9999-12-31T23:59-05:00
    accounts: [beta]
    text: Too late for any calendar
"""
HUGE_ID = f"""\
  - id: 0x{"f" * 4000}
    at: 2026-12-01 11:00
    accounts: [beta]
    text: An id the int parser refuses
"""


async def test_item4_a_sync_that_raises_keeps_the_last_good_plan(
    project: Project, clock: FakeClock, db_url: str
) -> None:
    project.write_queue(QUEUE)
    h, task = await start(project, clock, db_url)
    try:
        for broken in (OVERFLOW, HUGE_ID):
            project.write_queue(QUEUE + broken)
            h.engine.request_sync()
            await h.settle()
            assert not task.done(), "the engine stopped on a queue file"
            report = h.engine.last_sync
            assert report is not None and report.failed and not report.added
            assert "queue not applied" in report.summary()
            load = await h.store.load_state()
            assert load is not None and not load.ok
            assert load.message and "queue.yaml" in load.message
        # The plan applied before the file broke is served, for both accounts.
        await clock.set(T0 + timedelta(hours=1))
        await h.settle()
        assert [c[0] for c in h.calls("alpha")] == ["first", "second"]
        assert [c.post_id for c in h.adapters["beta"].calls] == ["second"]
        # Fixed: applied at once.
        project.write_queue(QUEUE.replace("Second post", "Second post, edited"))
        h.engine.request_sync()
        await h.settle()
        report = h.engine.last_sync
        assert report is not None and not report.failed
        load = await h.store.load_state()
        assert load is not None and load.ok
    finally:
        await stop(h, task)


async def test_item4_a_queue_broken_at_start_serves_the_stored_plan(
    project: Project, clock: FakeClock, db_url: str
) -> None:
    project.write_queue(QUEUE)
    h, task = await start(project, clock, db_url)
    await stop(h, task)
    project.write_queue(QUEUE + OVERFLOW)
    h, task = await start(project, clock, db_url)
    try:
        assert not task.done(), "the engine stopped on a queue file at start"
        assert h.engine.last_sync is not None and h.engine.last_sync.failed
        await clock.set(T0 + timedelta(hours=1))
        await h.settle()
        assert [c[0] for c in h.calls("alpha")] == ["first", "second"]
        assert await h.state("second", "beta") is DeliveryState.PUBLISHED
    finally:
        await stop(h, task)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallFs]:
    yield from small_fs(tmp_path / "disk", size_mib=6)


def bulk(n: int) -> str:
    """Posts enough to need a few MiB of database: more than a full disk leaves."""
    return "".join(
        f"  - id: bulk-{i}\n    at: 2026-12-02 09:{i % 60:02d}\n    accounts: [beta]\n"
        f"    text: {'lorem ipsum dolor sit amet ' * 20}{i}\n"
        for i in range(n)
    )


async def test_item5_a_full_disk_during_a_queue_edit_is_retried_with_a_backoff(
    project: Project, clock: FakeClock, disk: SmallFs
) -> None:
    """ENOSPC from SQLite while it applies an edit: reported, retried after 2 s, 4 s, ...
    on the engine's clock, and applied once there is room; the running plan is served."""
    project.write_queue(QUEUE)
    h, task = await start(project, clock, f"sqlite:///{disk.path / 'queue.db'}")
    try:
        disk.fill()
        project.write_queue(QUEUE + bulk(1500))
        h.engine.request_sync()
        await h.settle()
        assert not task.done(), "the engine stopped on a full disk"
        delays: list[str] = []
        for _ in range(3):
            report = h.engine.last_sync
            assert report is not None and report.failed and report.failure is not None
            assert "full" in report.failure, report.failure
            delays.append(report.failure.rsplit("retrying in ", 1)[1])
            await clock.advance(timedelta(seconds=2 ** len(delays)))
            await h.settle()
        assert delays == ["2s", "4s", "8s"]
        disk.free()
        await clock.advance(timedelta(seconds=16))
        await h.settle()
        report = h.engine.last_sync
        assert report is not None and not report.failed, report.summary()
        assert report.added == 1500
        load = await h.store.load_state()
        assert load is not None and load.ok
        await clock.set(T0 + timedelta(hours=1))
        await h.settle()
        assert [c[0] for c in h.calls("alpha")] == ["first", "second"]
    finally:
        await stop(h, task)
