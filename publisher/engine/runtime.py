"""Building the adapters a run needs, and the mode that decides what "publish" means.

A dry run goes through the very same pipeline as a real one; only the ``Mode`` differs:
its adapters render and record instead of sending, and success is recorded as ``dry-run``.
Its log shows each part's length and digest, not the payload: the log never carries a
post's content (``publisher.redact``); ``publisher dry-run`` shows the payloads.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from publisher.adapters.base import (
    AccountCheck,
    Adapter,
    AdapterContext,
    Capabilities,
    LookupResult,
    Unknowable,
)
from publisher.adapters.registry import adapter_class
from publisher.config import Config
from publisher.content import DeliveryRef, MediaItem, PostContent, Published, RemotePart, Rendered
from publisher.queueset import media_roots
from publisher.redact import PostScope, Verbatim
from publisher.states import DeliveryState, Outcome

log = logging.getLogger("publisher.dry-run")


class RehearsalAdapter(Adapter):
    """Wraps a real adapter: renders with its rules, records instead of sending."""

    def __init__(self, inner: Adapter) -> None:
        super().__init__(inner.account, inner.settings, inner.context)
        self.inner = inner
        self.network = inner.network  # type: ignore[misc]

    def capabilities(self) -> Capabilities:
        return self.inner.capabilities()

    def render(self, content: PostContent) -> Rendered:
        return self.inner.render(content)

    def build_payload(
        self, text: str, media: Sequence[MediaItem], index: int, total: int, content: PostContent
    ) -> Mapping[str, Any]:
        return self.inner.build_payload(text, media, index, total, content)

    def build_comment(self, text: str, content: PostContent) -> Mapping[str, Any]:
        return self.inner.build_comment(text, content)

    async def publish(
        self, rendered: Rendered, ref: DeliveryRef, done: Sequence[RemotePart] = ()
    ) -> Published:
        parts = list(done)
        for part in rendered.parts[len(done) :]:
            payload = json.dumps(part.payload, ensure_ascii=False, default=str)
            log.info(
                "dry-run %s → %s part %d/%d (%d/%d): %s",
                ref.post_id,
                self.account,
                part.index + 1,
                len(rendered.parts),
                part.length,
                rendered.limit,
                # As written: the payload carries the editor's text and no credential, and
                # masking the text would confirm a guessed secret (publisher.redact).
                Verbatim(payload),
                extra={
                    "action": "dry-run",
                    "post": ref.post_id,
                    "account": self.account,
                    "network": rendered.network,
                },
            )
            parts.append(RemotePart(part.index, f"dry-run:{ref.part_key(part.index)}"))
        return Published(tuple(parts))

    async def lookup(self, ref: DeliveryRef, rendered: Rendered, since: datetime) -> LookupResult:
        return Unknowable("a dry run never sends, so it never needs a lookup")

    async def check(self) -> AccountCheck:
        return await self.inner.check()


@dataclass(frozen=True)
class Mode:
    """Real publishing or a rehearsal; the pipeline is the same."""

    name: str
    success_state: DeliveryState
    success_outcome: Outcome
    sends: bool  # whether adapters talk to networks (prepare, lookups)

    def wrap(self, adapter: Adapter) -> Adapter:
        return adapter if self.sends else RehearsalAdapter(adapter)


LIVE = Mode("live", DeliveryState.PUBLISHED, Outcome.PUBLISHED, sends=True)
REHEARSAL = Mode("dry-run", DeliveryState.DRY_RUN, Outcome.DRY_RUN, sends=False)


def build_adapters(config: Config, context: AdapterContext, mode: Mode) -> dict[str, Adapter]:
    # The text layer render needs (twitter-text's tables, a quarter of a second) came with
    # ``publisher.adapters.base``: it is loaded now, not in front of the first post due.
    # Media is read from beneath this config's roots only (a reload brings its own).
    context = replace(context, media=media_roots(config))
    out: dict[str, Adapter] = {}
    for name, account in config.accounts.items():
        cls = adapter_class(account.network)
        out[name] = mode.wrap(cls(name, account.settings, context))
    return out


def post_scope(content: PostContent, rendered: Rendered | None = None) -> PostScope:
    """What the editor wrote for one delivery, for the redactor (``publisher.redact``): the
    names it shows as written, and the content it recognises when a network quotes it."""
    names = [content.post_id, content.account, *(m.name for m in content.media)]
    if content.link is not None and content.link.thumb is not None:
        names.append(content.link.thumb.name)

    def texts() -> Iterator[str]:
        yield content.text
        yield from content.extra_parts
        for m in content.media:
            yield m.alt
        if content.link is not None:
            yield from (content.link.url, content.link.title, content.link.description)
        yield from _strings(content.options)
        for part in rendered.parts if rendered is not None else ():
            yield part.text
            yield from _strings(part.payload)

    return PostScope(names, texts)


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON-like value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)
