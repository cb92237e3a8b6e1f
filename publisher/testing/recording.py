"""The recording adapter: publishes nowhere, remembers what it was asked, fails on demand.

For engine tests (scheduling, retries, concurrency) that are about when and what is sent,
not about a network: every ``publish`` is kept as a ``Call``; ``script`` makes the next
publishes raise; ``gate`` holds them until the test lets them go.

``ListeningRecorder`` also listens (issue 20): the test hands it what the network says
(``say``), and it pages it out behind a cursor as a network's notifications endpoint would;
``read_script`` makes reads fail, ``read_gate`` holds them (a slow endpoint).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, ClassVar

from publisher.adapters.base import (
    AdapterContext,
    AdapterError,
    DeliveryRef,
    Heard,
    HeardPage,
    ItemKind,
    Listening,
    MediaItem,
    OwnPost,
    PostContent,
    Published,
    RemotePart,
    Rendered,
)
from publisher.adapters.log import LogAdapter
from publisher.clock import Clock
from publisher.config import Config


@dataclass
class Call:
    account: str
    post_id: str
    at: datetime  # by the adapter's clock
    texts: list[str]  # each part's text
    done: int  # parts already out before this call (a resumed thread)
    payloads: list[Mapping[str, Any]] = field(default_factory=list)  # each part's payload


class RecordingAdapter(LogAdapter):
    """A log-network adapter that records what it publishes and can be told to fail."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[Call] = []
        self.script: list[AdapterError | None] = []  # consumed one per publish
        self.gate: asyncio.Event | None = None  # when set, publish waits for it

    async def publish(
        self, rendered: Rendered, ref: DeliveryRef, done: Sequence[RemotePart] = ()
    ) -> Published:
        self.calls.append(
            Call(
                self.account,
                ref.post_id,
                self.context.clock.now(),
                [p.text for p in rendered.parts],
                len(done),
                [p.payload for p in rendered.parts],
            )
        )
        if self.gate is not None:
            await self.gate.wait()
        if self.script:
            err = self.script.pop(0)
            if err is not None:
                raise err
        return Published(
            tuple(
                RemotePart(
                    p.index,
                    f"{ref.part_key(p.index)}",
                    f"https://log.example/{ref.post_id}/{p.index}",
                )
                for p in rendered.parts
            )
        )


def recording_adapters(config: Config, clock: Clock) -> dict[str, RecordingAdapter]:
    """One recording adapter for each of the config's accounts, on ``clock``."""
    ctx = AdapterContext(session=None, clock=clock)
    return {
        name: RecordingAdapter(name, acc.settings, ctx) for name, acc in config.accounts.items()
    }


@dataclass
class Read:
    stream: str  # "inbox", or the terms searched joined by ","
    cursor: str | None
    own_posts: list[str]  # remote ids handed to a per-post read


class ListeningRecorder(RecordingAdapter):
    """A recording adapter that hears what the test says, ``page_size`` items a read, in
    the order said; the cursor is the number of items read so far. An answer's payload
    carries ``in_reply_to`` (the item's remote id), so a test sees what it answers."""

    listening: ClassVar[Listening | None] = Listening(
        kinds=(ItemKind.MENTION, ItemKind.REPLY, ItemKind.QUOTE), search=True
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.said: list[Heard] = []  # the inbox, oldest first
        self.found: list[Heard] = []  # what a search finds, oldest first
        self.page_size = 20
        self.reads: list[Read] = []
        self.read_script: list[AdapterError | None] = []  # consumed one per read
        self.read_gate: asyncio.Event | None = None  # when set, reads wait for it

    def say(
        self,
        text: str,
        *,
        kind: ItemKind = ItemKind.MENTION,
        author: str = "@ana",
        answers: str = "",
        at: datetime | None = None,
        found: bool = False,
    ) -> Heard:
        """Something said to the account (or, ``found``, matching a search), now."""
        into = self.found if found else self.said
        n = len(self.said) + len(self.found) + 1
        item = Heard(
            remote_id=f"{self.account}-{'found' if found else 'said'}-{n}",
            kind=ItemKind.FOUND if found else kind,
            author=author,
            text=text,
            url=f"https://log.example/{self.account}/heard/{n}",
            created_at=at or self.context.clock.now(),
            answers=answers,
            reply={"thread": f"thread-{n}"},
        )
        into.append(item)
        return item

    def build_payload(
        self, text: str, media: Sequence[MediaItem], index: int, total: int, content: PostContent
    ) -> Mapping[str, Any]:
        body = dict(super().build_payload(text, media, index, total, content))
        if index == 0 and content.reply_to is not None:
            body["in_reply_to"] = content.reply_to.remote_id
            body["thread"] = content.reply_to.refs.get("thread", "")
        return body

    async def read_inbox(self, cursor: str | None, own_posts: Sequence[OwnPost]) -> HeardPage:
        self.reads.append(Read("inbox", cursor, [p.remote_id for p in own_posts]))
        return await self._page(self.said, cursor)

    async def search(self, terms: Sequence[str], cursor: str | None) -> HeardPage:
        self.reads.append(Read(",".join(terms), cursor, []))
        return await self._page(self.found, cursor)

    async def _page(self, items: list[Heard], cursor: str | None) -> HeardPage:
        if self.read_gate is not None:
            await self.read_gate.wait()
        if self.read_script:
            err = self.read_script.pop(0)
            if err is not None:
                raise err
        start = int(cursor) if cursor is not None else max(0, len(items) - self.page_size)
        page = items[start : start + self.page_size]
        end = start + len(page)
        return HeardPage(tuple(page), str(end), more=end < len(items))


def listening_adapters(config: Config, clock: Clock) -> dict[str, ListeningRecorder]:
    """One listening recorder for each of the config's accounts, on ``clock``."""
    ctx = AdapterContext(session=None, clock=clock)
    return {
        name: ListeningRecorder(name, acc.settings, ctx) for name, acc in config.accounts.items()
    }


def listening(config: Config, **changes: Any) -> Config:
    """``config`` with every account listening (the ``log`` network does not, so a test of
    the listener turns it on), and ``changes`` to each account (``listen_interval=...``)."""
    accounts = {n: replace(a, listen=True, **changes) for n, a in config.accounts.items()}
    return replace(config, accounts=accounts)
