"""The ``publisher`` command line. Each command lives in ``publisher.commands``.

Arguments are parsed with light imports only: a command's heavy modules (pydantic, aiohttp,
SQLAlchemy, the adapters) load when that command runs, so ``--help`` and ``validate`` start
fast (``tests/test_fast_start.py``, ``bench/startup.py``).

Exit codes: 0 ok, 1 a user-fixable problem (invalid queue, bad config), 2 usage, 75 the
database server cannot be reached (try again), 141 the reader of the output went away
(``publisher history | head``), 130 interrupted, 70 a bug.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import math
import os
import select
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from publisher import __version__

if TYPE_CHECKING:
    from aiohttp import web

    from publisher.clock import Clock
    from publisher.config import Config

EXIT_OK = 0
EXIT_USER = 1
EXIT_USAGE = 2
EXIT_BUG = 70  # EX_SOFTWARE; not 1, so systemd restarts the daemon (RestartPreventExitStatus=1 2)
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a tool whose reader left

MAX_SPEED = 100_000.0


def speed(text: str) -> float:
    """``--speed``: a finite factor above 0; NaN or infinity would stop the daemon's clock."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or not 0 < value <= MAX_SPEED:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the speed is a number above 0 and at most {MAX_SPEED:g}"
        )
    return value


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="path to publisher.toml (default: ./publisher.toml or $PUBLISHER_CONFIG)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="publisher",
        description="Publish a team's social-media posts from queue.yaml, on time, never twice.",
    )
    parser.add_argument("--version", action="version", version=f"publisher {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="the daemon: sync the queue, publish on time, until SIGTERM")
    _common(run)
    run.add_argument("--once", action="store_true", help="publish what is due now, settle, exit")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="the whole daemon, but adapters render and record instead of sending",
    )
    run.add_argument(
        "--time-travel",
        metavar="TIME",
        help="(dry run only) start the daemon's clock at TIME, e.g. '2026-12-01 08:59'",
    )
    run.add_argument(
        "--speed",
        type=speed,
        default=1.0,
        help="(dry run only, with --time-travel) how many times faster than real time",
    )
    run.add_argument("--log-format", choices=["text", "json"], help="overrides [log] format")
    run.set_defaults(web_view=_web_view)

    val = sub.add_parser(
        "validate",
        help="check config and queue, render every delivery still to publish; exit 1 with "
        "file:line:col lines",
    )
    _common(val)
    val.add_argument(
        "--format",
        choices=["text", "json", "github"],
        default="text",
        help="text (default), json (docs/json.md) or github (GitHub Actions annotations)",
    )

    dry = sub.add_parser("dry-run", help="show exactly what each network would receive")
    _common(dry)
    dry.add_argument("--from", dest="start", metavar="T", help="window start (default: now)")
    dry.add_argument("--until", metavar="T", help="window end (default: no end)")
    dry.add_argument("--account", action="append", help="only this account (repeatable)")
    dry.add_argument("--json", action="store_true", help="machine-readable output (docs/json.md)")

    st = sub.add_parser("status", help="next posts, in flight, and what needs a human")
    _common(st)
    st.add_argument("--json", action="store_true", help="machine-readable output (docs/json.md)")

    from publisher.commands import extra_commands
    from publisher.web.command import register as register_web

    for register in [*extra_commands(), register_web]:
        register(sub, _common)
    return parser


def _web_view(app: web.Application, config: Config, clock: Clock) -> None:
    """The daemon's web view (``[web]``), handed to ``publisher run``: the commands sit below
    the web view and cannot import it."""
    from publisher.web.app import mount

    mount(app, config, clock)


def main(argv: Sequence[str] | None = None) -> int:
    """Every way out is an exit code and at most a line on stderr, never a traceback."""
    _no_collection_at_exit()
    try:
        code = _main(argv)
        sys.stdout.flush()  # a closed pipe must fail here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        if not _stream_broken(sys.stdout) and not _stream_broken(sys.stderr):
            return _bug()  # some other pipe: not the reader of our output going away
        _silence(sys.stdout)
        _silence(sys.stderr)
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("publisher: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:
        return _bug()


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if args.config is None:
        from publisher.config import default_config_path

        args.config = default_config_path()
    from publisher.commands import dispatch

    return dispatch(args)


def _no_collection_at_exit() -> None:
    """At exit the interpreter would run its cyclic collector over every object the imports
    made (classes, pydantic's validators, the text tables) and free them one by one: about a
    fifth of what a short command like ``validate`` costs. Frozen first (``atexit`` runs before
    the modules are torn down), they are left to the process's end, which returns the memory
    whole. Registered once however often ``main`` runs (the tests run it in-process)."""
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)


def _stream_broken(stream: TextIO) -> bool:
    """Whether ``stream``'s reader is gone: the pipe's write end then polls as an error."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError):
        return False  # not a file (captured in a test): no pipe to have lost its reader
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def _silence(stream: TextIO) -> None:
    """Point a broken stream at /dev/null, so the interpreter's last flush has nowhere to
    fail (Python's own advice for SIGPIPE)."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError):
        return  # not a real file (tests capture it): nothing is flushed at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _bug() -> int:
    """One line, scrubbed of secrets: what went wrong and where, and that it is ours."""
    from publisher.secrets import REDACTOR

    exc = sys.exc_info()[1]
    where = ""
    if exc is not None and exc.__traceback__ is not None:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f" (at {Path(frame.filename).name}:{frame.lineno} in {frame.name})"
    what = f"{type(exc).__name__}: {exc}" if exc is not None else "unknown error"
    line = " ".join(what.split())[:300]
    with contextlib.suppress(OSError):  # stderr itself may be gone
        print(
            f"publisher: internal error, this is a bug (please report it): "
            f"{REDACTOR.scrub(line)}{where}",
            file=sys.stderr,
        )
    return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
