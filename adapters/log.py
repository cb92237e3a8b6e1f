"""The ``log`` network: publishes to the daemon's log. For demos, tests and adapter authors.

Each part's line shows its text as the editor wrote it, never scrubbed: masking a secret an
editor pasted into a post would tell them their guess was right (``***`` where a wrong guess
shows itself). What the editor wrote is content, not one of our secrets: on a real network it
would be published for everyone to read, and here the log is where it is published.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from publisher.adapters.base import (
    MIN_LENGTH_LIMIT,
    AccountCheck,
    AccountSettings,
    Adapter,
    Capabilities,
    CheckStatus,
    Comments,
    DeliveryRef,
    LengthRule,
    MediaItem,
    MediaLimits,
    PostContent,
    Published,
    RemotePart,
    Rendered,
    Role,
)
from publisher.redact import Verbatim
from publisher.text import grapheme_length

log = logging.getLogger("publisher.network.log")

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


class LogSettings(AccountSettings):
    max_length: int = Field(default=500, ge=MIN_LENGTH_LIMIT)
    label: str = ""


class LogAdapter(Adapter):
    network = "log"
    Settings = LogSettings

    def capabilities(self) -> Capabilities:
        assert isinstance(self.settings, LogSettings)
        length = LengthRule(grapheme_length, self.settings.max_length)
        return Capabilities(
            network="log",
            length=length,
            media=MediaLimits(
                max_images=4,
                max_videos=1,
                max_image_bytes=50_000_000,
                max_video_bytes=500_000_000,
                image_types=IMAGE_TYPES,
                video_types=frozenset({"video/mp4"}),
                alt_text_max=1500,
            ),
            threads=True,
            comments=Comments(length),  # a reply to the post, as a thread part is
        )

    def build_payload(
        self, text: str, media: Sequence[MediaItem], index: int, total: int, content: PostContent
    ) -> Mapping[str, Any]:
        body: dict[str, Any] = {"text": text}
        if media:
            body["media"] = [{"file": m.filename, "alt": m.alt} for m in media]
        if index:
            body["reply_to"] = f"<part:{index - 1}>"
        return body

    async def publish(
        self, rendered: Rendered, ref: DeliveryRef, done: Sequence[RemotePart] = ()
    ) -> Published:
        parts = list(done)
        for part in rendered.parts[len(done) :]:
            remote_id = f"{ref.part_key(part.index)}"
            what = (
                "first comment"
                if part.role is Role.COMMENT
                else f"part {part.index + 1}/{len(rendered.post_parts)}"
            )
            log.info(
                "%s %s (%d/%d): %s",
                self.account,
                what,
                part.length,
                part.limit or rendered.limit,
                Verbatim(json.dumps(part.text, ensure_ascii=False)),
                extra={
                    "action": "publish",
                    "post": ref.post_id,
                    "account": self.account,
                    "network": self.network,
                },
            )
            parts.append(RemotePart(part.index, remote_id, None))
        return Published(tuple(parts))

    async def check(self) -> AccountCheck:
        return AccountCheck(
            CheckStatus.OK, identity=self.account, detail="the log needs no credentials"
        )
