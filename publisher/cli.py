"""The ``publisher`` command line. Each command lives in ``publisher.commands``.

Exit codes: 0 ok, 1 a user-fixable problem (invalid queue, bad config), 2 usage, other = bug.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from publisher import __version__
from publisher.config import default_config_path

EXIT_OK = 0
EXIT_USER = 1
EXIT_USAGE = 2


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
        type=float,
        default=1.0,
        help="(dry run only, with --time-travel) how many times faster than real time",
    )
    run.add_argument("--log-format", choices=["text", "json"], help="overrides [log] format")

    val = sub.add_parser("validate", help="check config and queue; exit 1 with file:line:col lines")
    _common(val)

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

    for register in extra_commands():
        register(sub, _common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if args.config is None:
        args.config = default_config_path()
    from publisher.commands import dispatch

    return dispatch(args)


if __name__ == "__main__":
    sys.exit(main())
