"""A strict local Mastodon on 127.0.0.1: every request is checked against the OpenAPI document.

It refuses what Mastodon would refuse (unknown fields, wrong types, a missing or wrong bearer
token, a status over the instance's limit, media not processed yet), keeps what it accepted
for tests to inspect, honours ``Idempotency-Key`` the way ``PostStatusService`` does (per
account, for an hour of *this server's* clock, which tests move), and can be told to fail.

Where the generated document is looser or wrong, Mastodon's behaviour wins:

* the statuses body is ``oneOf`` TextStatus/MediaStatus/PollStatus, but a status with text
  *and* media matches two branches; Mastodon accepts it, so alternatives are checked as anyOf;
* the ``Idempotency-Key`` header is typed ``object``; a header is a string, so it is not
  checked against that schema;
* an operation's OAuth2 scopes are alternatives (``profile`` *or* ``read:accounts``), and a
  top-level scope covers its sub-scopes (``write`` covers ``write:statuses``).

Its own answers are validated against the document too (``problems`` lists any mismatch), so
a test cannot pass against a server that speaks something Mastodon does not.
"""

from __future__ import annotations

import asyncio
import copy
import html
import json
import os
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal, Protocol

import regex
from aiohttp import BodyPartReader, web
from openapi_schema_validator import OAS31Validator, oas31_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from publisher.testing.servers import LocalServer
from tests.networks.mastodon.listen_server import Listened
from tests.paths import CONFORMANCE

SPEC_PATH = Path(
    os.environ.get(
        "MASTODON_OPENAPI", str(CONFORMANCE / "mastodon-api" / "openapi.json")
    )
)
SPEC_URI = "urn:publisher:mastodon-openapi"
IDEMPOTENCY_TTL = timedelta(hours=1)  # PostStatusService: redis.setex(key, 3_600, id)

INVALID_TOKEN = "The access token is invalid"
OUT_OF_SCOPE = "This action is outside the authorized scopes"
REPLY_NOT_FOUND = "The post you are trying to reply to does not appear to exist."
NOT_PROCESSED = "Cannot attach files that have not finished processing. Try again in a moment!"
RECORD_NOT_FOUND = "Record not found"

IMAGE_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/avif"]
VIDEO_TYPES = ["video/mp4", "video/webm", "video/quicktime"]


class _HasNow(Protocol):
    def now(self) -> datetime: ...


class ManualClock:
    """The server's own clock when a test does not share one."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when

    def advance(self, delta: timedelta) -> None:
        self._now += delta


# ---------------------------------------------------------------------------- the document


@cache
def spec() -> dict[str, Any]:
    if not SPEC_PATH.exists():
        raise FileNotFoundError(f"Mastodon OpenAPI document not found at {SPEC_PATH}")
    doc: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return doc


@cache
def _registry() -> Registry[Any]:
    # oneOf read as anyOf everywhere (see ``_relocate``): a Status's ``quote`` is a Quote or
    # a ShallowQuote, and any quote Mastodon sends matches both (neither closes its fields).
    resource = Resource.from_contents(_relocate(spec()), default_specification=DRAFT202012)
    return Registry().with_resource(SPEC_URI, resource)  # type: ignore[no-any-return]


def _pointer(*parts: str) -> str:
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _deref(schema: Any) -> Any:
    while isinstance(schema, dict) and "$ref" in schema and schema["$ref"].startswith("#/"):
        node: Any = spec()
        for part in schema["$ref"][2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        schema = node
    return schema


def schema_errors(schema: Mapping[str, Any], instance: Any) -> list[str]:
    """Every way ``instance`` breaks ``schema`` (local refs resolve into the document)."""
    wrapped = {"$defs": {}, **_relocate(schema)}
    validator = OAS31Validator(
        wrapped, registry=_registry(), format_checker=oas31_format_checker
    )
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(body)'}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def _relocate(schema: Any) -> Any:
    """Point "#/..." refs at the registered document, and read oneOf as anyOf (see above)."""
    if isinstance(schema, dict):
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/"):
                out[key] = SPEC_URI + value
            elif key == "oneOf":
                out["anyOf"] = _relocate(value)
            else:
                out[key] = _relocate(value)
        return out
    if isinstance(schema, list):
        return [_relocate(v) for v in schema]
    return schema


def known_properties(schema: Any) -> set[str] | None:
    """Property names any branch allows; None when the schema does not list them."""
    schema = _deref(schema)
    if not isinstance(schema, dict):
        return None
    names: set[str] = set()
    listed = False
    if isinstance(schema.get("properties"), dict):
        names |= set(schema["properties"])
        listed = True
    for key in ("allOf", "anyOf", "oneOf"):
        for branch in schema.get(key, []):
            sub = known_properties(branch)
            if sub is not None:
                names |= sub
                listed = True
    return names if listed else None


@dataclass(frozen=True)
class Operation:
    template: str
    method: str
    spec: Mapping[str, Any]
    params: Mapping[str, str]  # path parameters


@cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    out = []
    for template in spec()["paths"]:
        pattern = re.sub(r"\\\{[^/]+?\\\}", "([^/]+)", re.escape(template))
        out.append((re.compile(f"^{pattern}$"), template))
    # Literal paths first (/accounts/verify_credentials before /accounts/{id}).
    out.sort(key=lambda pt: (pt[1].count("{"), -len(pt[1])))
    return out


def find_operation(method: str, path: str) -> Operation | Literal["no-method"] | None:
    for pattern, template in _templates():
        m = pattern.match(path)
        if m is None:
            continue
        item = spec()["paths"][template]
        op = item.get(method.lower())
        if op is None:
            return "no-method"
        names = re.findall(r"\{([^}]+)\}", template)
        return Operation(template, method.upper(), op, dict(zip(names, m.groups(), strict=True)))
    return None


# ---------------------------------------------------------------------------- what it keeps


@dataclass
class Accepted:
    """A request that passed validation, as the handler saw it."""

    method: str
    path: str
    template: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)  # name, type, data
    raw_query: list[tuple[str, str]] = field(default_factory=list)  # repeated names kept


@dataclass
class Media:
    id: str
    kind: Literal["image", "gifv", "video", "audio", "unknown"]
    filename: str
    content_type: str
    data: bytes
    description: str | None
    polls_until_ready: int  # 0: processed
    status_id: str | None = None


@dataclass
class Status:
    id: str
    text: str
    created_at: datetime
    visibility: str = "public"
    in_reply_to_id: str | None = None
    media_ids: tuple[str, ...] = ()
    language: str | None = None
    spoiler_text: str = ""
    sensitive: bool = False
    idempotency_key: str | None = None
    # What others did with it (GET /api/v1/statuses/:id). quotes: None leaves quotes_count
    # out, as a server before 4.5 does (it is optional in the document).
    favourites: int = 0
    reblogs: int = 0
    quotes: int | None = None
    deleted: bool = False  # deleted by its author: 404 Record not found
    author: str | None = None  # another account's acct (``user@domain``); None: the account's
    quote_of: str | None = None  # the id of the status it quotes


@dataclass
class Failure:
    """What to do instead of (or after) answering one request."""

    status: int = 500
    body: Any = None  # a JSON document, or a str sent as text/html
    headers: dict[str, str] = field(default_factory=dict)
    after: bool = False  # do the work first (the status exists), then fail
    mode: Literal["respond", "hang", "reset"] = "respond"
    times: int = 1
    skip: int = 0  # let this many matching requests through first


# ---------------------------------------------------------------------------- the server


class MastodonServer(Listened):
    """Start with ``async with MastodonServer() as server``; point an adapter at ``server.url``."""

    def __init__(
        self,
        *,
        token: str = "test-token-0123456789",
        scopes: frozenset[str] = frozenset({"read", "write"}),
        clock: _HasNow | None = None,
        domain: str = "masto.example",
        username: str = "brand",
        account_id: str = "109876543210",
        max_characters: int = 500,
        characters_reserved_per_url: int = 23,
        max_media_attachments: int = 4,
        description_limit: int = 1500,
        image_size_limit: int = 16 * 1024 * 1024,
        video_size_limit: int = 99 * 1024 * 1024,
        supported_mime_types: tuple[str, ...] = (*IMAGE_TYPES, *VIDEO_TYPES),
        processing_polls: int = 2,
        rate_limit: int = 300,
        rate_period: timedelta = timedelta(minutes=5),
        instance_v2: bool = True,
        mount: Callable[[web.Application], None] | None = None,
        followers: int = 0,
    ) -> None:
        self.token = token
        self.scopes = scopes
        self.clock: _HasNow = clock or ManualClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
        self.domain = domain
        self.username = username
        self.account_id = account_id
        self.max_characters = max_characters
        self.characters_reserved_per_url = characters_reserved_per_url
        self.max_media_attachments = max_media_attachments
        self.description_limit = description_limit
        self.image_size_limit = image_size_limit
        self.video_size_limit = video_size_limit
        self.supported_mime_types = supported_mime_types
        self.processing_polls = processing_polls
        self.rate_limit = rate_limit
        self.rate_period = rate_period
        self.instance_v2 = instance_v2
        self.mount = mount  # routes served before the API's (accounts connect's OAuth pages)
        self.followers = followers

        self.statuses: list[Status] = []
        self.media: dict[str, Media] = {}
        self.accepted: list[Accepted] = []
        self.rejected: list[tuple[str, str, int, str]] = []  # method, path, status, error
        self.hits: list[tuple[str, str]] = []
        self.problems: list[str] = []  # the server's own answers that break the document
        self._idempotency: dict[tuple[str, str], tuple[str, datetime]] = {}
        self._failures: list[tuple[str, str, Failure]] = []
        self._sequence = 0
        self._used = 0
        self._window_start: datetime | None = None
        self._hang = asyncio.Event()
        self._server: LocalServer | None = None
        self.url = ""
        Listened.__init__(self)

    # -------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> MastodonServer:
        app = web.Application(client_max_size=512 * 1024 * 1024)
        if self.mount is not None:
            self.mount(app)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = LocalServer(app)
        self.url = await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._hang.set()
        if self._server is not None:
            await self._server.stop()

    # -------------------------------------------------------------- test controls

    def now(self) -> datetime:
        return self.clock.now()

    def fail(self, method: str, path: str, failure: Failure | None = None, **kw: Any) -> Failure:
        """Fail the next matching request(s); ``path`` is concrete or a document template."""
        chosen = failure or Failure(**kw)
        self._failures.append((method.upper(), path, chosen))
        return chosen

    def throttle(self, method: str, path: str, reset_at: datetime, times: int = 1) -> Failure:
        """A 429 as Mastodon's Rack::Attack sends it."""
        return self.fail(
            method,
            path,
            status=429,
            body={"error": "Too many requests"},
            headers=self.rate_headers(remaining=0, reset_at=reset_at),
            times=times,
        )

    def add_status(
        self,
        text: str,
        *,
        created_at: datetime | None = None,
        in_reply_to_id: str | None = None,
        media: tuple[tuple[str, str | None], ...] = (),  # (content type, description)
    ) -> Status:
        """Seed the account's timeline (statuses posted by someone else, earlier)."""
        when = created_at or self.now()
        media_ids = []
        for content_type, description in media:
            m = self._new_media("seed.bin", content_type, b"", description)
            m.polls_until_ready = 0
            media_ids.append(m.id)
        status = Status(self._snowflake(when), text, when, in_reply_to_id=in_reply_to_id,
                        media_ids=tuple(media_ids))
        for mid in media_ids:
            self.media[mid].status_id = status.id
        self.statuses.append(status)
        return status

    def accepted_for(self, method: str, template: str) -> list[Accepted]:
        return [a for a in self.accepted if a.method == method and a.template == template]

    def rate_headers(self, *, remaining: int, reset_at: datetime) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(remaining, 0)),
            "X-RateLimit-Reset": _iso(reset_at, micro=True),
        }

    # -------------------------------------------------------------- dispatch

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.hits.append((request.method, request.path))
        op = find_operation(request.method, request.path)
        if op is None:
            return self._refuse(request, 404, "Not Found")
        if op == "no-method":
            return self._refuse(request, 405, f"{request.method} not allowed here")
        handler = self._handlers().get((op.method, op.template))
        if handler is None:
            return self._refuse(request, 501, f"{op.method} {op.template} is not in this server")

        failure = self._take_failure(op)
        if failure is not None and not failure.after:
            await request.read()
            return await self._apply(request, failure)

        denied = self._authorize(request, op)
        if denied is not None:
            return denied
        throttled = self._count_request(request)
        if throttled is not None:
            return throttled
        try:
            accepted = await self._validate(request, op)
            status, body, headers = await handler(accepted, op)
        except _Refusal as refusal:
            return self._refuse(request, refusal.status, refusal.error)
        self.accepted.append(accepted)
        self._check_answer(op, status, body)
        if failure is not None:  # the work is done; the answer never arrives intact
            return await self._apply(request, failure)
        headers = {**self._window_headers(), **headers}
        return web.json_response(body, status=status, headers=headers, dumps=_dumps)

    def _handlers(
        self,
    ) -> dict[tuple[str, str], Callable[[Accepted, Operation], Any]]:
        return {
            ("GET", "/api/v2/instance"): self._instance_v2,
            ("GET", "/api/v1/instance"): self._instance_v1,
            ("POST", "/api/v2/media"): self._upload,
            ("GET", "/api/v1/media/{id}"): self._get_media,
            ("POST", "/api/v1/statuses"): self._post_status,
            ("GET", "/api/v1/accounts/verify_credentials"): self._verify,
            ("GET", "/api/v1/accounts/{id}/statuses"): self._account_statuses,
            ("GET", "/api/v1/statuses/{id}"): self._get_status,
            **self.listening_handlers(),
        }

    def _take_failure(self, op: Operation) -> Failure | None:
        for i, (method, path, failure) in enumerate(self._failures):
            if method != op.method:
                continue
            concrete = _fill(op.template, op.params)
            if path not in (op.template, concrete):
                continue
            if failure.skip > 0:
                failure.skip -= 1
                return None
            failure.times -= 1
            if failure.times <= 0:
                del self._failures[i]
            return failure
        return None

    async def _apply(self, request: web.Request, failure: Failure) -> web.StreamResponse:
        if failure.mode == "hang":
            await self._hang.wait()
            raise web.HTTPServiceUnavailable()
        if failure.mode == "reset":
            assert request.transport is not None
            request.transport.abort()
            await self._hang.wait()
            raise web.HTTPServiceUnavailable()
        if isinstance(failure.body, str):
            return web.Response(
                status=failure.status, text=failure.body, content_type="text/html",
                headers=failure.headers,
            )
        return web.json_response(
            failure.body if failure.body is not None else {"error": "Internal Server Error"},
            status=failure.status,
            headers=failure.headers,
        )

    def _refuse(self, request: web.Request, status: int, error: str) -> web.Response:
        self.rejected.append((request.method, request.path, status, error))
        return web.json_response({"error": error}, status=status, headers=self._window_headers())

    # -------------------------------------------------------------- auth and rate limits

    def _authorize(self, request: web.Request, op: Operation) -> web.Response | None:
        requirements = op.spec.get("security", spec().get("security") or [])
        if not requirements:
            return None
        header = request.headers.get("Authorization", "")
        if header != f"Bearer {self.token}":
            return self._refuse(request, 401, INVALID_TOKEN)
        for requirement in requirements:
            wanted = requirement.get("OAuth2", [])
            if not wanted or any(self._granted(scope) for scope in wanted):
                return None
        return self._refuse(request, 403, OUT_OF_SCOPE)

    def _granted(self, scope: str) -> bool:
        return scope in self.scopes or scope.split(":", 1)[0] in self.scopes

    def _count_request(self, request: web.Request) -> web.Response | None:
        now = self.now()
        if self._window_start is None or now >= self._window_start + self.rate_period:
            self._window_start = now
            self._used = 0
        self._used += 1
        if self._used > self.rate_limit:
            self.rejected.append((request.method, request.path, 429, "Too many requests"))
            return web.json_response(
                {"error": "Too many requests"}, status=429, headers=self._window_headers()
            )
        return None

    def _window_headers(self) -> dict[str, str]:
        start = self._window_start or self.now()
        return self.rate_headers(
            remaining=self.rate_limit - self._used, reset_at=start + self.rate_period
        )

    # -------------------------------------------------------------- validation

    async def _validate(self, request: web.Request, op: Operation) -> Accepted:
        accepted = Accepted(
            method=op.method,
            path=request.path,
            template=op.template,
            query=dict(request.query),
            raw_query=list(request.query.items()),
            headers={k: v for k, v in request.headers.items()},
        )
        self._validate_parameters(request, op)
        body_spec = op.spec.get("requestBody")
        if body_spec is None:
            if await request.read():
                raise _Refusal(422, f"{op.method} {op.template} takes no body")
            return accepted
        content = body_spec.get("content", {})
        ctype = request.content_type
        if ctype not in content:
            raise _Refusal(415, f"content type {ctype!r} not accepted (want {sorted(content)})")
        schema = content[ctype].get("schema", {})
        if ctype == "application/json":
            raw = await request.read()
            if not raw and body_spec.get("required"):
                raise _Refusal(422, "a body is required")
            try:
                accepted.json = json.loads(raw)
            except ValueError:
                raise _Refusal(400, "Error occurred while parsing request parameters") from None
            self._check_body(schema, accepted.json)
        elif ctype == "multipart/form-data":
            await self._read_multipart(request, schema, accepted)
        else:  # pragma: no cover - the routes served here take JSON or multipart
            raise _Refusal(415, f"{ctype} is not supported by this server")
        return accepted

    def _validate_parameters(self, request: web.Request, op: Operation) -> None:
        params = {(p["in"], p["name"]): p for p in map(_deref, op.spec.get("parameters", []))}
        for name in dict.fromkeys(request.query):
            # Rails reads ``name[]=a&name[]=b`` as an array (the documents name it ``name``).
            base = name.removesuffix("[]")
            p = params.get(("query", base))
            if p is None:
                raise _Refusal(422, f"unknown query parameter {name!r}")
            schema = _deref(p.get("schema", {}))
            values = request.query.getall(name)
            if schema.get("type") == "array":
                value: Any = [_coerce(v, schema.get("items", {})) for v in values]
            elif name != base or len(values) > 1:
                raise _Refusal(422, f"query parameter {base} takes one value")
            else:
                value = _coerce(values[0], schema)
            errors = schema_errors(schema, value)
            if errors:
                raise _Refusal(422, f"query parameter {base}: {errors[0]}")
        for name, value in op.params.items():
            p = params.get(("path", name))
            if p is not None and schema_errors(p.get("schema", {}), value):
                raise _Refusal(422, f"path parameter {name} is invalid")
        for (where, name), p in params.items():
            if where == "query" and p.get("required") and name not in request.query:
                raise _Refusal(422, f"query parameter {name} is required")

    def _check_body(self, schema: Mapping[str, Any], body: Any) -> None:
        allowed = known_properties(schema)
        if allowed is not None and isinstance(body, dict):
            unknown = sorted(set(body) - allowed)
            if unknown:
                raise _Refusal(422, f"unknown field(s): {', '.join(unknown)}")
        errors = schema_errors(schema, body)
        if errors:
            raise _Refusal(422, "; ".join(errors[:3]))

    async def _read_multipart(
        self, request: web.Request, schema: Mapping[str, Any], accepted: Accepted
    ) -> None:
        schema = _deref(schema)
        props: Mapping[str, Any] = schema.get("properties", {})
        reader = await request.multipart()
        seen: dict[str, Any] = {}
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):  # pragma: no cover - nested multipart
                raise _Refusal(422, "nested multipart is not accepted")
            name = part.name or ""
            if name not in props:
                raise _Refusal(422, f"unknown field {name!r}")
            binary = _deref(props[name]).get("format") == "binary"
            data = await part.read(decode=True)
            if binary:
                ctype = part.headers.get("Content-Type", "")
                if part.filename is None or not ctype:
                    raise _Refusal(422, f"{name} must be a file with a MIME type")
                accepted.files[name] = (part.filename, ctype, bytes(data))
                seen[name] = part.filename
            else:
                text = bytes(data).decode("utf-8")
                accepted.form[name] = text
                seen[name] = text
        errors = schema_errors(schema, seen)
        if errors:
            raise _Refusal(422, "; ".join(errors[:3]))

    def _check_answer(self, op: Operation, status: int, body: Any) -> None:
        answer = op.spec.get("responses", {}).get(str(status))
        if answer is None:
            self.problems.append(f"{op.method} {op.template}: {status} is not documented")
            return
        schema = answer.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            return
        for error in schema_errors(schema, body):
            self.problems.append(f"{op.method} {op.template} {status}: {error}")

    # -------------------------------------------------------------- handlers

    async def _instance_v2(self, req: Accepted, op: Operation) -> tuple[int, Any, dict[str, str]]:
        if not self.instance_v2:
            raise _Refusal(404, RECORD_NOT_FOUND)
        example = spec()["components"]["examples"]["Instance200Example"]["value"]
        doc = copy.deepcopy(example)
        doc["domain"] = self.domain
        config = doc["configuration"]
        config["statuses"].update(
            max_characters=self.max_characters,
            characters_reserved_per_url=self.characters_reserved_per_url,
            max_media_attachments=self.max_media_attachments,
        )
        config["media_attachments"].update(
            description_limit=self.description_limit,
            image_size_limit=self.image_size_limit,
            video_size_limit=self.video_size_limit,
            supported_mime_types=list(self.supported_mime_types),
        )
        return 200, doc, {}

    async def _instance_v1(self, req: Accepted, op: Operation) -> tuple[int, Any, dict[str, str]]:
        example = spec()["components"]["examples"]["V1Instance200Example"]["value"]
        doc = copy.deepcopy(example)
        # The document's own v1 example predates fields its schema now requires.
        doc["configuration"].setdefault("accounts", {"max_featured_tags": 10})
        for rule in doc.get("rules", []):
            rule.setdefault("hint", "")
        doc["contact_account"] = self._account_json()
        doc["uri"] = self.domain
        doc["configuration"]["statuses"].update(
            max_characters=self.max_characters,
            characters_reserved_per_url=self.characters_reserved_per_url,
            max_media_attachments=self.max_media_attachments,
        )
        return 200, doc, {}

    async def _upload(self, req: Accepted, op: Operation) -> tuple[int, Any, dict[str, str]]:
        filename, ctype, data = req.files["file"]
        if ctype not in self.supported_mime_types:
            raise _Refusal(422, "Validation failed: File content type is invalid, File is invalid")
        limit = self.image_size_limit if ctype.startswith("image/") else self.video_size_limit
        if len(data) > limit:
            raise _Refusal(422, f"Validation failed: File file size must be less than {limit}")
        description = req.form.get("description")
        if description is not None and len(description) > self.description_limit:
            raise _Refusal(
                422,
                "Validation failed: Description is too long "
                f"(maximum is {self.description_limit} characters)",
            )
        media = self._new_media(filename, ctype, data, description)
        if media.kind == "image":
            media.polls_until_ready = 0
            return 200, self._media_json(media), {}
        # Mastodon >= 4.0: video, gifv and audio are processed in the background.
        return 202, self._media_json(media), {}

    async def _get_media(self, req: Accepted, op: Operation) -> tuple[int, Any, dict[str, str]]:
        media = self.media.get(op.params["id"])
        if media is None or media.status_id is not None:
            raise _Refusal(404, RECORD_NOT_FOUND)
        if media.polls_until_ready > 0:
            media.polls_until_ready -= 1
            return 206, self._media_json(media), {}
        return 200, self._media_json(media), {}

    async def _post_status(self, req: Accepted, op: Operation) -> tuple[int, Any, dict[str, str]]:
        body: dict[str, Any] = req.json
        key = req.headers.get("Idempotency-Key")
        if key:
            earlier = self._idempotency.get((self.account_id, key))
            if earlier is not None and self.now() < earlier[1] + IDEMPOTENCY_TTL:
                status = next(s for s in self.statuses if s.id == earlier[0])
                return 200, self._status_json(status), {}
        reply_to = body.get("in_reply_to_id")
        if reply_to is not None and not any(s.id == reply_to for s in self.statuses):
            raise _Refusal(404, REPLY_NOT_FOUND)
        media = self._attachable(body.get("media_ids") or [])
        text = body.get("status", "")
        spoiler = body.get("spoiler_text", "")
        if not text.strip() and not media:
            raise _Refusal(422, "Validation failed: Text can't be blank")
        if self.countable_length(spoiler + self.countable_text(text)) > self.max_characters:
            raise _Refusal(
                422, f"Validation failed: Text character limit of {self.max_characters} exceeded"
            )
        status = Status(
            id=self._snowflake(self.now()),
            text=text,
            created_at=self.now(),
            visibility=body.get("visibility", "public"),
            in_reply_to_id=reply_to,
            media_ids=tuple(m.id for m in media),
            language=body.get("language"),
            spoiler_text=spoiler,
            sensitive=bool(body.get("sensitive", False)) or bool(spoiler),
            idempotency_key=key,
        )
        for m in media:
            m.status_id = status.id
        self.statuses.append(status)
        if key:
            self._idempotency[(self.account_id, key)] = (status.id, self.now())
        return 200, self._status_json(status), {}

    async def _verify(self, req: Accepted, op: Operation) -> tuple[int, Any, dict[str, str]]:
        doc = self._account_json()
        doc["source"] = {
            "privacy": "public",
            "sensitive": False,
            "language": None,
            "note": "",
            "fields": [],
            "follow_requests_count": 0,
            "indexable": True,
        }
        doc["role"] = {
            "id": "-99",
            "name": "",
            "permissions": "0",
            "color": "",
            "highlighted": False,
        }
        return 200, doc, {}

    async def _get_status(self, req: Accepted, op: Operation) -> tuple[int, Any, dict[str, str]]:
        """A status with its counts; a deleted one is 404 Record not found, as Mastodon
        answers (``StatusesController#show``: ``Status.find`` on a discarded record)."""
        status = self.status(op.params["id"])
        if status is None or status.deleted:
            raise _Refusal(404, RECORD_NOT_FOUND)
        return 200, self._status_json(status), {}

    def status(self, status_id: str) -> Status | None:
        return next((s for s in self.statuses if s.id == status_id), None)

    async def _account_statuses(
        self, req: Accepted, op: Operation
    ) -> tuple[int, Any, dict[str, str]]:
        if op.params["id"] != self.account_id:
            raise _Refusal(404, RECORD_NOT_FOUND)
        limit = min(int(req.query.get("limit", "20")), 40)
        ordered = sorted(
            (s for s in self.statuses if not s.deleted and s.author is None),
            key=lambda s: int(s.id),
            reverse=True,
        )
        if "max_id" in req.query:
            ordered = [s for s in ordered if int(s.id) < int(req.query["max_id"])]
        if "since_id" in req.query:
            ordered = [s for s in ordered if int(s.id) > int(req.query["since_id"])]
        if "min_id" in req.query:
            newer = [s for s in reversed(ordered) if int(s.id) > int(req.query["min_id"])]
            ordered = list(reversed(newer[:limit]))
        page = ordered[:limit]
        headers: dict[str, str] = {}
        if page:
            base = f"https://{self.domain}/api/v1/accounts/{self.account_id}/statuses"
            headers["Link"] = (
                f'<{base}?max_id={page[-1].id}>; rel="next", '
                f'<{base}?min_id={page[0].id}>; rel="prev"'
            )
        return 200, [self._status_json(s) for s in page], headers

    # -------------------------------------------------------------- Mastodon's rules

    def _attachable(self, ids: list[str]) -> list[Media]:
        """PostStatusService#validate_media!, in its order."""
        if not ids:
            return []
        if len(ids) > self.max_media_attachments:
            raise _Refusal(422, f"Cannot attach more than {self.max_media_attachments} files")
        found = [self.media.get(i) for i in ids]
        missing = [i for i, m in zip(ids, found, strict=True) if m is None or m.status_id]
        if missing:
            raise _Refusal(422, f"Could not find media with ID(s) {', '.join(missing)}")
        media = [m for m in found if m is not None]
        if len(media) > 1 and any(m.kind in ("video", "audio") for m in media):
            raise _Refusal(422, "Cannot attach a video to a post that already contains images")
        if any(m.polls_until_ready > 0 for m in media):
            raise _Refusal(422, NOT_PROCESSED)
        return media

    def countable_text(self, text: str) -> str:
        """StatusLengthValidator#countable_text, independently of the code under test."""
        text = _URL.sub("x" * self.characters_reserved_per_url, text)
        return _MENTION.sub(lambda m: "@" + m.group(1), text)

    @staticmethod
    def countable_length(text: str) -> int:
        """Mastodon counts ``mb_chars.grapheme_length``."""
        return len(regex.findall(r"\X", unicodedata.normalize("NFC", text)))

    # -------------------------------------------------------------- entities

    def _snowflake(self, when: datetime) -> str:
        """Mastodon ids: milliseconds since the epoch, shifted, plus a sequence."""
        self._sequence += 1
        return str((int(when.timestamp() * 1000) << 16) + (self._sequence & 0xFFFF))

    def _new_media(
        self, filename: str, ctype: str, data: bytes, description: str | None
    ) -> Media:
        self._sequence += 1
        kind: Literal["image", "gifv", "video", "audio", "unknown"]
        if ctype == "image/gif":
            kind = "gifv"
        elif ctype.startswith("image/"):
            kind = "image"
        elif ctype.startswith("video/"):
            kind = "video"
        elif ctype.startswith("audio/"):
            kind = "audio"
        else:
            kind = "unknown"
        media = Media(
            id=str(22348641 + self._sequence),
            kind=kind,
            filename=filename,
            content_type=ctype,
            data=data,
            description=description,
            polls_until_ready=self.processing_polls,
        )
        self.media[media.id] = media
        return media

    def _media_json(self, media: Media) -> dict[str, Any]:
        files = f"https://files.{self.domain}/media_attachments/files/{media.id}"
        ready = media.polls_until_ready == 0
        return {
            "id": media.id,
            "type": media.kind,
            "url": f"{files}/original/{media.filename}" if ready else None,
            "preview_url": f"{files}/small/{media.filename}",
            "remote_url": None,
            "meta": None,
            "description": media.description,
            "blurhash": None,
        }

    def _account_json(self, acct: str | None = None) -> dict[str, Any]:
        """The account's own (``acct`` None), or another's (``user@domain``)."""
        username, domain = (acct or self.username).partition("@")[::2]
        base = f"https://{domain or self.domain}"
        missing = f"{base}/avatars/original/missing.png"
        return {
            "id": self.account_id if acct is None else self.account_id_of(acct),
            "username": username,
            "acct": acct or self.username,
            "display_name": "Brand" if acct is None else username.title(),
            "locked": False,
            "bot": False,
            "discoverable": True,
            "indexable": True,
            "group": False,
            "created_at": "2022-11-06T00:00:00.000Z",
            "note": "",
            "url": f"{base}/@{username}",
            "uri": f"{base}/users/{username}",
            "avatar": missing,
            "avatar_static": missing,
            "header": f"{base}/headers/original/missing.png",
            "header_static": f"{base}/headers/original/missing.png",
            "followers_count": self.followers,
            "following_count": 0,
            "statuses_count": sum(1 for s in self.statuses if s.author == acct),
            "last_status_at": None,
            "emojis": [],
            "fields": [],
        }

    def _status_json(self, status: Status, *, nested: bool = False) -> dict[str, Any]:
        username, domain = (status.author or self.username).partition("@")[::2]
        base = f"https://{domain or self.domain}"
        parent = next((s for s in self.statuses if s.id == status.in_reply_to_id), None)
        parent_account = None
        if parent is not None:
            parent_account = (
                self.account_id if parent.author is None else self.account_id_of(parent.author)
            )
        quoted = self.status(status.quote_of) if status.quote_of else None
        quote: dict[str, Any] | None = None
        if status.quote_of is not None and (nested or quoted is None):
            quote = {"state": "accepted", "quoted_status_id": status.quote_of}
        elif quoted is not None:
            quote = {"state": "accepted", "quoted_status": self._status_json(quoted, nested=True)}
        return {
            "id": status.id,
            "created_at": _iso(status.created_at),
            "in_reply_to_id": status.in_reply_to_id,
            "in_reply_to_account_id": parent_account,
            "sensitive": status.sensitive,
            "spoiler_text": status.spoiler_text,
            "visibility": status.visibility,
            "language": status.language,
            "uri": f"{base}/users/{username}/statuses/{status.id}",
            "url": f"{base}/@{username}/{status.id}",
            "replies_count": sum(1 for s in self.statuses if s.in_reply_to_id == status.id),
            "reblogs_count": status.reblogs,
            "favourites_count": status.favourites,
            "edited_at": None,
            "favourited": False,
            "reblogged": False,
            "muted": False,
            "bookmarked": False,
            "pinned": False,
            "content": self.format_html(status.text),
            "filtered": [],
            "reblog": None,
            "application": {"name": "publisher", "website": None},
            "account": self._account_json(status.author),
            "media_attachments": [self._media_json(self.media[m]) for m in status.media_ids],
            "mentions": [],
            "tags": [
                {"name": t, "url": f"https://{self.domain}/tags/{t}"} for t in tags_of(status.text)
            ],
            "emojis": [],
            "card": None,
            "poll": None,
            **({} if quote is None else {"quote": quote}),
            **({} if status.quotes is None else {"quotes_count": status.quotes}),
        }

    def format_html(self, text: str) -> str:
        """Roughly TextFormatter: escaped, paragraphs and <br />, links, tags, mentions."""
        paragraphs = [p for p in re.split(r"\n{2,}", text.strip()) if p]
        out = []
        for p in paragraphs:
            out.append("<p>" + "<br />".join(self._format_line(line) for line in p.split("\n"))
                       + "</p>")
        return "".join(out)

    def _format_line(self, line: str) -> str:
        pieces: list[str] = []
        pos = 0
        for m in _ENTITY.finditer(line):
            pieces.append(html.escape(line[pos:m.start()]))
            pieces.append(self._entity_html(m))
            pos = m.end()
        pieces.append(html.escape(line[pos:]))
        return "".join(pieces)

    def _entity_html(self, m: re.Match[str]) -> str:
        token = m.group(0)
        if m.group("url"):
            scheme, _, rest = token.partition("://")
            shown, hidden = rest[:30], rest[30:]
            return (
                f'<a href="{html.escape(token)}" target="_blank" rel="nofollow noopener">'
                f'<span class="invisible">{html.escape(scheme)}://</span>'
                f'<span class="{"ellipsis" if hidden else ""}">{html.escape(shown)}</span>'
                f'<span class="invisible">{html.escape(hidden)}</span></a>'
            )
        if m.group("tag"):
            name = m.group("tag")
            return (
                f'<a href="https://{self.domain}/tags/{html.escape(name.lower())}" '
                f'class="mention hashtag" rel="tag">#<span>{html.escape(name)}</span></a>'
            )
        user, domain = m.group("user"), m.group("domain") or self.domain
        return (
            f'<span class="h-card" translate="no"><a href="https://{html.escape(domain)}/@'
            f'{html.escape(user)}" class="u-url mention">@<span>{html.escape(user)}</span>'
            "</a></span>"
        )


class _Refusal(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


_URL = re.compile(r"https?://[^\s<>\"]+[^\s<>\".,;:!?)\]'’”]")
_MENTION = re.compile(r"(?<![=/\w])@(\w+(?:[.-]+\w+)*)@[\w.-]+\w")
_ENTITY = re.compile(
    r"(?P<url>https?://[^\s<>\"]+[^\s<>\".,;:!?)\]'’”])"
    r"|(?<![=/\w])#(?P<tag>\w+)"
    r"|(?<![=/\w])@(?P<user>\w+(?:[.-]+\w+)*)(?:@(?P<domain>[\w.-]+\w))?"
)


def tags_of(text: str) -> list[str]:
    """The hashtags of a status's text, lower-cased, once each."""
    return list(dict.fromkeys(m.group("tag").lower() for m in _ENTITY.finditer(text)
                              if m.group("tag")))


def _fill(template: str, params: Mapping[str, str]) -> str:
    out = template
    for name, value in params.items():
        out = out.replace("{" + name + "}", value)
    return out


def _coerce(value: str, schema: Mapping[str, Any]) -> Any:
    """A query string value as the type its schema declares."""
    kind = _deref(schema).get("type")
    if kind == "integer":
        try:
            return int(value)
        except ValueError:
            return value
    if kind == "boolean":
        return {"true": True, "false": False, "1": True, "0": False}.get(value.lower(), value)
    return value


def _iso(when: datetime, micro: bool = False) -> str:
    when = when.astimezone(UTC)
    if micro:
        return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def iter_json(accepted: list[Accepted]) -> Iterator[Any]:
    """The JSON bodies the server accepted, in order."""
    for a in accepted:
        if a.json is not None:
            yield a.json
