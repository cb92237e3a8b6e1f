"""When to post, from our own history: the pure core of ``publisher audit --best-times``.

Each account's own published posts are placed in a cell (weekday, hour) by their local
publication time in the configured zone, and each cell's score is the mean interactions of its
posts read at ONE snapshot age (the same rule as the engagement report). A cell of fewer than
``MIN_CELL`` rated posts is shown but not ranked; an account with fewer than ``MIN_POSTS``
rated posts gets no ranking at all: too little data to tell. The account's ``slots`` are then
placed on the same grid, so a slot that sits in a weak cell shows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from publisher.engagement_report import (
    Age,
    PostFigures,
    PublishedLike,
    SnapshotLike,
    Status,
    age_json,
    by_delivery,
    choose_age,
    figures_at,
    published_posts,
)
from publisher.slots import DAYS, Slot

SCHEMA_VERSION = 1
MIN_CELL = 3  # rated posts a cell needs to be ranked
MIN_POSTS = 20  # rated posts an account needs for any ranking

CSV_HEADER: tuple[str, ...] = (
    "account",
    "network",
    "age",
    "verdict",
    "weekday",
    "hour",
    "posts",
    "mean_interactions",
    "rank",
    "slots",
)


class Verdict(StrEnum):
    RANKED = "ranked"
    TOO_LITTLE_DATA = "too-little-data"


@dataclass(frozen=True)
class Cell:
    weekday: int  # Monday = 0
    hour: int
    posts: int  # rated posts
    mean: float  # mean interactions of those posts
    rank: int | None  # 1 = best; None: too few posts here, or too few overall
    slots: tuple[str, ...]  # the account's slots that fall in this cell


@dataclass(frozen=True)
class SlotPlace:
    """Where one of the account's slots falls on the grid (one entry per day of the slot)."""

    slot: str
    weekday: int
    hour: int
    cell: Cell | None  # None: no rated post ever went out in that hour


@dataclass(frozen=True)
class AccountTimes:
    account: str
    network: str
    posts: int  # published in the window
    rated: int  # of those, with known interactions at the age
    verdict: Verdict
    cells: tuple[Cell, ...]  # ranked first (best first), then the unranked by weekday/hour
    slots: tuple[SlotPlace, ...]

    @property
    def best(self) -> Cell | None:
        return self.cells[0] if self.cells and self.cells[0].rank == 1 else None


@dataclass(frozen=True)
class BestTimes:
    since: datetime
    until: datetime
    now: datetime
    zone: ZoneInfo
    age: Age
    accounts: tuple[AccountTimes, ...]


def _cell_of(when: datetime, zone: ZoneInfo) -> tuple[int, int]:
    local = when.astimezone(zone)
    return local.weekday(), local.hour


def _slot_cells(slots: Sequence[Slot]) -> list[tuple[str, int, int]]:
    return [(str(s), day, s.at.hour) for s in sorted(slots) for day in sorted(s.days)]


def _account(
    name: str,
    network: str,
    figures: Sequence[PostFigures],
    slots: Sequence[Slot],
    zone: ZoneInfo,
) -> AccountTimes:
    rated = [f for f in figures if f.status is Status.MEASURED and f.interactions is not None]
    grid: dict[tuple[int, int], list[int]] = defaultdict(list)
    for f in rated:
        assert f.interactions is not None
        grid[_cell_of(f.published_at, zone)].append(f.interactions)
    verdict = Verdict.RANKED if len(rated) >= MIN_POSTS else Verdict.TOO_LITTLE_DATA
    placed = _slot_cells(slots)
    in_slots: dict[tuple[int, int], list[str]] = defaultdict(list)
    for text, day, hour in placed:
        in_slots[(day, hour)].append(text)
    means = {key: sum(v) / len(v) for key, v in grid.items()}
    # Best first: higher mean, then more posts, then earlier in the week.
    ranked = sorted(
        (k for k, v in grid.items() if len(v) >= MIN_CELL and verdict is Verdict.RANKED),
        key=lambda k: (-means[k], -len(grid[k]), k),
    )
    if not ranked:  # enough posts overall, but no hour holds MIN_CELL of them
        verdict = Verdict.TOO_LITTLE_DATA
    rank = {k: i for i, k in enumerate(ranked, start=1)}
    unranked = sorted(k for k in grid if k not in rank)
    cells = {
        k: Cell(k[0], k[1], len(grid[k]), means[k], rank.get(k), tuple(in_slots.get(k, ())))
        for k in grid
    }
    return AccountTimes(
        account=name,
        network=network,
        posts=len(figures),
        rated=len(rated),
        verdict=verdict,
        cells=tuple(cells[k] for k in [*ranked, *unranked]),
        slots=tuple(SlotPlace(t, d, h, cells.get((d, h))) for t, d, h in placed),
    )


def best_times(
    deliveries: Iterable[PublishedLike],
    snapshots: Iterable[SnapshotLike],
    networks: Mapping[str, str],
    slots: Mapping[str, Sequence[Slot]],
    *,
    since: datetime,
    until: datetime,
    zone: ZoneInfo,
    now: datetime,
    age: timedelta | None = None,
    age_label: str | None = None,
) -> BestTimes:
    """Rank each account's weekday × hour cells; ``networks`` names the accounts to rank."""
    accounts = sorted(networks)
    posts = [
        d for d in published_posts(deliveries, accounts) if since <= (d.published_at or now) < until
    ]
    snaps = by_delivery(snapshots)
    chosen = choose_age(posts, snaps, now, age, age_label)
    figures: dict[str, list[PostFigures]] = defaultdict(list)
    for d in posts:
        figures[d.account].append(figures_at(d, snaps.get(d.id, ()), chosen, now))
    return BestTimes(
        since=since,
        until=until,
        now=now,
        zone=zone,
        age=chosen,
        accounts=tuple(
            _account(n, networks[n], figures.get(n, []), slots.get(n, ()), zone) for n in accounts
        ),
    )


def verdict_text(acc: AccountTimes, age: Age) -> str:
    """The account's answer in one sentence, said plainly."""
    at = f"at {age.label}" if age.label else "(no snapshot in the ledger)"
    best = acc.best
    if acc.rated < MIN_POSTS:
        return (
            f"too little data to tell: {acc.rated} post(s) with engagement {at}, "
            f"at least {MIN_POSTS} needed (and {MIN_CELL} in an hour to rank it)"
        )
    if best is None:
        return f"too little data to tell: no hour holds {MIN_CELL} posts with engagement {at}"
    where = f"{DAYS[best.weekday]} {best.hour:02d}:00"
    slot = f", one of your slots ({', '.join(best.slots)})" if best.slots else ", not a slot"
    return (
        f"best: {where}, {best.mean:.1f} interactions per post {at} over {best.posts} posts{slot}"
    )


# --------------------------------------------------------------------------- serialization


def _cell_json(c: Cell) -> dict[str, Any]:
    return {
        "weekday": DAYS[c.weekday],
        "hour": c.hour,
        "posts": c.posts,
        "mean_interactions": round(c.mean, 3),
        "rank": c.rank,
        "slots": list(c.slots),
    }


def report_json(report: BestTimes) -> dict[str, Any]:
    z = report.zone
    return {
        "schema": SCHEMA_VERSION,
        "generated_at": report.now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "timezone": z.key,
        "window": {
            "since": report.since.astimezone(z).isoformat(),
            "until": report.until.astimezone(z).isoformat(),
        },
        "age": age_json(report.age),
        "min_cell_posts": MIN_CELL,
        "min_posts": MIN_POSTS,
        "accounts": [
            {
                "account": a.account,
                "network": a.network,
                "posts": a.posts,
                "rated": a.rated,
                "verdict": a.verdict.value,
                "summary": verdict_text(a, report.age),
                "cells": [_cell_json(c) for c in a.cells],
                "slots": [
                    {
                        "slot": s.slot,
                        "weekday": DAYS[s.weekday],
                        "hour": s.hour,
                        "posts": 0 if s.cell is None else s.cell.posts,
                        "mean_interactions": None if s.cell is None else round(s.cell.mean, 3),
                        "rank": None if s.cell is None else s.cell.rank,
                    }
                    for s in a.slots
                ],
            }
            for a in report.accounts
        ],
    }


def csv_rows(report: BestTimes) -> list[list[str]]:
    """One line per account × cell (ranked first), in the ``CSV_HEADER`` columns."""
    out = []
    for a in report.accounts:
        for c in a.cells:
            out.append(
                [
                    a.account,
                    a.network,
                    report.age.label or "",
                    a.verdict.value,
                    DAYS[c.weekday],
                    str(c.hour),
                    str(c.posts),
                    f"{round(c.mean, 3):g}",
                    "" if c.rank is None else str(c.rank),
                    "; ".join(c.slots),
                ]
            )
    return out
