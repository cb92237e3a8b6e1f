"""``publisher status``: next posts, in flight, and what needs a human."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from publisher.adapters.registry import UnknownNetworkError, adapter_class
from publisher.clock import SystemClock
from publisher.commands.common import (
    EXIT_OK,
    UserError,
    database_exists,
    fmt_local,
    load,
    open_store,
)
from publisher.config import Config, SecretPolicy
from publisher.states import DeliveryState
from publisher.store import Delivery, LoadState
from publisher.store.db import is_sqlite

if TYPE_CHECKING:
    from publisher.store.records import AccountState

SCHEMA_VERSION = 1
LOW_SPACE = 1024 * 1024  # bytes free below which a SQLite database is reported as full


def database_problem(url: str) -> str | None:
    """Why the daemon cannot write its SQLite database, as seen from here.

    The daemon records a failed sync in the store for this command to show, which it cannot
    do when the store itself is what fails: a file system mounted read-only (as the kernel
    does after disk errors), or one with no room left. Permissions are not judged: this
    command may run as another user than the daemon.
    """
    if not is_sqlite(url):
        return None
    path = Path(url.split(":///", 1)[1])
    if str(path) == ":memory:":
        return None
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return None
    if st.f_flag & os.ST_RDONLY:
        return (
            f"{path.parent} is on a read-only file system: the daemon can record nothing, "
            "and publishes nothing until it is writable again"
        )
    free = st.f_bavail * st.f_frsize
    if free < LOW_SPACE:
        return (
            f"{path.parent}: {free // 1024} KiB free on its file system: the daemon may be "
            "unable to record its work, and then publishes nothing until there is room"
        )
    return None


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def lookup_limit(network: str) -> str:
    """What the network's lookup cannot settle (``Adapter.lookup_limit``), for an unknown
    delivery: said from the moment it is unknown, before any lookup has run."""
    try:
        return adapter_class(network).lookup_limit
    except (UnknownNetworkError, ImportError, TypeError):
        return ""


def _row(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "post": d.post_id,
        "account": d.account,
        "network": d.network,
        "state": d.state.value,
        "scheduled_at": _iso(d.scheduled_at),
        "due_at": _iso(d.due_at),
        "attempts": d.attempts,
        "reason": d.reason,
        "error": d.last_error,
        "remote_url": d.remote_url,
    }


@dataclass(frozen=True)
class StatusReport:
    """What ``status`` shows (and the web view's status page): read from the store."""

    now: datetime
    problem: str | None  # the database's, as seen from here
    counts: Mapping[DeliveryState, int]
    upcoming: list[Delivery]
    sending: list[Delivery]
    retrying: list[Delivery]
    failed: list[Delivery]
    unknown: list[Delivery]
    load_state: LoadState | None
    held: list[AccountState]  # accounts that need attention or are rate-limited now

    def json(self) -> dict[str, Any]:
        load_state = self.load_state
        return {
            "schema": SCHEMA_VERSION,
            "generated_at": _iso(self.now),
            "database_problem": self.problem,
            "counts": {s.value: self.counts.get(s, 0) for s in DeliveryState},
            "next": [_row(d) for d in self.upcoming],
            "in_flight": [_row(d) for d in self.sending],
            "retrying": [_row(d) for d in self.retrying],
            "needs_human": {
                "failed": [_row(d) for d in self.failed],
                "unknown": [
                    {**_row(d), "lookup_limit": lookup_limit(d.network) or None}
                    for d in self.unknown
                ],
            },
            "accounts": [
                {
                    "account": a.account,
                    "limited_until": _iso(a.limited_until),
                    "attention": a.attention,
                    "reason": a.attention_reason,
                }
                for a in self.held
            ],
            "last_queue_load": None
            if load_state is None
            else {
                "at": _iso(load_state.loaded_at),
                "ok": load_state.ok,
                "message": load_state.message,
                "applied_at": _iso(load_state.applied_at),
            },
        }


async def gather(config: Config, now: datetime) -> StatusReport:
    """The store's view of the deliveries; UserError when there is no store to read."""
    if not database_exists(config):
        raise UserError(f"no database yet at {config.database_url}: run `publisher run` first")
    problem = database_problem(config.database_url)
    try:
        store = await open_store(config, readonly=True)
    except UserError as err:  # one line already: add what the file system tells
        raise type(err)(f"{err}; {problem}" if problem else str(err)) from None
    try:
        accounts = await store.account_states()
        return StatusReport(
            now=now,
            problem=problem,
            counts=await store.count_by_state(),
            upcoming=await store.by_state(DeliveryState.SCHEDULED, limit=10),
            sending=await store.by_state(DeliveryState.SENDING),
            retrying=await store.by_state(DeliveryState.RETRYING),
            failed=await store.by_state(DeliveryState.FAILED),
            unknown=await store.by_state(DeliveryState.UNKNOWN),
            load_state=await store.load_state(),
            held=[
                a
                for a in accounts.values()
                if a.attention or (a.limited_until and a.limited_until > now)
            ],
        )
    finally:
        await store.close()


async def main(args: argparse.Namespace) -> int:
    config = load(args.config, SecretPolicy.WARN)
    report = await gather(config, SystemClock().now())
    doc = report.json()
    problem, load_state = report.problem, report.load_state
    upcoming, sending, retrying = report.upcoming, report.sending, report.retrying
    failed, unknown = report.failed, report.unknown
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return EXIT_OK
    z = config.timezone
    if problem is not None:
        print(f"DATABASE: {problem}")
    print("deliveries: " + ", ".join(f"{k} {v}" for k, v in doc["counts"].items() if v))
    if load_state is not None:
        verdict = "ok" if load_state.ok else "FAILED (the last good plan stays in force)"
        if not load_state.ok and (load_state.message or "").startswith("queue applied"):
            # A queue pattern's files with errors were kept, the others applied.
            verdict = "PARTLY APPLIED (a file with errors keeps its last good plan)"
        print(f"last queue load: {fmt_local(load_state.loaded_at, z)} {verdict}")
        if not load_state.ok and load_state.message:
            for line in load_state.message.splitlines():
                print(f"  {line}")
    sections: list[tuple[str, list[Delivery], Callable[[Delivery], str]]] = [
        ("next", upcoming, lambda d: fmt_local(d.due_at, z)),
        ("in flight", sending, lambda d: f"since {fmt_local(d.updated_at, z)}"),
        (
            "retrying",
            retrying,
            lambda d: f"next attempt {fmt_local(d.due_at, z)}: {d.last_error or ''}",
        ),
        ("FAILED (needs a human)", failed, lambda d: d.last_error or ""),
        (
            "UNKNOWN (needs a human: publisher resolve ID published|resend|drop)",
            unknown,
            lambda d: d.reason or d.last_error or "",
        ),
    ]
    for title, rows, detail in sections:
        if not rows:
            continue
        print(f"{title}:")
        for d in rows:
            print(f"  #{d.id:<6} {d.post_id} → {d.account}  {detail(d)}")
            limit = lookup_limit(d.network) if d.state is DeliveryState.UNKNOWN else ""
            if limit and limit not in (d.reason or ""):
                print(f"          {d.network}: {limit.replace('resolve ID', f'resolve {d.id}')}")
    for a in doc["accounts"]:
        print(
            f"account {a['account']}: {a['attention'] or 'rate-limited'} {a['reason'] or ''} "
            f"{('until ' + a['limited_until']) if a['limited_until'] else ''}".rstrip()
        )
    return EXIT_OK
