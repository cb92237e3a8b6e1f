"""The volume alerts' store statements on real SQLite files and a real PostgreSQL: the times
the spike rules read, and one alert per account and hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from publisher.store import Store
from publisher.store.inbox import INBOX, NewItem

T = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)
M = timedelta(minutes=1)


def item(n: int) -> NewItem:
    return NewItem(f"r{n}", "mention", "@ana", f"item {n}", "", T - HOUR)


async def test_received_times_span_since_excluded_until_included(db_url: str) -> None:
    store = await Store.open(db_url)
    try:
        for n, at in enumerate((T - HOUR, T - 30 * M, T, T + M)):
            await store.hear("a", "log", INBOX, [item(n)], str(n), at)
        await store.hear("b", "log", INBOX, [item(9)], "9", T - 10 * M)
        got = await store.received_times(T - HOUR, T)
        # (since, until]: as alerts.spikes counts, so the read being judged (stored at
        # ``until``) is in it and an item exactly at the start is not.
        assert {k: sorted(v) for k, v in got.items()} == {
            "a": [T - 30 * M, T], "b": [T - 10 * M]}
    finally:
        await store.close()


async def test_one_spike_alert_per_account_and_hour_whatever_the_rule(db_url: str) -> None:
    store = await Store.open(db_url)
    hour = T.replace(minute=0)
    try:
        assert await store.alert_once("factor", "a", hour, 4, T) is True
        assert await store.alert_once("factor", "a", hour, 5, T + M) is False
        assert await store.alert_once("per_hour", "a", hour, 7, T + 2 * M) is False
        assert await store.alert_once("per_hour", "b", hour, 7, T) is True
        assert await store.alert_once("per_hour", "a", hour + HOUR, 7, T + HOUR) is True
    finally:
        await store.close()
