"""The LinkedIn server's Comments API (``/rest/socialActions/{urn}/comments``), as strict as
the rest of it.

* ``GET`` on a post's URN lists the comments on the post itself; on a comment's URN, the
  comments on that comment (its thread). ``start``/``count`` (1 to 100) only, ``paging.total``
  given; comments come oldest first.
* ``POST`` on a post's URN makes a comment on the post (no ``parentComment``); on a comment's
  URN, a comment on that comment: ``parentComment`` must name it and ``object`` its post.
  Threads go one level deep, as on LinkedIn: a comment on a comment's comment is refused.
  ``actor`` must be the author the token serves; ``message.text`` at most 1,250 characters;
  ``content`` (images) is not modelled and refused.
* The comment documents have LinkedIn's shape: ``actor``, ``object``, ``message``
  (``text``, ``attributes``), ``id``, ``$URN`` and ``commentUrn``, ``created`` and
  ``lastModified`` (``actor``, ``time`` in ms), ``parentComment`` for a comment's comment.

Shapes: learn.microsoft.com/linkedin/marketing/community-management/shares/comments-api.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote

from tests.networks.linkedin.documents import UNRECOGNIZED, error_body, input_error

COMMENT_FIELDS = frozenset({"actor", "object", "message", "parentComment", "content"})
MAX_COMMENT = 1_250


class Refused(Exception):
    """Answer with ``status`` and LinkedIn's error document ``doc``."""

    def __init__(self, status: int, doc: dict[str, Any]) -> None:
        super().__init__(str(doc.get("message")))
        self.status, self.doc = status, doc


@dataclass
class RecordedComment:
    urn: str
    actor: str
    object: str  # the post
    text: str
    created_at: datetime
    parent: str | None = None  # the comment it comments on

    def doc(self) -> dict[str, Any]:
        ms = int(self.created_at.timestamp() * 1000)
        comment_id = self.urn.rsplit(",", 1)[-1].rstrip(")")
        doc: dict[str, Any] = {
            "actor": self.actor,
            "object": self.object,
            "message": {"text": self.text, "attributes": []},
            "id": comment_id,
            "$URN": self.urn,
            "commentUrn": self.urn,
            "created": {"actor": self.actor, "time": ms},
            "lastModified": {"actor": self.actor, "time": ms},
        }
        if self.parent is not None:
            doc["parentComment"] = self.parent
        return doc


def comment_urn(post: str, number: int) -> str:
    return f"urn:li:comment:(urn:li:activity:{post.rsplit(':', 1)[-1]},{number})"


def comment_url(post: str, comment: str) -> str:
    return f"https://www.linkedin.com/feed/update/{post}/?commentUrn={quote(comment, safe='')}"


def listing(
    comments: list[RecordedComment], post: str, parent: str | None, query: str
) -> dict[str, Any]:
    """The answer to ``GET`` on ``parent`` (a comment) or, without one, on ``post``."""
    params = dict(parse_qsl(query))
    unknown = sorted(set(params) - {"start", "count"})
    if unknown:
        raise Refused(400, error_body(400, f"strict server: unknown parameter {unknown[0]}"))
    try:
        start, count = int(params.get("start", "0")), int(params.get("count", "10"))
    except ValueError:
        raise Refused(400, error_body(400, "count and start must be integers")) from None
    if not 1 <= count <= 100 or start < 0:
        raise Refused(400, error_body(400, "count must be 1 to 100, start at least 0"))
    found = [c.doc() for c in comments if c.object == post and c.parent == parent]
    return {
        "paging": {"start": start, "count": count, "links": [], "total": len(found)},
        "elements": found[start : start + count],
    }


def create(
    comments: list[RecordedComment],
    doc: dict[str, Any],
    post: str,
    on: RecordedComment | None,
    author: str,
    new_urn: Callable[[], str],
    now: datetime,
) -> RecordedComment:
    """A comment made by ``POST`` on ``on`` (a comment) or, without one, on ``post``."""
    for key in doc:
        if key not in COMMENT_FIELDS:
            raise Refused(422, input_error(f"/{key}", UNRECOGNIZED))
    if "content" in doc:
        raise Refused(422, input_error("/content", "strict server: content not modelled"))
    for key in ("actor", "message"):
        if key not in doc:
            raise Refused(422, input_error(f"/{key}", "field is required but not found"))
    if doc.get("object", post) != post:
        raise Refused(422, input_error("/object", "object must be the post commented on"))
    parent = doc.get("parentComment")
    if on is None and parent is not None:
        raise Refused(
            422,
            input_error(
                "/parentComment", "strict server: a comment on a comment is made on its URN's path"
            ),
        )
    if on is not None:
        if parent != on.urn:
            raise Refused(
                422, input_error("/parentComment", "parentComment must be the comment in the path")
            )
        if on.parent is not None:
            raise Refused(
                422,
                input_error("/parentComment", "a comment on a comment's comment is not allowed"),
            )
    if doc["actor"] != author:
        raise Refused(
            403,
            error_body(
                403, f"Not enough permissions to comment as {doc['actor']}", "ACCESS_DENIED"
            ),
        )
    message = doc["message"]
    if not isinstance(message, dict) or set(message) - {"text", "attributes"}:
        raise Refused(422, input_error("/message", "expected {text, attributes}"))
    text = message.get("text")
    if not isinstance(text, str) or not text.strip():
        raise Refused(422, input_error("/message/text", "field is required"))
    if len(text) > MAX_COMMENT:
        raise Refused(
            422, input_error("/message/text", f"length of text exceeds {MAX_COMMENT} characters")
        )
    comment = RecordedComment(new_urn(), doc["actor"], post, text, now, parent)
    comments.append(comment)
    return comment
