"""``publisher run``: the daemon (and ``--once``, ``--dry-run``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from adapters.base import AdapterContext
from publisher.clock import Clock, SystemClock, TravelClock
from publisher.commands.common import EXIT_OK, UserError, load, open_store, parse_when
from publisher.config import Config, SecretPolicy
from publisher.engine.daemon import Engine, EngineOptions
from publisher.engine.runtime import LIVE, REHEARSAL, Mode, build_adapters
from publisher.engine.watch import watch_queue
from publisher.logs import setup_logging
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


async def main(args: argparse.Namespace) -> int:
    mode = REHEARSAL if args.dry_run else LIVE
    if args.time_travel and not args.dry_run:
        raise UserError("--time-travel only works with --dry-run: a real post is never sent early")
    config = load(args.config, SecretPolicy.WARN if args.dry_run else SecretPolicy.REQUIRE)
    setup_logging(args.log_format or config.log.format, config.log.level)
    clock: Clock = SystemClock()
    if args.time_travel:
        clock = TravelClock(parse_when(args.time_travel, config.timezone), args.speed)
    url = rehearsal_database(config) if args.dry_run else config.database_url
    store = await open_store(config, url=url)
    if args.dry_run:
        await store.wipe()
        log.info("dry run: recording into %s; nothing is sent", url.split(":///")[-1],
                 extra={"action": "start"})
    try:
        return await serve(config, store, clock, mode, once=args.once)
    finally:
        await store.close()


async def serve(config: Config, store: Store, clock: Clock, mode: Mode, *, once: bool) -> int:
    async with http_session(config, mode) as session:
        context = AdapterContext(session=session, clock=clock)
        adapters = build_adapters(config, context, mode)
        engine = Engine(config, store, clock, adapters, mode, EngineOptions(once=once))
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, engine.stop)
        loop.add_signal_handler(signal.SIGINT, engine.stop)
        loop.add_signal_handler(signal.SIGHUP, engine.request_sync)
        watcher = None if once else asyncio.create_task(
            watch_queue(config.queue_path, engine.request_sync, config.engine.debounce)
        )
        try:
            await engine.run()
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        log.info("stopped", extra={"action": "stop"})
    return EXIT_OK
