"""What operators see of a running daemon: Prometheus metrics, /healthz, systemd status.

Each is an engine ``Observer``; the engine knows nothing of Prometheus or systemd.
prometheus_client and aiohttp's server are imported only by a daemon that serves them
(``[metrics] listen``): the others need not carry them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from publisher.clock import Clock
from publisher.sdnotify import Notifier
from publisher.states import DeliveryState
from publisher.store import Delivery, Store, Transition
from publisher.sync import SyncReport

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger("publisher.observe")

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 900, 3600, 7200)


class Metrics:
    """Prometheus metrics, in a registry of their own (no process-global state)."""

    def __init__(self, store: Store) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.store = store
        self.registry = CollectorRegistry()
        r = self.registry
        self.deliveries = Gauge(
            "publisher_deliveries",
            "Deliveries by account and state",
            ["account", "state"],
            registry=r,
        )
        self.publish_latency = Histogram(
            "publisher_publish_latency_seconds",
            "Time from claiming a delivery to its result",
            ["network"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.scheduling_lag = Histogram(
            "publisher_scheduling_lag_seconds",
            "Time from a delivery's scheduled time to its publication",
            ["network"],
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.results = Counter(
            "publisher_attempts_total",
            "Attempts by account and outcome",
            ["account", "outcome"],
            registry=r,
        )
        self.retries = Counter(
            "publisher_retries_total", "Attempts that planned a retry", ["account"], registry=r
        )
        self.queue_load_ok = Gauge(
            "publisher_queue_load_success",
            "1 if the last queue load was applied, else 0",
            registry=r,
        )
        self.queue_load_time = Gauge(
            "publisher_queue_load_timestamp_seconds",
            "When the queue file was last loaded",
            registry=r,
        )
        self.last_pass = Gauge(
            "publisher_last_scheduling_pass_timestamp_seconds",
            "When the scheduling loop last ran",
            registry=r,
        )

    def on_sync(self, report: SyncReport, now: datetime) -> None:
        self.queue_load_ok.set(0 if report.failed else 1)
        self.queue_load_time.set(now.timestamp())

    def on_pass(self, now: datetime, next_due: datetime | None) -> None:
        self.last_pass.set(now.timestamp())

    def on_result(self, delivery: Delivery, t: Transition) -> None:
        if t.attempt is not None:
            self.results.labels(delivery.account, t.attempt.outcome.value).inc()
            seconds = (t.attempt.finished_at - t.attempt.started_at).total_seconds()
            self.publish_latency.labels(delivery.network).observe(max(seconds, 0.0))
        if t.state is DeliveryState.RETRYING:
            self.retries.labels(delivery.account).inc()
        if t.published_at is not None:
            lag = (t.published_at - delivery.scheduled_at).total_seconds()
            self.scheduling_lag.labels(delivery.network).observe(max(lag, 0.0))

    async def refresh(self) -> None:
        """Deliveries by state come from the store at scrape time: true across daemons."""
        self.deliveries.clear()
        for (account, state), n in (await self.store.count_by_account_state()).items():
            self.deliveries.labels(account, state).set(n)

    async def render(self) -> bytes:
        from prometheus_client import generate_latest

        await self.refresh()
        return bytes(generate_latest(self.registry))


class Health:
    """Healthy means: the loop ran when it should have, and the last queue load was applied."""

    def __init__(self, clock: Clock, grace: timedelta = timedelta(seconds=30)) -> None:
        self.clock = clock
        self.grace = grace
        self.last_pass: datetime | None = None
        self.expected_by: datetime | None = None
        self.load_ok: bool | None = None
        self.load_message = ""
        self.load_partial = False

    def on_sync(self, report: SyncReport, now: datetime) -> None:
        self.load_ok = not report.failed
        self.load_message = report.summary()
        self.load_partial = bool(report.kept_files)  # the other files were applied

    def on_pass(self, now: datetime, next_due: datetime | None) -> None:
        self.last_pass = now
        # The loop wakes at the next due time at the latest (or within a day when idle).
        wake = next_due if next_due is not None and next_due > now else now
        self.expected_by = min(wake, now + timedelta(days=1)) + self.grace

    def on_result(self, delivery: Delivery, t: Transition) -> None:
        return None

    def verdict(self) -> tuple[int, dict[str, object]]:
        now = self.clock.now()
        problems = []
        if self.last_pass is None:
            problems.append("the scheduling loop has not run yet")
        elif self.expected_by is not None and now > self.expected_by:
            late = (now - self.expected_by + self.grace).total_seconds()
            problems.append(f"the scheduling loop is {late:.0f}s overdue")
        if self.load_ok is False:
            what = "left a queue file out" if self.load_partial else "failed"
            problems.append(f"the last queue load {what}: {self.load_message}")
        body: dict[str, object] = {
            "ok": not problems,
            "problems": problems,
            "last_pass": self.last_pass.isoformat() if self.last_pass else None,
            "queue_load_ok": self.load_ok,
        }
        return (200 if not problems else 503), body


class SystemdStatus:
    """READY=1 after the first sync and pass; STATUS= with a human summary (at most 1/s).

    A first sync that fails (a broken file, a read-only database) makes the daemon ready at
    once, saying why in STATUS=: it runs, on the last good plan, and retries; without READY=1
    systemd would kill it at its start timeout and restart it, again and again, which hides
    the cause. While the last queue load failed, every STATUS= line starts with why.
    """

    def __init__(self, notifier: Notifier, store: Store, zone: ZoneInfo, clock: Clock) -> None:
        self.notifier = notifier
        self.store = store
        self.zone = zone
        self.clock = clock
        self.ready = False
        self.summary = ""
        self.problem: str | None = None  # the last queue load's failure, while it lasts
        self.in_flight = 0
        self._updated: datetime | None = None
        self._task: asyncio.Task[None] | None = None

    def on_sync(self, report: SyncReport, now: datetime) -> None:
        if report.failed:
            self.problem = report.summary()
            if not self.ready:
                self.ready = True
                self.notifier.ready(self.problem)
            else:
                self.notifier.status(self.problem)
            self.summary = ""  # the next summary is sent again, after the problem
        elif self.problem is not None and not report.busy:
            self.problem = None
            self.summary = ""

    def on_pass(self, now: datetime, next_due: datetime | None) -> None:
        if not self.ready:
            self.ready = True
            self.notifier.ready("started")
        if not self.notifier.enabled:
            return
        if self._updated is not None and now - self._updated < timedelta(seconds=1):
            return
        if self._task is not None and not self._task.done():
            return
        self._updated = now
        self._task = asyncio.ensure_future(self.update(self.in_flight))

    def on_result(self, delivery: Delivery, t: Transition) -> None:
        return None

    async def update(self, in_flight: int) -> None:
        counts = await self.store.count_by_state()
        nxt = await self.store.by_state(DeliveryState.SCHEDULED, DeliveryState.RETRYING, limit=1)
        text = f"{counts.get(DeliveryState.SCHEDULED, 0)} scheduled"
        if in_flight:
            text += f", {in_flight} in flight"
        unknown = counts.get(DeliveryState.UNKNOWN, 0) + counts.get(DeliveryState.FAILED, 0)
        if unknown:
            text += f", {unknown} need a human"
        if nxt:
            text += f", next {nxt[0].account} at {nxt[0].due_at.astimezone(self.zone):%a %H:%M}"
        if self.problem is not None:
            text = f"{self.problem}; {text}"
        if text != self.summary:
            self.summary = text
            self.notifier.status(text)


def health_app(metrics: Metrics, health: Health) -> web.Application:
    from aiohttp import web
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    async def get_metrics(_request: web.Request) -> web.Response:
        body = await metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def get_health(_request: web.Request) -> web.Response:
        status, body = health.verdict()
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_get("/metrics", get_metrics)
    app.router.add_get("/healthz", get_health)
    return app


def waiting_app(problem: Callable[[], str]) -> web.Application:
    """/healthz and /metrics while the daemon waits for its database: both fail, saying why
    (a refused connection would say only that nothing listens)."""
    from aiohttp import web

    async def get_health(_request: web.Request) -> web.Response:
        body = {"ok": False, "problems": [problem()], "last_pass": None, "queue_load_ok": None}
        return web.json_response(body, status=503)

    async def get_metrics(_request: web.Request) -> web.Response:
        return web.Response(text=problem() + "\n", status=503)

    app = web.Application()
    app.router.add_get("/metrics", get_metrics)
    app.router.add_get("/healthz", get_health)
    return app


async def start_health_server(app: web.Application, listen: str) -> web.AppRunner:
    """Raises OSError when the address cannot be listened on (taken, not ours, unknown)."""
    from aiohttp import web

    from publisher.config import parse_listen

    host, port = parse_listen(listen)  # the config checked it: it parses
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError:
        await runner.cleanup()
        raise
    log.info(
        "metrics and health on http://%s/metrics and /healthz", listen, extra={"action": "start"}
    )
    return runner
