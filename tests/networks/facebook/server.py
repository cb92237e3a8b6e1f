"""A strict local stand-in for the Graph API endpoints the Facebook adapter uses.

It answers on 127.0.0.1 with Graph's documented shapes and records what it accepted. It is
stricter than Graph on purpose: Graph silently ignores parameters it does not know, which
would hide an adapter that misspells ``attached_media`` or sends a field Graph dropped years
ago. Here an unknown field, a wrong content type or a malformed ``attached_media`` is a
Graph-shaped ``(#100)`` error whose message starts with "strict server:".

Endpoints (under ``/{version}``): ``POST /{page}/feed`` (JSON or form), ``POST
/{page}/photos`` (multipart, ``source`` file), ``GET /{page}/posts``, ``GET /{page}``,
``GET /debug_token``, the engagement reads (``tests.networks.facebook.reads``): ``GET
/?ids=…``, ``GET /{post}``, ``GET /{post}/insights``, and on a page post ``POST
/{post-id}/comments`` (``message``: Graph's "Create a comment" on a Page post, answering
``{"id"}``) and ``GET /{post-id}/comments`` (``fields`` of id, message, from, created_time,
permalink_url, parent; ``filter`` toplevel or stream, ``order`` chronological or
reverse_chronological, ``limit``, ``after``), the same two on a comment (its replies: Graph
nests one level, so a reply to a reply joins its top comment's thread). For listening
(issue 20), ``hear`` adds someone's comment on a page post and ``replies_to`` lists the
page's answers in a comment's thread. Tests inject Graph errors by code, with usage headers,
per endpoint.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlencode

from aiohttp import BodyPartReader, web

from publisher.adapters.listening import ItemKind
from publisher.testing.graph import GraphServer as GraphBase
from publisher.testing.graph import RecordedRequest as RecordedRequest
from publisher.testing.graph import error_body as error_body
from publisher.testing.graph import graph_time as graph_time
from publisher.testing.graph import usage_headers as usage_headers
from tests.networks.facebook.reads import MAX_IDS, READ_QUERY, GraphReads, Refused

Endpoint = Literal[
    "feed", "photos", "photos-unpublished", "posts", "page", "debug_token",
    "objects", "post", "insights", "comment", "comments",
]

PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/bmp", "image/tiff"})
MAX_PHOTO_BYTES = 4 * 1024 * 1024
FEED_FIELDS = frozenset({"message", "link", "attached_media", "published", "access_token"})
PHOTO_FIELDS = frozenset({"source", "caption", "published", "access_token"})
POST_READ_FIELDS = frozenset({"id", "message", "created_time", "permalink_url"})
PAGE_READ_FIELDS = frozenset({"id", "name", "followers_count"})
POSTS_QUERY = frozenset({"since", "until", "fields", "limit", "after", "access_token"})
COMMENT_FIELDS = frozenset({"message", "access_token"})  # no attachments modelled
COMMENT_READ_FIELDS = frozenset(
    {"id", "message", "from", "created_time", "permalink_url", "parent"}
)
COMMENTS_QUERY = frozenset({"fields", "filter", "limit", "after", "order", "access_token"})
MAX_COMMENT = 8_000


@dataclass
class RecordedPhoto:
    id: str
    published: bool
    caption: str | None
    filename: str
    content_type: str
    data: bytes
    post_id: str | None = None  # the post showing it (published, or attached to a feed post)


@dataclass
class RecordedPost:
    id: str
    message: str | None
    link: str | None
    photo_ids: list[str]
    created_time: datetime


@dataclass
class RecordedComment:
    id: str
    post_id: str
    message: str
    from_id: str
    created_time: datetime
    parent_id: str | None = None  # the comment it replies to
    from_name: str = ""


@dataclass
class GraphServer(GraphBase):
    page_id: str = "1234567890"
    token: str = "EAAG-page-token-for-tests-4c1d"
    version: str = "v23.0"
    page_name: str = "Brand Page"
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    token_expires_at: int = 0  # debug_token's expires_at: 0 = never
    data_access_expires_at: int = 0
    page_size: int = 25  # default `limit` of GET /posts

    posts: list[RecordedPost] = field(default_factory=list)
    photos: dict[str, RecordedPhoto] = field(default_factory=dict)
    comments: list[RecordedComment] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    reads: GraphReads = field(default_factory=GraphReads)
    url: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._next_id = 100_000_000_000_001

    async def __aenter__(self) -> GraphServer:
        await self.start()
        return self

    # ------------------------------------------------------------------ test controls

    def add_post(self, message: str | None, created_time: datetime) -> str:
        """A post already on the page (written by someone else, or earlier)."""
        post = RecordedPost(self._post_id(), message, None, [], created_time)
        self.posts.append(post)
        return post.id

    # ------------------------------------------------------------------ plumbing

    def _new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def _post_id(self) -> str:
        return f"{self.page_id}_{self._new_id()}"

    async def route(self, request: web.Request) -> web.StreamResponse:
        rest = self.versioned(request)
        method = request.method
        fields, files = await self._read_body(request, rest)
        self.record(request, self.authenticate(request, fields))
        if rest == ["debug_token"] and method == "GET":
            return self._debug_token(request)
        try:
            if method == "GET" and not rest:
                return self._read_ids(request)
            held = bool(rest) and rest[0] in self._held()
            if method == "GET" and held and len(rest) == 1:
                return self._read_post(request, rest[0])
            if method == "GET" and held and rest[1:] == ["insights"]:
                injection = self.take("insights")
                if injection is not None:
                    return self.answer(injection)
                return web.json_response(self.reads.insights(rest[0], dict(request.query)))
        except Refused as err:
            raise self.error(err.code, err.message, err.status, err.subcode) from None
        if len(rest) == 2 and rest[1] == "comments" and self._commentable(rest[0]):
            if method == "POST":
                return self._comment(rest[0], fields)
            if method == "GET":
                return self._comments(rest[0], request)
        if rest and rest[0] != self.page_id:
            raise self.unknown_object(method, rest[0])
        if rest == [self.page_id] and method == "GET":
            return self._page(request)
        if rest == [self.page_id, "feed"] and method == "POST":
            return self._feed(fields)
        if rest == [self.page_id, "photos"] and method == "POST":
            return self._photo(fields, files)
        if rest == [self.page_id, "posts"] and method == "GET":
            return self._posts(request)
        raise self.error(
            100, f"Unsupported {method.lower()} request. (strict server: {request.path})", 400
        )

    async def _read_body(
        self, request: web.Request, rest: list[str]
    ) -> tuple[dict[str, Any], dict[str, tuple[str, str, bytes]]]:
        """The body's fields and files, refusing content types the endpoint does not take."""
        fields: dict[str, Any] = {}
        files: dict[str, tuple[str, str, bytes]] = {}
        is_photos = rest[-1:] == ["photos"]
        if request.method == "GET" or not is_photos:
            fields = await self.read_fields(request)
            if request.content_type == "application/x-www-form-urlencoded":
                fields = _fold_form_arrays(fields, self)
            return fields, files
        ctype = request.content_type
        if ctype != "multipart/form-data":
            raise self.strict(f"/photos takes multipart/form-data, not {ctype}")
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                raise self.strict("nested multipart")
            name = part.name or ""
            if name in fields or name in files:
                raise self.strict(f"field {name!r} given twice")
            if part.filename is not None:
                data = await part.read()
                ctype_part = part.headers.get("Content-Type", "application/octet-stream")
                files[name] = (part.filename, ctype_part, bytes(data))
            else:
                fields[name] = await part.text()
        return fields, files

    # ------------------------------------------------------------------ endpoints

    def _debug_token(self, request: web.Request) -> web.Response:
        unknown = set(request.query) - {"input_token", "access_token"}
        if unknown:
            raise self.strict(f"unknown debug_token parameters {sorted(unknown)}")
        input_token = request.query.get("input_token")
        if not input_token:
            raise self.error(100, "(#100) The parameter input_token is required")
        injection = self.take("debug_token")
        if injection is not None:
            return self.answer(injection)
        data: dict[str, Any] = {
            "app_id": "876543210",
            "type": "PAGE",
            "application": "publisher tests",
            "is_valid": input_token == self.token,
            "scopes": ["pages_manage_posts", "pages_read_engagement", "pages_show_list"],
        }
        if data["is_valid"]:
            data.update(
                profile_id=self.page_id,
                expires_at=self.token_expires_at,
                data_access_expires_at=self.data_access_expires_at,
            )
        return web.json_response({"data": data})

    def _page(self, request: web.Request) -> web.Response:
        wanted = self.wanted_fields(request, PAGE_READ_FIELDS, "Page")
        unknown = set(request.query) - {"fields", "access_token"}
        if unknown:
            raise self.strict(f"unknown parameters {sorted(unknown)}")
        injection = self.take("page")
        if injection is not None:
            return self.answer(injection)
        doc = {"id": self.page_id, "name": self.page_name, "followers_count": self.reads.followers}
        return web.json_response({k: v for k, v in doc.items() if k in wanted or k == "id"})

    def _held(self) -> set[str]:
        """The ids of the page's posts that are still there."""
        return {p.id for p in self.posts} - self.reads.deleted

    def _read_ids(self, request: web.Request) -> web.Response:
        if unknown := set(request.query) - READ_QUERY:
            raise self.strict(f"unknown parameters {sorted(unknown)}")
        ids = [i for i in request.query.get("ids", "").split(",") if i]
        if not ids:
            raise self.error(100, "(#100) The parameter ids is required")
        if len(ids) > MAX_IDS:
            raise self.error(100, f"(#100) Too many IDs. Maximum: {MAX_IDS}")
        injection = self.take("objects")
        if injection is not None:
            return self.answer(injection)
        missing = [i for i in ids if i not in self._held()]
        if missing:
            message = f"(#803) Some of the aliases you requested do not exist: {','.join(missing)}"
            raise self.error(803, message, 404)
        fields = request.query.get("fields", "")
        return web.json_response({i: self.reads.post_fields(i, fields) for i in ids})

    def _read_post(self, request: web.Request, post_id: str) -> web.Response:
        if unknown := set(request.query) - {"fields", "access_token"}:
            raise self.strict(f"unknown parameters {sorted(unknown)}")
        injection = self.take("post")
        if injection is not None:
            return self.answer(injection)
        return web.json_response(self.reads.post_fields(post_id, request.query.get("fields", "")))

    def _feed(self, fields: Mapping[str, Any]) -> web.Response:
        unknown = set(fields) - FEED_FIELDS
        if unknown:
            raise self.strict(f"unknown /feed fields {sorted(unknown)}")
        message = fields.get("message")
        if message is not None and not isinstance(message, str):
            raise self.strict("message is not a string")
        link = fields.get("link")
        if link is not None and (
            not isinstance(link, str) or not link.startswith(("http://", "https://"))
        ):
            raise self.error(100, "(#100) The parameter link must be a valid URL")
        photo_ids = self._attached_media(fields.get("attached_media"))
        if photo_ids and link:
            raise self.strict("link and attached_media together")
        if fields.get("published") not in (None, True, "true"):
            raise self.strict("unpublished page posts are not modelled")
        if not (message or link or photo_ids):
            raise self.error(100, "(#100) Missing message or attachment")
        injection = self.take("feed")
        if injection is not None and not injection.commit:
            return self.answer(injection)
        post = RecordedPost(self._post_id(), message or None, link, photo_ids, self.now())
        self.posts.append(post)
        for photo_id in photo_ids:
            self.photos[photo_id].post_id = post.id
        if injection is not None:
            return self.answer(injection)
        return web.json_response({"id": post.id})

    def _attached_media(self, value: Any) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list) or not value:
            raise self.strict("attached_media must be a non-empty list")
        ids: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, dict) or set(item) != {"media_fbid"}:
                raise self.strict(f'attached_media[{i}] must be {{"media_fbid": "<id>"}}')
            fbid = item["media_fbid"]
            photo = self.photos.get(fbid) if isinstance(fbid, str) else None
            if photo is None or photo.published or photo.post_id is not None or fbid in ids:
                raise self.error(
                    100, f"(#100) param attached_media[{i}] has invalid media_fbid {fbid!r}"
                )
            ids.append(fbid)
        return ids

    def _photo(
        self, fields: Mapping[str, Any], files: Mapping[str, tuple[str, str, bytes]]
    ) -> web.Response:
        unknown = (set(fields) | set(files)) - PHOTO_FIELDS
        if unknown:
            raise self.strict(f"unknown /photos fields {sorted(unknown)}")
        if "source" in fields:
            raise self.strict("source must be a file part")
        if "source" not in files:
            raise self.error(324, "(#324) Requires upload file")
        filename, ctype, data = files["source"]
        if ctype not in PHOTO_TYPES or not data:
            raise self.error(324, "(#324) Missing or invalid image file")
        if len(data) > MAX_PHOTO_BYTES:
            raise self.error(100, "(#100) The image is too large")
        published_raw = fields.get("published", "true")
        if published_raw not in ("true", "false"):
            raise self.strict(f"published must be true or false, not {published_raw!r}")
        published = published_raw == "true"
        caption = fields.get("caption")
        injection = self.take("photos" if published else "photos-unpublished")
        if injection is None and not published:
            injection = self.take("photos")
        if injection is not None and not injection.commit:
            return self.answer(injection)
        photo = RecordedPhoto(self._new_id(), published, caption, filename, ctype, data)
        self.photos[photo.id] = photo
        answer: dict[str, str] = {"id": photo.id}
        if published:
            post = RecordedPost(self._post_id(), caption or None, None, [photo.id], self.now())
            self.posts.append(post)
            photo.post_id = post.id
            answer["post_id"] = post.id
        if injection is not None:
            return self.answer(injection)
        return web.json_response(answer)

    def _posts(self, request: web.Request) -> web.Response:
        unknown = set(request.query) - POSTS_QUERY
        if unknown:
            raise self.strict(f"unknown /posts parameters {sorted(unknown)}")
        wanted = self.wanted_fields(request, POST_READ_FIELDS, "Post")
        try:
            since = int(request.query.get("since", "0"))
            limit = int(request.query.get("limit", str(self.page_size)))
            start = int(request.query.get("after", "0"))
        except ValueError:
            raise self.strict("since, limit and after must be integers") from None
        limit = min(limit, self.page_size)
        injection = self.take("posts")
        if injection is not None:
            return self.answer(injection)
        matching = sorted(
            (p for p in self.posts if p.created_time.timestamp() >= since),
            key=lambda p: p.created_time,
            reverse=True,
        )
        page = matching[start : start + limit]
        data = []
        for post in page:
            doc: dict[str, Any] = {"id": post.id}
            if "message" in wanted and post.message is not None:
                doc["message"] = post.message
            if "created_time" in wanted:
                doc["created_time"] = graph_time(post.created_time)
            if "permalink_url" in wanted:
                number = post.id.partition("_")[2]
                doc["permalink_url"] = f"https://www.facebook.com/{self.page_id}/posts/{number}"
            data.append(doc)
        body: dict[str, Any] = {"data": data}
        if page:
            after = str(start + len(page))
            paging: dict[str, Any] = {"cursors": {"before": str(start), "after": after}}
            if start + len(page) < len(matching):
                # Like Graph, the next-page URL repeats the query, access token included.
                query = {
                    "access_token": self.token,
                    "fields": request.query.get("fields", ""),
                    "limit": str(limit),
                    "since": str(since),
                    "after": str(start + len(page)),
                }
                paging["next"] = (
                    f"https://graph.facebook.com/{self.version}/{self.page_id}/posts?"
                    + urlencode(query)
                )
            body["paging"] = paging
        return web.json_response(body)

    # ------------------------------------------------------------------ listening

    def hear(
        self, kind: ItemKind, text: str, *, author: str = "ana", answers: str | None = None
    ) -> tuple[str, str]:
        """A comment by ``author`` on the page's post ``answers`` (Facebook hears nothing
        else): its id and permalink."""
        if kind is not ItemKind.COMMENT or answers is None or not self._known_post(answers):
            raise ValueError(f"Facebook hears comments on the page's posts, not {kind}")
        comment = self._add_comment(answers, text, _person_id(author), author)
        return comment.id, self._permalink(comment)

    def add_reply(self, comment_id: str, text: str, author: str = "ana") -> str:
        """A reply by ``author`` to the comment ``comment_id``."""
        parent = self._comment_by_id(comment_id)
        assert parent is not None
        reply = self._add_comment(parent.post_id, text, _person_id(author), author, parent.id)
        return reply.id

    def replies_to(self, remote_id: str) -> list[str]:
        """The page's comments answering the comment ``remote_id`` (in its thread)."""
        return [
            c.id for c in self.comments if c.parent_id == remote_id and c.from_id == self.page_id
        ]

    def _add_comment(
        self, post_id: str, message: str, from_id: str, name: str, parent: str | None = None
    ) -> RecordedComment:
        number = post_id.partition("_")[2]
        comment = RecordedComment(
            f"{number}_{self._new_id()}", post_id, message, from_id, self.now(), parent, name
        )
        self.comments.append(comment)
        return comment

    def _permalink(self, comment: RecordedComment) -> str:
        number = comment.post_id.partition("_")[2]
        tail = comment.id.partition("_")[2]
        return f"https://www.facebook.com/{self.page_id}/posts/{number}?comment_id={tail}"

    # ------------------------------------------------------------------ comments

    def _known_post(self, post_id: str) -> bool:
        return any(p.id == post_id for p in self.posts)

    def _comment_by_id(self, comment_id: str) -> RecordedComment | None:
        return next((c for c in self.comments if c.id == comment_id), None)

    def _commentable(self, object_id: str) -> bool:
        return self._known_post(object_id) or self._comment_by_id(object_id) is not None

    def _comment(self, object_id: str, fields: Mapping[str, Any]) -> web.Response:
        """Create a comment on a page post, or a reply to a comment (Graph puts a reply to a
        reply in the thread of the top comment), as the page (its token)."""
        unknown = set(fields) - COMMENT_FIELDS
        if unknown:
            raise self.strict(f"unknown /comments fields {sorted(unknown)}")
        message = fields.get("message")
        if not isinstance(message, str) or not message.strip():
            raise self.error(100, "(#100) Missing message or attachment")
        if len(message) > MAX_COMMENT:
            raise self.error(100, "(#100) The comment is too long")
        injection = self.take("comment")
        if injection is not None and not injection.commit:
            return self.answer(injection)
        on = self._comment_by_id(object_id)
        if on is None:
            post_id, parent = object_id, None
        else:
            post_id, parent = on.post_id, on.parent_id or on.id
        comment = self._add_comment(post_id, message, self.page_id, self.page_name, parent)
        if injection is not None:
            return self.answer(injection)
        return web.json_response({"id": comment.id})

    def _comments(self, object_id: str, request: web.Request) -> web.Response:
        """A post's comments (``filter=toplevel``: its top comments; ``stream``: all, replies
        included) or a comment's replies, ``order`` chronological (Graph's default) or
        reverse_chronological."""
        unknown = set(request.query) - COMMENTS_QUERY
        if unknown:
            raise self.strict(f"unknown /comments parameters {sorted(unknown)}")
        wanted = self.wanted_fields(request, COMMENT_READ_FIELDS, "Comment")
        stream = request.query.get("filter", "toplevel")
        if stream not in ("toplevel", "stream"):
            raise self.error(100, "(#100) filter must be one of toplevel, stream")
        order = request.query.get("order", "chronological")
        if order not in ("chronological", "reverse_chronological"):
            raise self.error(100, "(#100) order must be chronological or reverse_chronological")
        try:
            limit = min(int(request.query.get("limit", str(self.page_size))), self.page_size)
            start = int(request.query.get("after", "0"))
        except ValueError:
            raise self.strict("limit and after must be integers") from None
        injection = self.take("comments")
        if injection is not None:
            return self.answer(injection)
        if self._known_post(object_id):
            mine = [
                c
                for c in self.comments
                if c.post_id == object_id and (stream == "stream" or c.parent_id is None)
            ]
        else:
            mine = [c for c in self.comments if c.parent_id == object_id]
        mine.sort(key=lambda c: c.created_time, reverse=order == "reverse_chronological")
        page = mine[start : start + limit]
        data = []
        for c in page:
            doc: dict[str, Any] = {"id": c.id}
            if "message" in wanted:
                doc["message"] = c.message
            if "from" in wanted:
                doc["from"] = {"name": c.from_name or self.page_name, "id": c.from_id}
            if "created_time" in wanted:
                doc["created_time"] = graph_time(c.created_time)
            if "permalink_url" in wanted:
                doc["permalink_url"] = self._permalink(c)
            if "parent" in wanted and c.parent_id is not None:
                parent = self._comment_by_id(c.parent_id)
                assert parent is not None
                doc["parent"] = {
                    "created_time": graph_time(parent.created_time),
                    "message": parent.message,
                    "id": parent.id,
                }
            data.append(doc)
        body: dict[str, Any] = {"data": data}
        if page:
            paging: dict[str, Any] = {
                "cursors": {"before": str(start), "after": str(start + len(page))}
            }
            if start + len(page) < len(mine):
                query = {
                    "access_token": self.token,
                    "limit": str(limit),
                    "after": str(start + len(page)),
                }
                for name in ("fields", "filter", "order"):
                    if name in request.query:
                        query[name] = request.query[name]
                paging["next"] = (
                    f"https://graph.facebook.com/{self.version}/{object_id}/comments?"
                    + urlencode(query)
                )
            body["paging"] = paging
        return web.json_response(body)


def _person_id(name: str) -> str:
    """A stable user id for a commenter's name."""
    return f"9{zlib.crc32(name.encode()):010d}"


def _fold_form_arrays(fields: dict[str, Any], server: GraphServer) -> dict[str, Any]:
    """Form bodies spell lists as ``attached_media[0]={"media_fbid": "…"}``."""
    out: dict[str, Any] = {}
    media: dict[int, Any] = {}
    for key, value in fields.items():
        if key.startswith("attached_media[") and key.endswith("]"):
            index = key[len("attached_media[") : -1]
            if not index.isdigit():
                raise server.strict(f"bad form key {key!r}")
            try:
                media[int(index)] = json.loads(value)
            except ValueError:
                raise server.strict(f"{key} is not JSON") from None
        else:
            out[key] = value
    if media:
        if sorted(media) != list(range(len(media))):
            raise server.strict("attached_media indexes are not 0..n-1")
        out["attached_media"] = [media[i] for i in sorted(media)]
    return out
