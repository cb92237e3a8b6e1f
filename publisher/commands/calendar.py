"""``publisher calendar --ics``: the plan as an iCalendar file a team subscribes to.

One event per post and time (a post going to several accounts at one instant is one event,
its accounts listed), built from the queue file as ``dry-run`` reads it, with each delivery's
state from the store when there is one. The file is the plan, so the calendar is too: a post
removed from the file leaves the calendar. UIDs are made of the post's id and its time, so a
calendar application that reloads the file updates events instead of doubling them; a post
moved to another time is another event (the old one disappears with the reload).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from publisher.commands.common import (
    EXIT_OK,
    EXIT_USER,
    UserError,
    check_accounts,
)
from publisher.files import write_atomically

if TYPE_CHECKING:  # loaded in main: ``--help`` imports this module
    from publisher.config import Config
    from publisher.schedule import PlannedDelivery
    from publisher.store import PlanEntry

PRODID = "-//publisher//queue calendar//EN"
SUMMARY_CHARS = 60


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "calendar",
        help="write the plan as an iCalendar (.ics) file: one event per post and time",
        description="The plan as an iCalendar file, for any calendar application. "
        "See docs/editors.md.",
    )
    common(p)
    p.add_argument("--ics", action="store_true", required=True, help="iCalendar output (RFC 5545)")
    p.add_argument("--from", dest="start", metavar="T", help="events at or after T")
    p.add_argument("--until", metavar="T", help="events before T")
    p.add_argument("--account", action="append", help="only this account (repeatable)")
    p.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write FILE (replaced whole, atomically) instead of standard output",
    )
    p.set_defaults(handler=main)


@dataclass(frozen=True)
class Event:
    """One post at one instant, on one or more accounts."""

    post_id: str
    at: datetime  # aware UTC
    accounts: tuple[tuple[str, str, str], ...]  # (account, network, state)
    texts: tuple[tuple[str, str], ...]  # (accounts sharing it, the text they publish)
    from_slot: bool

    @property
    def uid(self) -> str:
        return f"{self.post_id}/{self.at.astimezone(UTC):%Y%m%dT%H%M%SZ}@publisher"

    @property
    def summary(self) -> str:
        first = next((line.strip() for t in self.texts for line in t[1].splitlines()), "")
        if len(first) > SUMMARY_CHARS:
            first = first[: SUMMARY_CHARS - 1].rstrip() + "…"
        return first or f"post {self.post_id}"

    @property
    def description(self) -> str:
        lines = [f"Post {self.post_id}" + (" (slot)" if self.from_slot else "")]
        lines += [f"{a} ({n}): {s}" for a, n, s in self.accounts]
        for who, text in self.texts:
            lines += ["", f"— {who}:" if len(self.texts) > 1 else "—", text]
        return "\n".join(lines)


def events(
    planned: Sequence[PlannedDelivery],
    texts: Mapping[tuple[str, str], str],
    states: Mapping[tuple[str, str], str],
) -> list[Event]:
    """Group deliveries by post and instant. ``texts`` and ``states`` are by (post, account);
    a delivery the store does not know yet is "scheduled"."""
    groups: dict[tuple[str, datetime], list[PlannedDelivery]] = {}
    for p in planned:
        groups.setdefault((p.post_id, p.due_at), []).append(p)
    out = []
    for (post_id, at), group in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        group.sort(key=lambda p: p.account)
        by_text: dict[str, list[str]] = {}
        for p in group:
            by_text.setdefault(texts[(post_id, p.account)], []).append(p.account)
        out.append(
            Event(
                post_id=post_id,
                at=at,
                accounts=tuple(
                    (p.account, p.network, states.get((post_id, p.account), "scheduled"))
                    for p in group
                ),
                texts=tuple((", ".join(who), text) for text, who in by_text.items()),
                from_slot=all(p.from_slot for p in group),
            )
        )
    return out


def to_ics(found: Sequence[Event], *, zone: str, now: datetime) -> bytes:
    """The events as an iCalendar document (times in UTC; the team's zone named for
    applications that show it)."""
    from icalendar import Calendar
    from icalendar import Event as IcsEvent

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "publisher plan")
    cal.add("x-wr-timezone", zone)
    for e in found:
        ev = IcsEvent()
        ev.add("uid", e.uid)
        ev.add("dtstamp", now.astimezone(UTC))
        ev.add("dtstart", e.at.astimezone(UTC))
        ev.add("summary", e.summary)
        ev.add("description", e.description)
        ev.add("categories", sorted({n for _, n, _ in e.accounts}))
        ev.add("x-publisher-post-id", e.post_id)
        ev.add("x-publisher-accounts", ",".join(a for a, _, _ in e.accounts))
        cancelled = all(s in ("canceled", "skipped") for _, _, s in e.accounts)
        ev.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        cal.add_component(ev)
    data: bytes = cal.to_ical()
    return data


async def main(args: argparse.Namespace) -> int:
    from publisher.clock import SystemClock
    from publisher.commands.common import load, parse_when, print_diagnostics
    from publisher.commands.plan import current_plan
    from publisher.config import SecretPolicy
    from publisher.diagnostics import InvalidFileError

    config = load(args.config, SecretPolicy.WARN)
    check_accounts(args.account or (), config.accounts)
    now = SystemClock().now()
    start = parse_when(args.start, config.timezone) if args.start else None
    until = parse_when(args.until, config.timezone) if args.until else None
    try:
        view = await current_plan(config, now)
    except InvalidFileError as err:
        print_diagnostics(err)
        return EXIT_USER
    selected = [
        p
        for p in view.planned
        if (start is None or p.due_at >= start)
        and (until is None or p.due_at < until)
        and (not args.account or p.account in args.account)
    ]
    data = to_ics(
        events(selected, texts_for(config, view.queue.posts, selected), states_of(view.index)),
        zone=str(config.timezone),
        now=now,
    )
    if args.output:
        target = Path(args.output)
        try:
            write_atomically(target, data)
        except OSError as err:
            raise UserError(f"cannot write {target}: {err.strerror or err}") from None
    else:
        sys.stdout.buffer.write(data)
    return EXIT_OK


def texts_for(
    config: Config, posts: Sequence[Any], planned: Sequence[PlannedDelivery]
) -> dict[tuple[str, str], str]:
    """What each (post, account) publishes, as written for that account."""
    by_id = {p.id: p for p in posts}
    return {
        (p.post_id, p.account): by_id[p.post_id].content_for(config.accounts[p.account]).text
        for p in planned
    }


def states_of(index: Mapping[tuple[str, str], PlanEntry]) -> dict[tuple[str, str], str]:
    """Each (post, account)'s state in the store: the calendar and the web view show it."""
    return {key: entry.state.value for key, entry in index.items()}
