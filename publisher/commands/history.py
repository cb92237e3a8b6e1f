"""``publisher history``: the attempt ledger, one line per attempt, newest last; with
``--post``, that post's engagement across its snapshots too.

The ledger is shown as recorded, dry-run attempts included (their outcome says so): it is a
record, not a count. Times select on when an attempt finished.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from publisher.commands.common import (
    EXIT_OK,
    UserError,
    check_accounts,
    database_exists,
    load,
    open_store,
    parse_when,
)

if TYPE_CHECKING:  # the config and the store load in main: ``--help`` imports this module
    from publisher.store.models import AttemptRow
    from publisher.store.records import Snapshot

SCHEMA_VERSION = 1


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "history",
        help="every attempt in the ledger: when, what, where, how it ended",
        description="Every attempt in the ledger, newest last. See docs/audit.md.",
    )
    common(p)
    p.add_argument("--account", metavar="A", help="only this account")
    p.add_argument(
        "--post", metavar="ID", help="only this post, and its engagement across its snapshots"
    )
    p.add_argument("--since", metavar="T", help="attempts that finished at or after T")
    p.add_argument("--until", metavar="T", help="attempts that finished before T")
    p.add_argument("--json", action="store_true", help="machine-readable output (docs/audit.md)")
    p.set_defaults(handler=main)


def _utc(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def attempt_json(a: AttemptRow, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "id": a.id,
        "delivery_id": a.delivery_id,
        "post": a.post_id,
        "account": a.account,
        "network": a.network,
        "number": a.number,
        "started_at": _utc(a.started_at),
        "finished_at": _utc(a.finished_at),
        "finished_local": a.finished_at.astimezone(zone).isoformat(),
        "outcome": a.outcome,
        "status_code": a.status_code,
        "error": a.error,
        "remote_id": a.remote_id,
        "remote_url": a.remote_url,
    }


def format_table(rows: list[AttemptRow], zone: ZoneInfo) -> str:
    if not rows:
        return "no attempts"
    header = ["time", "post", "account", "network", "#", "outcome", "status", "url", "error"]
    right = {4, 6}
    table = [header] + [
        [
            a.finished_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z"),
            a.post_id,
            a.account,
            a.network,
            str(a.number),
            a.outcome,
            "-" if a.status_code is None else str(a.status_code),
            a.remote_url or "-",
            " ".join((a.error or "").split()) or "-",
        ]
        for a in rows
    ]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in table
    )


def snapshot_json(s: Snapshot, zone: ZoneInfo) -> dict[str, Any]:
    from publisher.engagement_report import METRICS, interactions

    counts = dict(s.counts)
    return {
        "delivery_id": s.delivery_id,
        "post": s.post_id,
        "account": s.account,
        "network": s.network,
        "age": s.age_label,
        "age_s": round(s.age.total_seconds()),
        "taken_at": _utc(s.taken_at),
        "taken_local": s.taken_at.astimezone(zone).isoformat(),
        "outcome": "gone" if s.gone else "taken",
        **{m: counts.get(m) for m in METRICS},
        "interactions": None if s.gone else interactions(counts, s.unavailable),
        "unavailable": list(s.unavailable),
        "other": {k: v for k, v in sorted({**counts, **s.extra}.items()) if k not in METRICS},
    }


def format_snapshots(snapshots: list[Snapshot], post: str, zone: ZoneInfo) -> str:
    """One line per snapshot, oldest first; ``?`` a figure the network did not give."""
    from publisher.engagement_report import METRICS

    if not snapshots:
        return f"no engagement snapshot of post {post}"
    header = ["taken", "account", "network", "age", *METRICS, "interactions", "other"]
    table = [header]
    for s in snapshots:
        doc = snapshot_json(s, zone)
        if s.gone:
            figures = ["gone", *([""] * len(METRICS))]
        else:
            figures = ["?" if doc[m] is None else str(doc[m]) for m in (*METRICS, "interactions")]
        other = " ".join(f"{k}={v}" for k, v in doc["other"].items()) or "-"
        table.append(
            [
                s.taken_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"),
                s.account,
                s.network,
                s.age_label,
                *figures,
                other,
            ]
        )
    left = {0, 1, 2, len(header) - 1}
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in table
    ]
    return "\n".join([f"engagement of post {post} (? not reported by the network):", *lines])


async def main(args: argparse.Namespace) -> int:
    from publisher.config import SecretPolicy

    config = load(args.config, SecretPolicy.WARN)
    zone = config.timezone
    since = parse_when(args.since, zone) if args.since else None
    until = parse_when(args.until, zone) if args.until else None
    if since is not None and until is not None and since >= until:
        raise UserError("the window is empty: --since is not before --until")
    if not database_exists(config):
        raise UserError(f"no database yet at {config.database_url}: run `publisher run` first")
    store = await open_store(config, readonly=True)
    try:
        if args.account is not None:
            in_store = {account for account, _state in await store.count_by_account_state()}
            check_accounts([args.account], set(config.accounts) | in_store)
        rows = await store.attempts(
            account=args.account, post_id=args.post, since=since, until=until
        )
        snapshots = await store.snapshots_of_post(args.post) if args.post is not None else []
    finally:
        await store.close()
    snapshots = [
        s
        for s in snapshots
        if (args.account is None or s.account == args.account)
        and (since is None or s.taken_at >= since)
        and (until is None or s.taken_at < until)
    ]
    if args.json:
        doc: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "timezone": zone.key,
            "attempts": [attempt_json(a, zone) for a in rows],
        }
        if args.post is not None:
            doc["snapshots"] = [snapshot_json(s, zone) for s in snapshots]
        print(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        print(format_table(rows, zone))
        if args.post is not None:
            print()
            print(format_snapshots(snapshots, args.post, zone))
    return EXIT_OK
