"""Slots: file order, kept assignments, determinism, DST, and the per-account policies."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.adapters.log import LogSettings
from publisher.config import AccountConfig, Config
from publisher.diagnostics import Severity
from publisher.queuefile import QueueFile, parse_queue
from publisher.schedule import PlannedDelivery, next_slot_times, plan_deliveries, policy_violations
from publisher.slots import Slot, parse_slot
from tests.broken_cases import dedent

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


def account(name: str, *slots: str, **policy: object) -> AccountConfig:
    return AccountConfig(
        name=name,
        network="log",
        settings=LogSettings(),
        slots=tuple(parse_slot(s) for s in slots),
        **policy,  # type: ignore[arg-type]
    )


def make_config(tmp: Path, zone: ZoneInfo, *accounts: AccountConfig) -> Config:
    return Config(
        path=tmp / "publisher.toml",
        queue_path=tmp / "queue.yaml",
        database_url="sqlite:///:memory:",
        timezone=zone,
        max_lateness=timedelta(hours=2),
        accounts={a.name: a for a in accounts},
    )


def queue(config: Config, text: str) -> QueueFile:
    return parse_queue(dedent(text), config.queue_path, config)


def firsts(slots: list[str], zone: ZoneInfo, after: datetime, n: int) -> list[datetime]:
    return list(itertools.islice(next_slot_times([parse_slot(s) for s in slots], zone, after), n))


def local(instants: list[datetime], zone: ZoneInfo) -> list[str]:
    return [t.astimezone(zone).strftime("%a %m-%d %H:%M%z") for t in instants]


# --- next_slot_times


def test_weekday_slots_skip_the_weekend() -> None:
    friday_noon = datetime(2026, 12, 4, 12, 0, tzinfo=PARIS)
    got = firsts(["mon-fri 09:00", "mon-fri 17:30"], PARIS, friday_noon, 4)
    assert local(got, PARIS) == [
        "Fri 12-04 17:30+0100",
        "Mon 12-07 09:00+0100",
        "Mon 12-07 17:30+0100",
        "Tue 12-08 09:00+0100",
    ]
    assert all(t.tzinfo is UTC for t in got)


def test_strictly_after() -> None:
    at_slot = datetime(2026, 12, 7, 9, 0, tzinfo=PARIS)
    got = firsts(["daily 09:00"], PARIS, at_slot, 1)
    assert local(got, PARIS) == ["Tue 12-08 09:00+0100"]
    got = firsts(["daily 09:00"], PARIS, at_slot - timedelta(microseconds=1), 1)
    assert local(got, PARIS) == ["Mon 12-07 09:00+0100"]


def test_no_slots_yields_nothing() -> None:
    assert list(next_slot_times([], PARIS, utc(2026, 1, 1))) == []


def test_naive_after_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next(next_slot_times([parse_slot("09:00")], PARIS, datetime(2026, 1, 1)))


def test_paris_spring_forward_slot_in_the_gap() -> None:
    # Sunday 2026-03-29: 02:00 CET jumps to 03:00 CEST. A 02:30 slot becomes 03:30 CEST.
    got = firsts(["daily 02:30"], PARIS, utc(2026, 3, 27, 12), 4)
    assert got == [
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1, 30),
        utc(2026, 3, 30, 0, 30),
        utc(2026, 3, 31, 0, 30),
    ]
    assert local(got, PARIS)[1] == "Sun 03-29 03:30+0200"
    # The day is 23 hours long: 03-28 02:30 CET to 03-29 03:30 CEST is exactly 24 hours.
    assert got[1] - got[0] == timedelta(hours=24)
    assert got[2] - got[1] == timedelta(hours=23)


def test_paris_gap_reorders_and_merges_slots() -> None:
    after = datetime(2026, 3, 29, 0, 0, tzinfo=PARIS)
    got = firsts(["sun 02:30", "sun 03:15", "sun 03:30"], PARIS, after, 3)
    # 02:30 moves to 03:30, after 03:15, and lands on the 03:30 slot: one instant, once.
    assert local(got, PARIS) == [
        "Sun 03-29 03:15+0200",
        "Sun 03-29 03:30+0200",
        "Sun 04-05 02:30+0200",
    ]


def test_paris_fall_back_takes_the_first_occurrence() -> None:
    # Sunday 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
    got = firsts(["daily 02:30"], PARIS, utc(2026, 10, 24, 12), 3)
    assert got == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30), utc(2026, 10, 27, 1, 30)]
    assert local(got, PARIS)[0] == "Sun 10-25 02:30+0200"
    assert got[1] - got[0] == timedelta(hours=25)


def test_new_york_spring_forward() -> None:
    # Sunday 2026-03-08: 02:00 EST jumps to 03:00 EDT.
    got = firsts(["daily 02:30", "daily 09:00"], NEW_YORK, utc(2026, 3, 7, 12), 5)
    assert local(got, NEW_YORK) == [
        "Sat 03-07 09:00-0500",
        "Sun 03-08 03:30-0400",
        "Sun 03-08 09:00-0400",
        "Mon 03-09 02:30-0400",
        "Mon 03-09 09:00-0400",
    ]
    assert got[1] == utc(2026, 3, 8, 7, 30)


def test_new_york_fall_back() -> None:
    # Sunday 2026-11-01: 02:00 EDT goes back to 01:00 EST; 01:30 happens twice, 02:30 once.
    got = firsts(["sun 01:30", "sun 02:30"], NEW_YORK, utc(2026, 10, 31, 12), 2)
    assert got == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 7, 30)]
    assert local(got, NEW_YORK) == ["Sun 11-01 01:30-0400", "Sun 11-01 02:30-0500"]


@settings(max_examples=60, deadline=None)
@given(
    slots=st.lists(
        st.builds(
            Slot,
            st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])),
            st.frozensets(st.integers(0, 6), min_size=1),
        ),
        min_size=1,
        max_size=4,
    ),
    after=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
    ),
    zone=st.sampled_from([PARIS, NEW_YORK]),
)
def test_slot_times_property(slots: list[Slot], after: datetime, zone: ZoneInfo) -> None:
    """Ascending, strictly after, on a slot's day and wall time (moved only by a gap), none
    skipped."""
    got = list(itertools.islice(next_slot_times(slots, zone, after), 30))
    assert got == sorted(set(got)) and got[0] > after
    for t in got:
        wall = t.astimezone(zone)
        ok = any(
            wall.weekday() in s.days and wall.time().replace(tzinfo=None) == s.at for s in slots
        )
        if not ok:  # a slot in a gap: written time + gap on that day
            moved = [
                s
                for s in slots
                if wall.weekday() in s.days
                and datetime.combine(wall.date(), s.at).replace(tzinfo=zone).astimezone(UTC) == t
            ]
            assert moved, f"{wall} is no slot of {slots}"
    # Nothing skipped: every slot instant of every day in the range is there.
    day = after.astimezone(zone).date()
    end = got[-1]
    while datetime.combine(day, time(0), tzinfo=zone) <= end:
        for s in slots:
            if day.weekday() in s.days:
                instant = datetime.combine(day, s.at, tzinfo=zone).astimezone(UTC)
                if after < instant <= end:
                    assert instant in got
        day += timedelta(days=1)


# --- plan_deliveries

NOW = utc(2026, 11, 30, 7, 0)  # Monday 08:00 in Paris


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return make_config(
        tmp_path,
        PARIS,
        account("alpha", "mon-fri 09:00", "mon-fri 17:30"),
        account("beta", "daily 12:00"),
        account("gamma"),
    )


def by_key(planned: list[PlannedDelivery]) -> dict[tuple[str, str], datetime]:
    return {(p.post_id, p.account): p.due_at for p in planned}


def test_slot_posts_take_free_slots_in_file_order(cfg: Config) -> None:
    q = queue(
        cfg,
        """
        defaults:
          accounts: [alpha]
        posts:
          - {id: first, text: one}
          - {id: timed, at: 2026-11-30 17:30, accounts: [alpha, gamma], text: two}
          - {id: second, text: three}
          - {id: both, accounts: [alpha, beta], text: four}
    """,
    )
    planned = plan_deliveries(q, cfg, NOW, {})
    assert by_key(planned) == {
        ("first", "alpha"): datetime(2026, 11, 30, 9, 0, tzinfo=PARIS),
        ("timed", "alpha"): datetime(2026, 11, 30, 17, 30, tzinfo=PARIS),
        ("timed", "gamma"): datetime(2026, 11, 30, 17, 30, tzinfo=PARIS),
        # Monday 17:30 is taken by the timed post: the next free slot is Tuesday 09:00.
        ("second", "alpha"): datetime(2026, 12, 1, 9, 0, tzinfo=PARIS),
        ("both", "alpha"): datetime(2026, 12, 1, 17, 30, tzinfo=PARIS),
        ("both", "beta"): datetime(2026, 11, 30, 12, 0, tzinfo=PARIS),
    }
    assert all(p.due_at.tzinfo is UTC for p in planned)
    assert {p.post_id for p in planned if not p.from_slot} == {"timed"}
    # Ordered by due time, then file order.
    assert [p.due_at for p in planned] == sorted(p.due_at for p in planned)
    assert [(p.post_id, p.account) for p in planned][1:3] == [("both", "beta"), ("timed", "alpha")]
    for p in planned:
        post = next(x for x in q.posts if x.id == p.post_id)
        assert p.content_hash == post.content_hash(cfg.accounts[p.account])
        assert p.network == "log"


def test_kept_assignments_stay_and_new_posts_do_not_steal_them(cfg: Config) -> None:
    text = """
        defaults:
          accounts: [alpha]
        posts:
          - {id: a, text: one}
          - {id: b, text: two}
    """
    first = plan_deliveries(queue(cfg, text), cfg, NOW, {})
    kept = {(p.post_id, p.account): p.due_at for p in first if p.from_slot}
    # A day later, an editor adds a post at the top. a and b keep their slots even though
    # 'new' comes first in the file; 'new' takes the first slot after now that is free.
    later = NOW + timedelta(days=1)
    edited = """
        defaults:
          accounts: [alpha]
        posts:
          - {id: new, text: zero}
          - {id: a, text: one, not_after: 2026-12-24 12:00}
          - {id: b, text: two edited}
    """
    second = by_key(plan_deliveries(queue(cfg, edited), cfg, later, kept))
    assert second[("a", "alpha")] == kept[("a", "alpha")]
    assert second[("b", "alpha")] == kept[("b", "alpha")]
    assert kept == {
        ("a", "alpha"): datetime(2026, 11, 30, 9, 0, tzinfo=PARIS),
        ("b", "alpha"): datetime(2026, 11, 30, 17, 30, tzinfo=PARIS),
    }
    assert second[("new", "alpha")] == datetime(2026, 12, 1, 9, 0, tzinfo=PARIS)
    # A kept time in the past stays too: lateness is the engine's call, not a reshuffle.
    much_later = NOW + timedelta(days=10)
    third = by_key(plan_deliveries(queue(cfg, text), cfg, much_later, kept))
    assert third == {k: v for k, v in kept.items()}


def test_a_post_given_a_time_drops_its_kept_slot(cfg: Config) -> None:
    kept = {("a", "alpha"): datetime(2026, 12, 1, 9, 0, tzinfo=PARIS)}
    q = queue(
        cfg,
        """
        posts:
          - {id: a, at: 2026-12-03 10:00, accounts: [alpha], text: one}
          - {id: b, accounts: [alpha], text: two}
    """,
    )
    planned = plan_deliveries(q, cfg, NOW, kept)
    got = by_key(planned)
    assert got[("a", "alpha")] == datetime(2026, 12, 3, 10, 0, tzinfo=PARIS)
    # a's old slot is free again, and it is the first free one after Monday 09:00.
    assert got[("b", "alpha")] == datetime(2026, 11, 30, 9, 0, tzinfo=PARIS)
    assert [p.from_slot for p in planned if p.post_id == "a"] == [False]


def test_kept_blocks_the_slot_for_others(cfg: Config) -> None:
    kept = {("b", "alpha"): datetime(2026, 11, 30, 9, 0, tzinfo=PARIS)}
    q = queue(
        cfg,
        """
        defaults: {accounts: [alpha]}
        posts:
          - {id: a, text: one}
          - {id: b, text: two}
    """,
    )
    got = by_key(plan_deliveries(q, cfg, NOW, kept))
    assert got == {
        ("a", "alpha"): datetime(2026, 11, 30, 17, 30, tzinfo=PARIS),
        ("b", "alpha"): datetime(2026, 11, 30, 9, 0, tzinfo=PARIS),
    }


def test_deterministic(cfg: Config) -> None:
    posts = "\n".join(
        f"  - {{id: p{i}, accounts: [{'alpha, beta' if i % 2 else 'beta, alpha'}], text: t{i}"
        + (f", at: 2026-12-0{1 + i % 5} 09:00" if i % 3 == 0 else "")
        + "}"
        for i in range(40)
    )
    q = queue(cfg, "posts:\n" + posts + "\n")
    kept_items = [
        ((f"p{i}", "beta"), datetime(2026, 12, 20 + i % 5, 12, 0, tzinfo=PARIS))
        for i in (1, 2, 4, 5)
    ]
    runs = []
    for seed in range(5):
        shuffled = kept_items[:]
        random.Random(seed).shuffle(shuffled)
        runs.append(plan_deliveries(q, cfg, NOW, dict(shuffled)))
    assert all(r == runs[0] for r in runs)
    # And no two deliveries of one account share an instant unless the file says so.
    for name in ("alpha", "beta"):
        slotted = [p.due_at for p in runs[0] if p.account == name and p.from_slot]
        assert len(slotted) == len(set(slotted))


def test_slots_across_paris_dst(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, PARIS, account("night", "daily 02:30", "daily 03:30"))
    q = queue(
        cfg,
        "posts:\n" + "".join(f"  - {{id: p{i}, accounts: [night], text: t}}\n" for i in range(4)),
    )
    now = utc(2026, 3, 28, 12)
    got = [p.due_at for p in plan_deliveries(q, cfg, now, {})]
    # 03-29 02:30 and 03:30 are one instant (03:30 CEST): one slot, not two.
    assert local(got, PARIS) == [
        "Sun 03-29 03:30+0200",
        "Mon 03-30 02:30+0200",
        "Mon 03-30 03:30+0200",
        "Tue 03-31 02:30+0200",
    ]


def test_slots_across_new_york_fall_back(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, NEW_YORK, account("ny", "daily 01:30"))
    q = queue(
        cfg, "posts:\n" + "".join(f"  - {{id: p{i}, accounts: [ny], text: t}}\n" for i in range(2))
    )
    got = [p.due_at for p in plan_deliveries(q, cfg, utc(2026, 10, 31, 12), {})]
    assert got == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]


def test_naive_now_is_refused(cfg: Config) -> None:
    q = queue(cfg, "posts: []\n")
    with pytest.raises(ValueError, match="aware"):
        plan_deliveries(q, cfg, datetime(2026, 1, 1), {})


# --- policies


def test_max_per_day_counts_local_days(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, PARIS, account("alpha", max_per_day=2))
    q = queue(
        cfg,
        """
        defaults: {accounts: [alpha]}
        posts:
          - {id: a, at: 2026-12-01 08:00, text: t}
          - {id: b, at: 2026-12-01 12:00, text: t}
          - {id: c, at: 2026-12-01 23:30, text: t}
          - {id: d, at: 2026-12-02 00:30, text: t}
          - {id: e, at: 2026-12-02 09:00, text: t}
    """,
    )
    # c (22:30Z) and d (23:30Z) share a UTC day but not a Paris day: only c is too many.
    found = policy_violations(plan_deliveries(q, cfg, NOW, {}), cfg, q)
    assert len(found) == 1
    [v] = found
    assert (v.line, v.column, v.severity) == (5, 5, Severity.WARNING)
    assert v.field == "accounts.alpha.max_per_day"
    assert "'c' is post number 3 to alpha on Tue 2026-12-01 (Europe/Paris)" in v.message


def test_min_interval(tmp_path: Path) -> None:
    cfg = make_config(
        tmp_path,
        PARIS,
        account("alpha", min_interval=timedelta(minutes=30)),
        account("beta", min_interval=timedelta(minutes=30)),
    )
    q = queue(
        cfg,
        """
        posts:
          - {id: a, at: 2026-12-01 09:00, accounts: [alpha, beta], text: t}
          - {id: b, at: 2026-12-01 09:20, accounts: [alpha], text: t}
          - {id: c, at: 2026-12-01 09:50, accounts: [alpha], text: t}
          - {id: d, at: 2026-12-01 09:30, accounts: [beta], text: t}
    """,
    )
    found = policy_violations(plan_deliveries(q, cfg, NOW, {}), cfg, q)
    assert [(v.field, v.line) for v in found] == [("accounts.alpha.min_interval", 3)]
    assert "'b' goes to alpha at 2026-12-01 09:20 (+01:00), 20m after 'a'" in found[0].message
    assert "min_interval is 30m" in found[0].message


def test_no_policy_no_violation(cfg: Config) -> None:
    q = queue(
        cfg,
        """
        posts:
          - {id: a, at: 2026-12-01 09:00, accounts: [gamma], text: t}
          - {id: b, at: 2026-12-01 09:00, accounts: [gamma], text: t}
    """,
    )
    assert policy_violations(plan_deliveries(q, cfg, NOW, {}), cfg) == []


def test_a_slot_after_not_after_is_reported(cfg: Config) -> None:
    q = queue(
        cfg,
        """
        posts:
          - {id: a, at: 2026-11-30 09:00, accounts: [alpha], text: t}
          - {id: b, accounts: [alpha], text: t, not_after: 2026-11-30 10:00}
    """,
    )
    planned = plan_deliveries(q, cfg, NOW, {})
    assert by_key(planned)[("b", "alpha")] == datetime(2026, 11, 30, 17, 30, tzinfo=PARIS)
    [v] = policy_violations(planned, cfg, q)
    assert (v.line, v.field) == (3, "accounts.alpha.slots")
    assert "after its not_after (2026-11-30 10:00 (+01:00)): it will be missed" in v.message
