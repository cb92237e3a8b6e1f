"""The engine with a controlled clock and recording adapters, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

from publisher.adapters.base import AmbiguousError, PermanentError, RateLimitedError, TransientError
from publisher.clock import FakeClock
from publisher.engine.daemon import Engine, EngineOptions
from publisher.engine.runtime import LIVE, REHEARSAL
from publisher.states import DeliveryState, Outcome
from publisher.store import Store
from tests.conftest import T0, Project, RecordingAdapter, eventually, recording_adapters


class Harness:
    def __init__(
        self, engine: Engine, store: Store, adapters: dict[str, RecordingAdapter], clock: FakeClock
    ) -> None:
        self.engine = engine
        self.store = store
        self.adapters = adapters
        self.clock = clock

    def calls(self, account: str = "alpha") -> list[tuple[str, str]]:
        return [(c.post_id, c.at.isoformat()) for c in self.adapters[account].calls]

    async def state(self, post: str, account: str = "alpha") -> DeliveryState:
        [d] = await self.store.find(post, account)
        return d.state

    async def settle(self) -> None:
        """Let the engine finish whatever it can do at the current fake time."""
        for _ in range(50):
            await asyncio.sleep(0.01)
        await eventually(lambda: self.engine.in_flight == 0)
        for _ in range(20):
            await asyncio.sleep(0.01)


async def start(
    project: Project,
    clock: FakeClock,
    db_url: str,
    *,
    dry: bool = False,
    once: bool = False,
    lead: timedelta = timedelta(0),
) -> tuple[Harness, asyncio.Task[None]]:
    project.database = db_url
    project.write_config()
    config = project.config()
    store = await Store.open(db_url)
    adapters = recording_adapters(config, clock)
    engine = Engine(
        config,
        store,
        clock,
        adapters,
        REHEARSAL if dry else LIVE,
        EngineOptions(once=once, rand=lambda: 0.5, lead=lead),
    )
    task = asyncio.create_task(engine.run())
    h = Harness(engine, store, dict(adapters), clock)
    await h.settle()
    return h, task


async def stop(h: Harness, task: asyncio.Task[None]) -> None:
    h.engine.stop()
    await asyncio.wait_for(task, 10)
    await h.store.close()


QUEUE = """\
posts:
  - id: first
    at: 2026-12-01 09:00
    accounts: [alpha]
    text: Premier post
  - id: second
    at: 2026-12-01 10:00
    accounts: [alpha, beta]
    text: Second post
"""


async def test_publishes_on_time_not_before(
    project: Project, clock: FakeClock, db_url: str
) -> None:
    project.write_queue(QUEUE)
    h, task = await start(project, clock, db_url)
    try:
        assert h.calls() == []
        await clock.set(T0 - timedelta(seconds=1))
        await h.settle()
        assert h.calls() == []
        await clock.set(T0)
        await h.settle()
        assert h.calls() == [("first", T0.isoformat())]
        assert await h.state("first") is DeliveryState.PUBLISHED
        await clock.set(T0 + timedelta(hours=1))
        await h.settle()
        assert [c[0] for c in h.calls()] == ["first", "second"]
        assert [c.post_id for c in h.adapters["beta"].calls] == ["second"]
        [d] = await h.store.find("second", "beta")
        assert d.state is DeliveryState.PUBLISHED and d.remote_url
        attempts = await h.store.attempts(post_id="second")
        assert sorted(a.outcome for a in attempts) == ["published", "published"]
    finally:
        await stop(h, task)


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'queue.db'}"


async def test_claimed_ahead_of_its_time_but_sent_on_time(
    project: Project, clock: FakeClock, tmp_path: Path
) -> None:
    """With a lead (a daemon alone on SQLite claims a second ahead), ``sending`` is committed
    before the due time and the request leaves at it, not before. A capped account's delivery
    is claimed at its time: its caps are reckoned from the claim."""
    db_url = sqlite_url(tmp_path)
    project.accounts["beta"].update(max_per_day=5)
    project.write_queue(QUEUE)
    h, task = await start(project, clock, db_url, lead=timedelta(seconds=1))
    try:
        await clock.set(T0 - timedelta(seconds=2))
        await h.settle()
        assert await h.state("first") is DeliveryState.SCHEDULED
        await clock.set(T0 - timedelta(milliseconds=500))
        await eventually(lambda: h.engine.in_flight == 1)
        await asyncio.sleep(0.2)
        assert await h.state("first") is DeliveryState.SENDING
        assert h.calls() == []
        await clock.set(T0)
        await h.settle()
        assert h.calls() == [("first", T0.isoformat())]
        assert await h.state("first") is DeliveryState.PUBLISHED
        [attempt] = await h.store.attempts(post_id="first")
        assert attempt.started_at == T0  # the request's time, not the claim's
        due = T0 + timedelta(hours=1)
        await clock.set(due - timedelta(milliseconds=500))
        await eventually(lambda: h.engine.in_flight == 1)
        await asyncio.sleep(0.2)
        assert await h.state("second", "alpha") is DeliveryState.SENDING
        assert await h.state("second", "beta") is DeliveryState.SCHEDULED
        await clock.set(due)
        await h.settle()
        assert h.calls()[-1] == ("second", due.isoformat())
        assert [(c.post_id, c.at) for c in h.adapters["beta"].calls] == [("second", due)]
    finally:
        await stop(h, task)


async def test_stopped_before_the_time_of_a_delivery_claimed_ahead(
    project: Project, clock: FakeClock, tmp_path: Path
) -> None:
    """Stopping with a delivery claimed ahead and its time not come (the drain timed out):
    it was never sent, so it waits again as it was, with no attempt in the ledger, and the
    next daemon sends it."""
    db_url = sqlite_url(tmp_path)
    project.write_queue(QUEUE)
    h, task = await start(project, clock, db_url, lead=timedelta(seconds=1))
    config = h.engine.config
    quick = config.engine.model_copy(update={"shutdown_timeout": timedelta(milliseconds=100)})
    h.engine.config = dataclasses.replace(config, engine=quick)
    await clock.set(T0 - timedelta(milliseconds=500))
    await eventually(lambda: h.engine.in_flight == 1)
    await asyncio.sleep(0.2)
    assert await h.state("first") is DeliveryState.SENDING
    await stop(h, task)
    h, task = await start(project, clock, db_url)  # no lead: it would claim it again at once
    try:
        [d] = await h.store.find("first")
        assert d.state is DeliveryState.SCHEDULED and d.due_at == T0
        assert d.reason == "not sent: the daemon stopped before its time"
        assert await h.store.attempts(post_id="first") == []
        assert d.attempts == 0  # the claim's attempt was handed back with it
        await clock.set(T0)
        await h.settle()
        assert h.calls() == [("first", T0.isoformat())]
    finally:
        await stop(h, task)


async def test_claimed_ahead_then_its_account_held_is_not_sent(
    project: Project, clock: FakeClock, tmp_path: Path
) -> None:
    """A 429 on the account while a delivery claimed ahead waits for its time: the reset
    the network announced holds for it too."""
    project.write_queue("""\
        posts:
          - {id: a, at: 2026-12-01 09:00, accounts: [alpha], text: A}
          - {id: b, at: "2026-12-01T09:00:00.500+01:00", accounts: [alpha], text: B}
        """)
    h, task = await start(project, clock, sqlite_url(tmp_path), lead=timedelta(seconds=1))
    try:
        reset = T0 + timedelta(minutes=15)
        h.adapters["alpha"].script = [RateLimitedError("429", reset_at=reset)]
        await clock.set(T0 - timedelta(milliseconds=200))
        await eventually(lambda: h.engine.in_flight == 2)  # both claimed ahead
        await clock.set(T0)
        await eventually(lambda: h.engine.in_flight == 1)  # a: 429
        await clock.set(T0 + timedelta(milliseconds=500))
        await h.settle()
        assert h.calls() == [("a", T0.isoformat())]
        [b] = await h.store.find("b", "alpha")
        assert b.state is DeliveryState.SCHEDULED and b.due_at == reset
        assert (b.reason or "").startswith("not sent: account held until")
        assert await h.store.attempts(post_id="b") == []
        assert b.attempts == 0  # no send: the retry budget is untouched
        await clock.set(reset)
        await h.settle()
        assert sorted(c[0] for c in h.calls()) == ["a", "a", "b"]
        assert all(c.at >= reset for c in h.adapters["alpha"].calls[1:])
    finally:
        await stop(h, task)


async def test_missed_after_downtime(project: Project, clock: FakeClock, db_url: str) -> None:
    project.write_queue(QUEUE)
    await clock.set(T0 + timedelta(hours=2, minutes=30))  # first is 2h30 late, second 1h30
    h, task = await start(project, clock, db_url)
    try:
        assert await h.state("first") is DeliveryState.MISSED
        [d] = await h.store.find("first", "alpha")
        assert "max_lateness" in (d.reason or "")
        assert await h.state("second") is DeliveryState.PUBLISHED
        assert [c[0] for c in h.calls()] == ["second"]
    finally:
        await stop(h, task)


async def test_not_after_marks_missed(project: Project, clock: FakeClock, db_url: str) -> None:
    project.write_queue("""\
        posts:
          - id: flash
            at: 2026-12-01 09:00
            not_after: 2026-12-01 09:30
            accounts: [alpha]
            text: Vente flash
        """)
    await clock.set(T0 + timedelta(minutes=45))
    h, task = await start(project, clock, db_url)
    try:
        assert await h.state("flash") is DeliveryState.MISSED
        assert h.calls() == []
    finally:
        await stop(h, task)


async def test_frequency_caps_defer_and_say_why(
    project: Project, clock: FakeClock, db_url: str
) -> None:
    project.accounts["alpha"].update(max_per_day=2, min_interval="30m")
    project.write_queue("""\
        posts:
          - {id: a, at: 2026-12-01 09:00, accounts: [alpha], text: A}
          - {id: b, at: 2026-12-01 09:10, accounts: [alpha], text: B}
          - {id: c, at: 2026-12-01 09:20, accounts: [alpha], text: C}
        """)
    h, task = await start(project, clock, db_url)
    try:
        await clock.set(T0 + timedelta(minutes=20))
        await h.settle()
        assert [c[0] for c in h.calls()] == ["a"]
        [b] = await h.store.find("b", "alpha")
        assert b.state is DeliveryState.SCHEDULED
        assert b.due_at == T0 + timedelta(minutes=50)  # 30 min after a went out
        assert "min_interval" in (b.reason or "")
        await clock.set(T0 + timedelta(minutes=50))
        await h.settle()
        assert [c[0] for c in h.calls()] == ["a", "b"]
        [c] = await h.store.find("c", "alpha")
        assert c.state is DeliveryState.SCHEDULED
        assert c.due_at == datetime(2026, 12, 1, 23, 0, tzinfo=UTC)  # midnight in Paris
        assert "max_per_day" in (c.reason or "")
    finally:
        await stop(h, task)


async def test_transient_error_retries_with_backoff(
    project: Project, clock: FakeClock, db_url: str
) -> None:
    project.write_queue(QUEUE)
    await clock.set(T0)
    h, task = await start(project, clock, db_url)
    try:
        # The first attempt already happened at start; script the retry path on a fresh post.
        h.adapters["alpha"].script = [TransientError("503 from the network", status=503), None]
        await clock.set(T0 + timedelta(hours=1))
        await h.settle()
        [d] = await h.store.find("second", "alpha")
        assert d.state is DeliveryState.RETRYING
        assert d.due_at == T0 + timedelta(hours=1, seconds=10)  # base_delay 10s, jitter 0
        await clock.advance(timedelta(seconds=10))
        await h.settle()
        assert await h.state("second") is DeliveryState.PUBLISHED
        outcomes = [a.outcome for a in await h.store.attempts(post_id="second", account="alpha")]
        assert outcomes == [Outcome.TRANSIENT.value, Outcome.PUBLISHED.value]
    finally:
        await stop(h, task)


async def test_permanent_error_fails_at_once_with_reason(
    project: Project, clock: FakeClock, db_url: str
) -> None:
    project.write_queue(QUEUE)
    h, task = await start(project, clock, db_url)
    try:
        h.adapters["alpha"].script = [PermanentError("the token was revoked")]
        await clock.set(T0)
        await h.settle()
        [d] = await h.store.find("first", "alpha")
        assert d.state is DeliveryState.FAILED
        assert d.last_error == "the token was revoked"
        assert len(h.calls()) == 1
    finally:
        await stop(h, task)


async def test_ambiguous_becomes_unknown_never_blind_resend(
    project: Project, clock: FakeClock, db_url: str
) -> None:
    project.write_queue(QUEUE)
    h, task = await start(project, clock, db_url)
    try:
        h.adapters["alpha"].script = [AmbiguousError("timeout after the body was sent")]
        await clock.set(T0)
        await h.settle()
        assert await h.state("first") is DeliveryState.UNKNOWN
        await clock.advance(timedelta(hours=1))
        await h.settle()
        assert [c[0] for c in h.calls()].count("first") == 1
    finally:
        await stop(h, task)


async def test_rate_limit_waits_for_reset_and_holds_the_account(
    project: Project, clock: FakeClock, db_url: str
) -> None:
    project.write_queue("""\
        posts:
          - {id: a, at: 2026-12-01 09:00, accounts: [alpha], text: A}
          - {id: b, at: 2026-12-01 09:01, accounts: [alpha], text: B}
        """)
    h, task = await start(project, clock, db_url)
    try:
        reset = T0 + timedelta(minutes=15)
        h.adapters["alpha"].script = [RateLimitedError("429", reset_at=reset)]
        await clock.set(T0)
        await h.settle()
        [a] = await h.store.find("a", "alpha")
        assert a.state is DeliveryState.RETRYING and a.due_at == reset
        await clock.set(T0 + timedelta(minutes=5))
        await h.settle()
        assert [c[0] for c in h.calls()] == ["a"]  # b waits too: the account is limited
        await clock.set(reset)
        await h.settle()
        assert sorted(c[0] for c in h.calls()) == ["a", "a", "b"]
        assert all(c.at >= reset for c in h.adapters["alpha"].calls[1:])
    finally:
        await stop(h, task)


async def test_dry_run_records_apart_and_never_publishes(
    project: Project, clock: FakeClock, db_url: str
) -> None:
    project.write_queue(QUEUE)
    await clock.set(T0)
    h, task = await start(project, clock, db_url, dry=True)
    try:
        [d] = await h.store.find("first", "alpha")
        assert d.state is DeliveryState.DRY_RUN
        counts = await h.store.count_by_state()
        assert DeliveryState.PUBLISHED not in counts
    finally:
        await stop(h, task)


async def test_once_mode_drains_and_exits(project: Project, clock: FakeClock, db_url: str) -> None:
    project.write_queue(QUEUE)
    await clock.set(T0 + timedelta(hours=1))
    h, task = await start(project, clock, db_url, once=True)
    await asyncio.wait_for(task, 10)
    assert await h.state("first") is DeliveryState.PUBLISHED
    assert await h.state("second") is DeliveryState.PUBLISHED
    await h.store.close()


async def test_sigterm_drain_lets_in_flight_finish(
    project: Project, clock: FakeClock, db_url: str
) -> None:
    project.write_queue(QUEUE)
    h, task = await start(project, clock, db_url)
    gate = asyncio.Event()
    h.adapters["alpha"].gate = gate
    await clock.set(T0)
    await eventually(lambda: h.engine.in_flight == 1)
    h.engine.stop()
    await asyncio.sleep(0.1)
    assert not task.done()  # waiting for the request in flight
    gate.set()
    await asyncio.wait_for(task, 10)
    assert await h.state("first") is DeliveryState.PUBLISHED
    await h.store.close()


async def test_a_finished_request_frees_its_slot_before_its_result_is_written(
    project: Project, clock: FakeClock, db_url: str
) -> None:
    """The limits bound requests out: one that is over does not hold its slot while its
    result waits for the database (the delivery stays ``sending`` there until then).

    On PostgreSQL, where several daemons share the accounts, an account's requests are
    counted from the database (its ``sending`` rows), so there the slot comes back with the
    write."""
    project.write_queue("""\
        posts:
          - {id: a, at: 2026-12-01 09:00, accounts: [alpha], text: A}
          - {id: b, at: 2026-12-01 09:00, accounts: [alpha], text: B}
          - {id: c, at: 2026-12-01 09:00, accounts: [alpha], text: C}
        """)
    h, task = await start(project, clock, db_url)  # per_account = 2
    gate = asyncio.Event()
    write = h.store.finish

    async def slow_finish(transitions: list[object]) -> list[int]:
        await gate.wait()
        return await write(transitions)  # type: ignore[arg-type]

    h.store.finish = slow_finish  # type: ignore[method-assign]
    try:
        await clock.set(T0)
        if h.store.dialect == "postgresql":
            await eventually(lambda: len(h.calls()) == 2)
            for _ in range(50):
                await asyncio.sleep(0.01)
            assert len(h.calls()) == 2  # c waits: a and b are still sending in the database
        else:
            await eventually(lambda: len(h.calls()) == 3)
        assert await h.state("a") is DeliveryState.SENDING  # its result is not written yet
        gate.set()
        await h.settle()
        assert [await h.state(p) for p in "abc"] == [DeliveryState.PUBLISHED] * 3
    finally:
        gate.set()
        await stop(h, task)
