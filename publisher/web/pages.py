"""What each page shows, gathered from the commands' own computations. No page writes.

Every text that reaches a page is either the editors' (the queue file, shown as written, as
``dry-run`` shows it) or made here; what the store recorded from outside (errors, reasons) is
scrubbed of secrets; no server path is ever put in (files are named by their name alone).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from publisher.audit import AuditReport, By, Scope, audit, default_window
from publisher.commands.audit import read_ledger, targets
from publisher.commands.calendar import events, states_of, texts_for
from publisher.commands.common import UserError
from publisher.commands.plan import PlanView, current_plan
from publisher.commands.status import StatusReport, gather, lookup_limit
from publisher.config import Config
from publisher.diagnostics import InvalidFileError
from publisher.engagement_report import EngagementReport, engagement
from publisher.inbox_report import InboxReport, inbox_report
from publisher.secrets import REDACTOR
from publisher.states import DeliveryState
from publisher.store import Delivery
from publisher.web.calendar_model import Grid, Span, caps, grid, parse_anchor
from publisher.web.previews import Card, Problem, cards, placed
from publisher.web.svg import Series, bars


def problems(err: InvalidFileError) -> list[Problem]:
    return [placed(d) for d in err.diagnostics]


async def plan(config: Config, now: datetime) -> PlanView | list[Problem]:
    """The plan as the file describes it now, or why the file cannot be read."""
    try:
        return await current_plan(config, now)
    except InvalidFileError as err:
        return problems(err)


async def calendar(
    config: Config, now: datetime, span: str | None, at: str | None
) -> dict[str, Any]:
    zone = config.timezone
    chosen = Span.MONTH if span == Span.MONTH.value else Span.WEEK
    anchor = parse_anchor(at, now.astimezone(zone).date())
    view = await plan(config, now)
    if isinstance(view, list):
        return {"problems": view, "zone": str(zone), "caps": caps(config.accounts)}
    found = events(
        view.planned, texts_for(config, view.queue.posts, view.planned), states_of(view.index)
    )
    g: Grid = grid(chosen, anchor, found, config.accounts, zone)
    return {
        "grid": g,
        "zone": str(zone),
        "caps": caps(config.accounts),
        "today": now.astimezone(zone).date(),
        "notes": [*view.report.notices, *view.report.choices],
    }


async def preview(config: Config, now: datetime, post_id: str) -> dict[str, Any] | None:
    """None: no such post in the plan."""
    view = await plan(config, now)
    if isinstance(view, list):
        return {"problems": view, "post_id": post_id, "cards": []}
    found: list[Card] = cards(view, config, post_id)
    if not found:
        return None
    return {"post_id": post_id, "cards": found, "zone": str(config.timezone)}


# ------------------------------------------------------------------------------- status

# A section of the status page fed by a function (the inbox summary, issue 20, is one): given
# the config and now, its rows, each a mapping of column to text (the same columns in each).
SectionRows = list[Mapping[str, str]]
Section = Callable[[Config, datetime], Awaitable[SectionRows]]


@dataclass(frozen=True)
class Row:
    id: int
    post: str
    account: str
    network: str
    when: str
    detail: str


@dataclass
class Status:
    zone: str
    unavailable: str = ""  # why the store cannot be read (no server path in it)
    counts: list[tuple[str, int]] = field(default_factory=list)
    failed: list[Row] = field(default_factory=list)
    unknown: list[Row] = field(default_factory=list)
    retrying: list[Row] = field(default_factory=list)
    upcoming: list[Row] = field(default_factory=list)
    held: list[tuple[str, str]] = field(default_factory=list)
    database_problem: bool = False
    last_load: tuple[str, bool, list[str]] | None = None
    sections: list[tuple[str, SectionRows]] = field(default_factory=list)


def _local(when: datetime | None, config: Config) -> str:
    return "-" if when is None else when.astimezone(config.timezone).strftime("%a %d %b %H:%M")


def _row(d: Delivery, config: Config, detail: str) -> Row:
    return Row(
        d.id, d.post_id, d.account, d.network, _local(d.due_at, config), safe(detail, config)
    )


async def status(
    config: Config, now: datetime, sections: Mapping[str, Section] | None = None
) -> Status:
    out = Status(zone=str(config.timezone))
    try:
        report: StatusReport = await gather(config, now)
    except UserError:
        out.unavailable = "no ledger to read yet: the daemon has not run on this queue"
        return out
    out.database_problem = report.problem is not None
    out.counts = [(s.value, report.counts.get(s, 0)) for s in DeliveryState]
    out.failed = [_row(d, config, d.last_error or "") for d in report.failed]
    out.unknown = [
        _row(
            d,
            config,
            " ".join(x for x in (d.reason or d.last_error or "", lookup_limit(d.network)) if x),
        )
        for d in report.unknown
    ]
    out.retrying = [_row(d, config, d.last_error or "") for d in report.retrying]
    out.upcoming = [_row(d, config, "") for d in report.upcoming]
    out.held = [
        (
            a.account,
            safe(
                " ".join(
                    x
                    for x in (
                        a.attention or "rate-limited",
                        a.attention_reason or "",
                        f"until {_local(a.limited_until, config)}" if a.limited_until else "",
                    )
                    if x
                ),
                config,
            ),
        )
        for a in report.held
    ]
    if report.load_state is not None:
        ls = report.load_state
        lines = [] if ls.ok else [safe(x, config) for x in (ls.message or "").splitlines()]
        out.last_load = (_local(ls.loaded_at, config), ls.ok, lines)
    for title, section in (sections or {}).items():
        out.sections.append((title, await section(config, now)))
    return out


def safe(text: str, config: Config) -> str:
    """A line recorded by the daemon: its files by their names alone, secrets scrubbed."""
    for path in sorted(
        {config.queue_path, config.path, config.queue_path.parent, config.base_dir},
        key=lambda p: -len(str(p)),
    ):
        if len(path.parts) > 1:
            text = text.replace(str(path.resolve()), path.name).replace(str(path), path.name)
    return REDACTOR.scrub(text)


# -------------------------------------------------------------------------------- audit


async def audit_page(config: Config, now: datetime) -> dict[str, Any]:
    zone = config.timezone
    since, until = default_window(now, zone)
    since = min(since, now - timedelta(weeks=4))
    try:
        ledger = await read_ledger(config, engagement_since=since, inbox=(since, until))
    except UserError:
        return {"unavailable": "no ledger to read yet: the daemon has not run on this queue"}
    report = audit(
        ledger.deliveries,
        ledger.attempts,
        targets(config),
        since=since,
        until=until,
        zone=zone,
        now=now,
        by=By.WEEK,
    )
    off = [name for name, acc in config.accounts.items() if not acc.engagement]
    earned = engagement(
        report, ledger.deliveries, ledger.snapshots, ledger.followers, uncollected=off
    )
    listening = [name for name, acc in config.accounts.items() if acc.listen]
    heard = inbox_report(report, ledger.items, listening)
    return {
        "inbox": heard,
        "inbox_chart": _inbox_chart(heard),
        "report": report,
        "zone": str(zone),
        "since": since.astimezone(zone).date(),
        "until": (until.astimezone(zone) - timedelta(seconds=1)).date(),
        "frequency": _frequency(report),
        "earned": earned,
        "engagement_chart": _engagement_chart(earned),
        "failures": [r for r in report.totals if r.scope is Scope.ACCOUNT and r.failures],
    }


def _frequency(report: AuditReport) -> list[dict[str, Any]]:
    """One chart per network: its posts per week against its target."""
    labels = [p.label for p in report.periods]
    out = []
    for i, s in enumerate(report.networks):
        target = [s.target * p.fraction if s.target else None for p in report.periods]
        chart = bars(
            f"freq{i}",
            f"{s.network}: posts per week against the target",
            labels,
            [Series("posts", tuple(float(c) for c in s.counts))],
            target,
        )
        out.append(
            {
                "network": s.network,
                "svg": chart,
                "rows": list(zip(labels, s.counts, target, strict=True)),
            }
        )
    return out


def _inbox_chart(heard: InboxReport) -> str:
    labels = [p.label for p in heard.posting.periods]
    series = [
        Series(n.network, tuple(None if v is None else 100 * v for v in n.share))
        for n in heard.networks
    ]
    if not series or all(v is None for s in series for v in s.values):
        return ""
    return bars("inbox", "Share answered (%), per week and network", labels, series)


def _engagement_chart(earned: EngagementReport) -> str:
    labels = [p.label for p in earned.posting.periods]
    series = [Series(n.network, n.per_post) for n in earned.networks]
    if not series or all(v is None for s in series for v in s.values):
        return ""
    return bars("engagement", "Interactions per post, per week and network", labels, series)
