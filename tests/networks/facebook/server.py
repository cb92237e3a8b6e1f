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
``{"id"}``) and ``GET /{post-id}/comments`` (``fields`` of id, message, from, created_time;
``filter``, ``limit``, ``after``). Tests inject Graph errors by code, with usage headers, per
endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlencode

from aiohttp import BodyPartReader, web

from publisher.testing.servers import LocalServer
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
COMMENT_READ_FIELDS = frozenset({"id", "message", "from", "created_time"})
COMMENTS_QUERY = frozenset({"fields", "filter", "limit", "after", "order", "access_token"})
MAX_COMMENT = 8_000

# Graph's HTTP status for an error code when a test does not say (most are 400).
DEFAULT_STATUS: dict[int, int] = {1: 500, 2: 500}


def error_body(
    code: int,
    message: str,
    *,
    type_: str = "OAuthException",
    subcode: int | None = None,
    is_transient: bool | None = None,
    trace: str = "AbCdEfGhIjK",
) -> dict[str, Any]:
    """Graph's error document."""
    err: dict[str, Any] = {"message": message, "type": type_, "code": code}
    if subcode is not None:
        err["error_subcode"] = subcode
    if is_transient is not None:
        err["is_transient"] = is_transient
    err["fbtrace_id"] = trace
    return {"error": err}


def usage_headers(
    minutes: float, *, business_id: str = "1234567890", call_count: int = 100
) -> dict[str, str]:
    """Page-token usage headers: BUC (with the time to regain access) and app usage."""
    buc = {
        business_id: [
            {
                "type": "pages",
                "call_count": call_count,
                "total_cputime": 12,
                "total_time": 15,
                "estimated_time_to_regain_access": minutes,
            }
        ]
    }
    app = {"call_count": call_count, "total_cputime": 12, "total_time": 15}
    return {
        "X-Business-Use-Case-Usage": json.dumps(buc),
        "X-App-Usage": json.dumps(app),
    }


def graph_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


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


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    content_type: str
    token_via: str  # "header", "query", "body" or "none"


@dataclass
class _Injection:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str]
    commit: bool  # do the work first, then answer with this (the request "landed")
    drop: bool = False  # no answer at all: the connection is reset


class _Drop(Exception):
    pass


class _Reject(Exception):
    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


@dataclass
class GraphServer:
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
        self._server: LocalServer | None = None
        self._injections: dict[str, list[_Injection]] = {}
        self._next_id = 100_000_000_000_001
        self._trace = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # No access log: Graph-style paging URLs carry tokens.
        self._server = LocalServer(app, access_log=False)
        self.url = await self._server.start()
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None

    async def __aenter__(self) -> GraphServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ test controls

    def inject_error(
        self,
        endpoint: Endpoint,
        code: int,
        message: str = "injected error",
        *,
        status: int | None = None,
        subcode: int | None = None,
        is_transient: bool | None = None,
        type_: str = "OAuthException",
        headers: Mapping[str, str] | None = None,
        commit: bool = False,
        times: int = 1,
    ) -> None:
        """The next ``times`` valid requests to ``endpoint`` get this Graph error."""
        body = error_body(
            code, message, type_=type_, subcode=subcode, is_transient=is_transient
        )
        self.inject_raw(
            endpoint,
            status if status is not None else DEFAULT_STATUS.get(code, 400),
            json.dumps(body),
            headers=headers,
            commit=commit,
            times=times,
        )

    def inject_raw(
        self,
        endpoint: Endpoint,
        status: int,
        body: str,
        *,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        commit: bool = False,
        times: int = 1,
    ) -> None:
        """The next ``times`` valid requests to ``endpoint`` get exactly this answer."""
        injection = _Injection(status, body.encode(), content_type, dict(headers or {}), commit)
        self._injections.setdefault(endpoint, []).extend([injection] * times)

    def inject_drop(self, endpoint: Endpoint, *, commit: bool = False, times: int = 1) -> None:
        """The next ``times`` valid requests to ``endpoint`` see their connection reset."""
        injection = _Injection(0, b"", "", {}, commit, drop=True)
        self._injections.setdefault(endpoint, []).extend([injection] * times)

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

    def _error(
        self, code: int, message: str, status: int = 400, subcode: int | None = None
    ) -> _Reject:
        self._trace += 1
        body = error_body(code, message, subcode=subcode, trace=f"Trace{self._trace:06d}")
        headers = {}
        if code == 190 and status == 401:
            headers["WWW-Authenticate"] = 'OAuth "Facebook Platform" "invalid_token" "' + (
                message.replace('"', "'") + '"'
            )
        return _Reject(web.json_response(body, status=status, headers=headers))

    def _strict(self, message: str) -> _Reject:
        return self._error(100, f"(#100) strict server: {message}")

    def _take_injection(self, endpoint: str) -> _Injection | None:
        queue = self._injections.get(endpoint)
        return queue.pop(0) if queue else None

    @staticmethod
    def _answer(injection: _Injection) -> web.Response:
        if injection.drop:
            raise _Drop
        return web.Response(
            status=injection.status,
            body=injection.body,
            content_type=injection.content_type,
            headers=injection.headers,
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._route(request)
        except _Reject as reject:
            return reject.response
        except _Drop:
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=204)  # never reaches the client

    async def _route(self, request: web.Request) -> web.StreamResponse:
        segments = [s for s in request.path.split("/") if s]
        if not segments or segments[0] != self.version:
            raise self._error(
                2635, f"strict server: only Graph API {self.version} is served here"
            )
        rest = segments[1:]
        method = request.method
        fields, files = await self._read_body(request, rest)
        via = self._authenticate(request, fields)
        self.requests.append(
            RecordedRequest(
                method, request.path, dict(request.query), request.content_type, via
            )
        )
        if rest == ["debug_token"] and method == "GET":
            return self._debug_token(request)
        try:
            if method == "GET" and not rest:
                return self._read_ids(request)
            held = bool(rest) and rest[0] in self._held()
            if method == "GET" and held and len(rest) == 1:
                return self._read_post(request, rest[0])
            if method == "GET" and held and rest[1:] == ["insights"]:
                injection = self._take_injection("insights")
                if injection is not None:
                    return self._answer(injection)
                return web.json_response(self.reads.insights(rest[0], dict(request.query)))
        except Refused as err:
            raise self._error(err.code, err.message, err.status, err.subcode) from None
        if len(rest) == 2 and rest[1] == "comments" and self._known_post(rest[0]):
            if method == "POST":
                return self._comment(rest[0], fields)
            if method == "GET":
                return self._comments(rest[0], request)
        if rest and rest[0] != self.page_id:
            raise self._error(
                100,
                f"Unsupported {method.lower()} request. Object with ID '{rest[0]}' does not "
                "exist, cannot be loaded due to missing permissions, or does not support "
                "this operation.",
                subcode=33,
            )
        if rest == [self.page_id] and method == "GET":
            return self._page(request)
        if rest == [self.page_id, "feed"] and method == "POST":
            return self._feed(fields)
        if rest == [self.page_id, "photos"] and method == "POST":
            return self._photo(fields, files)
        if rest == [self.page_id, "posts"] and method == "GET":
            return self._posts(request)
        raise self._error(
            100, f"Unsupported {method.lower()} request. (strict server: {request.path})", 400
        )

    async def _read_body(
        self, request: web.Request, rest: list[str]
    ) -> tuple[dict[str, Any], dict[str, tuple[str, str, bytes]]]:
        """The body's fields and files, refusing content types the endpoint does not take."""
        fields: dict[str, Any] = {}
        files: dict[str, tuple[str, str, bytes]] = {}
        if request.method == "GET":
            if await request.read():
                raise self._strict("a GET with a body")
            return fields, files
        ctype = request.content_type
        is_photos = rest[-1:] == ["photos"]
        if is_photos and ctype != "multipart/form-data":
            raise self._strict(f"/photos takes multipart/form-data, not {ctype}")
        if not is_photos and ctype not in ("application/json", "application/x-www-form-urlencoded"):
            raise self._strict(f"/feed takes JSON or a urlencoded form, not {ctype}")
        if ctype == "application/json":
            try:
                doc = json.loads(await request.read())
            except ValueError:
                raise self._strict("the JSON body does not parse") from None
            if not isinstance(doc, dict):
                raise self._strict("the JSON body is not an object")
            return doc, files
        if ctype == "application/x-www-form-urlencoded":
            form = await request.post()
            for key, value in form.items():
                if not isinstance(value, str):
                    raise self._strict(f"a file in a urlencoded form ({key})")
                fields[key] = value
            return _fold_form_arrays(fields, self), files
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                raise self._strict("nested multipart")
            name = part.name or ""
            if name in fields or name in files:
                raise self._strict(f"field {name!r} given twice")
            if part.filename is not None:
                data = await part.read()
                ctype_part = part.headers.get("Content-Type", "application/octet-stream")
                files[name] = (part.filename, ctype_part, bytes(data))
            else:
                fields[name] = await part.text()
        return fields, files

    def _authenticate(self, request: web.Request, fields: Mapping[str, Any]) -> str:
        given: list[tuple[str, str]] = []
        auth = request.headers.get("Authorization", "")
        if auth:
            scheme, _, value = auth.partition(" ")
            if scheme.lower() not in ("bearer", "oauth") or not value:
                raise self._error(190, "Invalid OAuth access token - Cannot parse access token")
            given.append(("header", value.strip()))
        if "access_token" in request.query:
            given.append(("query", request.query["access_token"]))
        if "access_token" in fields:
            given.append(("body", str(fields["access_token"])))
        if not given:
            raise self._error(190, "An access token is required to request this resource.")
        if len({token for _, token in given}) > 1:
            raise self._strict("two different access tokens in one request")
        via, token = given[0]
        if token != self.token:
            status = 401 if via == "header" else 400
            raise self._error(
                190, "Invalid OAuth access token - Cannot parse access token", status
            )
        return via

    # ------------------------------------------------------------------ endpoints

    def _debug_token(self, request: web.Request) -> web.Response:
        unknown = set(request.query) - {"input_token", "access_token"}
        if unknown:
            raise self._strict(f"unknown debug_token parameters {sorted(unknown)}")
        input_token = request.query.get("input_token")
        if not input_token:
            raise self._error(100, "(#100) The parameter input_token is required")
        injection = self._take_injection("debug_token")
        if injection is not None:
            return self._answer(injection)
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
        wanted = _fields_param(request, PAGE_READ_FIELDS, "Page", self)
        unknown = set(request.query) - {"fields", "access_token"}
        if unknown:
            raise self._strict(f"unknown parameters {sorted(unknown)}")
        injection = self._take_injection("page")
        if injection is not None:
            return self._answer(injection)
        doc = {"id": self.page_id, "name": self.page_name, "followers_count": self.reads.followers}
        return web.json_response({k: v for k, v in doc.items() if k in wanted or k == "id"})

    def _held(self) -> set[str]:
        """The ids of the page's posts that are still there."""
        return {p.id for p in self.posts} - self.reads.deleted

    def _read_ids(self, request: web.Request) -> web.Response:
        if unknown := set(request.query) - READ_QUERY:
            raise self._strict(f"unknown parameters {sorted(unknown)}")
        ids = [i for i in request.query.get("ids", "").split(",") if i]
        if not ids:
            raise self._error(100, "(#100) The parameter ids is required")
        if len(ids) > MAX_IDS:
            raise self._error(100, f"(#100) Too many IDs. Maximum: {MAX_IDS}")
        injection = self._take_injection("objects")
        if injection is not None:
            return self._answer(injection)
        missing = [i for i in ids if i not in self._held()]
        if missing:
            message = f"(#803) Some of the aliases you requested do not exist: {','.join(missing)}"
            raise self._error(803, message, 404)
        fields = request.query.get("fields", "")
        return web.json_response({i: self.reads.post_fields(i, fields) for i in ids})

    def _read_post(self, request: web.Request, post_id: str) -> web.Response:
        if unknown := set(request.query) - {"fields", "access_token"}:
            raise self._strict(f"unknown parameters {sorted(unknown)}")
        injection = self._take_injection("post")
        if injection is not None:
            return self._answer(injection)
        return web.json_response(self.reads.post_fields(post_id, request.query.get("fields", "")))

    def _feed(self, fields: Mapping[str, Any]) -> web.Response:
        unknown = set(fields) - FEED_FIELDS
        if unknown:
            raise self._strict(f"unknown /feed fields {sorted(unknown)}")
        message = fields.get("message")
        if message is not None and not isinstance(message, str):
            raise self._strict("message is not a string")
        link = fields.get("link")
        if link is not None and (
            not isinstance(link, str) or not link.startswith(("http://", "https://"))
        ):
            raise self._error(100, "(#100) The parameter link must be a valid URL")
        photo_ids = self._attached_media(fields.get("attached_media"))
        if photo_ids and link:
            raise self._strict("link and attached_media together")
        if fields.get("published") not in (None, True, "true"):
            raise self._strict("unpublished page posts are not modelled")
        if not (message or link or photo_ids):
            raise self._error(100, "(#100) Missing message or attachment")
        injection = self._take_injection("feed")
        if injection is not None and not injection.commit:
            return self._answer(injection)
        post = RecordedPost(self._post_id(), message or None, link, photo_ids, self.now())
        self.posts.append(post)
        for photo_id in photo_ids:
            self.photos[photo_id].post_id = post.id
        if injection is not None:
            return self._answer(injection)
        return web.json_response({"id": post.id})

    def _attached_media(self, value: Any) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list) or not value:
            raise self._strict("attached_media must be a non-empty list")
        ids: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, dict) or set(item) != {"media_fbid"}:
                raise self._strict(f'attached_media[{i}] must be {{"media_fbid": "<id>"}}')
            fbid = item["media_fbid"]
            photo = self.photos.get(fbid) if isinstance(fbid, str) else None
            if photo is None or photo.published or photo.post_id is not None or fbid in ids:
                raise self._error(
                    100, f"(#100) param attached_media[{i}] has invalid media_fbid {fbid!r}"
                )
            ids.append(fbid)
        return ids

    def _photo(
        self, fields: Mapping[str, Any], files: Mapping[str, tuple[str, str, bytes]]
    ) -> web.Response:
        unknown = (set(fields) | set(files)) - PHOTO_FIELDS
        if unknown:
            raise self._strict(f"unknown /photos fields {sorted(unknown)}")
        if "source" in fields:
            raise self._strict("source must be a file part")
        if "source" not in files:
            raise self._error(324, "(#324) Requires upload file")
        filename, ctype, data = files["source"]
        if ctype not in PHOTO_TYPES or not data:
            raise self._error(324, "(#324) Missing or invalid image file")
        if len(data) > MAX_PHOTO_BYTES:
            raise self._error(100, "(#100) The image is too large")
        published_raw = fields.get("published", "true")
        if published_raw not in ("true", "false"):
            raise self._strict(f"published must be true or false, not {published_raw!r}")
        published = published_raw == "true"
        caption = fields.get("caption")
        injection = self._take_injection("photos" if published else "photos-unpublished")
        if injection is None and not published:
            injection = self._take_injection("photos")
        if injection is not None and not injection.commit:
            return self._answer(injection)
        photo = RecordedPhoto(self._new_id(), published, caption, filename, ctype, data)
        self.photos[photo.id] = photo
        answer: dict[str, str] = {"id": photo.id}
        if published:
            post = RecordedPost(self._post_id(), caption or None, None, [photo.id], self.now())
            self.posts.append(post)
            photo.post_id = post.id
            answer["post_id"] = post.id
        if injection is not None:
            return self._answer(injection)
        return web.json_response(answer)

    def _posts(self, request: web.Request) -> web.Response:
        unknown = set(request.query) - POSTS_QUERY
        if unknown:
            raise self._strict(f"unknown /posts parameters {sorted(unknown)}")
        wanted = _fields_param(request, POST_READ_FIELDS, "Post", self)
        try:
            since = int(request.query.get("since", "0"))
            limit = int(request.query.get("limit", str(self.page_size)))
            start = int(request.query.get("after", "0"))
        except ValueError:
            raise self._strict("since, limit and after must be integers") from None
        limit = min(limit, self.page_size)
        injection = self._take_injection("posts")
        if injection is not None:
            return self._answer(injection)
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


    # ------------------------------------------------------------------ comments

    def _known_post(self, post_id: str) -> bool:
        return any(p.id == post_id for p in self.posts)

    def _comment(self, post_id: str, fields: Mapping[str, Any]) -> web.Response:
        """Create a comment on a page post, as the page (its token)."""
        unknown = set(fields) - COMMENT_FIELDS
        if unknown:
            raise self._strict(f"unknown /comments fields {sorted(unknown)}")
        message = fields.get("message")
        if not isinstance(message, str) or not message.strip():
            raise self._error(100, "(#100) Missing message or attachment")
        if len(message) > MAX_COMMENT:
            raise self._error(100, "(#100) The comment is too long")
        injection = self._take_injection("comment")
        if injection is not None and not injection.commit:
            return self._answer(injection)
        number = post_id.partition("_")[2]
        comment = RecordedComment(
            f"{number}_{self._new_id()}", post_id, message, self.page_id, self.now()
        )
        self.comments.append(comment)
        if injection is not None:
            return self._answer(injection)
        return web.json_response({"id": comment.id})

    def _comments(self, post_id: str, request: web.Request) -> web.Response:
        unknown = set(request.query) - COMMENTS_QUERY
        if unknown:
            raise self._strict(f"unknown /comments parameters {sorted(unknown)}")
        wanted = _fields_param(request, COMMENT_READ_FIELDS, "Comment", self)
        if request.query.get("filter", "toplevel") not in ("toplevel", "stream"):
            raise self._error(100, "(#100) filter must be one of toplevel, stream")
        try:
            limit = min(int(request.query.get("limit", str(self.page_size))), self.page_size)
            start = int(request.query.get("after", "0"))
        except ValueError:
            raise self._strict("limit and after must be integers") from None
        injection = self._take_injection("comments")
        if injection is not None:
            return self._answer(injection)
        mine = [c for c in self.comments if c.post_id == post_id]
        page = mine[start : start + limit]
        data = []
        for c in page:
            doc: dict[str, Any] = {"id": c.id}
            if "message" in wanted:
                doc["message"] = c.message
            if "from" in wanted:
                doc["from"] = {"name": self.page_name, "id": c.from_id}
            if "created_time" in wanted:
                doc["created_time"] = graph_time(c.created_time)
            data.append(doc)
        body: dict[str, Any] = {"data": data}
        if page:
            paging: dict[str, Any] = {
                "cursors": {"before": str(start), "after": str(start + len(page))}
            }
            if start + len(page) < len(mine):
                query = {"access_token": self.token, "limit": str(limit),
                         "after": str(start + len(page))}
                paging["next"] = (
                    f"https://graph.facebook.com/{self.version}/{post_id}/comments?"
                    + urlencode(query)
                )
            body["paging"] = paging
        return web.json_response(body)


def _fields_param(
    request: web.Request, allowed: frozenset[str], node: str, server: GraphServer
) -> set[str]:
    raw = request.query.get("fields", "")
    wanted = {f.strip() for f in raw.split(",") if f.strip()}
    unknown = wanted - allowed
    if unknown:
        name = sorted(unknown)[0]
        raise server._error(
            100, f"(#100) Tried accessing nonexisting field ({name}) on node type ({node})"
        )
    return wanted


def _fold_form_arrays(fields: dict[str, Any], server: GraphServer) -> dict[str, Any]:
    """Form bodies spell lists as ``attached_media[0]={"media_fbid": "…"}``."""
    out: dict[str, Any] = {}
    media: dict[int, Any] = {}
    for key, value in fields.items():
        if key.startswith("attached_media[") and key.endswith("]"):
            index = key[len("attached_media[") : -1]
            if not index.isdigit():
                raise server._strict(f"bad form key {key!r}")
            try:
                media[int(index)] = json.loads(value)
            except ValueError:
                raise server._strict(f"{key} is not JSON") from None
        else:
            out[key] = value
    if media:
        if sorted(media) != list(range(len(media))):
            raise server._strict("attached_media indexes are not 0..n-1")
        out["attached_media"] = [media[i] for i in sorted(media)]
    return out
