"""``publisher resolve ID published|resend|drop``: a human settles what the daemon could not.

For an ``unknown`` delivery (the network could not tell whether it went out) or a ``failed``
one. Every decision is written to the ledger with who-knows-what: the operator's word.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from publisher import lifecycle
from publisher.commands.common import EXIT_OK, UserError, load, open_store

Decision = lifecycle.Hand
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
    # Loaded here, not at the top: ``--help`` imports this module.
    from publisher.clock import SystemClock
    from publisher.config import SecretPolicy
    from publisher.states import Outcome
    from publisher.store import Attempt, Transition

    config = load(args.config, SecretPolicy.WARN)
    decision = Decision(args.decision)
    store = await open_store(config)
    try:
        d = await store.get(args.delivery)
        if d is None:
            raise UserError(f"no delivery #{args.delivery}")
        now = SystemClock().now()
        change = lifecycle.by_hand(d.state, decision, now=now)
        if isinstance(change, lifecycle.Refused):
            raise UserError(
                f"delivery #{d.id} ({d.post_id} → {d.account}) is {d.state.value}; "
                f"{change.why.value}"
            )
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
        # Where it is on the network, for a change that records a publication only.
        where = change.publishes
        t = Transition.of(
            d,
            change,
            now,
            remote_id=args.remote_id if where else None,
            remote_url=args.url if where else None,
            attempt=attempt,
        )
        if await store.finish([t]):
            raise UserError(f"delivery #{d.id} changed meanwhile; look at `publisher status` again")
    finally:
        await store.close()
    print(f"#{d.id} {d.post_id} → {d.account}: {t.state.value}")
    return EXIT_OK
