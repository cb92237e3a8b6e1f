"""A strict local stand-in for the LinkedIn REST endpoints the LinkedIn adapter uses.

It answers on 127.0.0.1 with LinkedIn's documented shapes and records what it accepted. Like
LinkedIn it reads commentary as "little" text and, like LinkedIn, it does not refuse one
with an unescaped reserved character: it keeps the text *up to* that character and says
nothing (``RecordedPost.truncated`` tells the tests). It is stricter than LinkedIn on
purpose where LinkedIn is lenient in ways that would hide adapter bugs: an unknown or
missing field, a wrong content type, an unencoded URN, a missing ``LinkedIn-Version`` or
``X-Restli-Protocol-Version: 2.0.0``. Errors that are the server's own strictness (not a
LinkedIn rule) say "strict server:".

Endpoints: ``POST /rest/images?action=initializeUpload``, ``PUT /dms-uploads/{id}`` (the
upload URL it hands out), ``POST /rest/posts``, ``GET /rest/posts/{urn}``, ``GET /rest/posts
?q=author``, ``GET /rest/organizations/{id}``, ``GET /v2/userinfo``, and the Comments API
on a post or a comment: ``POST /rest/socialActions/{urn}/comments`` (201 with the comment,
its URN in ``$URN`` and ``x-restli-id``) and ``GET /rest/socialActions/{urn}/comments``
(``tests.networks.linkedin.comments``); ``hear`` adds someone's comment on one of our posts,
``replies_to`` lists our comments on a comment. Tests inject failures per endpoint (a 429
with ``Retry-After`` included), optionally after doing the work (the request "landed").
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from aiohttp import web

from publisher.adapters.listening import ItemKind
from publisher.testing.strict import Reject, StrictServer
from tests.networks.linkedin import comments
from tests.networks.linkedin.comments import RecordedComment, comment_url, comment_urn
from tests.networks.linkedin.documents import UNRECOGNIZED as UNRECOGNIZED
from tests.networks.linkedin.documents import error_body as error_body
from tests.networks.linkedin.documents import input_error as input_error
from tests.networks.linkedin.reads import LinkedInReads, Refused

Endpoint = Literal[
    "images", "upload", "posts", "get_post", "find_posts", "organization", "userinfo",
    "statistics", "network_size",
    "comment", "comments",
]

RESERVED = frozenset("\\|{}@[]()<>#*_~")
MAX_COMMENTARY = 3_000
MAX_ALT_TEXT = 4_086
# What LinkedIn serves on 2026-12-03: each monthly version for about a year (202511 was
# retired on 2026-11-16), up to the newest.
ACTIVE_VERSIONS = frozenset(
    {"202512", "202601", "202602", "202603", "202604", "202605", "202606", "202607",
     "202608", "202609", "202610", "202611"}
)
VISIBILITIES = frozenset({"PUBLIC", "CONNECTIONS", "LOGGED_IN", "CONTAINER"})
POST_FIELDS = frozenset(
    {
        "author", "commentary", "visibility", "distribution", "lifecycleState",
        "isReshareDisabledByAuthor", "content", "contentLandingPage",
        "contentCallToActionLabel", "container", "reshareContext", "adContext",
    }
)
REQUIRED_POST_FIELDS = ("author", "commentary", "visibility", "distribution", "lifecycleState")
DISTRIBUTION_FIELDS = frozenset(
    {"feedDistribution", "targetEntities", "thirdPartyDistributionChannels"}
)
MEDIA_FIELDS = frozenset({"id", "altText", "title"})
ARTICLE_FIELDS = frozenset({"source", "title", "description", "thumbnail", "thumbnailAltText"})
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")

INVALID_TOKEN = {
    "status": 401,
    "serviceErrorCode": 65600,
    "code": "INVALID_ACCESS_TOKEN",
    "message": "Invalid access token",
}

_TEMPLATE = re.compile(r"\{hashtag\|(\\#|#|＃)\|([^\W_]+)\}")
_HASHTAG = re.compile(r"[#＃]([^\W_]+)")
_MENTION = re.compile(r"@\[((?:\\.|[^\]\\])+)\]\((urn:li:(?:person|organization):[A-Za-z0-9_-]+)\)")


def duplicate_body(urn: str) -> dict[str, Any]:
    return {
        "errorDetailType": "com.linkedin.common.error.BadRequest",
        "message": f"Content is a duplicate of {urn}",
        "errorDetails": {
            "inputErrors": [
                {"description": "Duplicate post is detected", "input": {}, "code": "DUPLICATE_POST"}
            ]
        },
        "status": 422,
    }


@dataclass(frozen=True)
class Little:
    """A commentary as LinkedIn reads it: what it stores, what members see, where it stopped."""

    stored: str  # canonical little, as GET returns it
    visible: str  # the plain text shown
    truncated: bool


def _template(sign: str, tag: str) -> str:
    escaped = "＃" if sign == "＃" else "\\#"
    return f"{{hashtag|{escaped}|{tag}}}"


def parse_little(commentary: str) -> Little:
    """Read little text the way LinkedIn does: stop silently at an unescaped reserved char."""
    stored: list[str] = []
    visible: list[str] = []
    i, n = 0, len(commentary)
    while i < n:
        ch = commentary[i]
        if ch == "\\" and i + 1 < n and commentary[i + 1] in RESERVED:
            stored.append(commentary[i : i + 2])
            visible.append(commentary[i + 1])
            i += 2
            continue
        m = None
        if ch == "{":
            m = _TEMPLATE.match(commentary, i)
            if m is not None:
                sign = "＃" if m.group(1) == "＃" else "#"
                stored.append(_template(sign, m.group(2)))
                visible.append(sign + m.group(2))
        elif ch in "#＃":
            m = _HASHTAG.match(commentary, i)
            if m is not None:  # a bare HashtagElement: LinkedIn stores it as a template
                stored.append(_template(ch, m.group(1)))
                visible.append(ch + m.group(1))
            elif ch == "＃":  # not reserved: a lone full-width sign is plain text
                stored.append(ch)
                visible.append(ch)
                i += 1
                continue
        elif ch == "@":
            m = _MENTION.match(commentary, i)
            if m is not None:
                stored.append(m.group(0))
                visible.append(re.sub(r"\\(.)", r"\1", m.group(1)))
        elif ch not in RESERVED:
            stored.append(ch)
            visible.append(ch)
            i += 1
            continue
        if m is None:
            return Little("".join(stored), "".join(visible), True)
        i = m.end()
    return Little("".join(stored), "".join(visible), False)


@dataclass
class RecordedImage:
    urn: str
    owner: str
    upload_id: str
    data: bytes | None = None
    content_type: str = ""


@dataclass
class RecordedPost:
    urn: str
    author: str
    sent_commentary: str  # as the client sent it
    commentary: str  # as LinkedIn keeps it (canonical little, cut at the first bad char)
    text: str  # what members see
    truncated: bool
    visibility: str
    content: dict[str, Any] | None
    body: dict[str, Any]
    created_at: datetime
    modified_at: datetime

    def doc(self) -> dict[str, Any]:
        ms = int(self.created_at.timestamp() * 1000)
        doc: dict[str, Any] = {
            "id": self.urn,
            "author": self.author,
            "commentary": self.commentary,
            "visibility": self.visibility,
            "distribution": self.body.get("distribution", {}),
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": self.body.get("isReshareDisabledByAuthor", False),
            "isEditedByAuthor": False,
            "createdAt": ms,
            "publishedAt": ms,
            "lastModifiedAt": int(self.modified_at.timestamp() * 1000),
        }
        if self.content is not None:
            doc["content"] = self.content
        return doc


@dataclass
class RecordedRequest:
    method: str
    raw_path: str
    headers: dict[str, str]
    body: bytes


def _unexpected_query(query: str) -> web.Response:
    return _json(400, error_body(400, f"strict server: unexpected query {query!r}"))


def _read(answer: Callable[[], dict[str, Any]]) -> web.Response:
    """An engagement read's answer, or LinkedIn's error document for its refusal."""
    try:
        return _json(200, answer())
    except Refused as err:
        return _json(err.status, error_body(err.status, err.message, err.code))


def _json(
    status: int, doc: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(doc, status=status, headers=dict(headers or {}))


@dataclass
class LinkedInServer(StrictServer):
    author: str = "urn:li:organization:5515715"
    token: str = "AQV-linkedin-token-for-tests-8e2f"
    member_id: str = "yrZCpj2Z12"  # whose token it is (userinfo's sub)
    member_name: str = "Ada Lovelace"
    org_name: str = "Brand Inc."
    versions: frozenset[str] = ACTIVE_VERSIONS
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    token_revoked: bool = False
    finder_forbidden: bool = False  # r_member_social missing: the author finder answers 403

    posts: list[RecordedPost] = field(default_factory=list)
    images: dict[str, RecordedImage] = field(default_factory=dict)
    comments: list[RecordedComment] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    reads: LinkedInReads = field(default_factory=LinkedInReads)
    url: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._post_ids = itertools.count(7_300_000_000_000_000_001)
        self._image_ids = itertools.count(1)

    async def __aenter__(self) -> LinkedInServer:
        await self.start()
        return self

    # ------------------------------------------------------------------ test controls

    def inject(
        self,
        endpoint: Endpoint,
        status: int,
        body: Mapping[str, Any] | str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        commit: bool = False,
        drop: bool = False,
        times: int = 1,
    ) -> None:
        """The next ``times`` valid requests to ``endpoint`` get this answer instead."""
        if body is None:
            body = error_body(status, f"injected {status}")
        if drop:
            self.inject_drop(endpoint, commit=commit, times=times)
            return
        if isinstance(body, str):
            raw, ctype = body, "text/html"
        else:
            raw, ctype = json.dumps(body), "application/json"
        self.inject_raw(
            endpoint, status, raw, content_type=ctype, headers=headers, commit=commit, times=times
        )

    def add_post(self, commentary: str, *, created_at: datetime | None = None,
                 author: str | None = None) -> RecordedPost:
        """A post made elsewhere (the web UI, another tool), for lookups to meet."""
        when = created_at or self.now()
        little = parse_little(commentary)
        post = RecordedPost(
            urn=f"urn:li:share:{next(self._post_ids)}",
            author=author or self.author,
            sent_commentary=commentary,
            commentary=little.stored,
            text=little.visible,
            truncated=little.truncated,
            visibility="PUBLIC",
            content=None,
            body={"distribution": {"feedDistribution": "MAIN_FEED"}},
            created_at=when,
            modified_at=when,
        )
        self.posts.append(post)
        return post

    def post(self, urn: str) -> RecordedPost | None:
        return next((p for p in self.posts if p.urn == urn), None)

    def hear(
        self, kind: ItemKind, text: str, *, author: str = "ana", answers: str | None = None
    ) -> tuple[str, str]:
        """Someone's comment on our post ``answers`` (LinkedIn hears comments only): its URN
        and URL."""
        post = self.post(answers or "")
        if kind is not ItemKind.COMMENT or post is None:
            raise ValueError(f"LinkedIn hears comments on our posts, not a {kind} on {answers}")
        urn = comment_urn(post.urn, next(self._post_ids))
        actor = author if author.startswith("urn:li:") else f"urn:li:person:{author}"
        self.comments.append(RecordedComment(urn, actor, post.urn, text, self.now()))
        return urn, comment_url(post.urn, urn)

    def replies_to(self, remote_id: str) -> list[str]:
        """Our comments on the comment ``remote_id``."""
        return [c.urn for c in self.comments if c.parent == remote_id and c.actor == self.author]

    def requests_to(self, method: str, prefix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.raw_path.startswith(prefix)]

    # ------------------------------------------------------------------ dispatch

    async def route(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        raw_path = request.raw_path
        self.requests.append(
            RecordedRequest(request.method, raw_path, dict(request.headers), body)
        )
        path, _, query = raw_path.partition("?")
        if path == "/v2/userinfo" and request.method == "GET":
            self._check_token(request)
            return await self._answer("userinfo", request, lambda: self._userinfo())
        if path.startswith("/dms-uploads/") and request.method == "PUT":
            self._check_token(request)
            upload_id = path.removeprefix("/dms-uploads/")
            return await self._answer(
                "upload", request, lambda: self._upload(upload_id, request, body)
            )
        if not path.startswith("/rest/"):
            return _json(404, error_body(404, f"No route {request.method} {path}"))
        self._check_rest_headers(request)
        return await self._rest(request, path, query, body)

    async def _rest(
        self, request: web.Request, path: str, query: str, body: bytes
    ) -> web.StreamResponse:
        method = request.method
        if path == "/rest/images" and method == "POST":
            if query != "action=initializeUpload":
                raise Reject(_unexpected_query(query))
            doc = self._json_body(request, body)
            return await self._answer("images", request, lambda: self._initialize(doc))
        if path == "/rest/posts" and method == "POST":
            if query:
                raise Reject(_unexpected_query(query))
            doc = self._json_body(request, body)
            return await self._answer("posts", request, lambda: self._create(doc))
        if path == "/rest/posts" and method == "GET":
            return await self._answer("find_posts", request, lambda: self._find(query))
        if path.startswith("/rest/posts/") and method == "GET":
            raw_urn = path.removeprefix("/rest/posts/")
            return await self._answer("get_post", request, lambda: self._get(raw_urn))
        if path == "/rest/organizationalEntityShareStatistics" and method == "GET":
            held = {p.urn for p in self.posts if p.author == self.author}
            return await self._answer("statistics", request, lambda: _read(
                lambda: self.reads.statistics(query, self.author, held)
            ))
        if path.startswith("/rest/networkSizes/") and method == "GET":
            raw = path.removeprefix("/rest/networkSizes/")
            return await self._answer("network_size", request, lambda: _read(
                lambda: self.reads.network_size(raw, query, self.author)
            ))
        m = re.fullmatch(r"/rest/socialActions/([^/]+)/comments", path)
        if m is not None and method in ("POST", "GET"):
            raw_urn = m.group(1)
            if query and method == "POST":
                raise Reject(_unexpected_query(query))
            if method == "POST":
                doc = self._json_body(request, body)
                return await self._answer("comment", request, lambda: self._comment(raw_urn, doc))
            return await self._answer(
                "comments", request, lambda: self._comments(raw_urn, query)
            )
        m = re.fullmatch(r"/rest/organizations/(\d+)", path)
        if m is not None and method == "GET":
            org_id = m.group(1)
            return await self._answer("organization", request, lambda: self._organization(org_id))
        return _json(404, error_body(404, f"No route {method} {path}"))

    async def _answer(
        self, endpoint: str, request: web.Request, work: Callable[[], web.StreamResponse]
    ) -> web.StreamResponse:
        injection = self.take(endpoint)
        if injection is None:
            return work()
        if injection.commit:
            work()
        return self.answer(injection)

    # ------------------------------------------------------------------ header checks

    def _check_token(self, request: web.Request) -> None:
        auth = request.headers.get("Authorization", "")
        if self.token_revoked or auth != f"Bearer {self.token}":
            raise Reject(_json(401, INVALID_TOKEN))

    def _check_rest_headers(self, request: web.Request) -> None:
        self._check_token(request)
        version = request.headers.get("LinkedIn-Version")
        if not version:
            raise Reject(_json(400, error_body(
                400,
                "A version must be present. Please specify a version by adding the "
                "LinkedIn-Version header.",
                "VERSION_MISSING",
            )))
        if version not in self.versions:
            raise Reject(_json(426, error_body(
                426, f"Requested version {version} is not active", "NONEXISTENT_VERSION"
            )))
        if request.headers.get("X-Restli-Protocol-Version") != "2.0.0":
            raise Reject(_json(400, error_body(
                400, "strict server: X-Restli-Protocol-Version: 2.0.0 is required"
            )))

    def _json_body(self, request: web.Request, body: bytes) -> dict[str, Any]:
        ctype = request.headers.get("Content-Type", "")
        if ctype.split(";")[0].strip().lower() != "application/json":
            raise Reject(_json(415, error_body(
                415, f"Unsupported Media Type: {ctype or 'none'}; expected application/json"
            )))
        try:
            doc = json.loads(body)
        except ValueError:
            raise Reject(_json(400, error_body(400, "Invalid JSON in request body"))) from None
        if not isinstance(doc, dict):
            raise Reject(_json(400, error_body(400, "Request body must be a JSON object")))
        return doc

    # ------------------------------------------------------------------ images

    def _initialize(self, doc: dict[str, Any]) -> web.StreamResponse:
        if set(doc) != {"initializeUploadRequest"}:
            extra = sorted(set(doc) - {"initializeUploadRequest"})
            where = f"/{extra[0]}" if extra else "/initializeUploadRequest"
            what = UNRECOGNIZED if extra else "field is required"
            return _json(422, input_error(where, what))
        req = doc["initializeUploadRequest"]
        if not isinstance(req, dict) or set(req) != {"owner"}:
            return _json(422, input_error(
                "/initializeUploadRequest", "strict server: exactly {owner} is expected"
            ))
        owner = req["owner"]
        if owner != self.author:
            return _json(403, error_body(
                403, f"Not enough permissions to upload images for {owner}", "ACCESS_DENIED"
            ))
        n = next(self._image_ids)
        urn = f"urn:li:image:C4E10AQ{n:08d}"
        upload_id = f"upload-{n:08d}"
        self.images[urn] = RecordedImage(urn, owner, upload_id)
        expires = int(self.now().timestamp() * 1000) + 86_400_000
        return _json(200, {"value": {
            "uploadUrlExpiresAt": expires,
            "uploadUrl": f"{self.url}/dms-uploads/{upload_id}?ca=vector_feedshare&cn=uploads",
            "image": urn,
        }})

    def _upload(self, upload_id: str, request: web.Request, body: bytes) -> web.StreamResponse:
        image = next((i for i in self.images.values() if i.upload_id == upload_id), None)
        if image is None:
            return _json(404, error_body(404, "Upload URL not found"))
        if image.data is not None:
            return _json(400, error_body(400, "strict server: this image was uploaded already"))
        if not body.startswith(IMAGE_MAGIC):
            return _json(400, error_body(400, "The uploaded file is not a JPEG, PNG or GIF image"))
        image.data = body
        image.content_type = request.headers.get("Content-Type", "")
        return web.Response(status=201)

    # ------------------------------------------------------------------ posts

    def _create(self, doc: dict[str, Any]) -> web.StreamResponse:
        problem = self._validate_post(doc)
        if problem is not None:
            return problem
        little = parse_little(doc["commentary"])
        if len(little.visible) > MAX_COMMENTARY:
            return _json(422, input_error(
                "/commentary", f"length of commentary exceeds {MAX_COMMENTARY} characters"
            ))
        if little.visible.strip():
            for earlier in self.posts:
                if earlier.author == doc["author"] and earlier.text == little.visible:
                    return _json(422, duplicate_body(earlier.urn))
        now = self.now()
        post = RecordedPost(
            urn=f"urn:li:share:{next(self._post_ids)}",
            author=doc["author"],
            sent_commentary=doc["commentary"],
            commentary=little.stored,
            text=little.visible,
            truncated=little.truncated,
            visibility=doc["visibility"],
            content=doc.get("content"),
            body=doc,
            created_at=now,
            modified_at=now,
        )
        self.posts.append(post)
        return web.Response(status=201, headers={"x-restli-id": post.urn})

    def _validate_post(self, doc: dict[str, Any]) -> web.Response | None:
        for key in doc:
            if key not in POST_FIELDS:
                return _json(422, input_error(f"/{key}", UNRECOGNIZED))
        for key in REQUIRED_POST_FIELDS:
            if key not in doc:
                return _json(422, input_error(
                    f"/{key}", "field is required but not found and has no default value"
                ))
        if doc["author"] != self.author:
            return _json(403, error_body(
                403, f"Not enough permissions to post as {doc['author']}", "ACCESS_DENIED"
            ))
        if not isinstance(doc["commentary"], str):
            return _json(422, input_error("/commentary", "expected a string"))
        if doc["visibility"] not in VISIBILITIES:
            return _json(422, input_error("/visibility", f"invalid value {doc['visibility']!r}"))
        if doc["visibility"] == "CONNECTIONS" and ":organization:" in doc["author"]:
            return _json(422, input_error("/visibility", "CONNECTIONS is for member posts"))
        if doc["lifecycleState"] not in ("PUBLISHED", "DRAFT"):
            return _json(422, input_error("/lifecycleState", "invalid value"))
        if "isReshareDisabledByAuthor" in doc and not isinstance(
            doc["isReshareDisabledByAuthor"], bool
        ):
            return _json(422, input_error("/isReshareDisabledByAuthor", "expected a boolean"))
        problem = self._validate_distribution(doc["distribution"])
        if problem is None and "content" in doc:
            problem = self._validate_content(doc["content"])
        return problem

    def _validate_distribution(self, dist: Any) -> web.Response | None:
        if not isinstance(dist, dict):
            return _json(422, input_error("/distribution", "expected a record"))
        for key in dist:
            if key not in DISTRIBUTION_FIELDS:
                return _json(422, input_error(
                    f"/distribution/{key}", UNRECOGNIZED
                ))
        if dist.get("feedDistribution") not in ("MAIN_FEED", "NONE"):
            return _json(422, input_error("/distribution/feedDistribution", "invalid value"))
        for key in ("targetEntities", "thirdPartyDistributionChannels"):
            if key in dist and not isinstance(dist[key], list):
                return _json(422, input_error(f"/distribution/{key}", "expected an array"))
        return None

    def _validate_content(self, content: Any) -> web.Response | None:
        if not isinstance(content, dict) or len(content) != 1:
            return _json(422, input_error("/content", "exactly one content type is expected"))
        (kind, value), = content.items()
        if kind == "media":
            return self._validate_media("/content/media", value)
        if kind == "multiImage":
            if not isinstance(value, dict) or set(value) != {"images"}:
                return _json(422, input_error("/content/multiImage", "expected {images}"))
            images = value["images"]
            if not isinstance(images, list) or not 2 <= len(images) <= 20:
                return _json(422, input_error(
                    "/content/multiImage/images", "a multiImage takes 2 to 20 images"
                ))
            for i, image in enumerate(images):
                where = f"/content/multiImage/images/{i}"
                problem = self._validate_media(where, image, title=False)
                if problem is not None:
                    return problem
            return None
        if kind == "article":
            return self._validate_article(value)
        return _json(422, input_error(f"/content/{kind}", f"strict server: {kind} not implemented"))

    def _validate_media(self, where: str, media: Any, *, title: bool = True) -> web.Response | None:
        allowed = MEDIA_FIELDS if title else MEDIA_FIELDS - {"title"}
        if not isinstance(media, dict):
            return _json(422, input_error(where, "expected a record"))
        for key in media:
            if key not in allowed:
                return _json(422, input_error(f"{where}/{key}", UNRECOGNIZED))
        if "id" not in media:
            return _json(422, input_error(f"{where}/id", "field is required but not found"))
        alt = media.get("altText")
        if alt is not None and (not isinstance(alt, str) or len(alt) > MAX_ALT_TEXT):
            return _json(422, input_error(f"{where}/altText", f"at most {MAX_ALT_TEXT} characters"))
        return self._validate_image(f"{where}/id", media["id"])

    def _validate_image(self, where: str, urn: Any) -> web.Response | None:
        image = self.images.get(urn) if isinstance(urn, str) else None
        if image is None:
            return _json(422, input_error(where, f"image {urn!r} does not exist"))
        if image.data is None:
            return _json(422, input_error(where, f"image {urn} was never uploaded"))
        if image.owner != self.author:
            return _json(403, error_body(403, f"image {urn} is not owned by the author"))
        return None

    def _validate_article(self, article: Any) -> web.Response | None:
        if not isinstance(article, dict):
            return _json(422, input_error("/content/article", "expected a record"))
        for key in article:
            if key not in ARTICLE_FIELDS:
                return _json(422, input_error(
                    f"/content/article/{key}", UNRECOGNIZED
                ))
        source = article.get("source")
        if not isinstance(source, str) or urlsplit(source).scheme not in ("http", "https"):
            return _json(422, input_error("/content/article/source", "a URL is required"))
        if not isinstance(article.get("title"), str) or not article["title"]:
            return _json(422, input_error("/content/article/title", "field is required"))
        if "thumbnail" in article:
            return self._validate_image("/content/article/thumbnail", article["thumbnail"])
        return None

    def _get(self, raw_urn: str) -> web.StreamResponse:
        urn = unquote(raw_urn)
        if raw_urn == urn and ":" in urn:
            return _json(400, error_body(
                400, "strict server: a URN in a Rest.li 2.0 path must be URL-encoded"
            ))
        post = self.post(urn)
        if post is None:
            return _json(404, error_body(404, f"Post {urn} not found", "NOT_FOUND"))
        return _json(200, post.doc())

    def _find(self, query: str) -> web.StreamResponse:
        params = dict(parse_qsl(query))
        allowed = {"q", "author", "count", "start", "sortBy", "viewContext"}
        unknown = sorted(set(params) - allowed)
        if unknown:
            return _json(400, error_body(400, f"strict server: unknown parameter {unknown[0]}"))
        if params.get("q") != "author":
            return _json(400, error_body(400, "strict server: only the author finder is served"))
        author = params.get("author", "")
        if f"author={quote(author, safe='')}" not in query.split("&"):
            return _json(400, error_body(
                400, "strict server: the author URN must be URL-encoded in the query"
            ))
        if author != self.author or self.finder_forbidden:
            return _json(403, error_body(
                403, "Not enough permissions to access: partnerApiPostsExternal.FINDER-author",
                "ACCESS_DENIED",
            ))
        try:
            count = int(params.get("count", "10"))
            start = int(params.get("start", "0"))
        except ValueError:
            return _json(400, error_body(400, "count and start must be integers"))
        if not 1 <= count <= 100 or start < 0:
            return _json(400, error_body(400, "count must be 1 to 100, start at least 0"))
        sort = params.get("sortBy", "LAST_MODIFIED")
        if sort not in ("LAST_MODIFIED", "CREATED"):
            return _json(400, error_body(400, f"invalid sortBy {sort}"))
        mine = [p for p in self.posts if p.author == author]
        key = (lambda p: p.modified_at) if sort == "LAST_MODIFIED" else (lambda p: p.created_at)
        mine.sort(key=key, reverse=True)
        page = mine[start : start + count]
        return _json(200, {
            "paging": {"start": start, "count": count, "links": [], "total": len(mine)},
            "elements": [p.doc() for p in page],
        })

    # ------------------------------------------------------------------ comments

    def _target(self, raw_urn: str) -> tuple[str, RecordedComment | None]:
        """The post a comments path names, and the comment when it names one."""
        urn = unquote(raw_urn)
        if raw_urn == urn and ":" in urn:
            raise Reject(_json(400, error_body(
                400, "strict server: a URN in a Rest.li 2.0 path must be URL-encoded"
            )))
        on = next((c for c in self.comments if c.urn == urn), None)
        post = self.post(on.object if on is not None else urn)
        if post is None:
            raise Reject(_json(404, error_body(404, f"{urn} not found", "NOT_FOUND")))
        return post.urn, on

    def _comment(self, raw_urn: str, doc: dict[str, Any]) -> web.StreamResponse:
        post, on = self._target(raw_urn)

        def new_urn() -> str:
            return comment_urn(post, next(self._post_ids))

        try:
            made = comments.create(self.comments, doc, post, on, self.author, new_urn, self.now())
        except comments.Refused as err:
            return _json(err.status, err.doc)
        return _json(201, made.doc(), headers={"x-restli-id": quote(made.urn, safe="")})

    def _comments(self, raw_urn: str, query: str) -> web.StreamResponse:
        post, on = self._target(raw_urn)
        try:
            doc = comments.listing(self.comments, post, on.urn if on else None, query)
        except comments.Refused as err:
            return _json(err.status, err.doc)
        return _json(200, doc)

    # ------------------------------------------------------------------ identity

    def _organization(self, org_id: str) -> web.StreamResponse:
        if self.author != f"urn:li:organization:{org_id}":
            return _json(403, error_body(
                403, f"Not enough permissions to access organization {org_id}", "ACCESS_DENIED"
            ))
        return _json(200, {
            "id": int(org_id),
            "localizedName": self.org_name,
            "vanityName": self.org_name.lower().replace(" ", "-").replace(".", ""),
        })

    def _userinfo(self) -> web.StreamResponse:
        return _json(200, {
            "sub": self.member_id,
            "name": self.member_name,
            "email_verified": True,
            "locale": {"country": "FR", "language": "fr"},
        })
