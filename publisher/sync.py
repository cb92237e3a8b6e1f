"""Sync: apply the queue file to the store, whole or not at all.

The file is the plan, the database the record. ``diff_plan`` is pure (it takes ``now``); the
store applies its result in one transaction. An invalid file applies nothing: the last good
plan stays in force and the failed load is recorded for ``status`` and ``/healthz``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from publisher.config import Config
from publisher.diagnostics import Diagnostic, InvalidFileError
from publisher.queuefile import PostSpec, QueueFile, load_queue
from publisher.schedule import PlannedDelivery, plan_deliveries
from publisher.states import PENDING, DeliveryState
from publisher.store import LoadState, PlanChanges, PlanEntry, Store
from publisher.store.codec import content_to_json


@dataclass
class SyncReport:
    applied: bool
    added: int = 0
    updated: int = 0
    canceled: int = 0
    unchanged: int = 0
    notices: list[str] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)
    skipped: bool = False  # the same file (and config) as the last applied one
    busy: bool = False  # another daemon was applying it: look again once it is done

    def summary(self) -> str:
        if self.errors:
            return f"queue not applied: {len(self.errors)} error(s); the last good plan stays"
        if self.skipped:
            return "queue unchanged"
        return (
            f"queue applied: {self.added} added, {self.updated} updated, "
            f"{self.canceled} canceled, {self.unchanged} unchanged"
        )


def plan_fingerprint(config: Config, queue_bytes: bytes) -> str:
    """What a sync depends on: the queue file and the config that interprets it."""
    h = hashlib.sha256()
    h.update(config.path.read_bytes() if config.path.exists() else b"")
    h.update(b"\x00")
    h.update(queue_bytes)
    return h.hexdigest()


def kept_assignments(index: dict[tuple[str, str], PlanEntry]) -> dict[tuple[str, str], datetime]:
    """Slot times already given out stay put, so a re-sync never reshuffles the queue."""
    return {
        key: e.scheduled_at
        for key, e in index.items()
        if e.from_slot and e.state is not DeliveryState.CANCELED
    }


def diff_plan(
    queue: QueueFile,
    planned: Sequence[PlannedDelivery],
    config: Config,
    index: dict[tuple[str, str], PlanEntry],
    posts: dict[str, tuple[str, int, datetime | None]],
    now: datetime,
) -> tuple[PlanChanges, SyncReport]:
    """The writes that turn the stored plan into the file's plan. Pure."""
    changes = PlanChanges()
    report = SyncReport(applied=True, warnings=list(queue.warnings))
    by_id: dict[str, PostSpec] = {p.id: p for p in queue.posts}
    seen: set[tuple[str, str]] = set()

    for post in queue.posts:
        digest = hashlib.sha256()
        for account in post.accounts:
            digest.update(post.content_hash(config.accounts[account]).encode())
        post_hash = digest.hexdigest()
        old = posts.get(post.id)
        if old is None:
            changes.posts_upsert.append(
                {
                    "id": post.id,
                    "content_hash": post_hash,
                    "line": post.line,
                    "removed_at": None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        elif old[0] != post_hash or old[1] != post.line or old[2] is not None:
            changes.posts_upsert.append(
                {
                    "id": post.id,
                    "content_hash": post_hash,
                    "line": post.line,
                    "removed_at": None,
                    "updated_at": now,
                }
            )
    changes.posts_removed = [
        pid for pid, (_, _, removed) in posts.items() if pid not in by_id and removed is None
    ]

    for p in planned:
        key = (p.post_id, p.account)
        seen.add(key)
        post = by_id[p.post_id]
        entry = index.get(key)
        if entry is None:
            content = post.content_for(config.accounts[p.account])
            changes.inserts.append(
                {
                    "post_id": p.post_id,
                    "account": p.account,
                    "network": p.network,
                    "state": DeliveryState.SCHEDULED.value,
                    "scheduled_at": p.due_at,
                    "due_at": p.due_at,
                    "not_after": p.not_after,
                    "from_slot": p.from_slot,
                    "content_hash": p.content_hash,
                    "content": content_to_json(content),
                    "attempts": 0,
                    "parts": "[]",
                    "fence": 0,
                    "updated_at": now,
                }
            )
            report.added += 1
            continue
        update = _update_for(entry, p, post, config, now, report)
        if update:
            changes.updates.append({"id": entry.id, "updated_at": now, **update})
            report.updated += 1
        else:
            report.unchanged += 1

    for key, entry in index.items():
        if key in seen:
            continue
        if entry.state in PENDING:
            changes.cancels.append(entry.id)
            report.canceled += 1
        elif entry.state in (DeliveryState.SENDING, DeliveryState.UNKNOWN):
            report.notices.append(
                f"{entry.post_id} → {entry.account}: removed from the file, but it is "
                f"{entry.state.value}; check `publisher status` (it may already be out)"
            )
    return changes, report


def _update_for(
    entry: PlanEntry,
    p: PlannedDelivery,
    post: PostSpec,
    config: Config,
    now: datetime,
    report: SyncReport,
) -> dict[str, Any]:
    state = entry.state
    content_changed = entry.content_hash != p.content_hash
    time_changed = entry.scheduled_at != p.due_at
    where = f"{p.post_id} → {p.account}"

    def fresh(reason: str | None) -> dict[str, Any]:
        return {
            "state": DeliveryState.SCHEDULED.value,
            "scheduled_at": p.due_at,
            "due_at": p.due_at,
            "not_after": p.not_after,
            "from_slot": p.from_slot,
            "content_hash": p.content_hash,
            "content": content_to_json(post.content_for(config.accounts[p.account])),
            "reason": reason,
            "last_error": None,
            "error_class": None,
        }

    if state in PENDING:
        out: dict[str, Any] = {}
        if content_changed:
            out["content_hash"] = p.content_hash
            out["content"] = content_to_json(post.content_for(config.accounts[p.account]))
        if time_changed:
            out.update(scheduled_at=p.due_at, due_at=p.due_at, reason=None)
        if entry.not_after != p.not_after:
            out["not_after"] = p.not_after
        if entry.from_slot != p.from_slot:
            out["from_slot"] = p.from_slot
        return out
    if state is DeliveryState.CANCELED:
        return fresh("back in the queue file")
    if state in (DeliveryState.PUBLISHED, DeliveryState.DRY_RUN):
        if p.content_hash != (entry.published_hash or entry.content_hash):
            report.notices.append(f"{where}: already published; the edited text is not sent again")
        return {}
    if state is DeliveryState.FAILED and (content_changed or time_changed):
        report.notices.append(f"{where}: failed before; edited, so it is scheduled again")
        return {**fresh("edited after a failure"), "attempts": 0}
    if state is DeliveryState.MISSED and time_changed and p.due_at > now:
        report.notices.append(f"{where}: missed before; rescheduled by the edit")
        return fresh("rescheduled after being missed")
    if state in (DeliveryState.SENDING, DeliveryState.UNKNOWN) and content_changed:
        report.notices.append(
            f"{where}: is {state.value}; the edit is not applied to what may already be out"
        )
    return {}


async def sync_queue(
    config: Config, store: Store, now: datetime, *, force: bool = False
) -> SyncReport:
    """Load, validate and apply the queue file; an invalid one changes only the load record."""
    path: Path = config.queue_path
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError as err:
        diag = Diagnostic(str(path), 1, 1, "", f"cannot read the queue file: {err.strerror}")
        await store.record_load(LoadState(now, False, None, str(diag), None))
        return SyncReport(applied=False, errors=[diag])
    fingerprint = plan_fingerprint(config, data)
    last = await store.load_state()
    if not force and last is not None and last.ok and last.file_hash == fingerprint:
        await store.record_load(LoadState(now, True, fingerprint, "unchanged", last.applied_at))
        return SyncReport(applied=True, skipped=True)
    try:
        # Parse the bytes that were fingerprinted (the file may change meanwhile), off the loop.
        queue = await asyncio.to_thread(load_queue, path, config, data=data)
    except InvalidFileError as err:
        message = "\n".join(str(d) for d in err.errors)
        await store.record_load(LoadState(now, False, None, message, None))
        return SyncReport(
            applied=False,
            errors=err.errors,
            warnings=[d for d in err.diagnostics if d not in err.errors],
        )
    async with store.sync_turn() as mine:
        if not mine:  # another daemon is applying the same file right now
            return SyncReport(applied=True, skipped=True, busy=True)
        index = await store.plan_index()
        planned = plan_deliveries(queue, config, now, kept_assignments(index))
        changes, report = diff_plan(queue, planned, config, index, await store.post_index(), now)
        await store.apply(changes, LoadState(now, True, fingerprint, report.summary(), now))
    return report
