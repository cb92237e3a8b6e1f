"""``publisher web``: the read-only web view on an editor's machine, on the local file and
store (no network). Loopback by default; any other address needs ``[web] token``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

DEFAULT_LISTEN = "127.0.0.1:8080"


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "web",
        help="read-only web view: calendar, previews, status, audit (on 127.0.0.1)",
        description="Serve the calendar, the previews, the status and the audit as web pages, "
        "read-only. See docs/web.md.",
    )
    common(p)
    p.add_argument(
        "--listen",
        metavar="HOST:PORT",
        default=DEFAULT_LISTEN,
        help=f"where to listen (default: {DEFAULT_LISTEN}); any address but loopback needs "
        "[web] token",
    )
    p.set_defaults(handler=main)


async def main(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from aiohttp import web

    from publisher.clock import SystemClock
    from publisher.commands.common import EXIT_OK, UserError, load
    from publisher.config import SecretPolicy, parse_listen
    from publisher.web.app import View, add_routes, check_bind
    from publisher.web.inbox import inbox_summary

    try:
        host, port = parse_listen(args.listen)
    except ValueError as err:
        raise UserError(f"--listen: {err}") from None
    config = load(args.config, SecretPolicy.WARN)
    check_bind(host, config.web.token, f"--listen {args.listen}")
    app = web.Application()
    add_routes(
        app, View(config, SystemClock(), config.web.token, sections={"Inbox": inbox_summary})
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as err:
        await runner.cleanup()
        raise UserError(f"--listen {args.listen}: cannot listen there: {err.strerror}") from None
    shown = f"[{host}]" if ":" in host else host
    print(f"publisher web: http://{shown}:{port}/ (read-only; Ctrl-C stops it)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
    return EXIT_OK
