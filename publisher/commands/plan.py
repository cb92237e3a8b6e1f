"""The plan as the file describes it now, diffed against the store when there is one.

Shared by ``validate`` and ``dry-run``: neither writes anything nor touches a network.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from publisher.commands.common import database_exists, open_store
from publisher.config import Config
from publisher.queuefile import QueueFile, load_queue
from publisher.schedule import PlannedDelivery, plan_deliveries
from publisher.states import CANCELED_BY_SYNC, DeliveryState
from publisher.store import PlanEntry
from publisher.sync import SyncReport, diff_plan, kept_assignments


@dataclass
class PlanView:
    queue: QueueFile
    planned: list[PlannedDelivery]
    index: dict[tuple[str, str], PlanEntry]
    report: SyncReport

    def pending(self) -> list[PlannedDelivery]:
        """Planned deliveries that have not gone out (or been given up) yet."""
        out = []
        for p in self.planned:
            e = self.index.get((p.post_id, p.account))
            if (
                e is None
                or e.state in (DeliveryState.SCHEDULED, DeliveryState.RETRYING)
                # Canceled because its post had left the file: back with the post. One
                # dropped by hand stays canceled.
                or (e.state is DeliveryState.CANCELED and e.reason == CANCELED_BY_SYNC)
                or (e.state is DeliveryState.FAILED and e.content_hash != p.content_hash)
            ):
                out.append(p)
        return sorted(out, key=lambda p: (p.due_at, p.post_id, p.account))


async def current_plan(config: Config, now: datetime) -> PlanView:
    """Raises InvalidFileError for a broken queue file."""
    queue = load_queue(config.queue_path, config)
    index: dict[tuple[str, str], PlanEntry] = {}
    posts: dict[str, tuple[str, int, datetime | None]] = {}
    if database_exists(config):
        store = await open_store(config, readonly=True)
        try:
            index = await store.plan_index()
            posts = await store.post_index()
        finally:
            await store.close()
    planned = plan_deliveries(queue, config, now, kept_assignments(index))
    _changes, report = diff_plan(queue, planned, config, index, posts, now)
    return PlanView(queue, planned, index, report)
