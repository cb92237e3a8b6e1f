"""JSON forms of what the store keeps: a delivery's content and its remote parts.

The content is stored with the delivery so the daemon can publish from the last good plan
even when the queue file is broken or gone. A media file is stored as its root and its path
beneath it (``MediaRef``); rows written before media roots hold an absolute ``path`` only,
read back as such and placed under the roots in force when they are sent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from publisher.content import (
    LinkCard,
    MediaItem,
    MediaRef,
    PostContent,
    RemotePart,
    ReplyTarget,
    ThreadMode,
)


def content_to_json(c: PostContent) -> str:
    data: dict[str, Any] = {
        "post_id": c.post_id,
        "account": c.account,
        "network": c.network,
        "text": c.text,
        "media": [_media_to_json(m) for m in c.media],
        "thread": c.thread.value,
        "extra_parts": list(c.extra_parts),
        "link": None
        if c.link is None
        else {
            "url": c.link.url,
            "title": c.link.title,
            "description": c.link.description,
            # "thumb" keeps its old form (a path) for older readers; "thumb_file" is read.
            "thumb": str(c.link.thumb.file.path) if c.link.thumb else None,
            "thumb_file": _media_to_json(c.link.thumb) if c.link.thumb else None,
        },
        "language": c.language,
        "options": dict(c.options),
    }
    if c.first_comment:  # only when set: rows without one read as they always did
        data["first_comment"] = c.first_comment
    if c.reply_to is not None:  # likewise: only answers carry it
        r = c.reply_to
        data["reply_to"] = {
            "ref": r.ref,
            "network": r.network,
            "remote_id": r.remote_id,
            "refs": dict(r.refs),
            "item": r.item,
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
        media=tuple(_media_from_json(m) for m in d["media"]),
        thread=ThreadMode(d["thread"]),
        extra_parts=tuple(d.get("extra_parts", ())),
        link=None
        if link is None
        else LinkCard(
            link["url"],
            link.get("title", ""),
            link.get("description", ""),
            _thumb_from_json(link),
        ),
        language=d.get("language"),
        options=d.get("options", {}),
        first_comment=d.get("first_comment") or "",
        reply_to=_reply_from_json(d.get("reply_to")),
    )


def _reply_from_json(r: dict[str, Any] | None) -> ReplyTarget | None:
    if not r:
        return None
    item = r.get("item")
    return ReplyTarget(
        str(r["ref"]),
        r.get("network", ""),
        r.get("remote_id", ""),
        dict(r.get("refs") or {}),
        int(item) if item is not None else None,
    )


def _media_to_json(m: MediaItem) -> dict[str, Any]:
    ref = m.file
    out: dict[str, Any] = {"alt": m.alt, "mime_type": m.mime_type, "size": m.size}
    if ref.root is not None:
        out.update(root=str(ref.root), file=ref.rel, name=ref.name)
    out["path"] = str(ref.path)  # what rows held before roots (and older versions read)
    return out


def _media_from_json(m: dict[str, Any]) -> MediaItem:
    if "root" in m:
        ref = MediaRef(Path(m["root"]), m["file"], m.get("name") or m["file"])
    else:  # stored before media roots: an absolute path, placed under the roots when sent
        ref = MediaRef(None, m["path"], Path(m["path"]).name)
    return MediaItem(ref, m.get("alt", ""), m.get("mime_type", ""), int(m.get("size", 0)))


def _thumb_from_json(link: dict[str, Any]) -> MediaItem | None:
    if link.get("thumb_file"):
        return _media_from_json(link["thumb_file"])
    thumb = link.get("thumb")
    if not thumb:
        return None
    # Stored before media roots: its absolute path alone, placed under the roots when sent.
    return MediaItem(MediaRef(None, thumb, Path(thumb).name), "", "", 0)


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
