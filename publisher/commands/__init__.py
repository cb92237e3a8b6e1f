"""Command implementations; ``publisher.cli`` only parses arguments and dispatches here."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

EXTRA: tuple[str, ...] = ("accounts", "resolve", "audit", "history")

Register = Callable[[Any, Callable[[argparse.ArgumentParser], None]], None]


def extra_commands() -> list[Register]:
    """Commands that register their own sub-parsers (audit, history, resolve, accounts)."""
    import importlib

    return [importlib.import_module(f"publisher.commands.{name}").register for name in EXTRA]


def dispatch(args: argparse.Namespace) -> int:
    from publisher.commands import dryrun, run, status, validate

    table: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
        "run": run.main,
        "validate": validate.main,
        "dry-run": dryrun.main,
        "status": status.main,
    }
    handler = table.get(args.command) or getattr(args, "handler", None)
    if handler is None:
        print(f"publisher: unknown command {args.command}", file=sys.stderr)
        return 2
    from publisher.commands.common import UserError

    try:
        code: int = asyncio.run(handler(args))
        return code
    except UserError as err:
        print(f"publisher: {err}", file=sys.stderr)
        return err.exit_code
