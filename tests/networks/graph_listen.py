"""What the Graph networks' listening tests share: reading an inbox to its end, and an
answer's content made from a heard item as sync resolves it."""

from __future__ import annotations

import json
from collections.abc import Sequence

from publisher.adapters.base import (
    Adapter,
    Heard,
    HeardPage,
    OwnPost,
    PostContent,
    ReplyTarget,
)


async def read_all(
    adapter: Adapter, cursor: str | None, own: Sequence[OwnPost], *, reads: int = 20
) -> tuple[list[Heard], str | None, int]:
    """Read until ``more`` is off: everything heard, the cursor, and how many reads."""
    heard: list[Heard] = []
    for count in range(1, reads + 1):
        page: HeardPage = await adapter.read_inbox(cursor, own)
        heard.extend(page.items)
        cursor = page.cursor
        if not page.more:
            return heard, cursor, count
    raise AssertionError(f"still more after {reads} reads")


def answer(heard: Heard, network: str, account: str, text: str, **extra: object) -> PostContent:
    """A post answering ``heard``, its ``reply_to:`` resolved as sync does."""
    target = ReplyTarget(heard.url or heard.remote_id, network, heard.remote_id, heard.reply, 1)
    return PostContent(
        post_id="answer-1",
        account=account,
        network=network,
        text=text,
        reply_to=target,
        **extra,  # type: ignore[arg-type]
    )


def cursor_lists(cursor: str | None) -> set[str]:
    """The lists a cursor keeps a place for."""
    assert cursor is not None
    return set(json.loads(cursor)["lists"])
