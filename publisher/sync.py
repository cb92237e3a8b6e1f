"""Sync: apply the queue file to the store, whole or not at all.

The file is the plan, the database the record. ``diff_plan`` is pure (it takes ``now``); the
store applies its result in one transaction. An invalid file applies nothing: the last good
plan stays in force and the failed load is recorded for ``status`` and ``/healthz``.

A daemon re-syncs on every change of the file, usually a small edit of a big file. With a
``SyncCache`` it re-parses only the posts whose text changed and reads from the store only
the deliveries whose plan changed (plus the few a human or a race may have moved); the
result is the one the full diff would give (see ``SyncCache``).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from publisher import lifecycle
from publisher.config import Config
from publisher.diagnostics import Diagnostic, InvalidFileError
from publisher.lifecycle import KEEP, Change, Refused, Why
from publisher.queuefile import (
    ParseCache,
    PostSpec,
    QueueFile,
    parse_queue,
    queue_text,
    read_queue_bytes,
)
from publisher.queueset import (
    FileCache,
    carry_moves,
    is_glob,
    keep_files,
    members_digest,
    no_files,
    read_members,
    timeless,
)
from publisher.rules import expand, has_rules
from publisher.schedule import PlannedDelivery, plan_deliveries, plan_order
from publisher.states import CANCELED_BY_SYNC, DeliveryState
from publisher.store.codec import content_to_json
from publisher.store.plan import EXPECT_STATE, LoadState, PlanChanges, PlanEntry

if TYPE_CHECKING:
    from publisher.store import Store

Key = tuple[str, str]  # (post id, account)
CHURN = 1_000  # posts parsed afresh from which a sync's freed memory is worth handing back
FULL_TRIES = 3  # full diffs a sync tries while deliveries change state under it
T = TypeVar("T")

# States a delivery out of the plan never leaves: nothing a later sync could do about it.
_SETTLED = lifecycle.FINAL


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
    # The sync itself could not run to its end (an I/O error, a bug): one line, why. The
    # file's own problems are ``errors``, located.
    failure: str | None = None
    # Repeat and evergreen posts (publisher.rules): the evergreen choices this sync made, one
    # line each with the reason, and when the plan is to be made again (time moves it).
    choices: list[str] = field(default_factory=list)
    replan_at: datetime | None = None
    # A queue of many files (publisher.queueset): those with errors, whose last good plan
    # stays while the others are applied. ``errors`` holds their problems.
    kept_files: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Nothing was applied for a reason a human should see: the last good plan stays."""
        return bool(self.errors) or self.failure is not None

    def summary(self) -> str:
        if self.failure is not None:
            return f"queue not applied: {self.failure}; the last good plan stays"
        if self.errors and not self.kept_files:
            return f"queue not applied: {len(self.errors)} error(s); the last good plan stays"
        if self.skipped:
            return "queue unchanged"
        done = (
            f"queue applied: {self.added} added, {self.updated} updated, "
            f"{self.canceled} canceled, {self.unchanged} unchanged"
        )
        if self.kept_files:
            done += (
                f"; not applied, {len(self.errors)} error(s) in {', '.join(self.kept_files)}: "
                "their last good plan stays"
            )
        return done


def plan_fingerprint(config: Config, queue_bytes: bytes) -> str:
    """What a sync depends on: the queue file and the config that interprets it."""
    h = hashlib.sha256()
    try:
        h.update(config.path.read_bytes())
    except OSError:
        # Gone, or no longer a file (a directory in its place): the running config still
        # interprets the queue, and a SIGHUP reports the file's problem. A fingerprint unlike
        # any file's only means one full diff, which finds what the store holds.
        h.update(b"\x00unreadable config")
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


class _Rows(Sequence[Mapping[str, Any]], Generic[T]):
    """Rows built from ``items`` only when read: the store writes them a batch at a time."""

    def __init__(self, items: list[T], build: Callable[[T], dict[str, Any]]) -> None:
        self.items = items
        self.build = build

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, i: int) -> Mapping[str, Any]: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Mapping[str, Any]]: ...

    def __getitem__(self, i: int | slice) -> Mapping[str, Any] | Sequence[Mapping[str, Any]]:
        if isinstance(i, slice):
            return [self.build(x) for x in self.items[i]]
        return self.build(self.items[i])


def diff_plan(
    queue: QueueFile,
    planned: Sequence[PlannedDelivery],
    config: Config,
    index: Mapping[Key, PlanEntry],
    posts: Mapping[str, tuple[str, int, datetime | None]],
    now: datetime,
    *,
    fetched: Container[str] | None = None,
) -> tuple[PlanChanges, SyncReport]:
    """The writes that turn the stored plan into the file's plan. Pure.

    ``index`` holds every stored delivery, or with ``fetched`` (an incremental sync) only those
    of the posts in ``fetched``: the planned deliveries of the other posts are known to be
    stored as planned and are counted unchanged.
    """
    changes = PlanChanges()
    report = SyncReport(applied=True, warnings=list(queue.warnings))
    by_id: dict[str, PostSpec] = {p.id: p for p in queue.posts}
    seen: set[Key] = set()

    upserts: list[tuple[PostSpec, str, bool]] = []
    for post in queue.posts:
        post_hash = post.post_hash(config.accounts)
        old = posts.get(post.id)
        if old is None:
            upserts.append((post, post_hash, True))
        elif old[0] != post_hash or old[1] != post.line or old[2] is not None:
            upserts.append((post, post_hash, False))

    def post_row(item: tuple[PostSpec, str, bool]) -> dict[str, Any]:
        post, post_hash, new = item
        row = {
            "id": post.id,
            "content_hash": post_hash,
            "line": post.line,
            "removed_at": None,
            "updated_at": now,
        }
        if new:
            row["created_at"] = now
        return row

    changes.posts_upsert = _Rows(upserts, post_row)
    changes.posts_removed = [
        pid for pid, (_, _, removed) in posts.items() if pid not in by_id and removed is None
    ]

    new_rows: list[PlannedDelivery] = []
    for p in planned:
        key = (p.post_id, p.account)
        entry = index.get(key)
        if entry is None:
            if fetched is not None and p.post_id not in fetched:
                report.unchanged += 1  # stored as planned: known without reading it
                continue
            new_rows.append(p)
            report.added += 1
            continue
        seen.add(key)  # the stored deliveries left unseen are canceled below
        update = _update_for(entry, p, by_id[p.post_id], config, now, report)
        if update:
            # Guarded by the state read: the engine may claim it before the apply.
            changes.updates.append(
                {"id": entry.id, EXPECT_STATE: entry.state.value, "updated_at": now, **update}
            )
            report.updated += 1
        else:
            report.unchanged += 1

    def delivery_row(p: PlannedDelivery) -> dict[str, Any]:
        return {
            "post_id": p.post_id,
            "account": p.account,
            "network": p.network,
            **_scheduled(p, by_id[p.post_id], config),
            "attempts": 0,
            "parts": "[]",
            "fence": 0,
            "updated_at": now,
        }

    changes.inserts = _Rows(new_rows, delivery_row)

    for key, entry in index.items():
        if key in seen:
            continue
        gone = lifecycle.unplanned(entry.state)
        if isinstance(gone, Change):
            changes.cancels.append(entry.id)  # written as ``gone`` says, by the store
            report.canceled += 1
        elif gone.why is Why.IN_FLIGHT:
            report.notices.append(
                f"{entry.post_id} → {entry.account}: removed from the file, but it is "
                f"{entry.state.value}; check `publisher status` (it may already be out)"
            )
    return changes, report


def _scheduled(p: PlannedDelivery, post: PostSpec, config: Config) -> dict[str, Any]:
    """A delivery's fields as planned, scheduled afresh: for a new one and a revived one."""
    return {
        "state": DeliveryState.SCHEDULED.value,
        "scheduled_at": p.due_at,
        "due_at": p.due_at,
        "not_after": p.not_after,
        "from_slot": p.from_slot,
        "content_hash": p.content_hash,
        "content": content_to_json(post.content_for(config.accounts[p.account])),
    }


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
    where = f"{p.post_id} → {p.account}"
    change = planned_change(entry, p, now)
    if isinstance(change, Refused):
        if change.why is Why.DROPPED:
            report.notices.append(
                f"{where}: canceled by hand ({entry.reason or 'no reason recorded'}); it stays "
                "canceled although the post is in the queue file"
            )
        elif change.why is Why.PUBLISHED:
            if p.content_hash != (entry.published_hash or entry.content_hash):
                report.notices.append(
                    f"{where}: already published; the edited text is not sent again"
                )
        elif change.why is Why.IN_FLIGHT and content_changed:
            report.notices.append(
                f"{where}: is {state.value}; the edit is not applied to what may already be out"
            )
        return {}
    if change.afresh:  # it starts over, with the file's plan
        if state is DeliveryState.FAILED:
            report.notices.append(f"{where}: failed before; edited, so it is scheduled again")
        elif state is DeliveryState.MISSED:
            report.notices.append(f"{where}: missed before; rescheduled by the edit")
        fresh: dict[str, Any] = {
            **_scheduled(p, post, config),
            "state": change.state.value,
            "reason": change.reason,
            "last_error": change.last_error,
            "error_class": change.error_class,
        }
        if change.attempts is not KEEP:
            fresh["attempts"] = change.attempts
        return fresh
    # It follows the file where the plan changed.
    out: dict[str, Any] = {}
    if content_changed:
        out["content_hash"] = p.content_hash
        out["content"] = content_to_json(post.content_for(config.accounts[p.account]))
    if entry.scheduled_at != p.due_at:
        out.update(scheduled_at=p.due_at, due_at=p.due_at)
    if change.reason is not KEEP:
        out["reason"] = change.reason
    if entry.not_after != p.not_after:
        out["not_after"] = p.not_after
    if entry.from_slot != p.from_slot:
        out["from_slot"] = p.from_slot
    return out


def planned_change(entry: PlanEntry, p: PlannedDelivery, now: datetime) -> lifecycle.Result:
    """What a sync does to the stored delivery ``entry`` that the file plans as ``p``."""
    return lifecycle.planned(
        entry.state,
        reason=entry.reason,
        stored_hash=entry.content_hash,
        stored_at=entry.scheduled_at,
        plan_hash=p.content_hash,
        plan_at=p.due_at,
        now=now,
    )


@dataclass
class _Applied:
    """The last plan this process applied, as the store holds it."""

    fingerprint: str
    applied_at: datetime
    plan: dict[Key, PlannedDelivery]
    posts: dict[str, tuple[str, int, datetime | None]]  # id: (post hash, line, removed_at)
    # Planned deliveries whose stored plan is not the plan: an edit is not applied to what
    # was published, failed, or may be out. Read again at every sync, like the full diff.
    divergent: set[Key]
    # Deliveries out of the plan that may still change state (failed, unknown, sending): a
    # resend of one must be canceled, and one in flight reported, at every sync.
    watch: set[Key]
    slots: dict[Key, datetime]  # the slot times given out: ``plan``'s from_slot part
    # A queue pattern's files kept for their errors when it was applied: left out of
    # ``plan`` and ``posts``, with the times their deliveries hold (no new slot takes one).
    kept: frozenset[str] = frozenset()
    held: dict[str, set[datetime]] = field(default_factory=dict)


@dataclass
class _Increment:
    """An incremental sync's reading of the store, and what it planned otherwise."""

    planned: list[PlannedDelivery]  # the deliveries of ``fetched``, in plan order
    total: int  # deliveries planned in all
    index: dict[Key, PlanEntry]  # the stored deliveries of ``fetched``
    fetched: set[str]  # posts whose deliveries were all read
    changed: list[PlannedDelivery]  # planned otherwise than last time (or new)
    gone: list[Key]  # planned last time, not any more


class SyncCache:
    """What one process's syncs keep, so that a re-sync after a small edit does little.

    ``parse`` re-parses only the posts whose text changed. The plan this process last
    applied lets the next sync read from the store only the deliveries it must look at:
    those whose plan changed, new and removed ones, those left off the plan on purpose
    (``_Applied.divergent`` and ``watch``), and those a human canceled or that were published
    with other content than stored. Every other planned delivery is stored as planned and
    stays as it is, whatever its state: ``_update_for`` changes nothing then. This holds while
    the store's last applied load is this process's (nothing else writes a delivery's plan:
    ``scheduled_at``, ``content_hash``, ``not_after``, ``from_slot``); another apply, by
    another daemon or command, is seen in ``load_state`` and means a full diff, and the
    apply itself checks it again, in its transaction.
    """

    def __init__(self) -> None:
        self.parse = ParseCache()
        self.files = FileCache()  # the same for each file of a queue pattern
        self._applied: _Applied | None = None
        self.incremental = False  # how the last applied sync diffed (tests, benches)
        # The last sync built much anew (a full diff, many posts parsed, a refused file):
        # the memory it freed is worth handing back. Not after a small edit: a full garbage
        # collection over what the cache holds costs more than the edit's sync.
        self.churned = True

    def _valid_for(self, load: LoadState | None) -> _Applied | None:
        """The plan this process applied, if it is still the store's last applied one (a
        failed load since leaves it in force)."""
        a = self._applied
        if a is None or load is None:
            return None
        return a if (load.file_hash, load.applied_at) == (a.fingerprint, a.applied_at) else None


async def _incremental_index(
    queue: QueueFile, config: Config, store: Store, now: datetime, applied: _Applied
) -> _Increment:
    """The plan, and the stored deliveries of the posts a diff against ``applied`` must see."""
    old = applied.plan
    need = {k[0] for k in applied.divergent} | {k[0] for k in applied.watch}
    need |= await store.plan_exception_posts(CANCELED_BY_SYNC)
    for post in queue.posts:
        for name in post.accounts:
            if (post.id, name) not in old:
                need.add(post.id)  # a new post or account: it may be stored from before
                break
    index = await store.plan_entries(need)
    kept = {k: due for k, due in applied.slots.items() if k[0] not in need}
    kept.update(kept_assignments(index))
    planned = plan_deliveries(
        queue, config, now, kept, previous=old, ordered=False, held=applied.held
    )
    more: set[str] = set()
    changed: list[PlannedDelivery] = []
    still = 0  # deliveries of the last plan still planned
    for p in planned:
        q = old.get((p.post_id, p.account))
        if q is not None:
            still += 1
        if q is not p:  # planned otherwise than last time (same: the same object)
            changed.append(p)
            if p.post_id not in need:
                more.add(p.post_id)
    gone: list[Key] = []
    if still != len(old):  # some left the plan: their deliveries are canceled
        keys = {(p.post_id, p.account) for p in planned}
        gone = [k for k in old if k not in keys]
        more.update(k[0] for k in gone if k[0] not in need)
    if more:
        index.update(await store.plan_entries(more))
        need |= more
    # Only these can change: the others are counted unchanged without a look.
    seen = plan_order(queue, (p for p in planned if p.post_id in need))
    return _Increment(seen, len(planned), index, need, changed, gone)


def _tracking(
    plan: Mapping[Key, PlannedDelivery], index: Mapping[Key, PlanEntry], changes: PlanChanges
) -> tuple[set[Key], set[Key]]:
    """``_Applied.divergent`` and ``watch``, from the deliveries a sync read and wrote."""
    updates = {u["id"]: u for u in changes.updates}
    divergent: set[Key] = set()
    watch: set[Key] = set()
    for key, e in index.items():
        p = plan.get(key)
        if p is None:
            if e.state not in _SETTLED:
                watch.add(key)
            continue
        u = updates.get(e.id, {})
        stored = (
            u.get("scheduled_at", e.scheduled_at),
            u.get("content_hash", e.content_hash),
            u.get("not_after", e.not_after),
            u.get("from_slot", e.from_slot),
        )
        if stored != (p.due_at, p.content_hash, p.not_after, p.from_slot):
            divergent.add(key)
    return divergent, watch


def _remember_full(
    fingerprint: str,
    now: datetime,
    queue: QueueFile,
    config: Config,
    planned: Iterable[PlannedDelivery],
    index: Mapping[Key, PlanEntry],
    changes: PlanChanges,
) -> _Applied:
    """What the store holds after a full diff's ``changes``, for the next sync."""
    plan = {(p.post_id, p.account): p for p in planned}
    slots = {k: p.due_at for k, p in plan.items() if p.from_slot}
    posts: dict[str, tuple[str, int, datetime | None]] = {
        q.id: (q.post_hash(config.accounts), q.line, None) for q in queue.posts
    }
    divergent, watch = _tracking(plan, index, changes)
    return _Applied(fingerprint, now, plan, posts, divergent, watch, slots)


def _remember_increment(
    applied: _Applied, fingerprint: str, now: datetime, step: _Increment, changes: PlanChanges
) -> None:
    """``applied`` brought up to date with an incremental sync: in place, at the cost of
    what changed (a new 20,000-entry plan at every edit would cost time, and the cyclic GC)."""
    plan, slots = applied.plan, applied.slots
    for k in step.gone:
        del plan[k]
        slots.pop(k, None)
    for p in step.changed:
        key = (p.post_id, p.account)
        plan[key] = p
        if p.from_slot:
            slots[key] = p.due_at
        else:
            slots.pop(key, None)
    posts = applied.posts
    for row in changes.posts_upsert:
        posts[row["id"]] = (row["content_hash"], row["line"], None)
    for pid in changes.posts_removed:
        del posts[pid]
    applied.divergent, applied.watch = _tracking(plan, step.index, changes)
    applied.fingerprint, applied.applied_at = fingerprint, now


@dataclass
class _Loaded:
    """A queue parsed for a sync: one file, or the good files of a pattern."""

    queue: QueueFile
    fingerprint: str
    kept: frozenset[str] = frozenset()  # files with errors (their stored plan stays)
    errors: list[Diagnostic] = field(default_factory=list)  # the kept files' errors
    warnings: list[Diagnostic] = field(default_factory=list)  # the kept files' warnings
    paths: dict[str, Path] = field(default_factory=dict)  # each file by its name


async def _load_file(
    config: Config, store: Store, now: datetime, force: bool, cache: SyncCache | None
) -> _Loaded | SyncReport:
    """The queue file, parsed; a report when there is nothing to apply."""
    path: Path = config.queue_path
    try:
        data = await asyncio.to_thread(read_queue_bytes, path)  # bounded: see queue_text
    except OSError as err:
        diag = Diagnostic(str(path), 1, 1, "", f"cannot read the queue file: {err.strerror}")
        await store.record_load(LoadState(now, False, None, str(diag), None))
        return SyncReport(applied=False, errors=[diag])
    fingerprint = plan_fingerprint(config, data)
    # A file with rules plans according to the time too: it is never skipped as unchanged.
    timeless = b"repeat" not in data and b"evergreen" not in data
    skipped = await _unchanged(store, now, fingerprint, force or not timeless)
    if skipped is not None:
        return skipped
    try:
        # Parse the bytes that were fingerprinted (the file may change meanwhile), off the
        # loop; the bytes are dropped first (a big file's text is enough to hold).
        text = await asyncio.to_thread(queue_text, path, data)
        del data
        parse_cache = cache.parse if cache is not None else None
        queue = await asyncio.to_thread(parse_queue, text, path, config, cache=parse_cache)
        del text
    except InvalidFileError as err:
        message = "\n".join(str(d) for d in err.errors)
        await store.record_load(LoadState(now, False, None, message, None))
        return SyncReport(
            applied=False,
            errors=err.errors,
            warnings=[d for d in err.diagnostics if d not in err.errors],
        )
    return _Loaded(queue, fingerprint)


async def _load_files(
    config: Config, store: Store, now: datetime, force: bool, cache: SyncCache | None
) -> _Loaded | SyncReport:
    """The files of a queue pattern, each parsed alone (publisher.queueset)."""
    members = await asyncio.to_thread(read_members, config.queue_path)
    if not members:  # a typo or a missing mount must not withdraw every post
        diag = no_files(config)
        await store.record_load(LoadState(now, False, None, str(diag), None))
        return SyncReport(applied=False, errors=[diag])
    fingerprint = plan_fingerprint(config, members_digest(members))
    skipped = await _unchanged(store, now, fingerprint, force or not timeless(members))
    if skipped is not None:
        return skipped
    files = cache.files if cache is not None else FileCache()
    found = await asyncio.to_thread(files.load, config, members)
    del members
    if len(found.kept) == len(found.files):  # no file to apply: as for one broken file
        errors = found.errors
        await store.record_load(
            LoadState(now, False, None, "\n".join(str(d) for d in errors), None)
        )
        return SyncReport(applied=False, errors=errors, warnings=found.warnings)
    return _Loaded(
        found.queue,
        fingerprint,
        found.kept,
        found.errors,
        found.warnings,
        {f.name: f.path for f in found.files},
    )


async def _unchanged(
    store: Store, now: datetime, fingerprint: str, always: bool
) -> SyncReport | None:
    """The report of a sync that has nothing to do: the same files as the last applied."""
    if always:
        return None
    last = await store.load_state()
    if last is not None and last.ok and last.file_hash == fingerprint:
        await store.record_load(LoadState(now, True, fingerprint, "unchanged", last.applied_at))
        return SyncReport(applied=True, skipped=True)
    return None


def _finish(report: SyncReport, loaded: _Loaded, now: datetime) -> LoadState:
    """The report with the kept files' problems, and the load record it makes."""
    report.errors = list(loaded.errors)
    report.warnings += loaded.warnings
    report.kept_files = sorted(loaded.kept)
    if not loaded.kept:
        return LoadState(now, True, loaded.fingerprint, report.summary(), now)
    # Applied but for the kept files: recorded as not ok (``status`` and /healthz say so,
    # and the same files are never skipped as unchanged), and as applied now.
    message = "\n".join([report.summary(), *(str(d) for d in report.errors)])
    return LoadState(now, False, loaded.fingerprint, message, now)


async def sync_queue(
    config: Config,
    store: Store,
    now: datetime,
    *,
    force: bool = False,
    cache: SyncCache | None = None,
) -> SyncReport:
    """Load, validate and apply the queue file; an invalid one changes only the load record.

    With a queue pattern (publisher.queueset), each file is applied or kept on its own.
    ``cache``, kept by the caller from one sync to the next (the daemon does), makes a
    re-sync after an edit cost about what the edit changed.
    """
    if cache is not None:
        cache.churned = True
    if is_glob(config.queue_path):
        loaded = await _load_files(config, store, now, force, cache)
    else:
        loaded = await _load_file(config, store, now, force, cache)
    if isinstance(loaded, SyncReport):
        return loaded
    async with store.sync_turn() as mine:
        if not mine:  # another daemon is applying the same file right now
            return SyncReport(applied=True, skipped=True, busy=True)
        applied = cache._valid_for(await store.load_state()) if cache is not None else None
        queue = loaded.queue
        rules = has_rules(queue)
        # Files kept for their errors: incremental only while the same files are kept as
        # when this plan was applied (one fixed or newly broken: read it all).
        same_kept = applied is not None and applied.kept == loaded.kept
        if cache is not None and applied is not None and not rules and same_kept:
            moved: list[Diagnostic] = []
            if loaded.paths and any(p.id not in applied.posts for p in queue.posts):
                # A post new to the plan may be one moved from another file: the posts
                # removed before count too, and only the store has them.
                stored = await store.post_index()
                queue, moved = carry_moves(
                    queue, stored, loaded.kept, config.accounts, loaded.paths
                )
            step = await _incremental_index(queue, config, store, now, applied)
            changes, report = diff_plan(
                queue, step.planned, config, step.index, applied.posts, now, fetched=step.fetched
            )
            report.warnings += moved
            report.unchanged += step.total - len(step.planned)
            load = _finish(report, loaded, now)
            cache._applied = None  # until the store and this memory agree again
            if await store.apply(changes, load, expect=(applied.fingerprint, applied.applied_at)):
                _remember_increment(applied, loaded.fingerprint, now, step, changes)
                cache._applied, cache.incremental = applied, True
                if loaded.paths:  # many files: what their parses built
                    cache.churned = cache.files.whole or cache.files.fresh > CHURN
                else:
                    cache.churned = cache.parse.mode != "chunked" or cache.parse.parsed > CHURN
                return report
        # No memory of the stored plan, or not the store's last one: read it all. The apply
        # writes nothing if a delivery it changes has changed state since it was read (a
        # claim, a `publisher resolve`): read again.
        if cache is not None:
            cache._applied = None
        for _ in range(FULL_TRIES):
            index = await store.plan_index()
            posts = await store.post_index()
            held: dict[str, set[datetime]] = {}
            if loaded.kept:  # their deliveries and posts stay as they are
                index, posts, held = keep_files(index, posts, loaded.kept)
            queue, moved = loaded.queue, []
            if loaded.paths:  # many files: a post may have moved from one to another
                queue, moved = carry_moves(queue, posts, loaded.kept, config.accounts, loaded.paths)
            kept = kept_assignments(index)
            expansion = expand(queue, config, now, index, kept)
            dated = expansion.queue
            planned = plan_deliveries(dated, config, now, kept, held=held)
            changes, report = diff_plan(dated, planned, config, index, posts, now)
            report.warnings += moved
            report.choices = [c.reason(config) for c in expansion.choices]
            report.replan_at = expansion.replan_at
            load = _finish(report, loaded, now)
            if await store.apply(changes, load, expect=None):
                break
        else:
            return SyncReport(applied=True, skipped=True, busy=True)  # again shortly
        if cache is not None:
            remembered = _remember_full(
                loaded.fingerprint, now, dated, config, planned, index, changes
            )
            remembered.kept, remembered.held = loaded.kept, held
            cache._applied, cache.incremental = remembered, False
    return report
