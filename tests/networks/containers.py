"""A strict local stand-in for a container-publishing Graph API: Instagram's and Threads'.

Both take a post as a container (``POST /{user}/{create}``), process it (``GET
/{container}?fields=...`` answers ``IN_PROGRESS`` until the test lets it finish) and publish
it (``POST /{user}/{publish}`` with ``creation_id``). Like the networks, the server FETCHES
every ``image_url``/``video_url`` it is given when the container is created, and refuses one
that does not answer 200 with an image (a video) of a type it takes. It counts the posts
published in its rolling window and refuses one more (Graph code 9, subcode 2207042), and
answers the publishing-limit edge, the account's recent posts (paged), its replies
(Threads), a post's permalink and the account itself. A ``Dialect`` holds what differs.

First comments: on Threads a reply like any other (a reply's publish takes the injections
queued for "reply publish" before those for "publish", so a test can fail a post's comment
and not the post); on Instagram ``POST /{ig-media-id}/comments`` (``message``, answering
``{"id"}``) and ``GET /{ig-media-id}/comments`` (paged), injection endpoints "comment" and
"comments" (developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/
ig-media/comments).

Stricter than the networks on purpose: an unknown field anywhere is a ``(#100)`` error
starting "strict server:".
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

import aiohttp
from aiohttp import web

from publisher.testing.graph import GraphServer, graph_time
from publisher.testing.strict import Reject

IMAGE_MAGIC = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}
FETCH_TIMEOUT = aiohttp.ClientTimeout(total=5)
LIMIT_CODE, LIMIT_SUBCODE = 9, 2207042
FETCH_CODE, FETCH_SUBCODE = 9004, 2207052


@dataclass(frozen=True)
class Dialect:
    """What one network calls things and allows."""

    name: str
    create: str  # the container edge (also the account's posts, read with GET)
    publish: str
    limit: str
    status_field: str
    detail_field: str
    text_field: str  # "caption" / "text"
    fields: frozenset[str]  # a container's fields (top level and children)
    media_types: frozenset[str]  # the top level's media_type values (absent: an image)
    child_types: frozenset[str]
    image_types: frozenset[str]
    max_text: int
    max_children: int
    quota_total: int
    list_fields: frozenset[str]
    me_path: str  # "{user}" or "me"
    me_fields: frozenset[str]
    permalink_base: str
    video_alt: bool  # alt_text on a video container
    debug_token: bool  # GET /debug_token (Graph's, on graph.facebook.com)
    # The media's comments edge (Instagram): the longest message it takes; 0: no such edge.
    max_comment: int = 0


# A comment's fields (the IG Comment node's, as far as the server keeps them).
REPLY_FIELDS = frozenset({"id", "text", "username", "timestamp", "like_count", "hidden"})
COMMENT_FIELDS = REPLY_FIELDS | {"replies"}


@dataclass
class Container:
    id: str
    body: dict[str, Any]
    polls_left: int  # status reads answering IN_PROGRESS before FINISHED
    status: str = "IN_PROGRESS"
    detail: str = ""
    fetched: list[bytes] = field(default_factory=list)
    used: bool = False  # a child taken by a carousel, or published


@dataclass
class Post:
    id: str
    container: Container
    text: str | None
    timestamp: datetime
    children: list[Container]
    reply_to: str | None = None
    author: str | None = None  # someone else's username (a reply or mention heard); None: ours
    mention: bool = False  # names the account (someone else's)


@dataclass
class Comment:
    id: str
    media_id: str
    text: str
    username: str
    timestamp: datetime
    parent_id: str | None = None  # the comment it replies to (IG nests one level)


@dataclass
class ContainerServer(GraphServer):
    dialect: Dialect = field(default=None)  # type: ignore[assignment]
    user_id: str = "17841400000000001"
    token: str = "IGQ-token-for-tests-1a2b"
    username: str = "brand"
    version: str = "v23.0"
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    processing_polls: int = 1  # IN_PROGRESS answers before FINISHED, for each new container
    window: timedelta = timedelta(hours=24)
    page_size: int = 25
    quota_total: int | None = None  # the dialect's unless set
    # A directory also served, under /public/, without a token (a media host on the same
    # address, for the harness's lookups).
    public_dir: Path | None = None
    token_expires_at: int = 0  # debug_token's expires_at: 0 = never
    data_access_expires_at: int = 0

    containers: dict[str, Container] = field(default_factory=dict)
    posts: list[Post] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    requests: list[Any] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._ids = itertools.count(18_000_000_000_000_001)
        self._outcome: list[tuple[str, str]] = []  # the next containers' end: status, detail

    # ------------------------------------------------------------------ test controls

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    def end_next_container(self, status: str, detail: str = "") -> None:
        """The next container created ends ``status`` (ERROR, EXPIRED) instead of FINISHED."""
        self._outcome.append((status, detail))

    def finish(self, container_id: str) -> None:
        """Processing is over for this container."""
        container = self.containers[container_id]
        container.polls_left = 0

    def add_post(self, text: str | None, when: datetime, *, reply_to: str | None = None) -> str:
        """A post already on the account (published earlier, or by other means)."""
        container = Container(self._new_id(), {}, 0, "PUBLISHED", used=True)
        post = Post(self._new_id(), container, text, when, [], reply_to)
        self.posts.append(post)
        return post.id

    def add_comment(
        self, media_id: str, text: str, username: str, *, parent: str | None = None
    ) -> str:
        """A comment already on a media (someone else's, or the account's own), or a reply
        to the comment ``parent``."""
        comment = Comment(self._new_id(), media_id, text, username, self.now(), parent)
        self.comments.append(comment)
        return comment.id

    @property
    def total(self) -> int:
        return self.quota_total if self.quota_total is not None else self.dialect.quota_total

    def usage(self) -> int:
        since = self.now() - self.window
        return sum(
            1 for p in self.posts if p.timestamp > since and p.reply_to is None and p.author is None
        )

    def _new_id(self) -> str:
        return str(next(self._ids))

    # ------------------------------------------------------------------ routing

    async def route(self, request: web.Request) -> web.StreamResponse:
        if self.public_dir is not None and request.path.startswith("/public/"):
            found = self.public_dir / request.path.removeprefix("/public/")
            if request.method != "GET" or found.parent != self.public_dir or not found.is_file():
                raise Reject(web.Response(status=404))
            return web.Response(body=found.read_bytes(), content_type="application/octet-stream")
        rest = self.versioned(request)
        fields = await self.read_fields(request)
        self.record(request, self.authenticate(request, fields))
        fields.pop("access_token", None)
        d, method = self.dialect, request.method
        if rest == ["debug_token"] and method == "GET" and d.debug_token:
            return self._debug_token(request)
        if len(rest) == 2 and rest[0] in (self.user_id, "me"):
            if rest[0] == "me" and d.me_path != "me":
                raise self.unknown_object(method, "me")
            edge = rest[1]
            if (edge, method) == (d.create, "POST"):
                return await self._create(fields)
            if (edge, method) == (d.publish, "POST"):
                return self._publish(fields)
            if (edge, method) == (d.limit, "GET"):
                return self._limit(request)
            if (edge, method) == (d.create, "GET"):
                return self._list(request, replies=False)
            if (edge, method) == ("replies", "GET") and d.name == "threads":
                return self._list(request, replies=True)
        if len(rest) == 2 and rest[1] == "comments" and d.max_comment:
            media = next((p for p in self.posts if p.id == rest[0]), None)
            if media is None:
                raise self.unknown_object(method, rest[0])
            if method == "POST":
                return self._comment(media, fields)
            if method == "GET":
                return self._comments(request, media)
        if len(rest) == 1 and method == "GET":
            if rest[0] == d.me_path.replace("{user}", self.user_id):
                return self._me(request)
            if rest[0] in self.containers:
                return self._status(request, self.containers[rest[0]])
            post = next((p for p in self.posts if p.id == rest[0]), None)
            if post is not None:
                return self._post(request, post)
            raise self.unknown_object(method, rest[0])
        if rest and rest[0] not in (self.user_id, "me"):
            raise self.unknown_object(method, rest[0])
        raise self.error(
            100, f"Unsupported {method.lower()} request. (strict server: {request.path})"
        )

    # ------------------------------------------------------------------ containers

    async def _create(self, fields: dict[str, Any]) -> web.Response:
        d = self.dialect
        self._check_fields(fields, top=True)
        media_type = fields.get("media_type")
        text = fields.get(d.text_field)
        if text is not None and (not isinstance(text, str) or len(text) > d.max_text):
            raise self.error(100, f"(#100) The {d.text_field} is too long or not a string")
        children: list[Container] = []
        if media_type == "CAROUSEL":
            children = self._children(fields.get("children"))
        elif "children" in fields:
            raise self.strict("children without media_type CAROUSEL")
        reply_to = fields.get("reply_to_id")
        if reply_to is not None and not any(p.id == reply_to for p in self.posts):
            raise self.error(100, f"(#100) reply_to_id {reply_to!r} is not a post", subcode=33)
        fetched = await self._fetch_media(fields)
        if media_type in (None, "TEXT") and not fetched and not text:
            raise self.error(100, f"(#100) The parameter {d.text_field} is required")
        injection = self.take("container")
        if injection is not None and not injection.commit:
            return self.answer(injection)
        status, detail = self._outcome.pop(0) if self._outcome else ("IN_PROGRESS", "")
        container = Container(self._new_id(), dict(fields), self.processing_polls, status, detail)
        container.fetched = fetched
        if status == "IN_PROGRESS" and not self.processing_polls:
            container.status = "FINISHED"
        self.containers[container.id] = container
        for child in children:
            child.used = True
        container.body["children"] = [c.id for c in children]
        if injection is not None:
            return self.answer(injection)
        return web.json_response({"id": container.id})

    def _check_fields(self, fields: Mapping[str, Any], *, top: bool) -> None:
        d = self.dialect
        unknown = set(fields) - d.fields
        if unknown:
            raise self.strict(f"unknown {d.create} fields {sorted(unknown)}")
        media_type = fields.get("media_type")
        carousel_item = fields.get("is_carousel_item") in (True, "true")
        allowed = d.child_types if carousel_item else d.media_types
        if media_type is not None and media_type not in allowed:
            raise self.error(100, f"(#100) media_type {media_type!r} is not valid here")
        if carousel_item and (d.text_field in fields or "reply_to_id" in fields):
            raise self.strict(f"a carousel item with {d.text_field} or reply_to_id")
        kind = "video" if media_type in ("VIDEO", "REELS") else "image"
        wants = {"video": "video_url", "image": "image_url"}
        if media_type in ("TEXT", "CAROUSEL"):
            if "image_url" in fields or "video_url" in fields:
                raise self.strict(f"a {media_type} container with a media URL")
            return
        if wants[kind] not in fields:
            raise self.error(100, f"(#100) The parameter {wants[kind]} is required")
        other = "image_url" if kind == "video" else "video_url"
        if other in fields:
            raise self.strict(f"{other} on a {kind} container")
        if "alt_text" in fields and not isinstance(fields["alt_text"], str):
            raise self.strict("alt_text is not a string")
        if "alt_text" in fields and kind == "video" and not self.dialect.video_alt:
            raise self.strict("alt_text on a video container")

    def _children(self, value: Any) -> list[Container]:
        ids = value.split(",") if isinstance(value, str) else value
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise self.strict("children must be a list of container ids")
        if not 2 <= len(ids) <= self.dialect.max_children:
            raise self.error(100, f"(#100) a carousel has 2 to {self.dialect.max_children} items")
        out = []
        for i in ids:
            child = self.containers.get(i)
            if (
                child is None
                or child.used
                or child.body.get("is_carousel_item")
                not in (
                    True,
                    "true",
                )
            ):
                raise self.error(100, f"(#100) children: {i!r} is not a carousel item container")
            if child.status != "FINISHED":
                raise self.error(100, f"(#100) children: {i!r} is not finished ({child.status})")
            out.append(child)
        return out

    async def _fetch_media(self, fields: Mapping[str, Any]) -> list[bytes]:
        """Fetch the media URL as the network does; refuse what does not serve media."""
        for key in ("image_url", "video_url"):
            url = fields.get(key)
            if url is None:
                continue
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise self.error(100, f"(#100) {key} must be a URL")
            try:
                async with (
                    aiohttp.ClientSession(timeout=FETCH_TIMEOUT) as session,
                    session.get(url, allow_redirects=False) as resp,
                ):
                    data = await resp.read()
                    ok = resp.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok, data = False, b""
            if not ok or not self._is_media(key, data):
                raise self.error(
                    FETCH_CODE,
                    "Media download has failed. The media URI doesn't meet our requirements.",
                    subcode=FETCH_SUBCODE,
                )
            return [data]
        return []

    def _is_media(self, key: str, data: bytes) -> bool:
        if key == "video_url":
            return data[4:8] == b"ftyp"
        kind = next((t for magic, t in IMAGE_MAGIC.items() if data.startswith(magic)), None)
        return kind in self.dialect.image_types

    def _status(self, request: web.Request, container: Container) -> web.Response:
        d = self.dialect
        wanted = self.wanted_fields(
            request, frozenset({"id", d.status_field, d.detail_field}), "Container"
        )
        self.only_query(request, frozenset({"fields"}))
        injection = self.take("status")
        if injection is not None:
            return self.answer(injection)
        if container.status == "IN_PROGRESS":
            if container.polls_left > 0:
                container.polls_left -= 1
            else:
                container.status = "FINISHED"
        doc: dict[str, Any] = {"id": container.id}
        if d.status_field in wanted:
            doc[d.status_field] = container.status
        if d.detail_field in wanted and container.detail:
            doc[d.detail_field] = container.detail
        return web.json_response(doc)

    def _publish(self, fields: Mapping[str, Any]) -> web.Response:
        unknown = set(fields) - {"creation_id"}
        if unknown:
            raise self.strict(f"unknown {self.dialect.publish} fields {sorted(unknown)}")
        container = self.containers.get(str(fields.get("creation_id")))
        if container is None or container.body.get("is_carousel_item") in (True, "true"):
            raise self.error(100, "(#100) creation_id is not a container to publish", subcode=33)
        if container.used:
            raise self.error(100, "(#100) this container was already published")
        if container.status != "FINISHED":
            raise self.error(
                9007,
                "(#9007) The media is not ready for publishing, please wait "
                f"for a moment ({container.status})",
                subcode=2207027,
            )
        injection = None
        if container.body.get("reply_to_id") is not None:
            injection = self.take("reply publish")
        injection = injection or self.take("publish")
        if injection is not None and not injection.commit:
            return self.answer(injection)
        if container.body.get("reply_to_id") is None and self.usage() >= self.total:
            raise self.error(
                LIMIT_CODE,
                "Application request limit reached: you reached the "
                "maximum number of posts allowed",
                subcode=LIMIT_SUBCODE,
                status=400,
            )
        container.used = True
        container.status = "PUBLISHED"
        children = [self.containers[i] for i in container.body.get("children", [])]
        post = Post(
            self._new_id(),
            container,
            container.body.get(self.dialect.text_field),
            self.now(),
            children,
            container.body.get("reply_to_id"),
        )
        self.posts.append(post)
        if injection is not None:
            return self.answer(injection)
        return web.json_response({"id": post.id})

    # ------------------------------------------------------------------ comments (Instagram)

    def _comment(self, media: Post, fields: Mapping[str, Any]) -> web.Response:
        unknown = set(fields) - {"message"}
        if unknown:
            raise self.strict(f"unknown comments fields {sorted(unknown)}")
        message = fields.get("message")
        if not isinstance(message, str) or not message.strip():
            raise self.error(100, "(#100) The parameter message is required")
        if len(message) > self.dialect.max_comment:
            raise self.error(100, "(#100) The comment is too long")
        injection = self.take("comment")
        if injection is not None and not injection.commit:
            return self.answer(injection)
        comment_id = self.add_comment(media.id, message, self.username)
        if injection is not None:
            return self.answer(injection)
        return web.json_response({"id": comment_id})

    def _comments(self, request: web.Request, media: Post) -> web.Response:
        wanted = self.wanted_fields(request, COMMENT_FIELDS, "IGComment")
        self.only_query(request, frozenset({"fields", "limit", "after"}))
        try:
            limit = min(int(request.query.get("limit", str(self.page_size))), self.page_size)
            start = int(request.query.get("after", "0"))
        except ValueError:
            raise self.strict("limit and after must be integers") from None
        injection = self.take("comments")
        if injection is not None:
            return self.answer(injection)
        nested = self.nested_fields(request, "replies", REPLY_FIELDS, "IGComment")
        # Graph lists a media's comments newest first, each with its replies (oldest first)
        # when the ``replies`` edge is expanded.
        matching = [
            c for c in reversed(self.comments) if c.media_id == media.id and c.parent_id is None
        ]
        page = matching[start : start + limit]
        data = []
        for c in page:
            doc = self.comment_doc(c, wanted)
            if "replies" in wanted:
                replies = [r for r in self.comments if r.parent_id == c.id]
                if replies:
                    doc["replies"] = {"data": [self.comment_doc(r, nested) for r in replies]}
            data.append(doc)
        body: dict[str, Any] = {"data": data}
        if start + len(page) < len(matching):
            body["paging"] = {
                "cursors": {"before": str(start), "after": str(start + len(page))},
                "next": (
                    f"https://graph.example/{self.version}/{media.id}/comments?"
                    f"access_token={self.token}&after={start + len(page)}&limit={limit}"
                ),
            }
        return web.json_response(body)

    @staticmethod
    def comment_doc(c: Comment, wanted: set[str]) -> dict[str, Any]:
        doc: dict[str, Any] = {"id": c.id, "text": c.text, "username": c.username}
        doc["timestamp"] = graph_time(c.timestamp)
        doc.update(like_count=0, hidden=False)
        return {k: v for k, v in doc.items() if k in wanted or k == "id"}

    # ------------------------------------------------------------------ reads

    def _limit(self, request: web.Request) -> web.Response:
        wanted = self.wanted_fields(request, frozenset({"quota_usage", "config"}), "Limit")
        self.only_query(request, frozenset({"fields", "since"}))
        injection = self.take("limit")
        if injection is not None:
            return self.answer(injection)
        entry: dict[str, Any] = {"quota_usage": self.usage()}
        if "config" in wanted:
            entry["config"] = {
                "quota_total": self.total,
                "quota_duration": int(self.window.total_seconds()),
            }
        return web.json_response({"data": [entry]})

    def _list(self, request: web.Request, *, replies: bool) -> web.Response:
        d = self.dialect
        allowed = d.list_fields | ({"replied_to"} if replies else set())
        wanted = self.wanted_fields(request, frozenset(allowed), "Media")
        self.only_query(request, frozenset({"fields", "since", "until", "limit", "after"}))
        try:
            since = int(request.query.get("since", "0"))
            limit = min(int(request.query.get("limit", str(self.page_size))), self.page_size)
            start = int(request.query.get("after", "0"))
        except ValueError:
            raise self.strict("since, limit and after must be integers") from None
        injection = self.take("replies" if replies else "list")
        if injection is not None:
            return self.answer(injection)
        matching = sorted(
            (
                p
                for p in self.posts
                if p.timestamp.timestamp() >= since
                and (p.reply_to is not None) == replies
                and p.author is None
            ),
            key=lambda p: p.timestamp,
            reverse=True,
        )
        page = matching[start : start + limit]
        data = [self._post_doc(p, wanted) for p in page]
        body: dict[str, Any] = {"data": data}
        if page:
            paging: dict[str, Any] = {
                "cursors": {"before": str(start), "after": str(start + len(page))}
            }
            if start + len(page) < len(matching):
                paging["next"] = (
                    f"https://graph.example/{self.version}/{self.user_id}/{d.create}?"
                    f"access_token={self.token}&after={start + len(page)}&limit={limit}"
                )
            body["paging"] = paging
        return web.json_response(body)

    def _post_doc(self, post: Post, wanted: set[str]) -> dict[str, Any]:
        doc: dict[str, Any] = {"id": post.id}
        if self.dialect.text_field in wanted and post.text is not None:
            doc[self.dialect.text_field] = post.text
        if "timestamp" in wanted:
            doc["timestamp"] = graph_time(post.timestamp)
        if "permalink" in wanted:
            doc["permalink"] = f"{self.dialect.permalink_base}/p/{post.id}"
        if "replied_to" in wanted and post.reply_to is not None:
            doc["replied_to"] = {"id": post.reply_to}
        return doc

    def _post(self, request: web.Request, post: Post) -> web.Response:
        wanted = self.wanted_fields(request, self.dialect.list_fields, "Media")
        self.only_query(request, frozenset({"fields"}))
        injection = self.take("permalink")
        if injection is not None:
            return self.answer(injection)
        return web.json_response(self._post_doc(post, wanted))

    def _debug_token(self, request: web.Request) -> web.Response:
        self.only_query(request, frozenset({"input_token"}))
        injection = self.take("debug_token")
        if injection is not None:
            return self.answer(injection)
        valid = request.query.get("input_token") == self.token
        data: dict[str, Any] = {"app_id": "876543210", "type": "USER", "is_valid": valid}
        if valid:
            data.update(
                user_id=self.user_id,
                scopes=["instagram_basic", "instagram_content_publish"],
                expires_at=self.token_expires_at,
                data_access_expires_at=self.data_access_expires_at,
            )
        return web.json_response({"data": data})

    def _me(self, request: web.Request) -> web.Response:
        wanted = self.wanted_fields(request, self.dialect.me_fields, "User")
        self.only_query(request, frozenset({"fields"}))
        injection = self.take("me")
        if injection is not None:
            return self.answer(injection)
        doc = {"id": self.user_id, "username": self.username}
        return web.json_response({k: v for k, v in doc.items() if k in wanted or k == "id"})
