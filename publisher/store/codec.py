"""JSON forms of what the store keeps: a delivery's content and its remote parts.

The content is stored with the delivery so the daemon can publish from the last good plan
even when the queue file is broken or gone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adapters.base import LinkCard, MediaItem, PostContent, RemotePart, ThreadMode


def content_to_json(c: PostContent) -> str:
    data: dict[str, Any] = {
        "post_id": c.post_id,
        "account": c.account,
        "network": c.network,
        "text": c.text,
        "media": [
            {"path": str(m.path), "alt": m.alt, "mime_type": m.mime_type, "size": m.size}
            for m in c.media
        ],
        "thread": c.thread.value,
        "extra_parts": list(c.extra_parts),
        "link": None
        if c.link is None
        else {
            "url": c.link.url,
            "title": c.link.title,
            "description": c.link.description,
            "thumb": str(c.link.thumb) if c.link.thumb else None,
        },
        "language": c.language,
        "options": dict(c.options),
    }
    return json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)


def content_from_json(text: str) -> PostContent:
    d = json.loads(text)
    link = d.get("link")
    return PostContent(
        post_id=d["post_id"],
        account=d["account"],
        network=d["network"],
        text=d["text"],
        media=tuple(
            MediaItem(Path(m["path"]), m["alt"], m["mime_type"], int(m["size"])) for m in d["media"]
        ),
        thread=ThreadMode(d["thread"]),
        extra_parts=tuple(d.get("extra_parts", ())),
        link=None
        if link is None
        else LinkCard(
            link["url"],
            link.get("title", ""),
            link.get("description", ""),
            Path(link["thumb"]) if link.get("thumb") else None,
        ),
        language=d.get("language"),
        options=d.get("options", {}),
    )


def parts_to_json(parts: tuple[RemotePart, ...] | list[RemotePart]) -> str:
    return json.dumps(
        [
            {"index": p.index, "remote_id": p.remote_id, "url": p.url, "extra": dict(p.extra)}
            for p in parts
        ],
        sort_keys=True,
    )


def parts_from_json(text: str | None) -> tuple[RemotePart, ...]:
    if not text:
        return ()
    return tuple(
        RemotePart(int(p["index"]), p["remote_id"], p.get("url"), p.get("extra") or {})
        for p in json.loads(text)
    )
