"""``publisher inbox``: what people said to our accounts and what the watches found; and
``publisher inbox handle|ignore|reopen ID...`` to say what was done about it.

The daemon gathers the items (``publisher.engine.listen``); an answer is an ordinary post
with ``reply_to: ID`` in the queue, and its item turns handled once it is published. This
command only reads the inbox, or changes an item's state when a person says so.
"""

from __future__ import annotations

import argparse
import json
import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from publisher.commands.common import (
    EXIT_OK,
    UserError,
    check_accounts,
    database_exists,
    load,
    open_store,
)

if TYPE_CHECKING:  # the store loads in main: ``--help`` imports this module
    from publisher.config import Config
    from publisher.store.inbox import InboxItem

SCHEMA_VERSION = 1
ACTIONS = {"handle": "handled", "ignore": "ignored", "reopen": "new"}
TEXT_WIDTH = 100  # of an item's text in the table; --json has it whole


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "inbox",
        help="mentions, replies and comments heard, and what the watches found",
        description="What people said to our accounts, newest first; `publisher inbox handle "
        "ID` marks an item handled (an answer with reply_to: ID does it when it is published). "
        "See docs/listening.md.",
    )
    common(p)
    p.add_argument(
        "action",
        nargs="?",
        metavar="handle|ignore|reopen",
        help="mark the items named by ID handled, ignored, or new again",
    )
    p.add_argument("ids", nargs="*", metavar="ID", help="inbox ids (with an action)")
    p.add_argument("--new", action="store_true", help="only items that need a look")
    p.add_argument("--account", metavar="A", action="append", help="only this account")
    p.add_argument("--watch", metavar="W", help="only what this watch found")
    p.add_argument("--limit", type=int, default=50, metavar="N", help="at most N (default 50)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=main)


def _utc(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def item_json(i: InboxItem, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "id": i.id,
        "account": i.account,
        "network": i.network,
        "kind": i.kind,
        "watch": i.watch,
        "author": i.author,
        "author_name": i.author_name,
        "text": i.text,
        "url": i.url or None,
        "said_at": _utc(i.created_at),
        "said_local": i.created_at.astimezone(zone).isoformat(),
        "received_at": _utc(i.received_at),
        "answers": i.answers_post,
        "state": i.state.value,
        "state_at": _utc(i.state_at),
        "answer": i.answer_post,
        "answered_at": _utc(i.answered_at),
    }


def _printable(text: str) -> str:
    """Text from strangers, safe for a terminal: control characters (an escape sequence
    that would rewrite the screen) shown as U+FFFD, whitespace as single spaces."""
    flat = " ".join(text.split())
    return "".join("\ufffd" if unicodedata.category(c)[0] == "C" else c for c in flat)


def _one_line(text: str, width: int) -> str:
    flat = _printable(text)
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def format_table(items: Sequence[InboxItem], zone: ZoneInfo) -> str:
    if not items:
        return "the inbox is empty"
    header = ["id", "said", "account", "kind", "from", "state", "text"]
    table = [header]
    for i in items:
        state = i.state.value
        if i.answer_post and i.answered_at is None:
            state += f" (answer {i.answer_post} planned)"
        kind = i.kind if i.watch is None else f"{i.kind}:{i.watch}"
        table.append(
            [
                str(i.id),
                i.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"),
                i.account,
                kind,
                _one_line(i.author, 40),
                state,
                _one_line(i.text, TEXT_WIDTH),
            ]
        )
        if i.url:
            table.append(["", "", "", "", "", "", _printable(i.url)])
    widths = [max(len(r[c]) for r in table) for c in range(len(header) - 1)]
    return "\n".join(
        "  ".join(
            [c.rjust(widths[0]) if n == 0 else c.ljust(widths[n]) for n, c in enumerate(r[:-1])]
            + [r[-1]]
        ).rstrip()
        for r in table
    )


async def main(args: argparse.Namespace) -> int:
    from publisher.clock import SystemClock
    from publisher.config import SecretPolicy
    from publisher.store.inbox import ItemState

    config = load(args.config, SecretPolicy.WARN)
    zone = config.timezone
    if args.action is not None and args.action not in ACTIONS:
        first = args.action
        if first.isdigit():
            raise UserError(f"an id without an action: publisher inbox handle {first}")
        raise UserError(f"unknown action {first!r}: handle, ignore or reopen")
    if args.action is not None and not args.ids:
        raise UserError(f"publisher inbox {args.action} needs the ids of the items")
    bad = [i for i in args.ids if not i.isdigit()]
    if bad:
        raise UserError(f"not an inbox id: {bad[0]} (ids are numbers: see `publisher inbox`)")
    if args.limit < 1:
        raise UserError("--limit must be 1 or more")
    if not database_exists(config):
        raise UserError(f"no database yet at {config.database_url}: run `publisher run` first")
    if args.account:
        check_accounts(args.account, set(config.accounts))
    unknown_watch = args.watch is not None and args.watch not in {w.name for w in config.watches}
    store = await open_store(config, readonly=args.action is None)
    try:
        if args.action is not None:
            state = ItemState(ACTIONS[args.action])
            now = SystemClock().now()
            missing = [i for i in args.ids if not await store.set_item_state(int(i), state, now)]
            if missing:
                raise UserError(f"no inbox item {', '.join(missing)}")
            print(f"{len(args.ids)} item{'s' if len(args.ids) != 1 else ''} {state.value}")
            return EXIT_OK
        items = await store.inbox_items(
            states=[ItemState.NEW] if args.new else [],
            accounts=args.account or [],
            watch=args.watch,
            limit=args.limit,
        )
    finally:
        await store.close()
    if unknown_watch and not items:  # a watch removed from the config keeps its items
        raise UserError(f"no watch named {args.watch!r} in {config.path.name}, nor items of one")
    if args.json:
        doc = {
            "schema": SCHEMA_VERSION,
            "timezone": zone.key,
            "items": [item_json(i, zone) for i in items],
        }
        print(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        print(format_table(items, zone))
        for line in unheard(config):
            print(line)
    return EXIT_OK


def unheard(config: Config) -> list[str]:
    """What each listening network cannot hear, said once per network under the table."""
    from publisher.adapters.registry import adapter_class

    out = []
    for network in sorted({a.network for a in config.accounts.values() if a.listen}):
        hearing = adapter_class(network).listening
        if hearing is not None and hearing.limits:
            out.append(f"note: {network}: {' '.join(hearing.limits.split())}")
    return out
