"""Telling a human: a command or a webhook, called with JSON when something needs them.

Called when a delivery fails or becomes unknown, and when an account needs attention. A
notification that cannot be delivered is logged; it never stops publishing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

import aiohttp

from publisher.config import NotifySettings
from publisher.secrets import REDACTOR
from publisher.states import DeliveryState
from publisher.store import Delivery, Transition
from publisher.sync import SyncReport

log = logging.getLogger("publisher.notify")

NOTIFY_STATES = frozenset({DeliveryState.FAILED, DeliveryState.UNKNOWN})


def delivery_event(d: Delivery, t: Transition) -> dict[str, Any]:
    return {
        "event": f"delivery.{t.state.value}",
        "at": t.now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "delivery": d.id,
        "post": d.post_id,
        "account": d.account,
        "network": d.network,
        "state": t.state.value,
        "reason": REDACTOR.scrub(t.last_error or t.reason or ""),
        "attempts": d.attempts,
        "scheduled_at": d.scheduled_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


def attention_event(
    account: str, network: str, attention: str, reason: str, at: datetime
) -> dict[str, Any]:
    return {
        "event": "account.attention",
        "at": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "account": account,
        "network": network,
        "attention": attention,
        "reason": REDACTOR.scrub(reason),
    }


class HumanAlerts:
    """An engine observer that sends events to the configured command or URL."""

    def __init__(
        self, settings: NotifySettings, session: aiohttp.ClientSession | None = None
    ) -> None:
        self.settings = settings
        self.session = session
        self._tasks: set[asyncio.Task[None]] = set()
        self._attention_sent: set[tuple[str, str]] = set()

    @property
    def enabled(self) -> bool:
        return bool(self.settings.command or self.settings.url)

    def on_sync(self, report: SyncReport, now: datetime) -> None:
        return None

    def on_pass(self, now: datetime, next_due: datetime | None) -> None:
        return None

    def on_result(self, delivery: Delivery, t: Transition) -> None:
        if not self.enabled:
            return
        if t.state in NOTIFY_STATES:
            self.send(delivery_event(delivery, t))
        attention = getattr(t, "attention", None)
        if attention:
            key = (delivery.account, attention)
            if key not in self._attention_sent:
                self._attention_sent.add(key)
                self.send(
                    attention_event(
                        delivery.account, delivery.network, attention, t.last_error or "", t.now
                    )
                )

    def send(self, event: dict[str, Any]) -> None:
        task = asyncio.ensure_future(self._send(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, event: dict[str, Any]) -> None:
        body = json.dumps(event, ensure_ascii=False).encode()
        if self.settings.command:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *self.settings.command,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                )
                _out, err = await asyncio.wait_for(proc.communicate(body), timeout=30)
                if proc.returncode:
                    log.warning(
                        "notify command exited %s: %s",
                        proc.returncode,
                        REDACTOR.scrub(err.decode(errors="replace")[:200]),
                        extra={"action": "notify"},
                    )
            except (OSError, TimeoutError) as exc:
                log.warning("notify command failed: %s", exc, extra={"action": "notify"})
        if self.settings.url:
            session = self.session
            own = session is None
            if own:
                session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
            assert session is not None
            try:
                async with session.post(
                    self.settings.url, data=body, headers={"Content-Type": "application/json"}
                ) as resp:
                    if resp.status >= 400:
                        log.warning(
                            "notify webhook answered %s", resp.status, extra={"action": "notify"}
                        )
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning(
                    "notify webhook failed: %s",
                    REDACTOR.scrub(str(exc)),
                    extra={"action": "notify"},
                )
            finally:
                if own:
                    await session.close()

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=30)
