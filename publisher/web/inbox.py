"""The inbox summary on the status page (issue 20 in the web view): per listening account,
what needs a look, what was answered, and the oldest item still waiting."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from publisher.commands.common import database_exists, open_store
from publisher.config import Config
from publisher.store.inbox import ItemState

WEEK = timedelta(days=7)


async def inbox_summary(config: Config, now: datetime) -> list[Mapping[str, str]]:
    """One row per account that listens or has items; none without a database."""
    if not database_exists(config):
        return []
    store = await open_store(config, readonly=True)
    try:
        waiting = await store.inbox_items(states=[ItemState.NEW])
        week = await store.inbox_items(since=now - WEEK)
    finally:
        await store.close()
    accounts = [n for n, a in config.accounts.items() if a.listen]
    accounts += sorted({i.account for i in (*waiting, *week)} - set(accounts))
    rows: list[Mapping[str, str]] = []
    for name in accounts:
        mine = [i for i in waiting if i.account == name]
        recent = [i for i in week if i.account == name]
        oldest = min((i.created_at for i in mine), default=None)
        rows.append(
            {
                "account": name,
                "needs a look": str(len(mine)),
                "heard in 7 days": str(len(recent)),
                "answered in 7 days": str(sum(1 for i in recent if i.answered_at is not None)),
                "oldest waiting": "-"
                if oldest is None
                else oldest.astimezone(config.timezone).strftime("%a %d %b %H:%M"),
            }
        )
    return rows
