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
from typing import TYPE_CHECKING

import aiohttp

from publisher.adapters.base import AdapterContext
from publisher.clock import Clock, OffsetClock, SystemClock, TravelClock
from publisher.commands.common import EXIT_OK, UserError, load, open_store, parse_when
from publisher.config import Config, SecretPolicy, load_config
from publisher.diagnostics import InvalidFileError
from publisher.engine.daemon import CLAIM_AHEAD, Engine, EngineOptions
from publisher.engine.feeds import feed_loop
from publisher.engine.notify import HumanAlerts
from publisher.engine.observe import (
    Health,
    Metrics,
    SystemdStatus,
    health_app,
    start_health_server,
    waiting_app,
)
from publisher.engine.runtime import LIVE, REHEARSAL, Mode, build_adapters
from publisher.engine.watch import watch_queue
from publisher.logs import setup_logging
from publisher.mediahost.build import open_host
from publisher.sdnotify import Notifier, watchdog_task
from publisher.secrets import REDACTOR
from publisher.store import IO_ERRORS, SchemaTooNewError, Store, database_name, io_error
from publisher.store.db import is_sqlite

if TYPE_CHECKING:
    from aiohttp import web

    from publisher.adapters.hosting import MediaHost

log = logging.getLogger("publisher.run")

# The read-only web view (publisher.web, a layer above this one): puts its pages on the app
# it is given; handed over by the command line (``args.web_view``).
WebView = Callable[["web.Application", Config, Clock], None]

REFUSED = "new configuration refused; the running one stays"
# Opening the database at start: tried again after this, doubled up to the maximum.
STORE_RETRY = timedelta(seconds=2)
STORE_RETRY_MAX = timedelta(minutes=1)


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


def adapter_context(
    session: aiohttp.ClientSession | None, clock: Clock, host: MediaHost | None = None
) -> AdapterContext:
    """Adapters pass ``context.timeout`` on every request (it overrides the session's), so it
    must be the configured ``[engine] request_timeout``. ``host``: the ``[media]`` host
    (``open_host``), for networks that fetch media from a URL."""
    context = AdapterContext(session=session, clock=clock, host=host)
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
    notifier = Notifier()
    if args.once:
        store = await open_once(config, url, wipe=args.dry_run)
    else:
        waited = await open_when_ready(config, url, clock, notifier, wipe=args.dry_run)
        if waited is None:
            return EXIT_OK  # stopped while waiting for the database
        store = waited
    if args.dry_run:
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
        return await serve(
            config,
            store,
            clock,
            mode,
            once=args.once,
            policy=policy,
            notifier=notifier,
            tick=tick,
            web_view=getattr(args, "web_view", None),
        )
    finally:
        await store.close()


async def _open(config: Config, url: str, wipe: bool, *, waiting: bool = False) -> Store:
    """The store; ``waiting``: the disk's or database's own errors are raised as they are,
    for ``open_when_ready`` to retry (``open_store`` would make them a one-line exit)."""
    if waiting:
        try:
            store = await Store.open(url)
        except SchemaTooNewError as err:
            raise UserError(str(err)) from None
    else:
        store = await open_store(config, url=url)
    if wipe:
        try:
            await store.wipe()  # a dry run starts afresh
        except BaseException:
            await store.close()
            raise
    return store


async def open_once(config: Config, url: str, *, wipe: bool) -> Store:
    """``run --once`` does not wait: a database it cannot open is a one-line error."""
    try:
        return await _open(config, url, wipe)
    except IO_ERRORS as err:
        raise UserError(f"cannot open the database {database_name(url)}: {io_error(err)}") from None


async def open_when_ready(
    config: Config, url: str, clock: Clock, notifier: Notifier, *, wipe: bool
) -> Store | None:
    """The store, once it opens; None if the daemon is stopped before.

    A database that cannot be opened at start (a file system remounted read-only after a
    crash left its WAL behind, PostgreSQL not up yet) is waited for, not a crash: it comes
    back by itself, and a daemon that exits would be restarted into the same error, a
    restart loop that shows only its last attempt. Meanwhile the daemon is READY=1 with
    STATUS= saying why (systemd would kill a daemon that never gets ready at its start
    timeout), pings the watchdog, logs each try, and stops on SIGTERM.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    latest = [""]  # the last try's error: what /healthz and STATUS= say meanwhile

    def reload() -> None:
        """A reload meanwhile must not end the daemon (SIGHUP's default action): the queue
        is read once the database opens, and the config read at start serves till then."""
        notifier.reloading()
        log.info("reload: waiting for the database first", extra={"action": "reload"})
        notifier.ready(latest[0])

    loop.add_signal_handler(signal.SIGHUP, reload)
    watchdog: asyncio.Task[None] | None = None
    health: web.AppRunner | None = None
    delay = STORE_RETRY
    try:
        while True:
            try:
                return await _open(config, url, wipe, waiting=True)
            except IO_ERRORS as err:
                why = (
                    f"cannot open the database {database_name(url)}: {io_error(err)}; "
                    f"retrying in {delay.total_seconds():.0f}s"
                )
            log.error("%s", why, extra={"action": "db"})
            latest[0] = why
            if watchdog is None:
                if config.metrics.listen:
                    app = waiting_app(lambda: latest[0])
                    try:
                        health = await start_health_server(app, config.metrics.listen)
                    except OSError as err:  # the daemon's own start reports it again
                        log.warning("no /healthz meanwhile: %s", err, extra={"action": "db"})
                notifier.ready(why)  # once /healthz answers
                watchdog = asyncio.create_task(watchdog_task(notifier))
            else:
                notifier.status(why)
            await clock.sleep_until(clock.now() + delay, stop)
            if stop.is_set():
                log.info("stopped before the database could be opened", extra={"action": "stop"})
                return None
            delay = min(delay * 2, STORE_RETRY_MAX)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        if watchdog is not None:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
        if health is not None:
            await health.cleanup()  # the daemon's own server takes the address over


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
    web_view: WebView | None = None,
) -> int:
    notifier = notifier or Notifier()
    # The media host (an S3 client, say) lives as long as the session: closed on shutdown.
    async with http_session(config, mode) as session, open_host(config, session) as host:
        context = adapter_context(session, clock, host)
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
            """SIGHUP: re-read the config where safe, then the queue.

            Whatever goes wrong, the running config stays, the error is logged, the queue is
            synced, and systemd hears READY=1 after RELOADING=1 (else `systemctl reload`
            waits, and the unit shows "reloading" for good).
            """
            notifier.reloading()
            try:
                fresh = load_config(config.path, secrets=policy)
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
            except InvalidFileError as err:
                if len(err.diagnostics) == 1:  # (a directory in its place, say): one line
                    log.error("%s: %s", REFUSED, err.diagnostics[0], extra={"action": "reload"})
                else:
                    for d in err.diagnostics:
                        log.error("%s", d, extra={"action": "reload"})
                    log.error("%s", REFUSED, extra={"action": "reload"})
            except Exception as err:  # an error the config's checks did not foresee
                log.error(
                    "%s: %s",
                    REFUSED,
                    REDACTOR.scrub(f"{type(err).__name__}: {err}".splitlines()[0][:300]),
                    exc_info=True,  # a bug: where it came from (the log scrubs tracebacks)
                    extra={"action": "reload"},
                )
            finally:
                engine.request_sync()
                notifier.ready()

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, engine.stop)
        loop.add_signal_handler(signal.SIGINT, engine.stop)
        loop.add_signal_handler(signal.SIGHUP, reload)
        background: list[asyncio.Task[None]] = [asyncio.create_task(watchdog_task(notifier))]
        feeds_stop = asyncio.Event()
        if not once:
            background.append(
                asyncio.create_task(
                    watch_queue(config.queue_path, engine.request_sync, config.engine.debounce)
                )
            )
            if mode.sends and config.feeds.source:  # a dry run writes no file
                background.append(
                    asyncio.create_task(feed_loop(config, clock, session, feeds_stop))
                )
        runners = await _listeners(config, clock, metrics, health, None if once else web_view)
        try:
            await engine.run()
        finally:
            notifier.stopping("stopping")
            feeds_stop.set()
            await alerts.drain()
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for runner in runners:
                await runner.cleanup()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        log.info("stopped", extra={"action": "stop"})
    return EXIT_OK


async def _listeners(
    config: Config, clock: Clock, metrics: Metrics | None, health: Health, web_view: WebView | None
) -> list[web.AppRunner]:
    """The metrics listener, and the web view on it (``[web] on_metrics``) or on its own
    (``[web] listen``). UserError when an address cannot be listened on, or needs a token."""
    from aiohttp import web

    apps: list[tuple[web.Application, str, str]] = []
    if metrics is not None:
        apps.append((health_app(metrics, health), config.metrics.listen, "[metrics] listen"))
    if web_view is not None and config.web.listen:
        apps.append((web.Application(), config.web.listen, "[web] listen"))
    if web_view is not None and (config.web.listen or config.web.on_metrics):
        if not apps:
            raise UserError(f"{config.path}: [web] on_metrics needs [metrics] listen")
        web_view(apps[-1][0], config, clock)
    runners: list[web.AppRunner] = []
    for app, listen, key in apps:
        try:
            runners.append(await start_health_server(app, listen))
        except OSError as err:
            for runner in runners:
                await runner.cleanup()
            raise UserError(
                f"{config.path}: {key} = {listen!r}: cannot listen there: {err.strerror or err}"
            ) from None
    return runners


def unsafe_reload(old: Config, new: Config) -> str | None:
    """What a SIGHUP cannot change in a running daemon."""
    if old.database_url != new.database_url:
        return "the database changed"
    if old.queue_path != new.queue_path:
        return "the queue file path changed"
    if old.metrics != new.metrics:
        return "the metrics listener changed"
    if old.web != new.web:
        return "the web view's settings changed"
    if host_settings(old) != host_settings(new):
        return "the [media] public host changed"
    return None


def host_settings(config: Config) -> tuple[object, ...]:
    """What the running media host was built from (``[media] roots`` may change)."""
    media = config.media
    return (media.public_dir, media.public_base_url, media.s3, config.base_dir)
