"""The recording adapter: publishes nowhere, remembers what it was asked, fails on demand.

For engine tests (scheduling, retries, concurrency) that are about when and what is sent,
not about a network: every ``publish`` is kept as a ``Call``; ``script`` makes the next
publishes raise; ``gate`` holds them until the test lets them go.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from publisher.adapters.base import (
    AdapterContext,
    AdapterError,
    DeliveryRef,
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
