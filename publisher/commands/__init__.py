"""Command implementations; ``publisher.cli`` only parses arguments and dispatches here."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Coroutine
from typing import Any

EXTRA: tuple[str, ...] = (
    "accounts",
    "resolve",
    "audit",
    "history",
    "calendar",
    "feed",
    "inbox",
)
# The commands ``publisher.cli`` defines itself, and the module that runs each: only the
# chosen one is imported.
BUILT_IN: dict[str, str] = {
    "run": "run",
    "validate": "validate",
    "dry-run": "dryrun",
    "status": "status",
}

Register = Callable[[Any, Callable[[argparse.ArgumentParser], None]], None]


def extra_commands() -> list[Register]:
    """Commands that register their own sub-parsers (audit, history, resolve, accounts).

    Each of these modules is imported for ``--help`` too, so it keeps its heavy imports
    inside its handler."""
    return [importlib.import_module(f"publisher.commands.{name}").register for name in EXTRA]


def dispatch(args: argparse.Namespace) -> int:
    import asyncio

    handler: Callable[[argparse.Namespace], Coroutine[Any, Any, int]] | None
    module = BUILT_IN.get(args.command)
    if module is not None:
        handler = importlib.import_module(f"publisher.commands.{module}").main
    else:
        handler = getattr(args, "handler", None)
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
