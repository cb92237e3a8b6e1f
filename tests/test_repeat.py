"""repeat: occurrences across DST changes, until and count, the horizon, and the file's errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.config import Config
from publisher.diagnostics import InvalidFileError
from publisher.queuefile import QueueFile
from publisher.repeat import HORIZON, RepeatRule, occurrences
from publisher.rules import expand, rule_of
from publisher.schedule import plan_deliveries
from publisher.states import DeliveryState
from publisher.store.plan import PlanEntry
from publisher.times import localize
from tests.test_schedule import NEW_YORK, PARIS, account, make_config, queue


def config(tmp_path: Path, zone: ZoneInfo) -> Config:
    return make_config(tmp_path, zone, account("alpha", "mon-fri 12:00"), account("beta"))


def dated(q: QueueFile, cfg: Config, now: datetime, **kw: object) -> dict[str, str]:
    """The expanded posts as id: local time (with its offset)."""
    e = expand(q, cfg, now, kw.get("index", {}), {})  # type: ignore[arg-type]
    zone = cfg.timezone
    return {
        p.id: p.at.astimezone(zone).strftime("%Y-%m-%d %H:%M%z")
        for p in e.queue.posts
        if p.at is not None
    }


def rule_post(at: str, repeat: str, post: str = "tips") -> str:
    return f"""
        posts:
          - id: {post}
            at: {at}
            accounts: [beta]
            text: A tip
            repeat: {repeat}
        """


# --- DST: the local time of day stays, the UTC instant moves


@pytest.mark.parametrize(
    ("zone", "first", "expected"),
    [
        (  # Europe/Paris: summer time starts on Sunday 2026-03-29 (02:00 → 03:00)
            PARIS,
            "2026-03-27 09:00",
            [
                "2026-03-27 09:00+0100",
                "2026-03-28 09:00+0100",
                "2026-03-29 09:00+0200",
                "2026-03-30 09:00+0200",
            ],
        ),
        (  # ... and ends on Sunday 2026-10-25 (03:00 → 02:00)
            PARIS,
            "2026-10-23 09:00",
            [
                "2026-10-23 09:00+0200",
                "2026-10-24 09:00+0200",
                "2026-10-25 09:00+0100",
                "2026-10-26 09:00+0100",
            ],
        ),
        (  # America/New_York: 2026-03-08 (02:00 → 03:00)
            NEW_YORK,
            "2026-03-06 09:00",
            [
                "2026-03-06 09:00-0500",
                "2026-03-07 09:00-0500",
                "2026-03-08 09:00-0400",
                "2026-03-09 09:00-0400",
            ],
        ),
        (  # ... and 2026-11-01 (02:00 → 01:00)
            NEW_YORK,
            "2026-10-30 09:00",
            [
                "2026-10-30 09:00-0400",
                "2026-10-31 09:00-0400",
                "2026-11-01 09:00-0500",
                "2026-11-02 09:00-0500",
            ],
        ),
    ],
)
def test_daily_keeps_its_local_time_across_dst(
    tmp_path: Path, zone: ZoneInfo, first: str, expected: list[str]
) -> None:
    cfg = config(tmp_path, zone)
    q = queue(cfg, rule_post(first, "{every: day, count: 4}"))
    now = datetime.fromisoformat(first).replace(tzinfo=UTC) - timedelta(days=2)
    got = dated(q, cfg, now)
    assert list(got.values()) == expected
    day = first[:10]
    assert next(iter(got)) == f"tips@{day}"
    instants = [p.at for p in expand(q, cfg, now, {}, {}).queue.posts if p.at is not None]
    # 24 hours apart except across the change: 23 in spring, 25 in autumn.
    gaps = {b - a for a, b in pairwise(instants)}
    assert len(gaps) == 2 and timedelta(hours=24) in gaps


def test_a_time_the_clocks_skip_moves_forward_and_a_repeated_one_takes_the_first(
    tmp_path: Path,
) -> None:
    cfg = config(tmp_path, NEW_YORK)
    now = datetime(2026, 2, 1, tzinfo=UTC)
    # Sundays at 02:30: 2026-03-08 has no 02:30 (moves to 03:30 EDT), as editors' times do.
    q = queue(cfg, rule_post("2026-03-01 02:30", "{every: week, count: 3}"))
    assert list(dated(q, cfg, now).values()) == [
        "2026-03-01 02:30-0500",
        "2026-03-08 03:30-0400",
        "2026-03-15 02:30-0400",
    ]
    # Sundays at 01:30: on 2026-11-01 it happens twice; the first (EDT) is taken.
    now = datetime(2026, 10, 20, tzinfo=UTC)
    q = queue(cfg, rule_post("2026-10-25 01:30", "{every: week, count: 3}"))
    assert list(dated(q, cfg, now).values()) == [
        "2026-10-25 01:30-0400",
        "2026-11-01 01:30-0400",
        "2026-11-08 01:30-0500",
    ]


# --- the rule's shapes


def test_weekdays_every_other_week(tmp_path: Path) -> None:
    cfg = config(tmp_path, PARIS)
    q = queue(cfg, rule_post("2026-12-03 18:00", "{every: 2w, on: [thu, mon], until: 2027-01-04}"))
    got = dated(q, cfg, datetime(2026, 12, 1, tzinfo=UTC))
    # Thursday 3rd, then the Monday and Thursday of every other week (weeks of 14th, 28th);
    # until a date is that whole day: Monday 4 January is not in a planned week.
    assert list(got) == [
        "tips@2026-12-03",
        "tips@2026-12-14",
        "tips@2026-12-17",
        "tips@2026-12-28",
        "tips@2026-12-31",
    ]
    assert all(v.endswith("18:00+0100") for v in got.values())


def test_until_is_inclusive_and_count_counts_the_first(tmp_path: Path) -> None:
    cfg = config(tmp_path, PARIS)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    until = queue(cfg, rule_post("2026-12-02 09:00", "{every: 3d, until: 2026-12-08 09:00}"))
    assert list(dated(until, cfg, now)) == ["tips@2026-12-02", "tips@2026-12-05", "tips@2026-12-08"]
    before = queue(cfg, rule_post("2026-12-02 09:00", "{every: 3d, until: 2026-12-08 08:59}"))
    assert list(dated(before, cfg, now)) == ["tips@2026-12-02", "tips@2026-12-05"]
    count = queue(cfg, rule_post("2026-12-02 09:00", "{every: 2 weeks, count: 2}"))
    assert list(dated(count, cfg, now)) == ["tips@2026-12-02", "tips@2026-12-16"]


def test_an_unbounded_rule_is_planned_within_the_horizon(tmp_path: Path) -> None:
    cfg = config(tmp_path, PARIS)
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    q = queue(cfg, rule_post("2026-12-02 09:00", "{every: day}"))
    got = expand(q, cfg, now, {}, {}).queue.posts
    assert len(got) == 60  # 2 December .. 30 January: now + 60 days
    assert all(now <= p.at <= now + HORIZON for p in got if p.at is not None)
    later = expand(q, cfg, now + timedelta(days=10), {}, {}).queue.posts
    # 09:00 on the 11th is before now (12:00 UTC): the plan starts on the 12th.
    assert later[0].id == "tips@2026-12-12" and len(later) == 60


def test_past_occurrences_leave_the_plan_unless_still_in_play(tmp_path: Path) -> None:
    """Time passing cancels nothing about to go out: a past occurrence the store holds as
    waiting (or sending, or in doubt) stays planned; one that went out or failed does not."""
    cfg = config(tmp_path, PARIS)
    q = queue(cfg, rule_post("2026-12-01 09:00", "{every: day, count: 4}"))
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)  # after the 1st, 2nd and 3rd

    def entry(pid: str, state: DeliveryState) -> PlanEntry:
        t = datetime(2026, 12, 1, 8, tzinfo=UTC)
        return PlanEntry(1, pid, "beta", state, t, t, None, False, "h", None)

    index = {
        ("tips@2026-12-01", "beta"): entry("tips@2026-12-01", DeliveryState.PUBLISHED),
        ("tips@2026-12-02", "beta"): entry("tips@2026-12-02", DeliveryState.FAILED),
        ("tips@2026-12-03", "beta"): entry("tips@2026-12-03", DeliveryState.RETRYING),
    }
    assert list(dated(q, cfg, now, index=index)) == ["tips@2026-12-03", "tips@2026-12-04"]


def test_each_occurrence_has_its_own_identity_and_content(tmp_path: Path) -> None:
    cfg = config(tmp_path, PARIS)
    q = queue(cfg, rule_post("2026-12-02 09:00", "{every: day, count: 2}"))
    e = expand(q, cfg, datetime(2026, 12, 1, tzinfo=UTC), {}, {})
    planned = plan_deliveries(e.queue, cfg, datetime(2026, 12, 1, tzinfo=UTC), {})
    assert [(p.post_id, p.account) for p in planned] == [
        ("tips@2026-12-02", "beta"),
        ("tips@2026-12-03", "beta"),
    ]
    assert len({p.content_hash for p in planned}) == 2
    assert [e.queue.posts[0].content_for(cfg.accounts["beta"]).text] == ["A tip"]
    assert rule_of("tips@2026-12-02") == "repeat" and rule_of("tips") is None
    assert e.replan_at == datetime(2026, 12, 2, tzinfo=UTC)  # the horizon moves on daily


def test_not_after_moves_with_each_occurrence(tmp_path: Path) -> None:
    cfg = config(tmp_path, PARIS)
    q = queue(
        cfg,
        """
        posts:
          - id: tips
            at: 2026-12-02 09:00
            not_after: 2026-12-02 11:00
            accounts: [beta]
            text: A tip
            repeat: {every: day, count: 2}
        """,
    )
    posts = expand(q, cfg, datetime(2026, 12, 1, tzinfo=UTC), {}, {}).queue.posts
    assert [p.not_after - p.at for p in posts if p.at and p.not_after] == [timedelta(hours=2)] * 2


# --- errors at file:line:col


@pytest.mark.parametrize(
    ("repeat", "where", "message"),
    [
        ("{every: week, on: [mon, thursday, fun]}", "posts[0].repeat.on", "unknown weekday 'fun'"),
        ("{every: day, until: 2026-11-30}", "posts[0].repeat.until", "until is before"),
        ("{every: day, until: 2027-01-01, count: 3}", "posts[0].repeat.count", "until and count"),
        ("{every: fortnight}", "posts[0].repeat.every", "is not a period"),
        ("{every: 3d, on: [wed]}", "posts[0].repeat.on", "need a period in weeks"),
        ("{every: week, on: [mon]}", "posts[0].repeat.on", "is a wednesday, not one of on: mon"),
        ("{count: 3}", "posts[0].repeat.every", "missing `every:`"),
        ("{every: day, count: 0}", "posts[0].repeat.count", "greater than or equal to 1"),
        ("{every: day, cuont: 3}", "posts[0].repeat.cuont", "did you mean 'count'"),
    ],
)
def test_rule_errors_are_located(tmp_path: Path, repeat: str, where: str, message: str) -> None:
    cfg = config(tmp_path, PARIS)
    with pytest.raises(InvalidFileError) as err:
        queue(cfg, rule_post("2026-12-02 09:00", repeat))
    [d] = err.value.errors
    assert (d.line, d.field) == (6, where) and message in d.message, d
    assert d.column > 1


def test_repeat_and_evergreen_need_what_they_need(tmp_path: Path) -> None:
    cfg = config(tmp_path, PARIS)
    with pytest.raises(InvalidFileError) as err:
        queue(
            cfg,
            """
            posts:
              - id: no-first
                accounts: [alpha]
                text: x
                repeat: {every: day}
              - id: timed-evergreen
                at: 2026-12-02 09:00
                accounts: [alpha]
                text: x
                evergreen: true
              - id: both
                accounts: [alpha]
                text: x
                evergreen: true
                repeat: {every: day}
              - id: no-slots
                accounts: [beta]
                text: x
                evergreen: true
            """,
        )
    got = [(d.line, d.field, d.message.split(":")[0]) for d in err.value.errors]
    assert got == [
        (5, "posts[0].repeat", "a repeat needs `at"),
        (10, "posts[1].evergreen", "an evergreen post takes free slots"),
        (15, "posts[2].repeat", "a post is evergreen or repeats, not both"),
        (17, "posts[3].accounts[0]", "this post has no `at"),
    ], got


# --- properties


@settings(max_examples=150, deadline=None)
@given(
    zone=st.sampled_from([PARIS, NEW_YORK]),
    start=st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)),
    hour=st.integers(0, 23),
    minute=st.sampled_from([0, 15, 30, 45]),
    step=st.integers(1, 21),
    weekly=st.booleans(),
    extra_days=st.sets(st.integers(0, 6), max_size=3),
)
def test_occurrences_keep_the_wall_clock_and_one_a_day(
    zone: ZoneInfo,
    start: date,
    hour: int,
    minute: int,
    step: int,
    weekly: bool,
    extra_days: set[int],
) -> None:
    wall = time(hour, minute)
    first = localize(datetime.combine(start, wall), zone).at
    days = frozenset({first.astimezone(zone).weekday(), *extra_days}) if weekly else frozenset()
    rule = RepeatRule(step * 7 if weekly else step, days, None, 40)
    got = list(occurrences(rule, first, zone, end=first + timedelta(weeks=21 * 41)))
    assert got[0].at == first and len(got) == 40
    assert all(a.at < b.at and a.day < b.day for a, b in pairwise(got))
    for occ in got[1:]:
        local = occ.at.astimezone(zone)
        naive = datetime.combine(occ.day, wall)
        if localize(naive, zone).warning is None:
            assert (local.date(), local.time()) == (occ.day, wall)  # the same wall clock
        else:  # skipped or repeated by the clocks: as editors' times are resolved
            assert occ.at == localize(naive, zone).at
        if days:
            assert occ.day.weekday() in days
            weeks = (
                occ.day
                - timedelta(days=occ.day.weekday())
                - (got[0].day - timedelta(days=got[0].day.weekday()))
            ).days // 7
            assert weeks % step == 0
        else:
            assert (occ.day - got[0].day).days % step == 0


def test_the_next_occurrence_is_planned_even_beyond_the_horizon(tmp_path: Path) -> None:
    cfg = config(tmp_path, PARIS)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    far = queue(cfg, rule_post("2027-06-01 09:00", "{every: day}"))
    assert list(dated(far, cfg, now)) == ["tips@2027-06-01"]
    yearly = queue(cfg, rule_post("2026-01-05 09:00", "{every: 52w}"))
    assert list(dated(yearly, cfg, now)) == ["tips@2027-01-04"]  # past ones out, next one in
    over = queue(cfg, rule_post("2026-01-05 09:00", "{every: 52w, count: 1}"))
    assert list(dated(over, cfg, now)) == []  # its only occurrence is past
