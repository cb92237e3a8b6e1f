"""Repeat and evergreen posts through the engine: a controlled clock, a real store (SQLite and
PostgreSQL), the daemon restarted between runs (``run --once`` bursts), an edit halfway.
Nothing goes out twice."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from publisher.clock import FakeClock
from publisher.engine.daemon import Engine, EngineOptions
from publisher.engine.runtime import LIVE
from publisher.states import DeliveryState
from publisher.store import Store
from publisher.testing.recording import Call
from publisher.times import localize
from tests.conftest import T0, Project, recording_adapters
from tests.engine.test_engine import Harness, start, stop

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def set_zone(project: Project, db_url: str, zone: ZoneInfo) -> None:
    project.database = db_url
    project.write_config()
    text = project.config_path.read_text(encoding="utf-8")
    text = text.replace('timezone = "Europe/Paris"', f'timezone = "{zone.key}"')
    project.config_path.write_text(text, encoding="utf-8")


async def burst(project: Project, clock: FakeClock, db_url: str) -> list[Call]:
    """One `run --once` at the clock's time: a daemon started afresh on the same store."""
    config = project.config()
    store = await Store.open(db_url)
    try:
        adapters = recording_adapters(config, clock)
        engine = Engine(
            config, store, clock, adapters, LIVE, EngineOptions(once=True, rand=lambda: 0.5)
        )
        await asyncio.wait_for(engine.run(), 20)
        return [c for a in adapters.values() for c in a.calls]
    finally:
        await store.close()


async def state(db_url: str, post: str, account: str = "alpha") -> DeliveryState:
    store = await Store.open(db_url)
    try:
        [d] = await store.find(post, account)
        return d.state
    finally:
        await store.close()


def nine(day: date, zone: ZoneInfo) -> datetime:
    return localize(datetime.combine(day, time(9)), zone).at


@pytest.mark.parametrize(
    ("zone", "first"),
    [
        (PARIS, date(2026, 3, 27)),  # summer time from Sunday the 29th
        (PARIS, date(2026, 10, 23)),  # winter time from Sunday the 25th
        (NEW_YORK, date(2026, 3, 6)),  # daylight time from Sunday the 8th
        (NEW_YORK, date(2026, 10, 30)),  # standard time from Sunday 1 November
    ],
)
async def test_repeat_across_dst_with_restarts_and_an_edit_halfway(
    project: Project, db_url: str, zone: ZoneInfo, first: date
) -> None:
    set_zone(project, db_url, zone)
    days = [first + timedelta(days=i) for i in range(6)]
    rule = """\
        posts:
          - id: tips
            at: {first} 09:00
            accounts: [alpha]
            text: A tip
            repeat: {repeat}
        """
    project.write_queue(rule.format(first=first, repeat="{every: day, count: 5}"))
    clock = FakeClock(nine(first, zone) - timedelta(minutes=5))
    calls = await burst(project, clock, db_url)  # plans, publishes nothing yet
    assert calls == []
    for day in days[:3]:  # the first three, across the change; a restart after each
        await clock.set(nine(day, zone))
        calls += await burst(project, clock, db_url)
        await clock.set(nine(day, zone) + timedelta(minutes=30))
        calls += await burst(project, clock, db_url)
    # Halfway, every other day from the same start, 4 times: days 0, 2, 4, 6. Day 1 is out and
    # stays as recorded; day 3 is canceled; days 4 and 6 are planned.
    project.write_queue(rule.format(first=first, repeat="{every: 2d, count: 4}"))
    calls += await burst(project, clock, db_url)
    assert await state(db_url, f"tips@{days[1]}") is DeliveryState.PUBLISHED
    assert await state(db_url, f"tips@{days[3]}") is DeliveryState.CANCELED
    for day in (days[3], days[4], first + timedelta(days=6)):
        await clock.set(nine(day, zone))
        calls += await burst(project, clock, db_url)
    ids = [c.post_id for c in calls]
    expected = [f"tips@{d}" for d in (days[0], days[1], days[2], days[4])]
    expected.append(f"tips@{first + timedelta(days=6)}")
    assert ids == expected  # each once, in order
    # Each went out at 09:00 on the wall clock, whatever the offset that day.
    assert {c.at.astimezone(zone).time() for c in calls} == {time(9)}
    offsets = {c.at.astimezone(zone).utcoffset() for c in calls}
    assert len(offsets) == 2  # both sides of the change


EVERGREEN = """\
    posts:
      - id: green-a
        evergreen: true
        accounts: [alpha]
        text: Evergreen A
      - id: green-b
        evergreen: true
        accounts: [alpha]
        text: Evergreen B
    """


def paris(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS).astimezone(UTC)


async def test_evergreen_with_restarts_and_a_planned_post_taking_a_slot(
    project: Project, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    project.accounts["alpha"].update(slots=["daily 09:00", "daily 18:00"], evergreen_gap="1d")
    set_zone(project, db_url, PARIS)
    project.write_queue(EVERGREEN)
    clock = FakeClock(paris("2026-12-01 08:55"))
    caplog.set_level(logging.INFO)
    calls = await burst(project, clock, db_url)
    assert calls == []
    assert (
        "evergreen 'green-a' → alpha at 2026-12-01 09:00 (+01:00): the slot was free; this "
        "post was never published there yet" in caplog.text
    )
    times = [
        "2026-12-01 09:00",
        "2026-12-01 09:01",
        "2026-12-01 12:00",
        "2026-12-01 18:00",
        "2026-12-01 18:05",
        "2026-12-02 09:00",
    ]
    for when in times:  # a daemon started afresh each time
        await clock.set(paris(when))
        calls += await burst(project, clock, db_url)
    # green-b was chosen for the 18:00 slot as the one never published, then green-a again
    # once its day's gap was over; green-b is not due again before 18:00 on the 2nd.
    assert "this post was least recently published (2026-12-01 09:00 (+01:00))" in caplog.text
    # A post without `at:` added at 10:00 takes the next free slot (18:00): the evergreen
    # choice for it moves on to the next morning, and its delivery there is canceled.
    await clock.set(paris("2026-12-02 10:00"))
    project.write_queue(
        EVERGREEN.rstrip(" ")
        + """\
      - id: news
        accounts: [alpha]
        text: News
    """
    )
    calls += await burst(project, clock, db_url)
    assert await state(db_url, "green-b~2026-12-02T1800") is DeliveryState.CANCELED
    for when in ("2026-12-02 18:00", "2026-12-02 18:30", "2026-12-03 09:00"):
        await clock.set(paris(when))
        calls += await burst(project, clock, db_url)
    got = [(c.post_id, c.at.astimezone(PARIS).strftime("%d %H:%M")) for c in calls]
    assert got == [
        ("green-a~2026-12-01T0900", "01 09:00"),
        ("green-b~2026-12-01T1800", "01 18:00"),
        ("green-a~2026-12-02T0900", "02 09:00"),
        ("news", "02 18:00"),
        ("green-b~2026-12-03T0900", "03 09:00"),
    ]


async def test_the_daemon_plans_the_next_evergreen_post_once_one_is_due(
    project: Project, clock: FakeClock, db_url: str
) -> None:
    """A daemon left running: no file change, yet each evergreen slot gets its post."""
    project.accounts["alpha"].update(slots=["daily 09:00", "daily 18:00"])
    project.write_queue(EVERGREEN)
    h: Harness
    h, task = await start(project, clock, db_url)  # 08:55 in Paris
    try:
        for when in (T0, T0 + timedelta(minutes=2), T0 + timedelta(hours=9)):
            await clock.set(when)
            await h.settle()
        assert [c[0] for c in h.calls()] == ["green-a~2026-12-01T0900", "green-b~2026-12-01T1800"]
        # Both within the default 30-day gap: nothing more for a month.
        await clock.set(T0 + timedelta(days=1, minutes=5))
        await h.settle()
        assert len(h.calls()) == 2
    finally:
        await stop(h, task)


async def test_a_new_time_of_day_moves_only_what_has_not_gone_out(
    project: Project, db_url: str
) -> None:
    set_zone(project, db_url, PARIS)
    rule = """\
        posts:
          - id: tips
            at: 2026-12-01 {hour}
            accounts: [alpha]
            text: {text}
            repeat: {{every: day, count: 3}}
        """
    project.write_queue(rule.format(hour="09:00", text="A tip"))
    clock = FakeClock(paris("2026-12-01 09:00"))
    calls = await burst(project, clock, db_url)
    await clock.set(paris("2026-12-01 09:30"))
    # Now at 10:00, with another text: the 1st went out at 09:00 and is not sent again (its
    # new time is still ahead); the 2nd and 3rd move to 10:00 with the new text.
    project.write_queue(rule.format(hour="10:00", text="A better tip"))
    calls += await burst(project, clock, db_url)
    for when in ("2026-12-01 10:00", "2026-12-02 09:00", "2026-12-02 10:00", "2026-12-03 10:00"):
        await clock.set(paris(when))
        calls += await burst(project, clock, db_url)
    got = [(c.post_id, c.at.astimezone(PARIS).strftime("%d %H:%M"), c.texts[0]) for c in calls]
    assert got == [
        ("tips@2026-12-01", "01 09:00", "A tip"),
        ("tips@2026-12-02", "02 10:00", "A better tip"),
        ("tips@2026-12-03", "03 10:00", "A better tip"),
    ]
    assert await state(db_url, "tips@2026-12-01") is DeliveryState.PUBLISHED
