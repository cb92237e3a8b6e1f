"""The listener in the running engine (issue 20), with a controlled clock and listening
recorders, on SQLite and PostgreSQL: items kept once across pages and restarts, the cursor
kept through a restart, a slow endpoint never delaying a due post, answers by ``reply_to``
sent once and their items marked handled, even across a crash in between."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta

import pytest

from publisher.adapters.base import RateLimitedError
from publisher.clock import FakeClock
from publisher.engine.daemon import Engine, EngineOptions
from publisher.engine.runtime import LIVE
from publisher.states import DeliveryState
from publisher.store import Store
from publisher.store.inbox import INBOX, ItemState
from publisher.testing.recording import ListeningRecorder, listening, listening_adapters
from tests.conftest import T0, Project, eventually

MINUTE = timedelta(minutes=1)
ANSWER_AT = T0 + timedelta(minutes=30)


class Run:
    def __init__(
        self, engine: Engine, store: Store, adapters: Mapping[str, ListeningRecorder]
    ) -> None:
        self.engine = engine
        self.store = store
        self.adapters = adapters
        self.task = asyncio.create_task(engine.run())

    async def settle_engine(self) -> None:
        for _ in range(40):
            await asyncio.sleep(0.01)
        await eventually(lambda: self.engine.in_flight == 0)

    async def settle(self) -> None:
        await self.settle_engine()
        listener = self.engine.listener
        assert listener is not None
        await eventually(lambda: not listener._running)
        for _ in range(20):
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.engine.stop()
        await asyncio.wait_for(self.task, 10)
        await self.store.close()


async def start(
    project: Project,
    clock: FakeClock,
    db_url: str,
    adapters: Mapping[str, ListeningRecorder] | None = None,
    *,
    once: bool = False,
) -> Run:
    """The engine running; its first pass made (the listener may still be reading)."""
    project.database = db_url
    project.write_config()
    config = listening(project.config(), listen_interval=timedelta(minutes=5))
    store = await Store.open(db_url)
    adapters = adapters or listening_adapters(config, clock)
    engine = Engine(
        config, store, clock, dict(adapters), LIVE, EngineOptions(once=once, rand=lambda: 0.5)
    )
    run = Run(engine, store, adapters)
    await run.settle_engine()
    return run


def say_many(adapter: ListeningRecorder, n: int, first: int = 1) -> None:
    for i in range(first, first + n):
        adapter.say(f"message {i}")


async def test_items_are_kept_once_across_pages_and_a_restart(
    project: Project, clock: FakeClock, db_url: str
) -> None:
    project.write_queue("posts: []\n")
    project.database = db_url
    project.write_config()
    adapters = listening_adapters(listening(project.config()), clock)
    alpha = adapters["alpha"]
    say_many(alpha, 45)  # said before we ever listened
    run = await start(project, clock, db_url, adapters)
    try:
        await clock.advance(MINUTE)  # past the first reads' spread
        await run.settle()
        # The first read ever takes the newest page only: no flood of the account's past.
        items = await run.store.inbox_items(accounts=["alpha"])
        assert sorted(i.text for i in items) == sorted(f"message {i}" for i in range(26, 46))
        say_many(alpha, 30, first=46)  # more than a page: read page after page
        await clock.advance(5 * MINUTE)
        await run.settle()
        await clock.advance(MINUTE)
        await run.settle()
        items = await run.store.inbox_items(accounts=["alpha"])
        assert len(items) == 50 and len({i.remote_id for i in items}) == 50
        assert [r.cursor for r in alpha.reads] == [None, "45", "65"]
        cursors = await run.store.listen_cursors()
        assert cursors[("alpha", INBOX)][0] == "75"
    finally:
        await run.stop()
    # A restart resumes at the cursor kept, and a network repeating itself stores nothing.
    run = await start(project, clock, db_url)
    alpha = run.adapters["alpha"]
    say_many(alpha, 75)  # the same 75 items (the recorder's ids are by position)
    try:
        await clock.advance(5 * MINUTE)
        await run.settle()
        assert alpha.reads and alpha.reads[0].cursor == "75"
        assert len(await run.store.inbox_items(accounts=["alpha"])) == 50
        # A page overlapping what was kept (the cursor moved back): nothing twice.
        await run.store.hear("alpha", "log", INBOX, [], "60", clock.now())
        await clock.advance(5 * MINUTE)
        await run.settle()
        items = await run.store.inbox_items(accounts=["alpha"])
        assert len(items) == 50 and len({i.remote_id for i in items}) == 50
    finally:
        await run.stop()


async def test_a_slow_endpoint_never_delays_a_due_post(
    project: Project, clock: FakeClock, db_url: str
) -> None:
    project.write_queue(
        "posts:\n  - {id: first, at: 2026-12-01 09:00, accounts: [alpha], text: Premier}\n"
    )
    project.database = db_url
    project.write_config()
    config = listening(project.config())
    adapters = listening_adapters(config, clock)
    adapters["alpha"].read_gate = asyncio.Event()  # every read hangs until the end
    run = await start(project, clock, db_url, adapters)
    try:
        await clock.advance(MINUTE)  # past the first reads' spread
        await eventually(lambda: len(adapters["alpha"].reads) >= 1)
        await clock.set(T0)
        await run.settle_engine()
        [call] = adapters["alpha"].calls
        assert call.post_id == "first" and call.at == T0
    finally:
        adapters["alpha"].read_gate.set()
        await run.stop()


async def test_a_rate_limit_holds_listening_not_publishing(
    project: Project, clock: FakeClock, db_url: str
) -> None:
    project.write_queue(
        "posts:\n  - {id: first, at: 2026-12-01 09:00, accounts: [alpha], text: Premier}\n"
    )
    run = await start(project, clock, db_url)
    alpha = run.adapters["alpha"]
    reset = clock.now() + timedelta(minutes=30)
    alpha.read_script = [RateLimitedError("slow down", reset_at=reset)]
    try:
        await clock.advance(5 * MINUTE)
        await run.settle()
        reads = len(alpha.reads)
        await clock.set(T0)  # before the reset: the post goes, no read is made
        await run.settle()
        assert [c.post_id for c in alpha.calls] == ["first"]
        assert len(alpha.reads) == reads
        await clock.set(reset + MINUTE)
        await run.settle()
        assert len(alpha.reads) > reads
    finally:
        await run.stop()


ANSWER = """\
posts:
  - id: answer
    at: 2026-12-01 09:30
    accounts: [alpha]
    text: Merci, c'est corrigé !
    reply_to: {ref}
"""


async def heard_item(project: Project, clock: FakeClock, db_url: str) -> int:
    project.write_queue("posts: []\n")
    run = await start(project, clock, db_url)
    run.adapters["alpha"].say("Votre lien est cassé", author="@ana")
    try:
        await clock.advance(5 * MINUTE)
        await run.settle()
        [item] = await run.store.inbox_items()
        assert item.state is ItemState.NEW
        return item.id
    finally:
        await run.stop()


@pytest.mark.parametrize("by", ["id", "url"])
async def test_an_answer_goes_once_and_marks_its_item_handled(
    project: Project, clock: FakeClock, db_url: str, by: str
) -> None:
    item_id = await heard_item(project, clock, db_url)
    ref = str(item_id) if by == "id" else "https://log.example/alpha/heard/1"
    project.write_queue(ANSWER.format(ref=ref))
    run = await start(project, clock, db_url)
    try:
        await clock.set(ANSWER_AT)
        await run.settle()
        [call] = run.adapters["alpha"].calls
        assert call.payloads[0]["in_reply_to"] == "alpha-said-1"
        assert call.payloads[0]["thread"] == "thread-1"
        [item] = await run.store.inbox_items()
        assert item.state is ItemState.HANDLED and item.answer_post == "answer"
        assert item.answered_at == ANSWER_AT
    finally:
        await run.stop()


async def test_a_crash_between_the_answer_and_its_mark_leaves_one_answer(
    project: Project, clock: FakeClock, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    item_id = await heard_item(project, clock, db_url)
    project.write_queue(ANSWER.format(ref=item_id))
    run = await start(project, clock, db_url)

    async def crash(now: object) -> list[int]:
        raise OSError("the disk went away")  # as if the process died before marking

    monkeypatch.setattr(run.store, "settle_answers", crash)
    try:
        await clock.set(ANSWER_AT)
        await run.settle()
        assert len(run.adapters["alpha"].calls) == 1
        [item] = await run.store.inbox_items()
        assert item.state is ItemState.NEW  # not marked: the "crash" came first
    finally:
        await run.stop()
    run = await start(project, clock, db_url)  # the restart marks it, sends nothing
    try:
        await clock.advance(MINUTE)
        await run.settle()
        assert run.adapters["alpha"].calls == []
        [item] = await run.store.inbox_items()
        assert item.state is ItemState.HANDLED and item.answered_at == ANSWER_AT
        [d] = await run.store.find("answer", "alpha")
        assert d.state is DeliveryState.PUBLISHED
    finally:
        await run.stop()


async def test_an_answer_to_an_item_not_in_the_inbox_is_not_sent(
    project: Project, clock: FakeClock, db_url: str
) -> None:
    project.write_queue(ANSWER.format(ref=999))
    run = await start(project, clock, db_url)
    try:
        await clock.set(ANSWER_AT)
        await run.settle()
        assert run.adapters["alpha"].calls == []
        [d] = await run.store.find("answer", "alpha")
        assert d.state is DeliveryState.FAILED
        assert "reply_to 999: no such item in the inbox" in (d.last_error or d.reason or "")
    finally:
        await run.stop()
