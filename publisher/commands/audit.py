"""``publisher audit``: posting frequency per account and network against targets.

Reads the store only. The numbers come from ``publisher.audit`` (pure); this module picks
the window, loads the rows and prints them as a table, CSV or JSON (docs/audit.md).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from publisher.audit import (
    ANY,
    AccountTarget,
    AuditReport,
    By,
    Group,
    Row,
    Scope,
    audit,
    csv_header,
    csv_rows,
    default_window,
    local_midnight,
    report_json,
)
from publisher.commands.common import (
    EXIT_OK,
    UserError,
    check_accounts,
    database_exists,
    fmt_local,
    load,
    open_store,
    parse_when,
)
from publisher.inbox_report import InboxReport, InboxRow, inbox_report
from publisher.inbox_report import report_json as inbox_json

if TYPE_CHECKING:  # the config loads in main: ``--help`` imports this module
    from publisher.config import Config
    from publisher.store.inbox import InboxItem
    from publisher.store.models import AttemptRow
    from publisher.store.records import Delivery, FollowerCount, Snapshot

MAX_PERIODS = 5000  # rows per account: 96 years of weeks, 13 of days
HISTORY_START = datetime(1970, 1, 1, tzinfo=UTC)  # --best-times with no window: everything


def _chart_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() not in (".png", ".svg"):
        raise argparse.ArgumentTypeError(f"{text}: the chart file must end in .png or .svg")
    return path


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "audit",
        help="posting frequency per account and network against targets; lateness; failures",
        description="Posting frequency per account and network against targets, lateness, "
        "failures; with --engagement, what the posts earned; with --best-times, when they do "
        "best. Default window: the last 4 complete local weeks. See docs/audit.md.",
    )
    common(p)
    p.add_argument(
        "--since", metavar="T", help="window start: a local date or time, or ISO 8601 with offset"
    )
    p.add_argument("--until", metavar="T", help="window end, excluded (default: see docs)")
    p.add_argument(
        "--by",
        choices=[b.value for b in By],
        default=By.WEEK.value,
        help="one row per local day or ISO week (default: week)",
    )
    p.add_argument(
        "--group",
        choices=["account", "file"],
        default="account",
        help='rows per account, or per queue file: with queue = "queue.d/*.yaml", one file '
        "per team (default: account)",
    )
    p.add_argument(
        "--account", action="append", default=[], metavar="A", help="only this account (repeatable)"
    )
    p.add_argument(
        "--network",
        action="append",
        default=[],
        metavar="N",
        help="only this network's accounts (repeatable)",
    )
    p.add_argument(
        "--format",
        choices=["table", "csv", "json"],
        default="table",
        help="output format (csv and json: stable, see docs/audit.md)",
    )
    p.add_argument(
        "--chart",
        type=_chart_path,
        metavar="FILE",
        help="also draw posts per period per network to FILE.png or FILE.svg "
        "(with --engagement: and an engagement panel)",
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument(
        "--engagement",
        action="store_true",
        help="what the posts earned per account and period: likes, reposts, replies, quotes, "
        "impressions, per post and per 1,000 followers, best and worst posts",
    )
    what.add_argument(
        "--best-times",
        action="store_true",
        help="rank weekday and hour by the engagement of the account's own posts, against its "
        "slots (default window: all history)",
    )
    p.add_argument(
        "--age",
        type=_age,
        metavar="DURATION",
        help="the snapshot age every engagement figure is read at, e.g. 24h "
        "(default: the largest age every post of the window has reached)",
    )
    p.set_defaults(handler=main)


def _age(text: str) -> tuple[timedelta, str]:
    from publisher.durations import parse_duration

    try:
        value = parse_duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if value <= timedelta(0):
        raise argparse.ArgumentTypeError(f"{text!r}: the age must be above 0")
    return value, text.strip()


def window(
    since_text: str | None, until_text: str | None, zone: ZoneInfo, now: datetime
) -> tuple[datetime, datetime]:
    """Neither bound: the last 4 complete weeks. Only ``--since``: up to now. Only
    ``--until``: the 4 weeks before it."""
    since = parse_when(since_text, zone) if since_text else None
    until = parse_when(until_text, zone) if until_text else None
    if since is None and until is None:
        return default_window(now, zone)
    if until is None:
        assert since is not None
        until = now
    if since is None:
        since = local_midnight(until.astimezone(zone).date() - timedelta(weeks=4), zone)
    if since >= until:
        raise UserError(
            f"the window is empty: --since {fmt_local(since, zone)} is not before "
            f"--until {fmt_local(until, zone)}"
        )
    return since, until


def check_span(since: datetime, until: datetime, by: By) -> None:
    """A window of centuries is a typo, not an audit: its table would never end."""
    step = timedelta(days=1) if by is By.DAY else timedelta(weeks=1)
    count = (until - since) // step
    if count > MAX_PERIODS:
        raise UserError(
            f"the window holds {count:,} {by.value}s; an audit shows at most {MAX_PERIODS:,}: "
            "narrow --since/--until" + (" or use --by week" if by is By.DAY else "")
        )


def targets(config: Config) -> dict[str, AccountTarget]:
    return {
        name: AccountTarget(name, acc.network, acc.target_per_week)
        for name, acc in config.accounts.items()
    }


@dataclass(frozen=True)
class Ledger:
    """What an audit reads of the store (the web view's audit page too)."""

    deliveries: list[Delivery]
    attempts: list[AttemptRow]
    snapshots: list[Snapshot]
    followers: list[FollowerCount]
    items: list[InboxItem] = field(default_factory=list)  # the inbox's, with ``inbox``


async def read_ledger(
    config: Config,
    *,
    engagement_since: datetime | None,
    inbox: tuple[datetime, datetime] | None = None,
) -> Ledger:
    """The deliveries and attempts; with ``engagement_since``, the snapshots taken since then
    and the follower counts; with ``inbox`` (a window), the inbox items received in it.
    UserError when there is no store yet."""
    if not database_exists(config):
        raise UserError(f"no database yet at {config.database_url}: run `publisher run` first")
    store = await open_store(config, readonly=True)
    try:
        deliveries = await store.all_deliveries()
        attempts = await store.attempts()
        snapshots: list[Snapshot] = []
        followers: list[FollowerCount] = []
        items: list[InboxItem] = []
        if engagement_since is not None:
            snapshots = await store.snapshots(since=engagement_since)
            followers = await store.follower_counts()
        if inbox is not None:
            items = await store.inbox_items(since=inbox[0], until=inbox[1])
    finally:
        await store.close()
    return Ledger(deliveries, attempts, snapshots, followers, items)


async def main(args: argparse.Namespace) -> int:
    from publisher.clock import SystemClock
    from publisher.config import SecretPolicy

    config = load(args.config, SecretPolicy.WARN)
    zone = config.timezone
    if args.chart is not None:
        from publisher.chart import ChartUnavailableError, check_available

        try:
            check_available()
        except ChartUnavailableError as err:
            raise UserError(str(err)) from None
    if args.chart is not None and args.best_times:
        raise UserError(
            "--chart draws the posting audit (and its engagement panel), not --best-times"
        )
    if args.age is not None and not (args.engagement or args.best_times):
        raise UserError("--age chooses the snapshot age of --engagement or --best-times")
    now = SystemClock().now()
    if args.best_times and args.since is None and args.until is None:
        since, until = HISTORY_START, now  # every post so far
    else:
        since, until = window(args.since, args.until, zone, now)
        if not args.best_times:
            check_span(since, until, By(args.by))
    ledger = await read_ledger(
        config,
        engagement_since=since if args.engagement or args.best_times else None,
        inbox=None if args.best_times else (since, until),
    )
    deliveries, attempts = ledger.deliveries, ledger.attempts
    snapshots, followers, items = ledger.snapshots, ledger.followers, ledger.items
    known = set(config.accounts) | {d.account for d in deliveries} | {i.account for i in items}
    check_accounts(args.account, known)
    if args.best_times:
        from publisher.commands.engagement import show_best_times

        show_best_times(config, args, deliveries, snapshots, since=since, until=until, now=now)
        return EXIT_OK

    def posting(files: str | None) -> AuditReport:
        return audit(
            deliveries,
            attempts,
            targets(config),
            since=since,
            until=until,
            zone=zone,
            now=now,
            by=By(args.by),
            files=files,
            accounts=args.account,
            networks=args.network,
        )

    report = posting(config.queue_path.name if args.group == "file" else None)
    # The inbox is an account's, whatever the posting rows are per (--group file): beside
    # each account's own posting figures.
    per_account = report if report.group is Group.ACCOUNT else posting(None)
    inbox = _inbox(config, per_account, items, args)
    earned = None
    if args.engagement:
        from publisher.commands.engagement import write
        from publisher.engagement_report import engagement
        from publisher.engagement_report import report_json as engagement_json

        age, age_label = args.age if args.age is not None else (None, None)
        off = [name for name, acc in config.accounts.items() if not acc.engagement]
        earned = engagement(
            report, deliveries, snapshots, followers, age=age, age_label=age_label, uncollected=off
        )
        if args.format == "json":
            _print_json(engagement_json(earned), inbox)
        else:
            write(earned, args.format)
    elif args.format == "json":
        _print_json(report_json(report), inbox)
    elif args.format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(csv_header(report))
        writer.writerows(csv_rows(report))
    else:
        print(format_table(report))
    if args.format == "table" and inbox.accounts:
        print()
        print(format_inbox(inbox))
    if args.chart is not None:
        from publisher.chart import render

        try:
            render(report, args.chart, earned, inbox)
        except OSError as err:
            raise UserError(f"cannot write the chart to {args.chart}: {err.strerror}") from None
        print(f"chart written to {args.chart}", file=sys.stderr)
    return EXIT_OK


def _print_json(doc: dict[str, Any], inbox: InboxReport) -> None:
    """The posting or engagement document, with the inbox section beside."""
    doc["inbox"] = inbox_json(inbox)
    print(json.dumps(doc, ensure_ascii=False, indent=2))


def _inbox(
    config: Config, report: AuditReport, items: Sequence[InboxItem], args: argparse.Namespace
) -> InboxReport:
    listening = [name for name, acc in config.accounts.items() if acc.listen]
    return inbox_report(report, items, listening, accounts=args.account, networks=args.network)


# ------------------------------------------------------------------------------- the table


def human(delta: timedelta | None) -> str:
    """The two largest units: a table is read at a glance ("2d15h", "1h05m", "3m20s")."""
    if delta is None:
        return "-"
    seconds = round(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    if d:
        text = f"{d}d{h}h" if h else f"{d}d"
    elif h:
        text = f"{h}h{m:02d}m"
    elif m:
        text = f"{m}m{s:02d}s"
    else:
        text = f"{s}s"
    return sign + text


def _num(value: float | None, fmt: str = "{:g}") -> str:
    return "-" if value is None else fmt.format(round(value, 2))


def _mark(row: Row) -> str:
    if row.met is None:
        return ""
    if row.met:
        return "✓"
    return "✗" if row.complete else "…"


COLUMNS: Sequence[tuple[str, bool]] = (  # (title, right-aligned)
    ("account", False),
    ("network", False),
    ("period", False),
    ("posts", True),
    ("target", True),
    ("", False),
    ("diff", True),
    ("ratio", True),
    ("longest silence", True),
    ("shortest gap", True),
    ("late p50", True),
    ("p95", True),
    ("max", True),
    ("failed", True),
    ("missed", True),
    ("canceled", True),
    ("retries/post", True),
)


def _signed(value: float | None) -> str:
    if value is None:
        return "-"
    value = round(value, 2)
    return "0" if value == 0 else f"{value:+g}"


def _cells(row: Row) -> list[str]:
    return [
        row.file if row.file is not None else row.account if row.scope is Scope.ACCOUNT else ANY,
        row.network,
        row.period,
        str(row.published),
        _num(row.target),
        _mark(row),
        _signed(row.difference),
        "-" if row.ratio is None else f"{row.ratio * 100:.0f}%",
        human(row.longest_silence),
        human(row.shortest_interval),
        human(row.lateness_p50),
        human(row.lateness_p95),
        human(row.lateness_max),
        str(row.failed),
        str(row.missed),
        str(row.canceled),
        _num(row.retries_per_delivery),
    ]


def _align(table: list[list[str]], columns: Sequence[tuple[str, bool]] = COLUMNS) -> list[str]:
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    lines = []
    for r in table:
        cells = [
            c.rjust(w) if right else c.ljust(w)
            for c, w, (_, right) in zip(r, widths, columns, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def format_table(report: AuditReport) -> str:
    z = report.zone
    n = len(report.periods)
    unit = report.by.value + ("s" if n != 1 else "")
    out = [
        f"audit {fmt_local(report.since, z)} → {fmt_local(report.until, z)} "
        f"({n} {unit}, {z.key}); dry runs excluded",
    ]
    if not report.accounts:
        out.append("no accounts to audit")
        return "\n".join(out)
    header = [title for title, _ in COLUMNS]
    if report.group is Group.FILE:
        header[0] = "file"
    body = [_cells(r) for r in report.rows]
    totals = [_cells(r) for r in report.totals]
    lines = _align([header, *body, *totals])
    rule = "─" * max(len(line) for line in lines)
    out += [lines[0], rule, *lines[1 : 1 + len(body)], rule, *lines[1 + len(body) :]]
    per = " / 7 per day" if report.by is By.DAY else ""
    out.append(
        f"✓ target met, ✗ missed, … period not over yet. Targets: target_per_week{per}, "
        "prorated for partial periods."
    )
    failing = [r for r in report.rows if r.failures]
    if failing:
        out.append("")
        out.append("failures by reason:")
        for r in failing:
            for reason, count in r.failures:
                out.append(f"  {r.account}  {r.period}  {count}×  {reason}")
    return "\n".join(out)


# ------------------------------------------------------------------------ the inbox section

INBOX_COLUMNS: Sequence[tuple[str, bool]] = (
    ("account", False),
    ("network", False),
    ("period", False),
    ("posts", True),
    ("received", True),
    ("answered", True),
    ("share", True),
    ("median answer", True),
    ("by hand", True),
    ("ignored", True),
    ("open", True),
    ("watched", True),
)


def _inbox_cells(row: InboxRow) -> list[str]:
    share = row.share_answered
    return [
        row.account,
        row.network,
        row.period,
        str(row.published),
        str(row.received),
        str(row.answered),
        "-" if share is None else f"{share * 100:.0f}%",
        human(row.median_answer),
        str(row.handled),
        str(row.ignored),
        str(row.open),
        str(row.watched),
    ]


def format_inbox(report: InboxReport) -> str:
    """The inbox section below the posting table: one line per account and period."""
    out = ["inbox: what was said to each account, by the period we received it"]
    header = [title for title, _ in INBOX_COLUMNS]
    body = [_inbox_cells(r) for r in report.rows]
    totals = [_inbox_cells(r) for r in report.totals]
    lines = _align([header, *body, *totals], INBOX_COLUMNS)
    rule = "─" * max(len(line) for line in lines)
    out += [lines[0], rule, *lines[1 : 1 + len(body)], rule, *lines[1 + len(body) :]]
    out.append(
        "share: answered / (received - ignored); median answer: from received to our reply "
        "published (nearest rank); by hand: marked handled without our reply; watched: found "
        "by a watch, not counted in the rest."
    )
    return "\n".join(out)
