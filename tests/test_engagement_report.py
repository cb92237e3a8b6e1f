"""``publisher audit --engagement`` / ``--best-times`` and ``history --post``: what the posts
earned, on a seeded ledger.

Deliveries are written as the audit tests write them; snapshots and follower counts go in
through the store's own engagement API (readings planned, then settled), into a real SQLite
file (and a real PostgreSQL database where marked). Every figure is worked out by hand in the
comments.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from publisher.adapters import engagement as kit
from publisher.audit import By, audit
from publisher.best_times import MIN_POSTS, Verdict, best_times
from publisher.durations import parse_duration
from publisher.engagement_report import (
    CSV_HEADER,
    INTERACTIONS,
    METRICS,
    AgeRule,
    EngagementReport,
    EngagementRow,
    Status,
    engagement,
    interactions,
)
from publisher.slots import parse_slot
from publisher.states import DeliveryState
from publisher.store import Store
from publisher.store.records import (
    FollowerCount,
    Reading,
    ReadingGone,
    ReadingTaken,
    SnapshotOutcome,
)
from tests.test_audit import PARIS, Ledger, at, run_cli

NOW = at("2026-11-20 12:00")
SINCE, UNTIL = at("2026-10-12 00:00"), at("2026-11-09 00:00")  # ISO weeks 42 to 45
WINDOW = ["--since", "2026-10-12", "--until", "2026-11-09"]


@dataclass
class Earned:
    """Snapshots (per delivery and age) and follower counts to seed beside a ``Ledger``."""

    ledger: Ledger = field(default_factory=Ledger)
    snaps: list[tuple[int, str, dict[str, int], tuple[str, ...], SnapshotOutcome]] = field(
        default_factory=list
    )
    followers: list[FollowerCount] = field(default_factory=list)

    def post(self, account: str, when: datetime, post: str | None = None) -> int:
        did = self.ledger.add(account, DeliveryState.PUBLISHED, when, published=when, post=post)
        self.ledger.deliveries[-1]["remote_id"] = f"r{did}"
        return did

    def snap(self, did: int, age: str, unavailable: tuple[str, ...] = (),
             **counts: int) -> None:
        self.snaps.append((did, age, counts, unavailable, SnapshotOutcome.TAKEN))

    def gone(self, did: int, age: str) -> None:
        self.snaps.append((did, age, {}, (), SnapshotOutcome.GONE))

    def follow(self, account: str, when: datetime, count: int) -> None:
        self.followers.append(FollowerCount(account, "log", when, count))

    async def write(self, url: str) -> None:
        await self.ledger.write(url)
        by_id = {d["id"]: d for d in self.ledger.deliveries}
        store = await Store.open(url)
        try:
            for did, label, counts, unavailable, outcome in self.snaps:
                d = by_id[did]
                age = parse_duration(label)
                reading = Reading(
                    delivery_id=did, age=age, age_label=label, post_id=d["post_id"],
                    account=d["account"], network=d["network"], remote_id=d["remote_id"],
                    published_at=d["published_at"], due_at=d["published_at"] + age,
                    until_at=d["published_at"] + age * 2,
                )
                taken = reading.due_at + timedelta(minutes=3)
                await store.plan_readings([reading], reading.due_at)
                snapshot = reading.snapshot(taken, counts, unavailable, outcome=outcome)
                change = (ReadingTaken(snapshot) if outcome is SnapshotOutcome.TAKEN
                          else ReadingGone(snapshot))
                assert await store.settle_readings([change], taken) == 1
            for count in self.followers:
                await store.add_follower_count(count)
        finally:
            await store.close()


def weekly() -> Earned:
    """Accounts a (target 3/week) and b (2/week), ISO weeks 42-45 of 2026, Paris time.

    a, week 42: three posts, measured at 24h: 10+2+1 = 13, 4+0+0 = 4, 20+5+3 = 28 (no quotes:
        a network without them) → likes 34, reposts 7, replies 4, quotes unknown, 45
        interactions, 15 per post; 1,500 followers nearest the week's end → 10 per 1,000.
    a, week 43: p4 measured with replies refused (unavailable) → its interactions unknown;
        p5 found gone at 1h.
    a, week 44: p6 only has its 1h snapshot: missing at 24h.
    b, week 42: two posts with quotes and impressions: 3+1+0+1 = 5, 1+0+1+0 = 2 → 7, 3.5 per
        post; no follower count → per 1,000 unknown.
    """
    e = Earned()
    p1 = e.post("a", at("2026-10-12 09:00"), "p1")
    p2 = e.post("a", at("2026-10-14 09:00"), "p2")
    p3 = e.post("a", at("2026-10-16 18:00"), "p3")
    e.snap(p1, "1h", likes=2, reposts=0, replies=0)
    e.snap(p1, "24h", likes=10, reposts=2, replies=1)
    e.snap(p1, "7d", likes=30, reposts=4, replies=2)
    e.snap(p2, "24h", likes=4, reposts=0, replies=0)
    e.snap(p2, "7d", likes=5, reposts=0, replies=0)
    e.snap(p3, "24h", likes=20, reposts=5, replies=3)
    e.snap(p3, "7d", likes=21, reposts=5, replies=3)
    # A dry run that "published" in week 42: never a post, never counted.
    e.ledger.add("a", DeliveryState.DRY_RUN, at("2026-10-15 09:00"),
                 published=at("2026-10-15 09:00"), post="dry")
    p4 = e.post("a", at("2026-10-20 09:00"), "p4")
    e.snap(p4, "24h", ("replies",), likes=5, reposts=1)
    p5 = e.post("a", at("2026-10-22 09:00"), "p5")
    e.gone(p5, "1h")
    p6 = e.post("a", at("2026-10-26 09:00"), "p6")
    e.snap(p6, "1h", likes=1, reposts=0, replies=0)
    # The week 42 ends 2026-10-19 00:00 CEST = 2026-10-18 22:00Z: 21:00Z is nearer than 01:00Z.
    e.follow("a", at("2026-10-18T21:00:00Z"), 1500)
    e.follow("a", at("2026-10-19T01:00:00Z"), 1600)
    e.follow("a", at("2026-11-02T12:00:00Z"), 1700)
    q1 = e.post("b", at("2026-10-13 11:00"), "q1")
    q2 = e.post("b", at("2026-10-15 11:00"), "q2")
    e.snap(q1, "24h", likes=3, reposts=1, replies=0, quotes=1, impressions=100)
    e.snap(q2, "24h", likes=1, reposts=0, replies=1, quotes=0, impressions=50)
    return e


TARGETS = {"a": 3.0, "b": 2.0}


async def report(url: str, *, age: str | None = None, since: datetime = SINCE,
                 until: datetime = UNTIL, now: datetime = NOW) -> EngagementReport:
    from publisher.audit import AccountTarget

    store = await Store.open(url)
    try:
        deliveries = await store.all_deliveries()
        attempts = await store.attempts()
        snaps = await store.snapshots(since=since)
        followers = await store.follower_counts()
    finally:
        await store.close()
    targets = {n: AccountTarget(n, "log", t) for n, t in TARGETS.items()}
    posting = audit(deliveries, attempts, targets, since=since, until=until, zone=PARIS,
                    now=now, by=By.WEEK)
    return engagement(posting, deliveries, snaps, followers,
                      age=None if age is None else parse_duration(age), age_label=age)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'queue.db'}"


def row(rep: EngagementReport, account: str, period: str) -> EngagementRow:
    [r] = [r for r in rep.rows if r.account == account and r.period == period]
    return r


# ------------------------------------------------------------------------------ the pure core


def test_metric_names_are_the_kits() -> None:
    assert METRICS == kit.STANDARD_METRICS
    assert INTERACTIONS == kit.INTERACTIONS


def test_interactions_of_one_post() -> None:
    assert interactions({"likes": 3, "reposts": 1, "impressions": 900}, ()) == 4
    assert interactions({"likes": 3}, ("quotes",)) is None  # a figure refused: unknown
    assert interactions({"impressions": 900}, ()) is None  # no interaction reported at all
    assert interactions({"likes": 0, "replies": 0}, ()) == 0  # a real zero stays zero


# ------------------------------------------------------------------------ the weekly report


async def test_exact_weekly_figures_at_24h(db_url: str) -> None:
    """On SQLite and on PostgreSQL: the figures do not depend on the backend."""
    await weekly().write(db_url)
    rep = await report(db_url, age="24h")
    assert rep.age.rule is AgeRule.ASKED and rep.age.label == "24h"
    assert rep.ages == ("1h", "24h", "7d")
    w42 = row(rep, "a", "2026-W42")
    assert (w42.posts, w42.target, w42.met) == (3, 3.0, True)
    assert w42.statuses[Status.MEASURED] == 3
    assert [w42.figures[m] for m in METRICS] == [34, 7, 4, None, None, None]
    assert (w42.interactions, w42.rated, w42.per_post) == (45, 3, 15.0)
    assert (w42.followers, w42.followers_at) == (1500, at("2026-10-18T21:00:00Z"))
    assert w42.per_1000_followers == pytest.approx(10.0)
    assert w42.best is not None and w42.worst is not None
    assert (w42.best.post_id, w42.best.interactions) == ("p3", 28)
    assert (w42.worst.post_id, w42.worst.interactions) == ("p2", 4)

    w43 = row(rep, "a", "2026-W43")
    assert (w43.posts, w43.met) == (2, False)
    assert w43.statuses[Status.MEASURED] == 1 and w43.statuses[Status.GONE] == 1
    assert (w43.figures["likes"], w43.figures["reposts"], w43.figures["replies"]) == (5, 1, None)
    assert w43.interactions is None and w43.rated == 0 and w43.per_post is None
    assert w43.per_1000_followers is None and w43.best is None and w43.worst is None

    w44 = row(rep, "a", "2026-W44")
    assert w44.statuses[Status.MISSING] == 1 and w44.statuses[Status.MEASURED] == 0
    assert all(w44.figures[m] is None for m in METRICS)  # unknown, never 0
    assert w44.followers == 1700  # nearest the week's end (2026-11-02 00:00 CET)

    b42 = row(rep, "b", "2026-W42")
    assert [b42.figures[m] for m in METRICS] == [4, 1, 1, 1, 150, None]
    assert (b42.interactions, b42.per_post) == (7, 3.5)
    assert b42.followers is None and b42.per_1000_followers is None
    assert b42.best is not None and b42.best.post_id == "q1"
    assert b42.worst is not None and b42.worst.post_id == "q2"
    b43 = row(rep, "b", "2026-W43")
    assert (b43.posts, b43.interactions, b43.per_post) == (0, None, None)


async def test_the_default_age_is_the_largest_every_post_has_reached(db: str) -> None:
    e = weekly()
    await e.write(db)
    rep = await report(db)
    # Every post of weeks 42-45 is older than 7 days on 2026-11-20.
    assert (rep.age.rule, rep.age.label) == (AgeRule.ALL_REACHED, "7d")
    w42 = row(rep, "a", "2026-W42")
    assert (w42.interactions, w42.rated) == (36 + 5 + 29, 3)
    # Posts not measured at 7d are missing, not zero: b's are only at 24h.
    assert row(rep, "b", "2026-W42").statuses[Status.MISSING] == 2


async def test_posts_not_yet_at_the_age_are_pending(db: str) -> None:
    e = weekly()
    young = e.post("a", at("2026-11-20 09:00"), "young")  # 3 hours old at NOW
    e.snap(young, "1h", likes=7, reposts=0, replies=0)
    await e.write(db)
    until = at("2026-11-23 00:00")
    rep = await report(db, until=until)
    # Every post has reached 1h, not 24h: 1h it is.
    assert (rep.age.rule, rep.age.label) == (AgeRule.ALL_REACHED, "1h")
    rep = await report(db, until=until, age="24h")
    last = row(rep, "a", "2026-W47")
    assert last.statuses[Status.PENDING] == 1 and last.statuses[Status.MEASURED] == 0
    assert last.interactions is None and last.per_post is None
    # A post younger than the smallest age: no age is reached by all, so the largest held.
    newest = e.post("a", at("2026-11-20 11:45"), "newest")
    del newest
    await Ledger(deliveries=[e.ledger.deliveries[-1]]).write(db)
    rep = await report(db, until=until)
    assert (rep.age.rule, rep.age.label) == (AgeRule.LARGEST, "7d")
    assert row(rep, "a", "2026-W47").statuses[Status.PENDING] == 2


async def test_ties_single_posts_and_follower_counts(db: str) -> None:
    e = Earned()
    # Week 42: two posts with 5 interactions each: the earlier is best, the later worst.
    for day, post in ((12, "t1"), (13, "t2")):
        e.snap(e.post("a", at(f"2026-10-{day} 09:00"), post), "24h", likes=4, quotes=1)
    # Week 43: one rated post: best, and no worst.
    e.snap(e.post("a", at("2026-10-20 09:00"), "solo"), "24h", likes=0, replies=0)
    # Week 42 ends at 2026-10-18T22:00Z: one hour either side, the earlier count is taken.
    e.follow("a", at("2026-10-18T21:00:00Z"), 400)
    e.follow("a", at("2026-10-18T23:00:00Z"), 500)
    # Week 44 ends at 2026-11-01T23:00Z: zero followers, no rate (not a division by zero).
    e.follow("a", at("2026-11-01T23:00:00Z"), 0)
    await e.write(db)
    rep = await report(db, age="24h")
    w42 = row(rep, "a", "2026-W42")
    assert w42.best is not None and w42.worst is not None
    assert (w42.best.post_id, w42.worst.post_id) == ("t1", "t2")
    assert (w42.followers, w42.per_post, w42.per_1000_followers) == (400, 5.0, 12.5)
    assert w42.figures["quotes"] == 2 and w42.figures["replies"] is None
    w43 = row(rep, "a", "2026-W43")
    assert w43.best is not None and w43.best.post_id == "solo" and w43.worst is None
    assert (w43.interactions, w43.per_post) == (0, 0.0)  # a real zero stays zero
    w44 = row(rep, "a", "2026-W44")
    assert w44.followers == 0 and w44.per_1000_followers is None
    assert row(rep, "a", "2026-W45").followers == 0  # the nearest, even a week before


async def test_no_snapshot_at_all(db: str) -> None:
    e = Earned()
    e.post("a", at("2026-10-12 09:00"))
    await e.write(db)
    rep = await report(db)
    assert rep.age.rule is AgeRule.NONE and rep.age.label is None
    w42 = row(rep, "a", "2026-W42")
    assert w42.posts == 1 and w42.statuses[Status.MISSING] == 1
    assert w42.interactions is None


# ------------------------------------------------------------------------ JSON and CSV


def schema(name: str) -> dict[str, Any]:
    text = files("publisher").joinpath(f"schema/{name}.schema.json").read_text(encoding="utf-8")
    doc: dict[str, Any] = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(doc)
    return doc


def write_config(tmp_path: Path, slots: Mapping[str, list[str]] | None = None) -> Path:
    slots = slots or {}
    cfg = tmp_path / "publisher.toml"
    text = f'database = "sqlite:///{tmp_path / "queue.db"}"\ntimezone = "Europe/Paris"\n'
    for name, target in (("a", 3), ("b", 2), ("c", None)):
        text += f'[accounts.{name}]\nnetwork = "log"\n'
        if target is not None:
            text += f"target_per_week = {target}\n"
        if name in slots:
            text += f"slots = {json.dumps(slots[name])}\n"
    # Mastodon reads engagement unless told not to; "log" reads none.
    for name, setting in (("m", ""), ("m-off", "engagement = false\n")):
        text += (f'[accounts.{name}]\nnetwork = "mastodon"\ninstance = "https://m.example"\n'
                 f'token = "${{MASTODON_TOKEN}}"\n{setting}')
    cfg.write_text(text, encoding="utf-8")
    return cfg


def seed(tmp_path: Path, e: Earned) -> None:
    asyncio.run(e.write(f"sqlite:///{tmp_path / 'queue.db'}"))


def cli_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert run_cli(argv) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def test_cli_json_matches_the_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path)
    seed(tmp_path, weekly())
    doc = cli_json(["audit", "--config", str(cfg), *WINDOW, "--engagement", "--age", "24h",
                    "--format", "json"], capsys)
    jsonschema.validate(doc, schema("engagement"))
    assert doc["age"] == {"label": "24h", "seconds": 86400, "rule": "asked"}
    assert doc["accounts"] == ["a", "b", "c", "m", "m-off"]
    assert doc["uncollected"] == ["a", "b", "c", "m-off"]  # "log" reads no engagement
    w42 = next(r for r in doc["rows"] if r["account"] == "a" and r["period"] == "2026-W42")
    assert (w42["likes"], w42["quotes"], w42["per_post"], w42["per_1000_followers"]) == (
        34, None, 15, 10)
    assert w42["age"] == "24h" and w42["followers_at"] == "2026-10-18T21:00:00Z"
    assert w42["best"]["post"] == "p3" and w42["worst"]["interactions"] == 4
    assert len(doc["rows"]) == 5 * 4
    # By day: the same figures, one row per local day.
    days = cli_json(["audit", "--config", str(cfg), "--since", "2026-10-13", "--until",
                     "2026-10-16", "--by", "day", "--account", "b", "--engagement", "--format",
                     "json"], capsys)
    jsonschema.validate(days, schema("engagement"))
    assert [(r["period"], r["posts"], r["interactions"]) for r in days["rows"]] == [
        ("2026-10-13", 1, 5), ("2026-10-14", 0, None), ("2026-10-15", 1, 2)]
    # The schema refuses what it does not know, and a figure shown as a string.
    w42["likes"] = "34"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema("engagement"))


def test_cli_csv_parses_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path)
    seed(tmp_path, weekly())
    assert run_cli(["audit", "--config", str(cfg), *WINDOW, "--engagement", "--age", "24h",
                    "--format", "csv", "--account", "a"]) == 0
    lines = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert list(lines[0]) == list(CSV_HEADER)
    assert [r["period"] for r in lines] == ["2026-W42", "2026-W43", "2026-W44", "2026-W45"]
    w42, w43 = lines[0], lines[1]
    assert (w42["likes"], w42["quotes"], w42["interactions"], w42["per_post"]) == (
        "34", "", "45", "15")
    assert (w42["per_1000_followers"], w42["followers"]) == ("10", "1500")
    assert (w42["best_post"], w42["best_interactions"], w42["worst_post"]) == ("p3", "28", "p2")
    assert (w43["measured"], w43["gone"], w43["replies"], w43["per_post"]) == ("1", "1", "", "")
    assert w42["age"] == "24h" and w42["age_s"] == "86400"


def test_cli_table_says_the_age_and_unknowns(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path)
    seed(tmp_path, weekly())
    assert run_cli(["audit", "--config", str(cfg), *WINDOW, "--engagement"]) == 0
    out = capsys.readouterr().out
    assert "snapshot age 7d (the largest age every post of the window has reached" in out
    w43 = next(line for line in out.splitlines() if line.startswith("a ") and "W43" in line)
    assert "?" in w43 and "1 gone" in w43
    w42 = next(line for line in out.splitlines() if line.startswith("a ") and "W42" in line)
    assert "p1 (36)" in w42 and "p2 (5)" in w42
    assert ("Not collected (engagement = false, or off by default for the network): "
            "a, b, c, m-off;") in out


def test_cli_refuses_misplaced_options(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path)
    seed(tmp_path, weekly())
    assert run_cli(["audit", "--config", str(cfg), "--age", "24h"]) == 1
    assert "--age chooses" in capsys.readouterr().err
    assert run_cli(["audit", "--config", str(cfg), "--engagement", "--age", "soon"]) == 2
    assert run_cli(["audit", "--config", str(cfg), "--engagement", "--best-times"]) == 2
    png = tmp_path / "x.png"
    assert run_cli(["audit", "--config", str(cfg), "--best-times", "--chart", str(png)]) == 1
    assert not png.exists()


# ---------------------------------------------------------------------------- the chart


def test_chart_has_an_engagement_panel(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image, ImageStat

    cfg = write_config(tmp_path)
    seed(tmp_path, weekly())
    png = tmp_path / "earned.png"
    assert run_cli(["audit", "--config", str(cfg), *WINDOW, "--engagement", "--age", "24h",
                    "--chart", str(png)]) == 0
    assert "chart written" in capsys.readouterr().err
    with Image.open(png) as img:
        assert img.format == "PNG" and img.size == (1000, 900)
        rgb = img.convert("RGB")
    rgb.load()
    # Each panel is drawn: the lower (engagement) half is not one flat colour...
    lower = rgb.crop((0, 470, 1000, 900)).convert("L")
    assert ImageStat.Stat(lower).var[0] > 100
    # ...and a real share of its pixels differ from the background.
    colours = lower.getcolors(maxcolors=256)
    assert colours is not None
    background = max(colours)[0]
    assert 1000 * 430 - background > 0.01 * 1000 * 430


# ------------------------------------------------------------------------------ best times


def best_times_ledger() -> Earned:
    """Account c: 20 posts measured at 24h over autumn 2026 (Paris time).

    tue 09h: 10, 12, 14, 10, 12, 14 → mean 12 over 6     thu 18h: 20, 25, 30, 25, 20 → 24 over 5
    fri 12h: 12, 12, 12 → 12 over 3 (ties tue 09h, fewer posts: after it)
    sat 10h: 5 × 4 → 5                                    mon 08h: 100, 100 → too few to rank
    Ranks: thu 18h, tue 09h, fri 12h, sat 10h.
    """
    e = Earned()
    cells = {
        ("2026-09-01", 9): [10, 12, 14, 10, 12, 14],  # a Tuesday
        ("2026-09-03", 18): [20, 25, 30, 25, 20],  # a Thursday
        ("2026-09-04", 12): [12, 12, 12],  # a Friday
        ("2026-09-05", 10): [5, 5, 5, 5],  # a Saturday
        ("2026-08-31", 8): [100, 100],  # a Monday
    }
    for (first, hour), values in cells.items():
        day = datetime.fromisoformat(first)
        for week, value in enumerate(values):
            # Across the change to winter time: the local hour is what counts.
            when = at(f"{(day + timedelta(weeks=week * 2)).date()} {hour:02d}:20")
            did = e.post("c", when)
            e.snap(did, "24h", likes=value - 1, replies=1)
    return e


async def test_best_times_rank_cells_with_their_counts(db_url: str) -> None:
    e = best_times_ledger()
    await e.write(db_url)
    store = await Store.open(db_url)
    try:
        deliveries = await store.all_deliveries()
        snaps = await store.snapshots()
    finally:
        await store.close()
    slots = {"c": [parse_slot("tue 09:00"), parse_slot("sat 10:30"), parse_slot("wed 15:00")]}
    rep = best_times(deliveries, snaps, {"c": "log"}, slots, since=at("2026-01-01 00:00"),
                     until=NOW, zone=PARIS, now=NOW)
    [c] = rep.accounts
    assert (c.posts, c.rated, c.verdict) == (20, 20, Verdict.RANKED)
    assert [(x.weekday, x.hour, x.posts, x.mean, x.rank) for x in c.cells] == [
        (3, 18, 5, 24.0, 1), (1, 9, 6, 12.0, 2), (4, 12, 3, 12.0, 3), (5, 10, 4, 5.0, 4),
        (0, 8, 2, 100.0, None)]
    assert [(s.slot, s.weekday, None if s.cell is None else s.cell.rank) for s in c.slots] == [
        ("tue 09:00", 1, 2), ("sat 10:30", 5, 4), ("wed 15:00", 2, None)]
    assert c.best is not None and c.best.slots == ()


def test_cli_best_times_json_and_table(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, {"c": ["tue 09:00", "sat 10:30"]})
    e = best_times_ledger()
    p = e.post("a", at("2026-10-12 09:00"))
    e.snap(p, "24h", likes=3)
    seed(tmp_path, e)
    doc = cli_json(["audit", "--config", str(cfg), "--best-times", "--format", "json"], capsys)
    jsonschema.validate(doc, schema("best_times"))
    assert doc["age"]["label"] == "24h" and doc["min_posts"] == MIN_POSTS
    by_name = {a["account"]: a for a in doc["accounts"]}
    c, a = by_name["c"], by_name["a"]
    assert c["verdict"] == "ranked"
    assert c["cells"][0] == {"weekday": "thu", "hour": 18, "posts": 5, "mean_interactions": 24,
                             "rank": 1, "slots": []}
    assert c["slots"][0] == {"slot": "tue 09:00", "weekday": "tue", "hour": 9, "posts": 6,
                             "mean_interactions": 12, "rank": 2}
    assert a["verdict"] == "too-little-data" and a["rated"] == 1
    assert a["cells"] == [{"weekday": "mon", "hour": 9, "posts": 1, "mean_interactions": 3,
                           "rank": None, "slots": []}]
    assert run_cli(["audit", "--config", str(cfg), "--best-times"]) == 0
    out = capsys.readouterr().out
    assert "a (log): 1 posts, 1 with engagement. too little data to tell" in out
    assert "best: thu 18:00, 24.0 interactions per post at 24h over 5 posts, not a slot" in out
    assert "slot tue 09:00 on tue: rank 2 of 4, 12.0 per post over 6 posts" in out
    assert run_cli(["audit", "--config", str(cfg), "--best-times", "--format", "csv",
                    "--account", "c"]) == 0
    lines = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["weekday"], r["hour"], r["posts"], r["rank"]) for r in lines] == [
        ("thu", "18", "5", "1"), ("tue", "9", "6", "2"), ("fri", "12", "3", "3"),
        ("sat", "10", "4", "4"), ("mon", "8", "2", "")]


# ------------------------------------------------------------------------ history --post


def test_history_post_shows_its_snapshots(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path)
    seed(tmp_path, weekly())
    assert run_cli(["history", "--config", str(cfg), "--post", "p1"]) == 0
    out = capsys.readouterr().out
    assert "engagement of post p1" in out
    lines = [line for line in out.splitlines() if line.startswith("2026-10-")]
    snaps = [line for line in lines if " a  " in line and line.split()[5] in ("1h", "24h", "7d")]
    assert [line.split()[5] for line in snaps] == ["1h", "24h", "7d"]
    doc = cli_json(["history", "--config", str(cfg), "--post", "p4", "--json"], capsys)
    [snap] = doc["snapshots"]
    assert (snap["age"], snap["likes"], snap["replies"], snap["interactions"]) == (
        "24h", 5, None, None)
    assert snap["unavailable"] == ["replies"] and snap["outcome"] == "taken"
    doc = cli_json(["history", "--config", str(cfg), "--post", "p5", "--json"], capsys)
    assert [s["outcome"] for s in doc["snapshots"]] == ["gone"]
    doc = cli_json(["history", "--config", str(cfg), "--json"], capsys)
    assert "snapshots" not in doc  # only with --post
    # --since narrows the snapshots too, on when each was taken.
    doc = cli_json(["history", "--config", str(cfg), "--post", "p1", "--since",
                    "2026-10-13", "--json"], capsys)
    assert [s["age"] for s in doc["snapshots"]] == ["24h", "7d"]
    assert run_cli(["history", "--config", str(cfg), "--post", "p6", "--account", "b"]) == 0
    assert "no engagement snapshot of post p6" in capsys.readouterr().out


def test_the_documented_csv_headers_are_the_commands() -> None:
    from publisher.best_times import CSV_HEADER as TIMES_HEADER

    docs = (Path(__file__).resolve().parent.parent / "docs" / "audit.md").read_text("utf-8")
    assert "\n" + ",".join(CSV_HEADER) + "\n" in docs
    assert "`" + ",".join(TIMES_HEADER) + "`" in docs


async def test_best_times_enough_posts_but_no_full_hour(db: str) -> None:
    """20 posts, each alone in its hour: enough overall, yet no cell holds 3 of them."""
    e = Earned()
    for i in range(20):
        did = e.post("c", at(f"2026-10-{5 + i // 10:02d} {i % 10 + 8:02d}:00"))
        e.snap(did, "24h", likes=i)
    await e.write(db)
    store = await Store.open(db)
    try:
        deliveries, snaps = await store.all_deliveries(), await store.snapshots()
    finally:
        await store.close()
    rep = best_times(deliveries, snaps, {"c": "log"}, {}, since=at("2026-01-01 00:00"),
                     until=NOW, zone=PARIS, now=NOW)
    [c] = rep.accounts
    assert (c.rated, c.verdict, c.best) == (20, Verdict.TOO_LITTLE_DATA, None)
    assert all(x.rank is None and x.posts == 1 for x in c.cells)
    from publisher.best_times import verdict_text

    assert verdict_text(c, rep.age) == (
        "too little data to tell: no hour holds 3 posts with engagement at 24h")
