"""Regenerate docs/audit-example.png: ``python docs/make_audit_example.py``.

It copies ``examples/publisher.toml`` (the accounts and their targets) into a scratch
directory, seeds a fresh ledger there with four weeks of made-up but deterministic history
(same seed, same chart), and runs ``publisher audit --chart`` on it, as a user would.
"""

from __future__ import annotations

import asyncio
import random
import re
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from publisher.cli import main
from publisher.states import DeliveryState, Outcome
from publisher.store import Store
from publisher.store.models import AttemptRow, DeliveryRow

ROOT = Path(__file__).resolve().parent.parent
ZONE = ZoneInfo("Europe/Paris")
SINCE, UNTIL = "2026-10-05", "2026-11-02"  # ISO weeks 41 to 44 of 2026 (DST ends in 43)
# Posts per week (four weeks) and the local times they go out at, per example account.
PLAN: dict[str, tuple[list[int], list[str]]] = {
    "brand-x": ([28, 26, 17, 29], ["09:00", "10:30", "12:30", "15:00", "17:30", "19:00"]),
    "brand-fb": ([4, 3, 4, 3], ["11:00"]),
    "brand-masto": ([5, 5, 3, 6], ["10:00"]),
    "brand-bsky": ([5, 4, 5, 5], ["10:00"]),
    "team-log": ([7, 7, 7, 7], ["08:30"]),
}


def _history(networks: dict[str, str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(2026)
    deliveries: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []
    monday = datetime.fromisoformat(SINCE)
    for account, (per_week, times) in PLAN.items():
        network = networks[account]
        for week, count in enumerate(per_week):
            slots = [
                (monday + timedelta(weeks=week, days=d)).replace(
                    hour=int(t[:2]), minute=int(t[3:]), tzinfo=ZONE)
                for d in range(7) for t in times
            ]
            chosen = sorted(rng.sample(slots, min(count, len(slots))))
            for when in chosen:
                did = len(deliveries) + 1
                scheduled = when.astimezone(UTC)
                tries = 1 if rng.random() > 0.15 else rng.randint(2, 3)
                published = scheduled + timedelta(seconds=rng.randint(0, 90) + 60 * (tries - 1))
                deliveries.append(_delivery(did, account, network, DeliveryState.PUBLISHED,
                                            scheduled, published))
                for n in range(1, tries + 1):
                    outcome = Outcome.PUBLISHED if n == tries else Outcome.TRANSIENT
                    done = published - timedelta(minutes=tries - n)
                    attempts.append({
                        "delivery_id": did, "post_id": f"post-{did}", "account": account,
                        "network": network, "number": n, "started_at": done - timedelta(seconds=1),
                        "finished_at": done, "outcome": outcome.value,
                        "status_code": 200 if outcome is Outcome.PUBLISHED else 503,
                        "error": None if outcome is Outcome.PUBLISHED else "HTTP 503",
                        "remote_id": None, "remote_url": None, "worker": "example",
                    })
    # The third week's shortfall on X: a suspended token.
    for day in (20, 21):
        did = len(deliveries) + 1
        deliveries.append(_delivery(
            did, "brand-x", networks["brand-x"], DeliveryState.FAILED,
            datetime(2026, 10, day, 9, 0, tzinfo=ZONE).astimezone(UTC), None,
            error="HTTP 401: token revoked; reconnect the account"))
    return deliveries, attempts


def _delivery(did: int, account: str, network: str, state: DeliveryState, scheduled: datetime,
              published: datetime | None, error: str | None = None) -> dict[str, Any]:
    return {
        "id": did, "post_id": f"post-{did}", "account": account, "network": network,
        "state": state.value, "scheduled_at": scheduled, "due_at": scheduled, "not_after": None,
        "from_slot": True, "content_hash": "example", "content": "{}", "attempts": 1,
        "parts": "[]", "published_hash": None, "published_at": published, "remote_id": None,
        "remote_url": None, "last_error": error, "error_class": None, "reason": None,
        "lease_owner": None, "lease_until": None, "fence": 1,
        "updated_at": published or scheduled,
    }


async def _seed(url: str, networks: dict[str, str]) -> None:
    deliveries, attempts = _history(networks)
    store = await Store.open(url)
    try:
        def body(conn: Any) -> None:
            conn.execute(insert(DeliveryRow.__table__), deliveries)  # type: ignore[attr-defined]
            conn.execute(insert(AttemptRow.__table__), attempts)  # type: ignore[attr-defined]

        await store.transaction(body)
    finally:
        await store.close()


def make(out: Path, workdir: Path) -> None:
    """Seed ``workdir`` from the examples and write the chart to ``out``."""
    workdir.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "examples" / "publisher.toml").read_text(encoding="utf-8")
    db = workdir / "queue.db"
    text = re.sub(r'(?m)^database = .*$', f'database = "sqlite:///{db}"', text)
    config = workdir / "publisher.toml"
    config.write_text(text, encoding="utf-8")
    networks = dict(re.findall(r'(?ms)^\[accounts\.([\w.-]+)\]\s*\nnetwork = "(\w+)"', text))
    asyncio.run(_seed(f"sqlite:///{db}", networks))
    code = main(["audit", "--config", str(config), "--since", SINCE, "--until", UNTIL,
                 "--chart", str(out)])
    if code != 0:
        raise SystemExit(code)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        make(ROOT / "docs" / "audit-example.png", Path(tmp))
    sys.exit(0)
