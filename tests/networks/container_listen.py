"""What the container servers (Instagram, Threads) serve for listening (issue 20), strictly
in each network's documented shapes:

* Instagram (developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/
  ig-comment/replies): ``GET /{ig-comment-id}/replies`` (``fields``, ``limit``, ``after``)
  and ``POST /{ig-comment-id}/replies`` (``message``, answering ``{"id"}``), injection
  endpoints "replies" and "reply"; a media's comments (``GET /{ig-media-id}/comments``,
  in ``tests.networks.containers``) expand their ``replies`` edge.
* Threads (developers.facebook.com/docs/threads/retrieve-and-manage-replies/
  replies-and-conversations, .../threads/threads-mentions): ``GET /{media-id}/conversation``
  (every reply under the post at any depth; ``reverse``, default true: newest first;
  ``before``/``after`` cursors, no ``limit``) and ``GET /{user-id}/mentions`` (``since``,
  ``until``, ``limit``, cursors; newest first), injection endpoints "conversation" and
  "mentions".

``hear`` adds what someone else says; ``replies_to`` lists what the account answered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from publisher.adapters.listening import ItemKind
from publisher.testing.graph import graph_time
from tests.networks.containers import REPLY_FIELDS, Comment, Container, ContainerServer, Post

# A Threads media's fields, as far as listening reads them.
THREAD_FIELDS = frozenset(
    {"id", "text", "username", "permalink", "timestamp", "replied_to", "root_post", "media_type"}
)


@dataclass
class ListeningServer(ContainerServer):
    """The container server, with each network's listening endpoints."""

    async def route(self, request: web.Request) -> web.StreamResponse:
        segments = [s for s in request.path.split("/") if s]
        if len(segments) == 3 and segments[0] == self.version:
            target, edge = segments[1], segments[2]
            name = self.dialect.name
            if name == "instagram" and edge == "replies":
                return await self._guarded(request, lambda f: self._ig_replies(request, target, f))
            if name == "threads" and edge == "conversation" and request.method == "GET":
                return await self._guarded(request, lambda f: self._conversation(request, target))
            mentions = edge == "mentions" and target in (self.user_id, "me")
            if name == "threads" and mentions and request.method == "GET":
                return await self._guarded(request, lambda f: self._mentions(request))
        return await super().route(request)

    async def _guarded(
        self, request: web.Request, answer: Callable[[dict[str, Any]], web.Response]
    ) -> web.StreamResponse:
        """The version, the body and the token, checked as every endpoint checks them."""
        self.versioned(request)
        fields = await self.read_fields(request)
        self.record(request, self.authenticate(request, fields))
        fields.pop("access_token", None)
        return answer(fields)

    # ------------------------------------------------------------------ test controls

    def hear(
        self, kind: ItemKind, text: str, *, author: str = "ana", answers: str | None = None
    ) -> tuple[str, str]:
        """Instagram: a comment by ``author`` on the media ``answers``; Threads: a reply to
        ``answers`` (any post of its conversation), or a mention. Its id and URL."""
        if self.dialect.name == "instagram":
            if kind is not ItemKind.COMMENT or answers is None:
                raise ValueError(f"Instagram hears comments on the account's media, not {kind}")
            if not any(p.id == answers for p in self.posts):
                raise ValueError(f"no media {answers}")
            return self.add_comment(answers, text, author), ""
        if kind is ItemKind.REPLY and answers is not None:
            post = self._others(text, author, reply_to=answers)
        elif kind is ItemKind.MENTION:
            post = self._others(f"@{self.username} {text}", author, mention=True)
        else:
            raise ValueError(f"Threads hears replies and mentions, not {kind}")
        return post.id, self._permalink(post)

    def replies_to(self, remote_id: str) -> list[str]:
        """The ids of the account's answers to ``remote_id``."""
        if self.dialect.name == "instagram":
            return [
                c.id
                for c in self.comments
                if c.parent_id == remote_id and c.username == self.username
            ]
        return [p.id for p in self.posts if p.reply_to == remote_id and p.author is None]

    def _others(
        self, text: str, author: str, *, reply_to: str | None = None, mention: bool = False
    ) -> Post:
        if reply_to is not None and not any(p.id == reply_to for p in self.posts):
            raise ValueError(f"no post {reply_to}")
        container = Container(self._new_id(), {}, 0, "PUBLISHED", used=True)
        post = Post(self._new_id(), container, text, self.now(), [], reply_to, author, mention)
        self.posts.append(post)
        return post

    def _permalink(self, post: Post) -> str:
        return f"{self.dialect.permalink_base}/p/{post.id}"

    # ------------------------------------------------------------------ Instagram

    def _ig_replies(
        self, request: web.Request, comment_id: str, fields: dict[str, Any]
    ) -> web.Response:
        comment = next((c for c in self.comments if c.id == comment_id), None)
        if comment is None:
            raise self.unknown_object(request.method, comment_id)
        if request.method == "POST":
            return self._ig_reply(comment, fields)
        if request.method != "GET":
            raise self.strict(f"{request.method} on a comment's replies")
        wanted = self.wanted_fields(request, REPLY_FIELDS, "IGComment")
        self.only_query(request, frozenset({"fields", "limit", "after"}))
        start, limit = self._window(request, with_limit=True)
        injection = self.take("replies")
        if injection is not None:
            return self.answer(injection)
        replies = [c for c in self.comments if c.parent_id == comment.id]
        page = replies[start : start + limit]
        body: dict[str, Any] = {"data": [self.comment_doc(c, wanted) for c in page]}
        body.update(self._paging(f"{comment.id}/replies", start, len(page), len(replies)))
        return web.json_response(body)

    def _ig_reply(self, comment: Comment, fields: dict[str, Any]) -> web.Response:
        if unknown := set(fields) - {"message"}:
            raise self.strict(f"unknown replies fields {sorted(unknown)}")
        message = fields.get("message")
        if not isinstance(message, str) or not message.strip():
            raise self.error(100, "(#100) The parameter message is required")
        if len(message) > self.dialect.max_comment:
            raise self.error(100, "(#100) The comment is too long")
        if comment.parent_id is not None:
            raise self.error(100, "(#100) a reply cannot be replied to: reply to its comment")
        injection = self.take("reply")
        if injection is not None and not injection.commit:
            return self.answer(injection)
        reply_id = self.add_comment(comment.media_id, message, self.username, parent=comment.id)
        if injection is not None:
            return self.answer(injection)
        return web.json_response({"id": reply_id})

    # ------------------------------------------------------------------ Threads

    def _conversation(self, request: web.Request, media_id: str) -> web.Response:
        root = next((p for p in self.posts if p.id == media_id), None)
        if root is None:
            raise self.unknown_object("GET", media_id)
        wanted = self.wanted_fields(request, THREAD_FIELDS, "ThreadsMedia")
        self.only_query(request, frozenset({"fields", "reverse", "before", "after"}))
        reverse = request.query.get("reverse", "true")
        if reverse not in ("true", "false"):
            raise self.error(100, "(#100) reverse must be true or false")
        start, _ = self._window(request, with_limit=False)
        injection = self.take("conversation")
        if injection is not None:
            return self.answer(injection)
        under = sorted(
            (p for p in self.posts if p.id != root.id and self._root(p) == root.id),
            key=lambda p: p.timestamp,
            reverse=reverse == "true",
        )
        page = under[start : start + self.page_size]
        body: dict[str, Any] = {"data": [self._thread_doc(p, wanted) for p in page]}
        body.update(self._paging(f"{media_id}/conversation", start, len(page), len(under)))
        return web.json_response(body)

    def _mentions(self, request: web.Request) -> web.Response:
        wanted = self.wanted_fields(request, THREAD_FIELDS, "ThreadsMedia")
        self.only_query(
            request, frozenset({"fields", "since", "until", "limit", "before", "after"})
        )
        start, limit = self._window(request, with_limit=True)
        try:
            since = int(request.query.get("since", "1688540400"))
        except ValueError:
            raise self.strict("since must be a unix time") from None
        if since < 1688540400:
            raise self.error(100, "(#100) since must be at or after 1688540400")
        injection = self.take("mentions")
        if injection is not None:
            return self.answer(injection)
        named = sorted(
            (p for p in self.posts if p.mention and p.timestamp.timestamp() >= since),
            key=lambda p: p.timestamp,
            reverse=True,
        )
        page = named[start : start + limit]
        body: dict[str, Any] = {"data": [self._thread_doc(p, wanted) for p in page]}
        body.update(self._paging(f"{self.user_id}/mentions", start, len(page), len(named)))
        return web.json_response(body)

    def _root(self, post: Post) -> str:
        seen = post
        while seen.reply_to is not None:
            parent = next((p for p in self.posts if p.id == seen.reply_to), None)
            if parent is None:
                break
            seen = parent
        return seen.id

    def _thread_doc(self, post: Post, wanted: set[str]) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": post.id,
            "username": post.author or self.username,
            "permalink": self._permalink(post),
            "timestamp": graph_time(post.timestamp),
            "media_type": "TEXT_POST",
        }
        if post.text is not None:
            doc["text"] = post.text
        if post.reply_to is not None:
            doc["replied_to"] = {"id": post.reply_to}
            doc["root_post"] = {"id": self._root(post)}
        return {k: v for k, v in doc.items() if k in wanted or k == "id"}

    # ------------------------------------------------------------------ paging

    def _window(self, request: web.Request, *, with_limit: bool) -> tuple[int, int]:
        """Where a page starts (``after``, this server's cursor) and how long it is."""
        if "before" in request.query and "after" in request.query:
            raise self.error(100, "(#100) before and after cannot be passed together")
        if "before" in request.query:
            raise self.strict("paging backwards is not modelled")
        try:
            start = int(request.query.get("after", "0"))
            limit = int(request.query.get("limit", str(self.page_size))) if with_limit else 0
        except ValueError:
            raise self.strict("limit and after must be integers") from None
        return start, min(limit, self.page_size) if with_limit else self.page_size

    def _paging(self, path: str, start: int, shown: int, total: int) -> dict[str, Any]:
        if not shown:
            return {}
        paging: dict[str, Any] = {"cursors": {"before": str(start), "after": str(start + shown)}}
        if start + shown < total:
            paging["next"] = (
                f"https://graph.example/{self.version}/{path}?"
                f"access_token={self.token}&after={start + shown}"
            )
        return {"paging": paging}
