"""``publisher resolve ID published|resend|drop``: a human settles what the daemon could not.

For an ``unknown`` delivery (the network could not tell whether it went out) or a ``failed``
one. Every decision is written to the ledger with who-knows-what: the operator's word.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from publisher.clock import SystemClock
from publisher.commands.common import EXIT_OK, UserError, load, open_store
from publisher.config import SecretPolicy
from publisher.states import DeliveryState, Outcome
from publisher.store import Attempt, Transition


class Decision(StrEnum):
    PUBLISHED = "published"  # it is on the network: record it, never send it
    RESEND = "resend"  # it is not there: send it again now
    DROP = "drop"  # give it up: canceled


RESOLVABLE = frozenset({DeliveryState.UNKNOWN, DeliveryState.FAILED})
MAX_ID = 2**63 - 1  # the databases' integer keys


def delivery_number(text: str) -> int:
    """A delivery number as ``status`` shows it; anything else is a usage error."""
    value = text.strip().lstrip("#")
    # ASCII digits only ("²" is a digit to str.isdigit), and few enough for int() to read.
    if not (value.isascii() and value.isdigit() and len(value) <= 19) or not (
        1 <= int(value) <= MAX_ID
    ):
        shown = text if len(text) <= 30 else text[:30] + "…"
        raise argparse.ArgumentTypeError(
            f"{shown!r} is not a delivery number (the #N that `publisher status` shows)"
        )
    return int(value)


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("resolve", help="settle an unknown or failed delivery by hand")
    common(p)
    p.add_argument(
        "delivery", type=delivery_number, help="the delivery number shown by `publisher status`"
    )
    p.add_argument("decision", choices=[d.value for d in Decision])
    p.add_argument("--url", help="with `published`: the post's address on the network")
    p.add_argument("--remote-id", help="with `published`: the post's id on the network")
    p.set_defaults(handler=main)


async def main(args: argparse.Namespace) -> int:
    config = load(args.config, SecretPolicy.WARN)
    decision = Decision(args.decision)
    store = await open_store(config)
    try:
        d = await store.get(args.delivery)
        if d is None:
            raise UserError(f"no delivery #{args.delivery}")
        if d.state not in RESOLVABLE:
            raise UserError(
                f"delivery #{d.id} ({d.post_id} → {d.account}) is {d.state.value}; "
                "only unknown or failed deliveries are resolved by hand"
            )
        now = SystemClock().now()
        note = f"resolved by hand: {decision.value}"
        attempt = Attempt(
            d.id,
            d.post_id,
            d.account,
            d.network,
            d.attempts,
            now,
            now,
            Outcome.RESOLVED,
            error=note,
            remote_id=args.remote_id,
            remote_url=args.url,
            worker="human",
        )
        if decision is Decision.PUBLISHED:
            t = Transition(
                d.id,
                d.fence,
                DeliveryState.PUBLISHED,
                now,
                published_at=now,
                published_hash=d.content_hash,
                remote_id=args.remote_id,
                remote_url=args.url,
                reason=note,
                attempt=attempt,
            )
        elif decision is Decision.RESEND:
            t = Transition(
                d.id, d.fence, DeliveryState.RETRYING, now, due_at=now, reason=note, attempt=attempt
            )
        else:
            t = Transition(d.id, d.fence, DeliveryState.CANCELED, now, reason=note, attempt=attempt)
        if await store.finish([t]):
            raise UserError(f"delivery #{d.id} changed meanwhile; look at `publisher status` again")
    finally:
        await store.close()
    print(f"#{d.id} {d.post_id} → {d.account}: {t.state.value}")
    return EXIT_OK
