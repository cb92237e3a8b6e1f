"""``publisher audit --engagement`` and ``--best-times``: what the posts earned, as text.

The numbers come from ``publisher.engagement_report`` and ``publisher.best_times`` (pure);
this module prints them as a table, CSV or JSON (docs/audit.md). ``publisher.commands.audit``
loads the store and calls in here.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

from publisher.best_times import CSV_HEADER as TIMES_CSV_HEADER
from publisher.best_times import BestTimes, Verdict, best_times, verdict_text
from publisher.best_times import csv_rows as times_csv_rows
from publisher.best_times import report_json as times_json
from publisher.commands.common import fmt_local
from publisher.engagement_report import (
    CSV_HEADER,
    AgeRule,
    EngagementReport,
    EngagementRow,
    PostFigures,
    PublishedLike,
    SnapshotLike,
    Status,
    csv_rows,
    report_json,
)
from publisher.slots import DAYS

if TYPE_CHECKING:  # loaded by the caller
    from publisher.config import Config

UNKNOWN = "?"
SHOWN_METRICS = ("likes", "reposts", "replies", "quotes", "impressions")


def write(report: EngagementReport | BestTimes, fmt: str, out: TextIO | None = None) -> None:
    """Print either report in the chosen format (to standard output unless ``out``)."""
    out = sys.stdout if out is None else out
    if fmt == "json":
        doc = report_json(report) if isinstance(report, EngagementReport) else times_json(report)
        print(json.dumps(doc, ensure_ascii=False, indent=2), file=out)
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        if isinstance(report, EngagementReport):
            writer.writerow(CSV_HEADER)
            writer.writerows(csv_rows(report))
        else:
            writer.writerow(TIMES_CSV_HEADER)
            writer.writerows(times_csv_rows(report))
    elif isinstance(report, EngagementReport):
        print(format_table(report), file=out)
    else:
        print(format_times(report), file=out)


def show_best_times(
    config: Config,
    args: argparse.Namespace,
    deliveries: Sequence[PublishedLike],
    snapshots: Sequence[SnapshotLike],
    *,
    since: datetime,
    until: datetime,
    now: datetime,
) -> None:
    """``audit --best-times``: the accounts of the config and of the store, filtered."""
    networks = {d.account: d.network for d in deliveries}
    networks.update({name: acc.network for name, acc in config.accounts.items()})
    chosen = {
        name: net
        for name, net in networks.items()
        if (not args.account or name in args.account) and (not args.network or net in args.network)
    }
    age, label = args.age if args.age is not None else (None, None)
    report = best_times(
        deliveries,
        snapshots,
        chosen,
        {name: acc.slots for name, acc in config.accounts.items()},
        since=since,
        until=until,
        zone=config.timezone,
        now=now,
        age=age,
        age_label=label,
    )
    write(report, args.format)


def _age_line(report: EngagementReport) -> str:
    age = report.age
    held = ", ".join(report.ages) or "none"
    why = {
        AgeRule.ASKED: "asked with --age",
        AgeRule.ALL_REACHED: "the largest age every post of the window has reached",
        AgeRule.LARGEST: "no age is reached by every post yet: the largest in the ledger",
        AgeRule.NONE: "the ledger holds no engagement snapshot",
    }[age.rule]
    shown = age.label or "none"
    return f"every figure is read at snapshot age {shown} ({why}; ages held: {held})"


def _int(value: int | None) -> str:
    return UNKNOWN if value is None else str(value)


def _rate(value: float | None) -> str:
    return UNKNOWN if value is None else f"{value:.2f}"


def _post(p: PostFigures | None) -> str:
    return "-" if p is None else f"{p.post_id} ({p.interactions})"


def _mark(row: EngagementRow) -> str:
    if row.met is None:
        return ""
    if row.met:
        return "✓"
    return "✗" if row.complete else "…"


def _not_measured(row: EngagementRow) -> str:
    parts = [
        f"{row.statuses[s]} {s.value}"
        for s in (Status.PENDING, Status.MISSING, Status.GONE)
        if row.statuses[s]
    ]
    return ", ".join(parts) or "-"


HEADER = (
    "account",
    "network",
    "period",
    "posts",
    "target",
    "",
    "measured",
    *SHOWN_METRICS,
    "per post",
    "per 1k fol.",
    "followers",
    "best",
    "worst",
    "not measured",
)
LEFT = {0, 1, 2, 5, 15, 16, 17}


def _cells(row: EngagementRow, report: EngagementReport) -> list[str]:
    z = report.posting.zone
    followers = "-"
    if row.followers is not None and row.followers_at is not None:
        followers = f"{row.followers} ({row.followers_at.astimezone(z):%m-%d})"
    return [
        row.account,
        row.network,
        row.period,
        str(row.posts),
        "-" if row.target is None else f"{round(row.target, 2):g}",
        _mark(row),
        str(row.statuses[Status.MEASURED]),
        *(_int(row.figures[m]) for m in SHOWN_METRICS),
        _rate(row.per_post),
        _rate(row.per_1000_followers),
        followers,
        _post(row.best),
        _post(row.worst),
        _not_measured(row),
    ]


def _align(table: Sequence[Sequence[str]], left: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    return [
        "  ".join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in table
    ]


def format_table(report: EngagementReport) -> str:
    posting = report.posting
    z = posting.zone
    n = len(posting.periods)
    unit = posting.by.value + ("s" if n != 1 else "")
    out = [
        f"engagement {fmt_local(posting.since, z)} → {fmt_local(posting.until, z)} "
        f"({n} {unit}, {z.key}); dry runs excluded",
        _age_line(report),
    ]
    if not posting.accounts:
        out.append("no accounts to audit")
        return "\n".join(out)
    lines = _align([HEADER, *(_cells(r, report) for r in report.rows)], LEFT)
    rule = "─" * max(len(line) for line in lines)
    out += [lines[0], rule, *lines[1:]]
    out.append(
        "Figures sum the measured posts; ? unknown (a post did not report it), never 0. "
        "per post: interactions (likes+reposts+replies+quotes) per post that reported them; "
        "per 1k fol.: "
        "per post per 1,000 followers, counted on the date shown (nearest the period's end). "
        "best/worst: post (interactions)."
    )
    if report.uncollected:
        out.append(
            f"Not collected (engagement = false, or off by default for the network): "
            f"{', '.join(report.uncollected)}; their posts stay missing."
        )
    return "\n".join(out)


def format_times(report: BestTimes) -> str:
    z = report.zone
    label = report.age.label or "none"
    out = [
        f"best times {fmt_local(report.since, z)} → {fmt_local(report.until, z)} ({z.key}); "
        f"interactions per post at snapshot age {label}; dry runs excluded",
    ]
    if not report.accounts:
        out.append("no accounts to audit")
        return "\n".join(out)
    for acc in report.accounts:
        out.append("")
        out.append(
            f"{acc.account} ({acc.network}): {acc.posts} posts, {acc.rated} with engagement. "
            + verdict_text(acc, report.age)
        )
        if acc.cells:
            table = [["rank", "when", "posts", "per post", "slot"]]
            for c in acc.cells:
                table.append(
                    [
                        "-" if c.rank is None else str(c.rank),
                        f"{DAYS[c.weekday]} {c.hour:02d}:00",
                        str(c.posts),
                        f"{c.mean:.1f}",
                        ", ".join(c.slots) or "-",
                    ]
                )
            out += ["  " + line for line in _align(table, {1, 4})]
        for s in acc.slots:
            if s.cell is None:
                out.append(f"  slot {s.slot} on {DAYS[s.weekday]}: no post with engagement then")
            elif s.cell.rank is None:
                out.append(
                    f"  slot {s.slot} on {DAYS[s.weekday]}: {s.cell.posts} post(s), "
                    f"{s.cell.mean:.1f} per post, not ranked (too little data)"
                )
            else:
                out.append(
                    f"  slot {s.slot} on {DAYS[s.weekday]}: rank {s.cell.rank} of "
                    f"{sum(1 for c in acc.cells if c.rank is not None)}, "
                    f"{s.cell.mean:.1f} per post over {s.cell.posts} posts"
                )
        if acc.verdict is Verdict.TOO_LITTLE_DATA and not acc.cells:
            out.append("  no post with engagement in the window")
    return "\n".join(out)
