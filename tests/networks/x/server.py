"""A strict local stand-in for the X API v2 endpoints the X adapter uses.

It listens on 127.0.0.1 (port 0), answers with the shapes X documents and records what it
accepted. It is stricter than X on purpose, so that an adapter bug fails a test instead of
being papered over:

* every request must carry a valid OAuth 1.0a HMAC-SHA1 signature (checked against the
  known consumer/token secrets, with timestamp window and nonce replay checks) or a live
  OAuth 2 bearer token; otherwise 401 with X's problem document (an expired token included);
* ``POST /2/oauth2/token`` (``grant_type=refresh_token``, a form body) checks the client
  (HTTP Basic ``client_id:client_secret`` for a confidential client, ``client_id`` in the
  body for a public one) and the refresh token, then rotates: a new access token and a new
  refresh token; the old refresh token and every older access token stop working (X keeps
  older access tokens until they expire: revoking them makes the adapter prove it always
  sends the newest). Its errors are OAuth documents (``error``, ``error_description``);
* JSON bodies must be ``application/json`` and validate against the request schema of
  ``conformance/x-api-v2/openapi.json`` with ``$ref``s inlined and every object closed
  (``additionalProperties: false``), so an unknown field is a 400; multipart bodies are held to
  the same schema, field by field; query parameters must be declared by the operation;
* every 2xx answer is validated against the documented response schema; a violation is
  recorded in ``problems`` (tests assert it stays empty) and answered 500.

Where X's real behaviour is not in the OpenAPI document, the server follows what X is seen to
send: 401/403/429/503 bodies are ``about:blank`` problem documents (``title``, ``detail``,
``type``, ``status``), a 400 is the ``invalid-request`` document with ``errors[].message``.
Messages the server makes up for its own strictness start with "strict server:".

Three deliberate departures from the document: ``GET /2/users/{id}/tweets`` (and the other
reads) take ``tweet.fields`` (the name docs.x.com, tweepy and the live API use) as well as the
spec's ``post.fields``; those take ``author_id``, ``referenced_tweets`` and
``in_reply_to_user_id``, which docs.x.com lists and the live API serves but the document's
enum (2.167) leaves out; and ``POST /2/media/upload/initialize`` requires ``media_type``,
``total_bytes`` and ``media_category``, which X needs even though the schema marks none
required.

Engagement reads (``GET /2/tweets?ids=…``, ``public_metrics`` of ``GET /2/users/me``) answer
from ``reads`` (``tests.networks.x.reads``: figures, deleted and hidden posts, followers).

Listening (``GET /2/users/{id}/mentions``, ``GET /2/tweets/search/recent``) answers from
``listen`` (``tests.networks.x.listen``): ``hear`` adds someone's post, ``replies_to`` lists
ours replying to one; a reply may answer a post heard.

Knobs for tests: ``duplicate_texts`` (403 duplicate for those texts; a text already posted
is a duplicate too unless ``reject_repeats`` is off), ``fail(method, path, nth=...)`` to fail
the Nth matching request (a status, a connection reset or a hang, after the body was read),
``add_post`` to seed the timeline, ``processing_polls`` / ``processing_outcome`` for videos,
``page_size`` to force timeline pagination, ``expire_access_tokens()`` (every live OAuth 2
access token answers 401 from then on), ``revoke_refresh_token()``; ``token_lifetime`` is the
``expires_in`` of refreshed tokens, checked against ``now``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import fnmatch
import hashlib
import hmac
import html
import itertools
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal

from aiohttp import BodyPartReader, web
from oauthlib.oauth1.rfc5849 import signature, utils
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from publisher.adapters.listening import ItemKind
from publisher.testing.servers import LocalServer
from tests.networks.x.listen import Listen
from tests.networks.x.listen import Refused as ListenRefused
from tests.networks.x.reads import Reads, posts_by_ids, user_metrics
from tests.paths import CONFORMANCE

SPEC_PATH = Path(
    os.environ.get("X_OPENAPI", str(CONFORMANCE / "x-api-v2" / "openapi.json"))
)

TOKEN_PATH = "/2/oauth2/token"
TOKEN_FIELDS = frozenset({"grant_type", "refresh_token", "client_id"})
TOKEN_SCOPE = "tweet.read tweet.write users.read media.write offline.access"
INVALID_TOKEN = "Value passed for the token was invalid."
DUPLICATE_DETAIL = "You are not allowed to create a Tweet with duplicate content."
REPLY_GONE_DETAIL = "You attempted to reply to a Tweet that is deleted or not visible to you."
INVALID_REQUEST = "https://api.x.com/2/problems/invalid-request"
# Post fields docs.x.com lists (and X serves) that the OpenAPI document's enum leaves out.
LIVE_POST_FIELDS = frozenset({"author_id", "referenced_tweets", "in_reply_to_user_id"})
NOT_FOUND_PROBLEM = "https://api.x.com/2/problems/resource-not-found"

# ---------------------------------------------------------------------------
# The OpenAPI document, $refs inlined.


@cache
def spec() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as f:
        doc: dict[str, Any] = json.load(f)
    return doc


def _inline(node: Any, seen: tuple[str, ...] = ()) -> Any:
    """A copy of ``node`` with every local ``$ref`` replaced by what it points to."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref in seen:  # recursive schema: stop here, accept anything below
                return {}
            target: Any = spec()
            for key in ref.removeprefix("#/").split("/"):
                target = target[key]
            extra = {k: v for k, v in node.items() if k != "$ref"}
            return {**_inline(target, (*seen, ref)), **extra}
        # A discriminator's mapping names $refs the validator would resolve against a
        # document it does not have; the oneOf beside it decides alone.
        return {k: _inline(v, seen) for k, v in node.items() if k != "discriminator"}
    if isinstance(node, list):
        return [_inline(v, seen) for v in node]
    return node


def _closed(schema: Any) -> Any:
    """Every object schema that lists its properties refuses any other property."""
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _closed(v) for k, v in schema.items()}
    if "properties" in out:
        out["properties"] = {k: _closed(v) for k, v in schema["properties"].items()}
        out.setdefault("additionalProperties", False)
    return out


def _operation(path: str, method: str) -> dict[str, Any]:
    op: dict[str, Any] = spec()["paths"][path][method.lower()]
    return op


@cache
def _request_validator(path: str, method: str, content_type: str) -> OAS30Validator:
    schema = _operation(path, method)["requestBody"]["content"][content_type]["schema"]
    return OAS30Validator(_closed(_inline(schema)), format_checker=oas30_format_checker)


@cache
def _response_validator(path: str, method: str, status: int) -> OAS30Validator:
    schema = _operation(path, method)["responses"][str(status)]["content"]["application/json"][
        "schema"
    ]
    return OAS30Validator(_inline(schema), format_checker=oas30_format_checker)


@cache
def _query_parameters(path: str, method: str) -> dict[str, dict[str, Any]]:
    params = _inline(_operation(path, method).get("parameters", []))
    return {p["name"]: p for p in params if p["in"] == "query"}


def request_content_types(path: str, method: str) -> frozenset[str]:
    body = _operation(path, method).get("requestBody")
    return frozenset(body["content"]) if body else frozenset()


# ---------------------------------------------------------------------------
# Documents X answers with.


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    """X's about:blank problem document (401, 403, 429, 5xx)."""
    return {"title": title, "detail": detail, "type": "about:blank", "status": status}


def invalid_request(message: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "errors": [{"parameters": parameters or {}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": INVALID_REQUEST,
    }


TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def status_body(status: int) -> dict[str, Any]:
    title = TITLES.get(status, "Error")
    return problem(status, title, title)


def t_co(url: str) -> str:
    return "https://t.co/" + hashlib.sha256(url.encode()).hexdigest()[:10]


def x_text(text: str, has_media: bool) -> str:
    """The text as X gives it back: links through t.co, &<> escaped, a media link appended."""
    out = html.escape(text, quote=False)
    out = re.sub(r"https?://\S+", lambda m: t_co(m.group(0)), out)
    if has_media:
        out = f"{out} {t_co('media:' + text)}".strip()
    return out


class Reject(Exception):
    """Answer this request with ``status`` and ``body`` (and log why)."""

    def __init__(
        self, status: int, body: dict[str, Any], why: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(why)
        self.status = status
        self.body = body
        self.why = why
        self.headers = headers or {}


def bad(message: str, **parameters: Any) -> Reject:
    return Reject(400, invalid_request(message, parameters), message)


def oauth_error(status: int, error: str, description: str) -> Reject:
    """The token endpoint's own error shape (RFC 6749 5.2), as X sends it."""
    return Reject(status, {"error": error, "error_description": description}, description)


# ---------------------------------------------------------------------------
# What the server holds.


@dataclass
class Post:
    id: str
    text: str
    created_at: datetime
    reply_to: str | None = None
    media_ids: tuple[str, ...] = ()
    alt_texts: tuple[str | None, ...] = ()
    auth: str = ""  # "oauth1" or "oauth2"; "" for seeded posts
    body: dict[str, Any] = field(default_factory=dict)  # the exact JSON accepted

    @property
    def seeded(self) -> bool:
        return self.auth == ""


@dataclass
class Media:
    id: str
    category: str
    media_type: str
    total_bytes: int | None
    chunked: bool
    state: str = "uploading"  # uploading, pending, in_progress, succeeded, failed
    segments: dict[int, bytes] = field(default_factory=dict)
    content: bytes = b""
    polls_left: int = 0
    alt_text: str | None = None
    filename: str | None = None
    content_type: str | None = None

    @property
    def kind(self) -> str:
        return "image" if self.category == "tweet_image" else "video"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    auth: str | None
    content_type: str
    json: Any = None
    form: dict[str, Any] | None = None
    status: int = 0


@dataclass
class Failure:
    method: str
    path: str  # fnmatch pattern, e.g. "/2/media/upload/*/append"
    nth: int
    action: Literal["status", "reset", "hang"] = "status"
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    raw: tuple[str, str] | None = None  # (content type, text): an HTML page, garbage
    seen: int = 0
    fired: bool = False


class XServer:
    """The strict server; ``async with XServer() as server`` or ``start()``/``stop()``."""

    def __init__(
        self,
        *,
        consumer_key: str = "xck-consumer-key-0001",
        consumer_secret: str = "xcs-consumer-secret-0002",
        access_token: str = "1234567890-xat-access-token-0003",
        access_secret: str = "xas-access-secret-0004",
        bearer_token: str = "xb2-oauth2-user-token-0005",
        refresh_token: str = "xr2-oauth2-refresh-token-0006",
        client_id: str = "xci-oauth2-client-id-0007",
        client_secret: str | None = "xcs2-oauth2-client-secret-0008",
        token_lifetime: timedelta = timedelta(hours=2),
        user_id: str = "1234567890",
        username: str = "brand",
        name: str = "Brand",
        now: Callable[[], datetime] | None = None,
        timestamp_window: timedelta = timedelta(minutes=5),
        processing_polls: int = 2,
        check_after_secs: int = 5,
        processing_outcome: Literal["succeeded", "failed"] = "succeeded",
        max_weighted_length: int | None = 280,
    ) -> None:
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.access_token = access_token
        self.access_secret = access_secret
        self.bearer_token = bearer_token
        self.refresh_token: str | None = refresh_token  # the one that works now
        self.client_id = client_id
        self.client_secret = client_secret  # None: a public client
        self.token_lifetime = token_lifetime
        self.issued: list[tuple[str, str]] = []  # (access, refresh) pairs, oldest first
        # Live access tokens and when they expire (None: no expiry set).
        self._access_tokens: dict[str, datetime | None] = {bearer_token: None}
        self._expired: set[str] = set()
        self.user_id = user_id
        self.username = username
        self.name = name
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self.timestamp_window = timestamp_window
        self.processing_polls = processing_polls
        self.check_after_secs = check_after_secs
        self.processing_outcome = processing_outcome
        self.max_weighted_length = max_weighted_length
        self.duplicate_texts: set[str] = set()
        self.reject_repeats = True
        self.page_size: int | None = None
        self.posts: list[Post] = []
        self.media: dict[str, Media] = {}
        self.requests: list[Recorded] = []
        self.rejections: list[str] = []
        self.problems: list[str] = []
        self.status_polls: list[str] = []  # media ids, one per STATUS request
        self.failures: list[Failure] = []
        self.reads = Reads()  # what the engagement reads answer (tests.networks.x.reads)
        self.listen = Listen(user_id, username)  # others' posts (tests.networks.x.listen)
        self._nonces: set[tuple[str, str]] = set()
        self._post_ids = itertools.count(1_870_000_000_000_000_001, 1000)
        self._media_ids = itertools.count(1_880_000_000_000_000_001, 7)
        self._hang = asyncio.Event()
        self._server: LocalServer | None = None
        self.url = ""

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = LocalServer(app)
        self.url = await self._server.start()
        return self.url

    async def stop(self) -> None:
        self._hang.set()
        if self._server is not None:
            await self._server.stop()
            self._server = None

    async def __aenter__(self) -> XServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- knobs and views ----------------------------------------------------

    def fail(
        self,
        method: str,
        path: str,
        *,
        nth: int = 1,
        status: int = 503,
        action: Literal["status", "reset", "hang"] = "status",
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        raw: tuple[str, str] | None = None,
    ) -> None:
        """Answer the ``nth`` request matching (method, path pattern) with a failure.

        ``status`` with X's problem document (or ``body``, or ``raw`` text), a connection
        ``reset`` or a ``hang``; always after the request body was read.
        """
        self.failures.append(
            Failure(method.upper(), path, nth, action, status, dict(headers or {}), body, raw)
        )

    def add_post(
        self,
        text: str,
        *,
        created_at: datetime | None = None,
        has_media: bool = False,
        post_id: str | None = None,
    ) -> Post:
        """Seed the account's timeline with a post made elsewhere."""
        post = Post(
            post_id or str(next(self._post_ids)),
            x_text(text, has_media),
            created_at or self.now(),
        )
        self.posts.append(post)
        return post

    def hear(
        self, kind: ItemKind, text: str, *, author: str = "ana", answers: str | None = None
    ) -> tuple[str, str]:
        """Someone's post that the mentions timeline (or, for FOUND, search alone) returns:
        its id and URL."""
        said = self.listen.hear(
            kind, text, author, answers, lambda: str(next(self._post_ids)), self.now()
        )
        return said.id, self.listen.url(said)

    def replies_to(self, remote_id: str) -> list[str]:
        """Our posts replying to ``remote_id``."""
        return [p.id for p in self.created if p.reply_to == remote_id]

    @property
    def created(self) -> list[Post]:
        """Posts created through POST /2/tweets, oldest first."""
        return [p for p in self.posts if not p.seeded]

    def expire_access_tokens(self) -> None:
        """Every access token issued so far answers 401 from now on, as after two hours."""
        self._expired.update(self._access_tokens)

    def revoke_refresh_token(self) -> None:
        """The user revoked the app (or the token was spent elsewhere): refreshes fail."""
        self.refresh_token = None

    @property
    def access_token_now(self) -> str:
        """The newest OAuth 2 access token."""
        return self.issued[-1][0] if self.issued else self.bearer_token

    @property
    def token_requests(self) -> list[Recorded]:
        return self.hits("POST", TOKEN_PATH)

    def hits(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and fnmatch.fnmatch(r.path, path)]

    # -- the one handler ----------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        record = Recorded(
            request.method,
            request.path,
            dict(request.query),
            None,
            request.content_type if request.body_exists else "",
        )
        self.requests.append(record)
        if request.path == TOKEN_PATH:
            return await self._token_endpoint(request, record)
        try:
            record.auth = self._authenticate(request)
            route, path_id = self._route(request.method, request.path)
            self._check_query(request, route)
            await self._read_body(request, route, record)
            failure = self._failure_for(request)
            if failure is not None:
                return await self._fail(request, failure, record)
            status, doc = await self._dispatch(route, path_id, record)
        except Reject as rej:
            record.status = rej.status
            if rej.status in (400, 401, 404, 415):
                self.rejections.append(f"{request.method} {request.path}: {rej.why}")
            return web.json_response(rej.body, status=rej.status, headers=rej.headers)
        errors = sorted(
            _response_validator(route, request.method, status).iter_errors(doc), key=str
        )
        if errors:
            self.problems.append(f"{request.method} {route} answer: {errors[0].message}")
            record.status = 500
            return web.json_response(status_body(500), status=500)
        record.status = status
        return web.json_response(doc, status=status)

    def _route(self, method: str, path: str) -> tuple[str, str | None]:
        routes: list[tuple[str, str, str]] = [
            ("POST", r"/2/tweets", "/2/tweets"),
            ("GET", r"/2/tweets", "/2/tweets"),
            ("POST", r"/2/media/upload", "/2/media/upload"),
            ("GET", r"/2/media/upload", "/2/media/upload"),
            ("POST", r"/2/media/upload/initialize", "/2/media/upload/initialize"),
            ("POST", r"/2/media/upload/([^/]+)/append", "/2/media/upload/{id}/append"),
            ("POST", r"/2/media/upload/([^/]+)/finalize", "/2/media/upload/{id}/finalize"),
            ("POST", r"/2/media/metadata", "/2/media/metadata"),
            ("GET", r"/2/users/me", "/2/users/me"),
            ("GET", r"/2/users/([^/]+)/tweets", "/2/users/{id}/tweets"),
            ("GET", r"/2/users/([^/]+)/mentions", "/2/users/{id}/mentions"),
            ("GET", r"/2/tweets/search/recent", "/2/tweets/search/recent"),
        ]
        for m, pattern, template in routes:
            match = re.fullmatch(pattern, path)
            if match and m == method:
                path_id = match.group(1) if match.groups() else None
                if path_id is not None and not re.fullmatch(r"[0-9]{1,19}", path_id):
                    raise bad(f"strict server: {path_id!r} is not a valid id", id=path_id)
                return template, path_id
        raise Reject(
            404,
            {"errors": [{"message": "Sorry, that page does not exist", "code": 34}]},
            f"no route {method} {path}",
        )

    # -- authentication -----------------------------------------------------

    def _authenticate(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            token = header[len("Bearer "):]
            live = [t for t in self._access_tokens if hmac.compare_digest(t.encode(),
                                                                          token.encode())]
            if not live:
                raise self._unauthorized("unknown bearer token")
            expires = self._access_tokens[live[0]]
            if live[0] in self._expired or (expires is not None and self.now() >= expires):
                raise self._unauthorized("expired bearer token")
            return "oauth2"
        if header[:6].lower() == "oauth ":
            self._verify_oauth1(request, header)
            return "oauth1"
        raise self._unauthorized("no Authorization header" if not header else "unknown scheme")

    # -- the OAuth 2 token endpoint -----------------------------------------

    async def _token_endpoint(self, request: web.Request, record: Recorded) -> web.StreamResponse:
        try:
            form = await self._token_form(request, record)
            record.auth = self._token_client(request, form)
            if form.get("grant_type") != "refresh_token":
                raise oauth_error(
                    400, "unsupported_grant_type", "strict server: only refresh_token here"
                )
            presented = form.get("refresh_token", "")
            if self.refresh_token is None or not hmac.compare_digest(
                presented.encode(), self.refresh_token.encode()
            ):
                raise oauth_error(400, "invalid_request", INVALID_TOKEN)
            failure = self._failure_for(request)
            if failure is not None:  # before the rotation: a failed refresh spends nothing
                return await self._fail(request, failure, record)
        except Reject as rej:
            record.status = rej.status
            self.rejections.append(f"{request.method} {request.path}: {rej.why}")
            return web.json_response(rej.body, status=rej.status, headers=rej.headers)
        n = len(self.issued) + 1
        access = f"xb2-rotated-access-token-{n:04d}"
        refresh = f"xr2-rotated-refresh-token-{n:04d}"
        self.issued.append((access, refresh))
        self.refresh_token = refresh
        self._access_tokens = {access: self.now() + self.token_lifetime}
        record.status = 200
        return web.json_response(
            {
                "token_type": "bearer",
                "expires_in": int(self.token_lifetime.total_seconds()),
                "access_token": access,
                "scope": TOKEN_SCOPE,
                "refresh_token": refresh,
            }
        )

    async def _token_form(self, request: web.Request, record: Recorded) -> dict[str, str]:
        if request.method != "POST":
            raise oauth_error(405, "invalid_request", "strict server: the token endpoint is POST")
        if request.query:
            raise oauth_error(400, "invalid_request", "strict server: no query parameters here")
        if request.content_type != "application/x-www-form-urlencoded":
            raise oauth_error(
                400,
                "invalid_request",
                f"strict server: expected a form body, got {request.content_type or 'none'}",
            )
        posted = await request.post()
        form: dict[str, str] = {}
        for name in posted:
            values = posted.getall(name)
            if len(values) > 1 or not isinstance(values[0], str):
                raise oauth_error(400, "invalid_request", f"strict server: bad field {name}")
            form[name] = values[0]
        record.form = dict(form)
        if unknown := sorted(set(form) - TOKEN_FIELDS):
            raise oauth_error(400, "invalid_request", f"strict server: unknown fields {unknown}")
        return form

    def _token_client(self, request: web.Request, form: dict[str, str]) -> str:
        """Who asks: a confidential client by HTTP Basic, a public one by client_id alone."""
        header = request.headers.get("Authorization", "")
        given_id = form.get("client_id")
        if given_id is not None and given_id != self.client_id:
            raise oauth_error(400, "invalid_request", "strict server: unknown client_id")
        if self.client_secret is None:
            if header:
                raise oauth_error(
                    401, "invalid_client", "strict server: a public client has no secret"
                )
            if given_id is None:
                raise oauth_error(400, "invalid_request", "Missing required parameter [client_id].")
            return "public"
        raw = f"{self.client_id}:{self.client_secret}".encode()
        expected = "Basic " + base64.b64encode(raw).decode()
        if not hmac.compare_digest(header.encode(), expected.encode()):
            raise oauth_error(401, "unauthorized_client", "Missing valid authorization header")
        return "basic"

    def _unauthorized(self, why: str) -> Reject:
        return Reject(401, problem(401, "Unauthorized", "Unauthorized"), why)

    def _verify_oauth1(self, request: web.Request, header: str) -> None:
        try:
            params = {k: utils.unescape(v) for k, v in utils.parse_authorization_header(header)}
        except ValueError as err:
            raise self._unauthorized("malformed OAuth header") from err
        required = {
            "oauth_consumer_key",
            "oauth_nonce",
            "oauth_signature",
            "oauth_signature_method",
            "oauth_timestamp",
            "oauth_token",
        }
        if missing := sorted(required - set(params)):
            raise self._unauthorized(f"OAuth header lacks {missing}")
        if params["oauth_signature_method"] != "HMAC-SHA1":
            raise self._unauthorized("signature method is not HMAC-SHA1")
        if params.get("oauth_version", "1.0") != "1.0":
            raise self._unauthorized("oauth_version is not 1.0")
        if params["oauth_consumer_key"] != self.consumer_key:
            raise self._unauthorized("unknown consumer key")
        if params["oauth_token"] != self.access_token:
            raise self._unauthorized("unknown access token")
        stamp = params["oauth_timestamp"]
        if not stamp.isdigit():
            raise self._unauthorized("timestamp is not a number")
        skew = abs(int(stamp) - self.now().timestamp())
        if skew > self.timestamp_window.total_seconds():
            raise self._unauthorized(f"timestamp is {skew:.0f}s away from the server's clock")
        nonce = (params["oauth_nonce"], stamp)
        if nonce in self._nonces:
            raise self._unauthorized("nonce replayed")
        collected = signature.collect_parameters(
            uri_query=request.rel_url.raw_query_string,
            headers={"Authorization": header},
            exclude_oauth_signature=True,
        )
        base = signature.signature_base_string(
            request.method,
            signature.base_string_uri(str(request.url)),
            signature.normalize_parameters(collected),
        )
        key = f"{utils.escape(self.consumer_secret)}&{utils.escape(self.access_secret)}"
        digest = hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()
        expected = base64.b64encode(digest).decode()
        if not hmac.compare_digest(expected, params["oauth_signature"]):
            raise self._unauthorized("bad OAuth 1.0a signature")
        self._nonces.add(nonce)

    # -- request checks -----------------------------------------------------

    def _check_query(self, request: web.Request, route: str) -> None:
        declared = dict(_query_parameters(route, request.method))
        if "post.fields" in declared:  # the live name and fields, see the module docstring
            declared["post.fields"] = _live_fields(declared["post.fields"])
            declared["tweet.fields"] = declared["post.fields"]
        for name in request.query:
            if name not in declared:
                known = ",".join(sorted(declared))
                raise bad(
                    f"strict server: the query parameter [{name}] is not one of [{known}]",
                    **{name: request.query[name]},
                )
            if len(request.query.getall(name)) > 1:
                raise bad(f"strict server: the query parameter [{name}] is repeated")
        for name, param in declared.items():
            if name not in request.query:
                if param.get("required"):
                    raise bad(f"strict server: the query parameter [{name}] is required")
                continue
            raw = request.query[name]
            value = self._coerce(raw, param["schema"], name)
            validator = OAS30Validator(param["schema"], format_checker=oas30_format_checker)
            errors = list(validator.iter_errors(value))
            if errors:
                raise bad(
                    f"The `{name}` query parameter value [{raw}] is not valid: "
                    f"{errors[0].message}",
                    **{name: raw},
                )

    @staticmethod
    def _coerce(raw: str, schema: dict[str, Any], name: str) -> Any:
        kind = schema.get("type")
        if kind == "array":
            items = raw.split(",")
            return [XServer._coerce(i, schema.get("items", {}), name) for i in items]
        if kind == "integer":
            if not re.fullmatch(r"-?[0-9]+", raw):
                raise bad(f"The `{name}` query parameter value [{raw}] is not a number")
            return int(raw)
        if schema.get("format") == "date-time":
            try:
                when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError as err:
                raise bad(f"The `{name}` query parameter value [{raw}] is not a date-time") from err
            if when.tzinfo is None:
                raise bad(f"The `{name}` query parameter value [{raw}] has no offset")
        return raw

    async def _read_body(self, request: web.Request, route: str, record: Recorded) -> None:
        allowed = request_content_types(route, request.method)
        if not allowed:
            body = await request.read()
            if body:
                raise Reject(
                    400,
                    invalid_request("strict server: this request takes no body"),
                    "unexpected body",
                )
            return
        ctype = request.content_type
        if not request.body_exists or ctype not in allowed:
            raise Reject(
                415,
                problem(415, "Unsupported Media Type", f"strict server: expected one of "
                        f"{sorted(allowed)}, got {ctype or 'no body'}"),
                f"content type {ctype!r}",
            )
        if ctype == "application/json":
            raw = await request.read()
            try:
                doc = json.loads(raw)
            except ValueError as err:
                raise bad("strict server: the body is not JSON") from err
            record.json = doc
            self._validate(route, request.method, ctype, doc)
            return
        record.form = await self._read_multipart(request)
        self._validate(route, request.method, ctype, self._form_for_schema(route, record.form))

    async def _read_multipart(self, request: web.Request) -> dict[str, Any]:
        reader = await request.multipart()
        form: dict[str, Any] = {}
        async for part in reader:
            if not isinstance(part, BodyPartReader) or not part.name:
                raise bad("strict server: nested or unnamed multipart part")
            if part.name in form:
                raise bad(f"strict server: multipart field {part.name} is repeated")
            if part.filename is not None:
                form[part.name] = {
                    "filename": part.filename,
                    "content_type": part.headers.get("Content-Type", ""),
                    "data": bytes(await part.read(decode=False)),
                }
            else:
                form[part.name] = await part.text()
        return form

    def _form_for_schema(self, route: str, form: dict[str, Any]) -> dict[str, Any]:
        """Multipart fields as the JSON schema sees them: files as binary, numbers as numbers."""
        op = _operation(route, "POST")
        schema = _inline(op["requestBody"]["content"]["multipart/form-data"]["schema"])
        props = schema.get("properties", {})
        out: dict[str, Any] = {}
        for name, value in form.items():
            prop = props.get(name, {})
            if isinstance(value, dict):
                out[name] = "<binary>"
                continue
            if name == "media":
                raise bad("strict server: media must be a file part")
            if prop.get("type") == "integer":
                if not re.fullmatch(r"[0-9]+", value):
                    raise bad(f"strict server: {name} is not an integer", **{name: value})
                out[name] = int(value)
            else:
                out[name] = value
        return out

    def _validate(self, route: str, method: str, ctype: str, doc: Any) -> None:
        validator = _request_validator(route, method, ctype)
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        if errors:
            err = errors[0]
            where = "$" + "".join(
                f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path
            )
            raise bad(f"{where}: {err.message}", **{where: [json.dumps(err.instance)[:200]]})

    # -- injected failures --------------------------------------------------

    def _failure_for(self, request: web.Request) -> Failure | None:
        chosen = None
        for f in self.failures:
            if f.method == request.method and fnmatch.fnmatch(request.path, f.path):
                f.seen += 1
                if f.seen == f.nth and not f.fired and chosen is None:
                    f.fired = True
                    chosen = f
        return chosen

    async def _fail(
        self, request: web.Request, failure: Failure, record: Recorded
    ) -> web.StreamResponse:
        record.status = failure.status if failure.action == "status" else 0
        if failure.action == "reset":
            assert request.transport is not None
            request.transport.abort()
            await self._hang.wait()
        if failure.action == "hang":
            await self._hang.wait()
        if failure.raw is not None:
            ctype, text = failure.raw
            return web.Response(
                status=failure.status, text=text, content_type=ctype, headers=failure.headers
            )
        body = failure.body if failure.body is not None else status_body(failure.status)
        return web.json_response(body, status=failure.status, headers=failure.headers)

    # -- endpoints ----------------------------------------------------------

    async def _dispatch(
        self, route: str, path_id: str | None, record: Recorded
    ) -> tuple[int, dict[str, Any]]:
        if route == "/2/tweets" and record.method == "GET":
            held = {p.id: (p.text, p.created_at) for p in self.posts}
            ids = record.query["ids"].split(",")
            fields = _fields(record.query, "tweet")
            doc, faults = posts_by_ids(self.reads, held, ids, fields, self.now())
            self.problems.extend(f"GET /2/tweets: {fault}" for fault in faults)
            return 200, doc
        if route == "/2/tweets":
            return self._create_post(record)
        if route in ("/2/users/{id}/mentions", "/2/tweets/search/recent"):
            return self._listen(route, path_id, record)
        if route == "/2/media/upload" and record.method == "POST":
            return self._upload_simple(record)
        if route == "/2/media/upload":
            return self._status(record)
        if route == "/2/media/upload/initialize":
            return self._initialize(record)
        if route == "/2/media/upload/{id}/append":
            assert path_id is not None
            return self._append(path_id, record)
        if route == "/2/media/upload/{id}/finalize":
            assert path_id is not None
            return self._finalize(path_id)
        if route == "/2/media/metadata":
            return self._metadata(record)
        if route == "/2/users/me":
            me: dict[str, Any] = {"id": self.user_id, "name": self.name, "username": self.username}
            if "public_metrics" in _fields(record.query, "user"):
                me["public_metrics"] = user_metrics(self.reads)
            return 200, {"data": me}
        assert path_id is not None
        return self._timeline(path_id, record)

    def _create_post(self, record: Recorded) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = record.json
        text: str = body.get("text", "")
        media_ids: list[str] = list(body.get("media", {}).get("media_ids", []))
        if not text and not media_ids:
            raise bad("strict server: a post needs text or media")
        if self.max_weighted_length is not None:
            from publisher.text import x_weighted_length

            if x_weighted_length(text) > self.max_weighted_length:
                raise Reject(
                    403,
                    problem(403, "Forbidden", "Your Tweet text is too long."),
                    "text too long",
                )
        items = []
        for mid in media_ids:
            media = self.media.get(mid)
            if media is None or media.state != "succeeded":
                raise bad("Your media IDs are invalid.", media_ids=media_ids)
            items.append(media)
        if len({m.kind for m in items}) > 1 or (
            any(m.kind == "video" for m in items) and len(items) > 1
        ):
            raise bad("strict server: images cannot be mixed with a video or GIF",
                      media_ids=media_ids)
        reply_to = body.get("reply", {}).get("in_reply_to_tweet_id")
        known = any(p.id == reply_to for p in self.posts) or self.listen.holds(str(reply_to))
        if reply_to is not None and not known:
            raise Reject(403, problem(403, "Forbidden", REPLY_GONE_DETAIL), "reply to unknown")
        if text in self.duplicate_texts or (
            self.reject_repeats and text and any(p.body.get("text") == text for p in self.posts)
        ):
            raise Reject(403, problem(403, "Forbidden", DUPLICATE_DETAIL), "duplicate")
        post = Post(
            str(next(self._post_ids)),
            x_text(text, bool(media_ids)),
            self.now(),
            reply_to,
            tuple(media_ids),
            tuple(m.alt_text for m in items),
            record.auth or "",
            copy.deepcopy(body),
        )
        self.posts.append(post)
        data = {"id": post.id, "text": post.text, "edit_history_tweet_ids": [post.id]}
        return 201, {"data": data}

    def _new_media(
        self, category: str, media_type: str, total: int | None, *, chunked: bool
    ) -> Media:
        media = Media(str(next(self._media_ids)), category, media_type, total, chunked)
        self.media[media.id] = media
        return media

    def _upload_simple(self, record: Recorded) -> tuple[int, dict[str, Any]]:
        if record.form is not None:
            part = record.form["media"]
            content: bytes = part["data"]
            ctype: str = part["content_type"]
            category: str = record.form["media_category"]
            filename: str | None = part["filename"]
        else:
            try:
                content = base64.b64decode(record.json["media"], validate=True)
            except (binascii.Error, ValueError) as err:
                raise bad("strict server: media is not base64") from err
            ctype, filename = "application/octet-stream", None
            category = record.json["media_category"]
        if category != "tweet_image":
            raise bad(f"strict server: one-shot upload is for images, not {category}")
        if not content:
            raise bad("strict server: empty media")
        if len(content) > 5 * 1024 * 1024:
            raise bad("strict server: image larger than 5 MB")
        media = self._new_media(category, ctype, len(content), chunked=False)
        media.content, media.state = content, "succeeded"
        media.filename, media.content_type = filename, ctype
        return 200, {
            "data": {
                "id": media.id,
                "media_key": f"3_{media.id}",
                "size": len(content),
                "expires_after_secs": 86400,
                "image": {"image_type": ctype, "w": 1, "h": 1},
            }
        }

    def _initialize(self, record: Recorded) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = record.json
        for name in ("media_type", "total_bytes", "media_category"):
            if name not in body:
                raise bad(f"strict server: {name} is required")
        category = body["media_category"]
        if category not in ("tweet_video", "tweet_gif", "tweet_image"):
            raise bad(f"strict server: {category} is not for posts")
        if category == "tweet_gif" and body["media_type"] != "image/gif":
            raise bad("strict server: tweet_gif takes image/gif")
        if category == "tweet_video" and not body["media_type"].startswith("video/"):
            raise bad("strict server: tweet_video takes a video type")
        media = self._new_media(category, body["media_type"], body["total_bytes"], chunked=True)
        return 200, {
            "data": {"id": media.id, "media_key": f"7_{media.id}", "expires_after_secs": 86400}
        }

    def _session(self, media_id: str) -> Media:
        media = self.media.get(media_id)
        if media is None or not media.chunked:
            raise bad(f"strict server: no upload session {media_id}", id=media_id)
        if media.state != "uploading":
            raise bad(f"strict server: upload {media_id} is already finalized", id=media_id)
        return media

    def _append(self, media_id: str, record: Recorded) -> tuple[int, dict[str, Any]]:
        media = self._session(media_id)
        form = record.form
        if form is None:
            raise bad("strict server: append takes multipart here")
        index = int(form["segment_index"])
        if index in media.segments:
            raise bad(f"strict server: segment {index} sent twice")
        if index != len(media.segments):
            raise bad(f"strict server: segment {index} out of order")
        chunk: bytes = form["media"]["data"]
        if len(chunk) > 5 * 1024 * 1024:
            raise bad("strict server: segment larger than 5 MB")
        media.segments[index] = chunk
        expires = int((self.now() + timedelta(days=1)).timestamp())
        return 200, {"data": {"expires_at": expires}}

    def _finalize(self, media_id: str) -> tuple[int, dict[str, Any]]:
        media = self._session(media_id)
        media.content = b"".join(media.segments[i] for i in sorted(media.segments))
        if len(media.content) != media.total_bytes:
            raise bad(
                f"strict server: got {len(media.content)} bytes, initialize said "
                f"{media.total_bytes}"
            )
        data: dict[str, Any] = {
            "id": media.id,
            "media_key": f"7_{media.id}",
            "size": len(media.content),
            "expires_after_secs": 86400,
        }
        if self.processing_polls > 0:
            media.state, media.polls_left = "pending", self.processing_polls
            data["processing_info"] = {
                "state": "pending",
                "check_after_secs": self.check_after_secs,
            }
        else:
            media.state = self.processing_outcome
            if media.state == "failed":
                data["processing_info"] = {"state": "failed", "progress_percent": 100}
        return 200, {"data": data}

    def _status(self, record: Recorded) -> tuple[int, dict[str, Any]]:
        media_id = record.query["media_id"]
        media = self.media.get(media_id)
        if media is None:
            raise bad(f"strict server: no media {media_id}", media_id=media_id)
        self.status_polls.append(media_id)
        if media.state in ("pending", "in_progress"):
            media.polls_left -= 1
            media.state = "in_progress" if media.polls_left > 0 else self.processing_outcome
        info: dict[str, Any] = {"state": media.state}
        if media.state == "in_progress":
            info["check_after_secs"] = self.check_after_secs
            info["progress_percent"] = 50
        else:
            info["progress_percent"] = 100
        data: dict[str, Any] = {"id": media.id, "media_key": f"7_{media.id}"}
        if media.chunked:
            data["processing_info"] = info
        return 200, {"data": data}

    def _metadata(self, record: Recorded) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = record.json
        media = self.media.get(body["id"])
        if media is None:
            raise bad(f"strict server: no media {body['id']}", id=body["id"])
        alt = body.get("metadata", {}).get("alt_text")
        if alt is None:
            raise bad("strict server: this server only stores alt_text metadata")
        media.alt_text = alt["text"]
        return 200, {"data": {"id": media.id, "associated_metadata": body["metadata"]}}

    def _listen(
        self, route: str, user_id: str | None, record: Recorded
    ) -> tuple[int, dict[str, Any]]:
        fields = _fields(record.query, "tweet")
        try:
            if route == "/2/tweets/search/recent":
                return 200, self.listen.search(record.query, fields, self.now())
            if user_id != self.user_id:
                raise ListenRefused(f"strict server: the mentions of {user_id} are not ours")
            return 200, self.listen.mentions(record.query, fields)
        except ListenRefused as err:
            raise bad(str(err)) from None

    def _timeline(self, user_id: str, record: Recorded) -> tuple[int, dict[str, Any]]:
        if user_id != self.user_id:
            return 200, {
                "errors": [
                    {
                        "value": user_id,
                        "detail": f"Could not find user with id: [{user_id}].",
                        "title": "Not Found Error",
                        "resource_type": "user",
                        "parameter": "id",
                        "resource_id": user_id,
                        "type": NOT_FOUND_PROBLEM,
                    }
                ]
            }
        q = record.query
        fields = set((q.get("tweet.fields") or q.get("post.fields") or "").split(",")) - {""}
        start = q.get("start_time")
        end = q.get("end_time")
        posts = sorted(self.posts, key=lambda p: int(p.id), reverse=True)
        if start:
            since = datetime.fromisoformat(start.replace("Z", "+00:00"))
            posts = [p for p in posts if p.created_at >= since]
        if end:
            until = datetime.fromisoformat(end.replace("Z", "+00:00"))
            posts = [p for p in posts if p.created_at < until]
        size = int(q.get("max_results", "10"))
        if self.page_size is not None:
            size = min(size, self.page_size)
        token = q.get("pagination_token")
        offset = 0
        if token is not None:
            if not re.fullmatch(r"7140dibdnow9c7btw4[0-9a-v]+", token):
                raise bad(f"strict server: pagination_token {token!r} is not one of ours")
            offset = int(token.removeprefix("7140dibdnow9c7btw4"), 32)
        page = posts[offset : offset + size]
        items = []
        for p in page:
            item: dict[str, Any] = {"id": p.id, "text": p.text, "edit_history_tweet_ids": [p.id]}
            if "created_at" in fields:
                item["created_at"] = p.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            items.append(item)
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta["newest_id"], meta["oldest_id"] = page[0].id, page[-1].id
        if offset + size < len(posts):
            meta["next_token"] = "7140dibdnow9c7btw4" + _base32(offset + size)
        doc: dict[str, Any] = {"meta": meta}
        if items:
            doc["data"] = items
        return 200, doc


def _live_fields(param: dict[str, Any]) -> dict[str, Any]:
    """``post.fields`` with the fields the live API (docs.x.com) takes beyond the document's."""
    schema = copy.deepcopy(param["schema"])
    schema["items"]["enum"] = sorted({*schema["items"]["enum"], *LIVE_POST_FIELDS})
    return {**param, "schema": schema}


def _fields(query: dict[str, str], kind: str) -> set[str]:
    """The ``tweet.fields`` (or ``post.fields``) / ``user.fields`` asked for."""
    names = ("tweet.fields", "post.fields") if kind == "tweet" else ("user.fields",)
    raw = next((query[n] for n in names if n in query), "")
    return set(raw.split(",")) - {""}


def _base32(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuv"
    out = ""
    while True:
        n, r = divmod(n, 32)
        out = digits[r] + out
        if n == 0:
            return out
