"""The plan as the file describes it now, diffed against the store when there is one.

Shared by ``validate`` and ``dry-run``: neither writes anything nor touches a network.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from publisher import lifecycle
from publisher.commands.common import database_exists, open_store
from publisher.config import Config
from publisher.diagnostics import Diagnostic, InvalidFileError
from publisher.queuefile import QueueFile, load_queue, queue_text, read_queue_bytes
from publisher.queueset import (
    carry_moves,
    is_glob,
    keep_files,
    load_set,
    no_files,
    read_members,
)
from publisher.rules import expand
from publisher.schedule import PlannedDelivery, plan_deliveries
from publisher.store import PlanEntry
from publisher.sync import SyncReport, diff_plan, kept_assignments, planned_change


@dataclass
class PlanView:
    queue: QueueFile
    planned: list[PlannedDelivery]
    index: dict[tuple[str, str], PlanEntry]
    report: SyncReport
    now: datetime
    text: str | None = None  # the queue file's text as parsed, to place problems found later
    written: int = 0  # posts written in the file (``queue`` has a rule's dated posts instead)
    # A queue pattern (publisher.queueset): each file's path and text, by its name.
    texts: dict[str, tuple[Path, str]] = field(default_factory=dict)
    # With ``partial``: the files with errors, left out of the plan as a sync keeps them, and
    # their problems.
    kept: frozenset[str] = frozenset()
    kept_problems: list[Diagnostic] = field(default_factory=list)

    def pending(self) -> list[PlannedDelivery]:
        """Planned deliveries that will wait to go out once a sync applies the file: what
        the daemon's sync leaves claimable (``lifecycle.planned``), new ones included."""
        out = []
        for p in self.planned:
            e = self.index.get((p.post_id, p.account))
            if e is None or lifecycle.waits(planned_change(e, p, self.now)):
                out.append(p)
        return sorted(out, key=lambda p: (p.due_at, p.post_id, p.account))


async def current_plan(config: Config, now: datetime, *, partial: bool = False) -> PlanView:
    """Raises InvalidFileError for a broken queue file (any broken file of a pattern). With
    ``partial``, a pattern's files with errors are left out as a sync keeps them (their
    stored plan stays), and the view holds their problems: only when every file has some
    does it raise."""
    texts: dict[str, tuple[Path, str]] = {}
    paths: dict[str, Path] = {}
    kept: frozenset[str] = frozenset()
    problems: list[Diagnostic] = []
    if is_glob(config.queue_path):
        members = read_members(config.queue_path)
        if not members:
            raise InvalidFileError([no_files(config)])
        found = load_set(config, members)
        if found.kept and (not partial or len(found.kept) == len(found.files)):
            raise InvalidFileError(found.errors + found.warnings)
        kept, problems = found.kept, found.errors + found.warnings
        queue, text = found.queue, None
        for m in members:
            if m.data is not None:
                texts[m.name] = (m.path, queue_text(m.path, m.data))
            paths[m.name] = m.path
        del members
    else:
        try:
            data: bytes | None = read_queue_bytes(config.queue_path)
        except OSError:
            data = None  # load_queue reads it again and says why it cannot
        queue = load_queue(config.queue_path, config, data=data)
        text = queue_text(config.queue_path, data) if data is not None else None
    index: dict[tuple[str, str], PlanEntry] = {}
    posts: dict[str, tuple[str, int, datetime | None]] = {}
    if database_exists(config):
        store = await open_store(config, readonly=True)
        try:
            index = await store.plan_index()
            posts = await store.post_index()
        finally:
            await store.close()
    written = len(queue.posts)
    held: dict[str, set[datetime]] = {}
    if kept:  # their deliveries and posts stay as they are
        index, posts, held = keep_files(index, posts, kept)
    if paths:  # many files: a post may have moved from one to another
        queue, moved = carry_moves(queue, posts, kept, config.accounts, paths)
        if moved:  # said with the files' own warnings
            queue = replace(queue, warnings=(*queue.warnings, *moved))
    slots = kept_assignments(index)
    expansion = expand(queue, config, now, index, slots)
    queue = expansion.queue  # repeats and evergreen posts as their dated deliveries
    planned = plan_deliveries(queue, config, now, slots, held=held)
    _changes, report = diff_plan(queue, planned, config, index, posts, now)
    report.choices = [c.reason(config) for c in expansion.choices]
    return PlanView(queue, planned, index, report, now, text, written, texts, kept, problems)
