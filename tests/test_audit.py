"""``publisher audit``: counts per local period (DST weeks included), targets, silences,
lateness, failures, retries; the CSV and JSON schemas; the chart; the CLI end to end.

Every test reads a real SQLite store file seeded with known deliveries and ledger rows.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema  # type: ignore[import-untyped]
import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Connection

from publisher.audit import (
    CSV_HEADER,
    AccountTarget,
    AuditReport,
    By,
    Row,
    Scope,
    audit,
    csv_rows,
    default_window,
    nearest_rank,
    periods,
    report_json,
)
from publisher.cli import main
from publisher.states import DeliveryState, Outcome
from publisher.store import Store
from publisher.store.models import AttemptRow, DeliveryRow

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
H = timedelta(hours=1)
D_TABLE = DeliveryRow.__table__  # type: ignore[attr-defined]
A_TABLE = AttemptRow.__table__  # type: ignore[attr-defined]


def at(text: str, zone: ZoneInfo = PARIS) -> datetime:
    """A local wall-clock time (or one with an explicit offset) as an aware UTC datetime."""
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone)
    return dt.astimezone(UTC)


# ------------------------------------------------------------------------------- seeding


@dataclass
class Ledger:
    """Deliveries and attempt rows to write into a real store, with sensible defaults."""

    deliveries: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        account: str,
        state: DeliveryState,
        scheduled: datetime,
        *,
        published: datetime | None = None,
        network: str = "log",
        error: str | None = None,
        outcomes: tuple[Outcome, ...] | None = None,
        post: str | None = None,
    ) -> int:
        did = len(self.deliveries) + 1
        post_id = post or f"p{did}"
        if outcomes is None:
            outcomes = {
                DeliveryState.PUBLISHED: (Outcome.PUBLISHED,),
                DeliveryState.FAILED: (Outcome.PERMANENT,),
                DeliveryState.DRY_RUN: (Outcome.DRY_RUN,),
            }.get(state, ())
        url = f"https://log.example/{post_id}" if state is DeliveryState.PUBLISHED else None
        self.deliveries.append({
            "id": did, "post_id": post_id, "account": account, "network": network,
            "state": state.value, "scheduled_at": scheduled, "due_at": scheduled,
            "not_after": None, "from_slot": False, "content_hash": "h", "content": "{}",
            "attempts": len(outcomes), "parts": "[]", "published_hash": None,
            "published_at": published, "remote_id": None, "remote_url": url,
            "last_error": error, "error_class": None, "reason": None, "lease_owner": None,
            "lease_until": None, "fence": len(outcomes),
            "updated_at": published or scheduled,
        })
        end = published or scheduled
        for n, outcome in enumerate(outcomes, start=1):
            finished = end - timedelta(minutes=10 * (len(outcomes) - n))
            self.attempts.append({
                "delivery_id": did, "post_id": post_id, "account": account, "network": network,
                "number": n, "started_at": finished - timedelta(seconds=2),
                "finished_at": finished, "outcome": outcome.value,
                "status_code": 200 if outcome is Outcome.PUBLISHED else 503,
                "error": None if outcome in (Outcome.PUBLISHED, Outcome.DRY_RUN)
                else (error or "HTTP 503: try later"),
                "remote_id": None, "remote_url": url if outcome is Outcome.PUBLISHED else None,
                "worker": "w1",
            })
        return did

    def publish(self, account: str, when: datetime, *, late: timedelta = timedelta(0),
                network: str = "log", outcomes: tuple[Outcome, ...] | None = None) -> int:
        return self.add(account, DeliveryState.PUBLISHED, when - late, published=when,
                        network=network, outcomes=outcomes)

    async def write(self, url: str) -> None:
        store = await Store.open(url)
        try:

            def body(conn: Connection) -> None:
                if self.deliveries:
                    conn.execute(insert(D_TABLE), self.deliveries)
                if self.attempts:
                    conn.execute(insert(A_TABLE), self.attempts)

            await store.transaction(body)
        finally:
            await store.close()


LONG_403 = (
    "HTTP 403: duplicate content — the network refuses a status identical to one already "
    "posted recently (code 187)"
)
SINCE, UNTIL = at("2026-10-12 00:00"), at("2026-11-09 00:00")  # ISO weeks 42 to 45
NOW = at("2026-11-20 12:00")


def known_ledger(net_a: str = "log", net_b: str = "log") -> Ledger:
    """Account a (target 5/week) and b (3/week) over ISO weeks 42-45 of 2026, Paris time.

    Week 43 ends with the change back to winter time (2026-10-25 03:00 → 02:00): 169 hours.
    a publishes 5, 3, 6, 0 posts (week 45 is empty); b 3, 3, 3, 1.
    """
    led = Ledger()
    # a, week 42: lateness 0, 1m, 2m, 3m, 10m; the first needed 3 attempts (2 retries); the
    # second has a dry-run attempt in the ledger too, which must not count as a retry.
    lates = [0, 60, 120, 180, 600]
    for i, day in enumerate(range(12, 17)):
        outcomes: tuple[Outcome, ...] = (Outcome.PUBLISHED,)
        if i == 0:
            outcomes = (Outcome.TRANSIENT, Outcome.RATE_LIMITED, Outcome.PUBLISHED)
        if i == 1:
            outcomes = (Outcome.DRY_RUN, Outcome.PUBLISHED)
        led.publish("a", at(f"2026-10-{day} 09:00"), late=timedelta(seconds=lates[i]),
                    network=net_a, outcomes=outcomes)
    # A dry run in week 42 that "published": never counted.
    led.add("a", DeliveryState.DRY_RUN, at("2026-10-17 10:00"), published=at("2026-10-17 10:00"),
            network=net_a)
    # a, week 43 (169 h): the last post is at 23:30 winter time on Sunday the 25th (22:30Z).
    led.publish("a", at("2026-10-19 09:00"), network=net_a)
    led.publish("a", at("2026-10-21 09:00"), network=net_a)
    led.publish("a", at("2026-10-25T23:30:00+01:00"), network=net_a)
    led.add("a", DeliveryState.MISSED, at("2026-10-22 09:00"), network=net_a)
    # a, week 44: the first post is at 00:30 on Monday the 26th: 23:30Z on Sunday in UTC.
    led.publish("a", at("2026-10-26T00:30:00+01:00"), network=net_a)
    for day in range(27, 32):
        led.publish("a", at(f"2026-10-{day} 09:00"), network=net_a)
    led.add("a", DeliveryState.FAILED, at("2026-10-27 12:00"), error=LONG_403, network=net_a)
    led.add("a", DeliveryState.FAILED, at("2026-10-28 12:00"), network=net_a,
            error=LONG_403.replace("(code 187)", "(code 188, again)"))
    led.add("a", DeliveryState.FAILED, at("2026-10-29 12:00"), error="timeout\n after 60 s",
            network=net_a)
    # a, week 45: nothing published; two canceled.
    led.add("a", DeliveryState.CANCELED, at("2026-11-03 09:00"), network=net_a)
    led.add("a", DeliveryState.CANCELED, at("2026-11-04 09:00"), network=net_a)
    # Outside the window: not counted anywhere.
    led.publish("a", at("2026-10-11 23:59"), network=net_a)
    led.publish("a", at("2026-11-09 00:00"), network=net_a)
    # Still pending: not counted either.
    led.add("a", DeliveryState.SCHEDULED, at("2026-11-05 09:00"), network=net_a)
    for week_monday in ("2026-10-12", "2026-10-19", "2026-10-26"):
        monday = datetime.fromisoformat(week_monday)
        for d in (0, 2, 4):
            led.publish("b", at(f"{(monday + timedelta(days=d)).date()} 11:00"),
                        late=timedelta(minutes=5), network=net_b)
    led.publish("b", at("2026-11-02 10:00"), network=net_b)
    return led


def targets(net_a: str = "log", net_b: str = "log") -> dict[str, AccountTarget]:
    return {"a": AccountTarget("a", net_a, 5), "b": AccountTarget("b", net_b, 3)}


async def report_from_store(
    url: str, tg: dict[str, AccountTarget], *, since: datetime = SINCE,
    until: datetime = UNTIL, zone: ZoneInfo = PARIS, now: datetime = NOW, by: By = By.WEEK,
    **kw: Any,
) -> AuditReport:
    store = await Store.open(url)
    try:
        deliveries = await store.all_deliveries()
        attempts = await store.attempts()
    finally:
        await store.close()
    return audit(deliveries, attempts, tg, since=since, until=until, zone=zone, now=now,
                 by=by, **kw)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'queue.db'}"


def row(report: AuditReport, account: str, period: str) -> Row:
    [r] = [r for r in report.rows if r.account == account and r.period == period]
    return r


def total(report: AuditReport, scope: Scope, key: str = "*") -> Row:
    [r] = [r for r in report.totals if r.scope is scope
           and (r.account == key if scope is Scope.ACCOUNT else r.network == key
                or scope is Scope.ALL)]
    return r


# ------------------------------------------------------------------------ the calendar


def test_periods_are_local_calendar_weeks_with_dst_lengths() -> None:
    weeks = periods(SINCE, UNTIL, PARIS, By.WEEK)
    assert [p.label for p in weeks] == ["2026-W42", "2026-W43", "2026-W44", "2026-W45"]
    assert [(p.end - p.start) / H for p in weeks] == [168, 169, 168, 168]
    spring = periods(at("2026-03-23 00:00"), at("2026-03-30 00:00"), PARIS, By.WEEK)
    assert [(p.label, (p.end - p.start) / H) for p in spring] == [("2026-W13", 167)]
    ny = periods(at("2026-10-26 00:00", NEW_YORK), at("2026-11-02 00:00", NEW_YORK),
                 NEW_YORK, By.WEEK)
    assert [(p.label, (p.end - p.start) / H) for p in ny] == [("2026-W44", 169)]
    days = periods(at("2026-10-24 00:00"), at("2026-10-27 00:00"), PARIS, By.DAY)
    assert [(p.label, (p.end - p.start) / H) for p in days] == [
        ("2026-10-24", 24), ("2026-10-25", 25), ("2026-10-26", 24)]
    assert (at("2026-03-29 00:00"), at("2026-03-30 00:00")) == (
        periods(at("2026-03-29 00:00"), at("2026-03-30 00:00"), PARIS, By.DAY)[0].start,
        periods(at("2026-03-29 00:00"), at("2026-03-30 00:00"), PARIS, By.DAY)[0].end)
    assert (at("2026-03-30 00:00") - at("2026-03-29 00:00")) / H == 23


def test_default_window_is_the_last_four_complete_local_weeks() -> None:
    assert default_window(at("2026-11-04 12:00"), PARIS) == (
        at("2026-10-05 00:00"), at("2026-11-02 00:00"))
    # At Monday 00:00 local the week just ended counts; in UTC that is still Sunday.
    assert default_window(at("2026-11-09 00:00"), PARIS) == (
        at("2026-10-12 00:00"), at("2026-11-09 00:00"))
    assert default_window(at("2026-11-08 23:59"), PARIS)[1] == at("2026-11-02 00:00")
    # The window spanning the change back to winter time is 4 × 168 + 1 hours long.
    since, until = default_window(at("2026-11-02 08:00", NEW_YORK), NEW_YORK)
    assert (until - since) / H == 4 * 168 + 1


def test_nearest_rank_percentiles() -> None:
    values = [timedelta(seconds=s) for s in range(1, 21)]  # 1..20
    assert nearest_rank(values, 50) == timedelta(seconds=10)  # rank ceil(10) = 10
    assert nearest_rank(values, 95) == timedelta(seconds=19)  # rank ceil(19) = 19
    assert nearest_rank(values[:5], 95) == timedelta(seconds=5)  # rank ceil(4.75) = 5
    assert nearest_rank(values[:1], 50) == timedelta(seconds=1)
    assert nearest_rank([], 50) is None


# ---------------------------------------------------------------------------- the numbers


async def test_counts_per_local_week_and_targets(db: str) -> None:
    await known_ledger().write(db)
    rep = await report_from_store(db, targets())
    assert rep.accounts == ("a", "b")
    assert [(r.account, r.period, r.published) for r in rep.rows] == [
        ("a", "2026-W42", 5), ("a", "2026-W43", 3), ("a", "2026-W44", 6), ("a", "2026-W45", 0),
        ("b", "2026-W42", 3), ("b", "2026-W43", 3), ("b", "2026-W44", 3), ("b", "2026-W45", 1),
    ]
    a = {r.period: r for r in rep.rows if r.account == "a"}
    assert [(a[p].target, a[p].met, a[p].difference) for p in sorted(a)] == [
        (5, True, 0), (5, False, -2), (5, True, 1), (5, False, -5)]
    assert a["2026-W44"].ratio == pytest.approx(1.2)
    assert a["2026-W43"].hours == 169
    assert all(r.complete for r in rep.rows)
    ta = total(rep, Scope.ACCOUNT, "a")
    assert (ta.published, ta.target, ta.met, ta.difference) == (14, 20, False, -6)
    tb = total(rep, Scope.ACCOUNT, "b")
    assert (tb.published, tb.target, tb.difference) == (10, 12, -2)


async def test_empty_week_is_one_long_silence(db: str) -> None:
    await known_ledger().write(db)
    rep = await report_from_store(db, targets())
    w45 = row(rep, "a", "2026-W45")
    assert w45.published == 0
    assert w45.longest_silence == timedelta(hours=168)
    assert w45.shortest_interval is None
    assert (w45.lateness_p50, w45.lateness_p95, w45.lateness_max) == (None, None, None)
    assert w45.retries_per_delivery is None


async def test_longest_silence_and_shortest_interval(db: str) -> None:
    await known_ledger().write(db)
    rep = await report_from_store(db, targets())
    w42 = row(rep, "a", "2026-W42")
    # Friday 09:00 to the end of the week (Monday 00:00): 2 days 15 hours.
    assert w42.longest_silence == timedelta(hours=63)
    assert w42.shortest_interval == timedelta(hours=24)
    w43 = row(rep, "a", "2026-W43")
    # Wednesday 09:00 summer time to Sunday 23:30 winter time: 4 d 15 h 30 m of real time
    # (4 d 14 h 30 m on the wall clock: the week is one hour longer).
    assert w43.longest_silence == timedelta(days=4, hours=15, minutes=30)
    assert w43.shortest_interval == timedelta(hours=48)
    w44 = row(rep, "a", "2026-W44")
    # Monday 00:30 then daily at 09:00 from Tuesday to Saturday; Saturday 09:00 to Monday.
    assert w44.shortest_interval == timedelta(hours=24)
    assert w44.longest_silence == timedelta(hours=39)
    ta = total(rep, Scope.ACCOUNT, "a")
    # Over the whole window the two posts around the week boundary are one hour apart, and
    # the longest silence runs from Saturday 31 October 09:00 to the window's end.
    assert ta.shortest_interval == H
    assert ta.longest_silence == at("2026-11-09 00:00") - at("2026-10-31 09:00")
    assert ta.longest_silence == timedelta(days=8, hours=15)


async def test_lateness_percentiles(db: str) -> None:
    await known_ledger().write(db)
    rep = await report_from_store(db, targets())
    w42 = row(rep, "a", "2026-W42")
    # Lateness 0, 60, 120, 180, 600 s: p50 rank ceil(2.5) = 3, p95 rank ceil(4.75) = 5.
    assert w42.lateness_p50 == timedelta(seconds=120)
    assert w42.lateness_p95 == timedelta(seconds=600)
    assert w42.lateness_max == timedelta(seconds=600)
    assert row(rep, "a", "2026-W43").lateness_max == timedelta(0)
    assert row(rep, "b", "2026-W44").lateness_p50 == timedelta(minutes=5)
    # a's 14 posts: ten on time, then 60, 120, 180, 600 s. p50: rank ceil(7) = 7 is 0 s;
    # p95: rank ceil(13.3) = 14 is 600 s.
    ta = total(rep, Scope.ACCOUNT, "a")
    assert (ta.lateness_p50, ta.lateness_p95) == (timedelta(0), timedelta(seconds=600))


async def test_failures_by_reason_missed_canceled(db: str) -> None:
    await known_ledger().write(db)
    rep = await report_from_store(db, targets())
    w44 = row(rep, "a", "2026-W44")
    cut = LONG_403[:80] + "…"
    assert w44.failures == ((cut, 2), ("timeout after 60 s", 1))
    assert w44.failed == 3
    assert row(rep, "a", "2026-W43").missed == 1
    assert row(rep, "a", "2026-W45").canceled == 2
    ta = total(rep, Scope.ACCOUNT, "a")
    assert (ta.failed, ta.missed, ta.canceled) == (3, 1, 2)
    assert total(rep, Scope.ALL).failures == ((cut, 2), ("timeout after 60 s", 1))


async def test_retries_per_delivery_and_dry_runs_excluded(db: str) -> None:
    await known_ledger().write(db)
    rep = await report_from_store(db, targets())
    w42 = row(rep, "a", "2026-W42")
    # 5 published: one with 3 attempts (2 retries), one with a dry-run attempt that does not
    # count: 2 / 5. The dry-run delivery of the 17th is not among the 5.
    assert (w42.published, w42.retries) == (5, 2)
    assert w42.retries_per_delivery == pytest.approx(0.4)
    assert total(rep, Scope.ACCOUNT, "a").retries_per_delivery == pytest.approx(2 / 14)


async def test_evergreen_and_repeated_publications_are_counted_and_marked(db: str) -> None:
    """Evergreen and repeat deliveries are publications like the others, counted apart too
    (their post ids: publisher.rules)."""
    led = Ledger()
    led.add("a", DeliveryState.PUBLISHED, at("2026-10-13 09:00"),
            published=at("2026-10-13 09:00"), post="green~2026-10-13T0900")
    led.add("a", DeliveryState.PUBLISHED, at("2026-10-14 09:00"),
            published=at("2026-10-14 09:00"), post="tips@2026-10-14")
    led.add("a", DeliveryState.CANCELED, at("2026-10-15 09:00"), post="green~2026-10-15T0900")
    led.publish("a", at("2026-10-16 09:00"))
    await led.write(db)
    rep = await report_from_store(db, targets())
    w42 = row(rep, "a", "2026-W42")
    assert (w42.published, w42.evergreen, w42.repeated, w42.canceled) == (3, 1, 1, 1)
    doc = json.loads(json.dumps(report_json(rep)))
    jsonschema.validate(doc, audit_schema())
    [r] = [r for r in doc["rows"] if r["account"] == "a" and r["period"] == "2026-W42"]
    assert (r["evergreen"], r["repeated"]) == (1, 1)


async def test_only_dry_runs_count_nothing(db: str) -> None:
    led = Ledger()
    for day in range(12, 19):
        led.add("a", DeliveryState.DRY_RUN, at(f"2026-10-{day} 09:00"),
                published=at(f"2026-10-{day} 09:00"))
    await led.write(db)
    rep = await report_from_store(db, {"a": AccountTarget("a", "log", 5)},
                                  until=at("2026-10-19 00:00"))
    [r] = rep.rows
    assert (r.published, r.retries, r.met, r.longest_silence) == (0, 0, False, 168 * H)


async def test_network_and_all_totals(db: str) -> None:
    await known_ledger("x", "facebook").write(db)
    tg = targets("x", "facebook")
    tg["c"] = AccountTarget("c", "x", None)  # no target, no posts
    rep = await report_from_store(db, tg)
    x = total(rep, Scope.NETWORK, "x")
    assert (x.account, x.published, x.target) == ("*", 14, 20)
    fb = total(rep, Scope.NETWORK, "facebook")
    assert (fb.published, fb.target) == (10, 12)
    everything = total(rep, Scope.ALL)
    assert (everything.network, everything.published, everything.target) == ("*", 24, 32)
    # b's Monday post in week 45 ends the silence a left.
    assert everything.longest_silence == at("2026-11-09 00:00") - at("2026-11-02 10:00")
    assert total(rep, Scope.ACCOUNT, "c").target is None
    assert row(rep, "c", "2026-W42").met is None
    series = {s.network: s for s in rep.networks}
    assert series["x"].counts == (5, 3, 6, 0) and series["x"].target == 5
    assert series["facebook"].counts == (3, 3, 3, 1) and series["facebook"].target == 3


async def test_filters_by_account_and_network(db: str) -> None:
    await known_ledger("x", "facebook").write(db)
    rep = await report_from_store(db, targets("x", "facebook"), networks=["facebook"])
    assert rep.accounts == ("b",)
    assert {r.account for r in rep.rows} == {"b"}
    rep = await report_from_store(db, targets("x", "facebook"), accounts=["a"])
    assert rep.accounts == ("a",)
    assert [t.scope for t in rep.totals] == [Scope.ACCOUNT, Scope.NETWORK, Scope.ALL]


async def test_accounts_gone_from_the_config_keep_their_history(db: str) -> None:
    await known_ledger().write(db)
    rep = await report_from_store(db, {"a": AccountTarget("a", "log", 5)})
    assert rep.accounts == ("a", "b")
    assert total(rep, Scope.ACCOUNT, "b").target is None
    assert total(rep, Scope.ACCOUNT, "b").published == 10


async def test_by_day_across_the_dst_change(db: str) -> None:
    await known_ledger().write(db)
    rep = await report_from_store(db, targets(), since=at("2026-10-24 00:00"),
                                  until=at("2026-10-27 00:00"), by=By.DAY, accounts=["a"])
    assert [(r.period, r.hours, r.published) for r in rep.rows] == [
        ("2026-10-24", 24, 0), ("2026-10-25", 25, 1), ("2026-10-26", 24, 1)]
    sunday = row(rep, "a", "2026-10-25")
    assert sunday.target == pytest.approx(5 / 7)
    assert sunday.met is True and sunday.difference == pytest.approx(1 - 5 / 7)
    assert row(rep, "a", "2026-10-24").difference == pytest.approx(-5 / 7)
    # From midnight to the 23:30 post: 24 h 30 m of real time on a 25-hour day.
    assert sunday.longest_silence == timedelta(hours=24, minutes=30)
    assert total(rep, Scope.ACCOUNT, "a").target == pytest.approx(3 * 5 / 7)


async def test_new_york_dst_week(db: str) -> None:
    led = Ledger()
    led.publish("a", at("2026-10-26 09:00", NEW_YORK))
    led.publish("a", at("2026-11-01T23:30:00-05:00"))  # 04:30Z on Monday: still week 44
    led.publish("a", at("2026-11-02 00:30", NEW_YORK))  # week 45
    await led.write(db)
    rep = await report_from_store(
        db, {"a": AccountTarget("a", "log", 2)}, zone=NEW_YORK,
        since=at("2026-10-26 00:00", NEW_YORK), until=at("2026-11-09 00:00", NEW_YORK))
    assert [(r.period, r.hours, r.published, r.met) for r in rep.rows] == [
        ("2026-W44", 169, 2, True), ("2026-W45", 168, 1, False)]
    days = await report_from_store(
        db, {"a": AccountTarget("a", "log", 2)}, zone=NEW_YORK, by=By.DAY,
        since=at("2026-11-01 00:00", NEW_YORK), until=at("2026-11-03 00:00", NEW_YORK))
    assert [(r.period, r.hours, r.published) for r in days.rows] == [
        ("2026-11-01", 25, 1), ("2026-11-02", 24, 1)]


async def test_partial_periods_prorate_the_target_and_unfinished_ones_say_so(db: str) -> None:
    await known_ledger().write(db)
    now = at("2026-11-04 12:00")  # Wednesday of week 45
    rep = await report_from_store(db, targets(), since=at("2026-10-14 00:00"), now=now,
                                  accounts=["a"])
    w42 = row(rep, "a", "2026-W42")
    assert (w42.published, w42.hours) == (3, 120)
    assert w42.target == pytest.approx(5 * 120 / 168)
    w45 = row(rep, "a", "2026-W45")
    assert w45.complete is False
    assert w45.longest_silence == now - at("2026-11-02 00:00")  # silence so far, not to Monday
    assert total(rep, Scope.ACCOUNT, "a").complete is False
    future = await report_from_store(db, targets(), since=at("2026-11-16 00:00"),
                                     until=at("2026-11-23 00:00"), now=now, accounts=["a"])
    assert future.rows[0].longest_silence is None


def test_refuses_naive_and_empty_windows() -> None:
    with pytest.raises(ValueError, match="aware"):
        audit([], [], {}, since=datetime(2026, 1, 1), until=UNTIL, zone=PARIS, now=NOW)
    with pytest.raises(ValueError, match="before"):
        audit([], [], {}, since=UNTIL, until=UNTIL, zone=PARIS, now=NOW)


# ----------------------------------------------------------------------- machine formats


def audit_schema() -> dict[str, Any]:
    text = files("publisher").joinpath("schema/audit.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


async def test_json_matches_the_shipped_schema(db: str) -> None:
    await known_ledger("x", "facebook").write(db)
    rep = await report_from_store(db, targets("x", "facebook"))
    doc = json.loads(json.dumps(report_json(rep)))
    jsonschema.Draft202012Validator.check_schema(audit_schema())
    jsonschema.validate(doc, audit_schema())
    assert doc["schema"] == 1
    assert doc["window"] == {
        "since": "2026-10-12T00:00:00+02:00", "until": "2026-11-09T00:00:00+01:00",
        "since_utc": "2026-10-11T22:00:00Z", "until_utc": "2026-11-08T23:00:00Z"}
    w43 = next(r for r in doc["rows"] if r["account"] == "a" and r["period"] == "2026-W43")
    assert w43 == {
        "scope": "account", "account": "a", "network": "x", "period": "2026-W43",
        "start": "2026-10-19T00:00:00+02:00", "end": "2026-10-26T00:00:00+01:00",
        "hours": 169, "complete": True, "published": 3, "target": 5, "met": False,
        "difference": -2, "ratio": 0.6, "longest_silence_s": 401400,
        "shortest_interval_s": 172800, "lateness_p50_s": 0, "lateness_p95_s": 0,
        "lateness_max_s": 0, "failed": 0, "failures": [], "missed": 1, "canceled": 0,
        "retries": 0, "retries_per_delivery": 0, "evergreen": 0, "repeated": 0,
    }
    assert [(t["scope"], t["account"], t["network"]) for t in doc["totals"]] == [
        ("account", "a", "x"), ("account", "b", "facebook"), ("network", "*", "facebook"),
        ("network", "*", "x"), ("all", "*", "*")]
    # Something the schema must refuse: an unknown field.
    doc["rows"][0]["extra"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, audit_schema())


async def test_csv_header_and_rows(db: str) -> None:
    await known_ledger().write(db)
    rep = await report_from_store(db, targets())
    assert CSV_HEADER == (
        "scope", "account", "network", "period", "start", "end", "hours", "complete",
        "published", "target", "met", "difference", "ratio", "longest_silence_s",
        "shortest_interval_s", "lateness_p50_s", "lateness_p95_s", "lateness_max_s", "failed",
        "failures", "missed", "canceled", "retries", "retries_per_delivery", "evergreen",
        "repeated")
    body = csv_rows(rep)
    assert len(body) == 2 * 4 + 2 + 1 + 1  # account × week, 2 account + 1 network + 1 all
    assert all(len(r) == len(CSV_HEADER) for r in body)
    rec = dict(zip(CSV_HEADER, body[2], strict=True))  # a, week 44
    assert rec["period"] == "2026-W44" and rec["published"] == "6" and rec["met"] == "true"
    assert rec["target"] == "5" and rec["difference"] == "1" and rec["ratio"] == "1.2"
    assert json.loads(rec["failures"]) == [
        {"reason": LONG_403[:80] + "…", "count": 2}, {"reason": "timeout after 60 s", "count": 1}]
    rec = dict(zip(CSV_HEADER, body[3], strict=True))  # a, week 45 (empty)
    assert rec["shortest_interval_s"] == "" and rec["longest_silence_s"] == str(168 * 3600)
    assert rec["ratio"] == "0" and rec["retries_per_delivery"] == ""
    assert [r[0] for r in body[-4:]] == ["account", "account", "network", "all"]


# ------------------------------------------------------------------------------ the CLI


def write_config(tmp_path: Path, zone: str = "Europe/Paris") -> Path:
    cfg = tmp_path / "publisher.toml"
    cfg.write_text(
        f'database = "sqlite:///{tmp_path / "queue.db"}"\n'
        f'timezone = "{zone}"\n'
        '[accounts.a]\nnetwork = "log"\ntarget_per_week = 5\n'
        '[accounts.b]\nnetwork = "log"\ntarget_per_week = 3\n',
        encoding="utf-8",
    )
    return cfg


WINDOW = ["--since", "2026-10-12", "--until", "2026-11-09"]


def run_cli(argv: list[str]) -> int:
    return main(argv)


def seed(tmp_path: Path, ledger: Ledger) -> None:
    """The CLI runs its own event loop, so its tests are plain functions."""
    import asyncio

    asyncio.run(ledger.write(f"sqlite:///{tmp_path / 'queue.db'}"))


def test_cli_json_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path)
    seed(tmp_path, known_ledger())
    assert run_cli(["audit", "--config", str(cfg), *WINDOW, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    jsonschema.validate(doc, audit_schema())
    assert doc["timezone"] == "Europe/Paris" and doc["by"] == "week"
    counts = [(r["account"], r["period"], r["published"], r["met"]) for r in doc["rows"]]
    assert counts[:4] == [("a", "2026-W42", 5, True), ("a", "2026-W43", 3, False),
                          ("a", "2026-W44", 6, True), ("a", "2026-W45", 0, False)]
    # Until 2026-11-09 local midnight: the post at exactly that instant is outside.
    assert doc["totals"][0]["published"] == 14


def test_cli_by_day_filters_and_csv(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path)
    seed(tmp_path, known_ledger())
    code = run_cli(["audit", "--config", str(cfg), "--since", "2026-10-24 00:00",
                          "--until", "2026-10-27T00:00:00+01:00", "--by", "day",
                          "--account", "a", "--format", "csv"])
    assert code == 0
    lines = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert tuple(lines[0]) == CSV_HEADER
    assert [(r[3], r[6], r[8]) for r in lines[1:4]] == [
        ("2026-10-24", "24", "0"), ("2026-10-25", "25", "1"), ("2026-10-26", "24", "1")]
    assert [r[0] for r in lines[4:]] == ["account", "network", "all"]


def test_cli_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path)
    seed(tmp_path, known_ledger())
    assert run_cli(["audit", "--config", str(cfg), *WINDOW]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "2026-10-12 00:00 CEST → 2026-11-09 00:00 CET" in lines[0]
    header = lines[1]
    assert header.split()[:5] == ["account", "network", "period", "posts", "target"]
    w43 = next(line for line in lines if line.startswith("a ") and "2026-W43" in line)
    assert "✗" in w43 and "-2" in w43 and "4d15h" in w43
    w44 = next(line for line in lines if line.startswith("a ") and "2026-W44" in line)
    assert "✓" in w44 and "+1" in w44 and "120%" in w44
    # Aligned columns: the "posts" column ends at the same place on every row.
    end = header.index("posts") + len("posts")
    assert all(line[end - 1].isdigit() for line in lines[3:7])
    assert "failures by reason:" in out
    assert "2×  " + LONG_403[:80] + "…" in out


def test_cli_default_window_and_empty_store(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path)
    seed(tmp_path, Ledger())
    assert run_cli(["audit", "--config", str(cfg), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    jsonschema.validate(doc, audit_schema())
    assert len(doc["rows"]) == 2 * 4
    assert doc["window"]["since"].endswith("T00:00:00" + doc["window"]["since"][-6:])
    assert datetime.fromisoformat(doc["window"]["since"]).weekday() == 0
    assert datetime.fromisoformat(doc["window"]["until"]).weekday() == 0
    assert all(r["published"] == 0 and r["met"] is False for r in doc["rows"])


def test_cli_user_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path)
    # No database yet.
    assert run_cli(["audit", "--config", str(cfg)]) == 1
    assert "no database" in capsys.readouterr().err
    seed(tmp_path, known_ledger())
    assert run_cli(["audit", "--config", str(cfg), "--since", "2026-11-09",
                          "--until", "2026-10-12"]) == 1
    assert "window is empty" in capsys.readouterr().err
    assert run_cli(["audit", "--config", str(cfg), "--since", "last tuesday"]) == 1
    assert "not a date" in capsys.readouterr().err
    assert run_cli(["audit", "--config", str(cfg), *WINDOW, "--account", "nope"]) == 1
    assert "unknown account" in capsys.readouterr().err
    # Usage errors: exit 2.
    assert run_cli(["audit", "--config", str(cfg), "--by", "month"]) == 2
    assert run_cli(["audit", "--config", str(cfg), "--chart", "x.gif"]) == 2
    assert ".png or .svg" in capsys.readouterr().err


# ---------------------------------------------------------------------------- the chart


def test_chart_png_is_the_right_size_and_not_blank(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    cfg = write_config(tmp_path)
    seed(tmp_path, known_ledger())
    png = tmp_path / "audit.png"
    assert run_cli(["audit", "--config", str(cfg), *WINDOW, "--chart", str(png)]) == 0
    assert "chart written" in capsys.readouterr().err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as img:
        assert img.format == "PNG"
        assert img.size == (1000, 500)
        rgb = img.convert("RGB")
        colours = rgb.getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 20
    # Not a blank page: a good share of the pixels are not the background.
    background = max(colours)[0]
    assert sum(n for n, _ in colours) - background > 0.02 * 1000 * 500


def test_chart_svg_is_valid_xml(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    seed(tmp_path, known_ledger())
    svg = tmp_path / "audit.svg"
    assert run_cli(["audit", "--config", str(cfg), *WINDOW, "--by", "day",
                          "--chart", str(svg), "--format", "json"]) == 0
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("width") == "720pt"  # 1000 px at 100 dpi = 10 in = 720 pt
    assert root.get("height") == "360pt"
    assert len(root.findall(".//{http://www.w3.org/2000/svg}path")) > 10


def test_chart_without_matplotlib_says_how_to_get_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write_config(tmp_path)
    seed(tmp_path, known_ledger())
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib → ImportError
    png = tmp_path / "audit.png"
    assert run_cli(["audit", "--config", str(cfg), *WINDOW, "--chart", str(png)]) == 1
    captured = capsys.readouterr()
    assert "pip install 'publisher[chart]'" in captured.err
    assert captured.out == "" and not png.exists()


def test_docs_example_generator(tmp_path: Path) -> None:
    """docs/make_audit_example.py renders the committed example chart from examples/."""
    import importlib.util

    from PIL import Image

    script = Path(__file__).resolve().parent.parent / "docs" / "make_audit_example.py"
    spec = importlib.util.spec_from_file_location("make_audit_example", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "example.png"
    module.make(out, tmp_path / "work")
    with Image.open(out) as img:
        assert img.size == (1000, 500)
