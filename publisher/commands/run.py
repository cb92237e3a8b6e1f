"""``publisher run``: the daemon (and ``--once``, ``--dry-run``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import aiohttp

from adapters.base import AdapterContext
from publisher.clock import Clock, OffsetClock, SystemClock, TravelClock
from publisher.commands.common import EXIT_OK, UserError, load, open_store, parse_when
from publisher.config import Config, SecretPolicy, load_config
from publisher.diagnostics import InvalidFileError
from publisher.engine.daemon import CLAIM_AHEAD, Engine, EngineOptions
from publisher.engine.notify import HumanAlerts
from publisher.engine.observe import Health, Metrics, SystemdStatus, health_app, start_health_server
from publisher.engine.runtime import LIVE, REHEARSAL, Mode, build_adapters
from publisher.engine.watch import watch_queue
from publisher.logs import setup_logging
from publisher.sdnotify import Notifier, watchdog_task
from publisher.store import Store
from publisher.store.db import is_sqlite

log = logging.getLogger("publisher.run")


def rehearsal_database(config: Config) -> str:
    """Dry runs record into their own SQLite file beside the real one, started afresh."""
    if is_sqlite(config.database_url):
        path = config.database_url.split(":///", 1)[1]
        if path != ":memory:":
            p = Path(path)
            return f"sqlite:///{p.with_name(p.stem + '.dry-run' + p.suffix)}"
    return f"sqlite:///{config.base_dir / 'queue.dry-run.db'}"


@contextlib.asynccontextmanager
async def http_session(config: Config, mode: Mode) -> AsyncIterator[aiohttp.ClientSession | None]:
    if not mode.sends:
        yield None
        return
    t = config.engine.request_timeout.total_seconds()
    timeout = aiohttp.ClientTimeout(total=t, sock_connect=min(10.0, t), sock_read=t)
    connector = aiohttp.TCPConnector(limit=config.engine.concurrency, limit_per_host=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        yield session


def adapter_context(session: aiohttp.ClientSession | None, clock: Clock) -> AdapterContext:
    """Adapters pass ``context.timeout`` on every request (it overrides the session's), so it
    must be the configured ``[engine] request_timeout``."""
    context = AdapterContext(session=session, clock=clock)
    if session is not None:
        context.timeout = session.timeout
    return context


async def main(args: argparse.Namespace) -> int:
    mode = REHEARSAL if args.dry_run else LIVE
    if args.time_travel and not args.dry_run:
        raise UserError("--time-travel only works with --dry-run: a real post is never sent early")
    policy = SecretPolicy.WARN if args.dry_run else SecretPolicy.REQUIRE
    config = load(args.config, policy)
    setup_logging(
        "json" if (args.log_format or config.log.format) == "json" else "text",
        config.log.level,
        background=True,
    )
    clock: Clock = SystemClock()
    if args.time_travel:
        clock = TravelClock(parse_when(args.time_travel, config.timezone), args.speed)
    url = rehearsal_database(config) if args.dry_run else config.database_url
    store = await open_store(config, url=url)
    if args.dry_run:
        await store.wipe()
        log.info(
            "dry run: recording into %s; nothing is sent",
            url.split(":///")[-1],
            extra={"action": "start"},
        )
    tick = None
    if store.dialect == "postgresql" and isinstance(clock, SystemClock):
        # Several daemons: due times and leases follow the database server's clock.
        db_clock = OffsetClock(clock)

        async def tick() -> None:
            db_now = await store.db_now()
            if db_now is not None:
                db_clock.offset = db_now - SystemClock().now()

        await tick()
        clock = db_clock
    try:
        return await serve(config, store, clock, mode, once=args.once, policy=policy, tick=tick)
    finally:
        await store.close()


async def serve(
    config: Config,
    store: Store,
    clock: Clock,
    mode: Mode,
    *,
    once: bool,
    policy: SecretPolicy = SecretPolicy.REQUIRE,
    notifier: Notifier | None = None,
    tick: Callable[[], Awaitable[None]] | None = None,
) -> int:
    notifier = notifier or Notifier()
    async with http_session(config, mode) as session:
        context = adapter_context(session, clock)
        # Metrics only for a daemon that serves them: nobody could read them otherwise.
        serves = bool(config.metrics.listen) and not once
        metrics = Metrics(store) if serves else None
        health = Health(clock)
        systemd = SystemdStatus(notifier, store, config.timezone, clock)
        alerts = HumanAlerts(config.notify, session)
        engine = Engine(
            config,
            store,
            clock,
            build_adapters(config, context, mode),
            mode,
            EngineOptions(
                once=once,
                # `run --once` publishes what is due now; the daemon claims a little ahead.
                lead=timedelta(0) if once else CLAIM_AHEAD,
                lease=config.lease.duration,
                heartbeat=config.lease.heartbeat,
                tick=tick,
            ),
            observers=[o for o in (metrics, health, systemd, alerts) if o is not None],
        )

        def reload() -> None:
            """SIGHUP: re-read the config where safe, then the queue."""
            notifier.reloading()
            try:
                fresh = load_config(config.path, secrets=policy)
            except InvalidFileError as err:
                for d in err.diagnostics:
                    log.error("%s", d, extra={"action": "reload"})
                log.error(
                    "new configuration refused; the running one stays", extra={"action": "reload"}
                )
            else:
                why = unsafe_reload(engine.config, fresh)
                if why:
                    log.error(
                        "configuration not reloaded: %s (restart the service)",
                        why,
                        extra={"action": "reload"},
                    )
                else:
                    engine.replace_config(fresh, build_adapters(fresh, context, mode))
                    log.info("configuration reloaded", extra={"action": "reload"})
            engine.request_sync()
            notifier.ready()

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, engine.stop)
        loop.add_signal_handler(signal.SIGINT, engine.stop)
        loop.add_signal_handler(signal.SIGHUP, reload)
        background: list[asyncio.Task[None]] = [asyncio.create_task(watchdog_task(notifier))]
        if not once:
            background.append(
                asyncio.create_task(
                    watch_queue(config.queue_path, engine.request_sync, config.engine.debounce)
                )
            )
        runner = None
        if metrics is not None:
            try:
                runner = await start_health_server(
                    health_app(metrics, health), config.metrics.listen
                )
            except OSError as err:
                raise UserError(
                    f"{config.path}: [metrics] listen = {config.metrics.listen!r}: "
                    f"cannot listen there: {err.strerror or err}"
                ) from None
        try:
            await engine.run()
        finally:
            notifier.stopping("stopping")
            await alerts.drain()
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if runner is not None:
                await runner.cleanup()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        log.info("stopped", extra={"action": "stop"})
    return EXIT_OK


def unsafe_reload(old: Config, new: Config) -> str | None:
    """What a SIGHUP cannot change in a running daemon."""
    if old.database_url != new.database_url:
        return "the database changed"
    if old.queue_path != new.queue_path:
        return "the queue file path changed"
    if old.metrics != new.metrics:
        return "the metrics listener changed"
    return None
