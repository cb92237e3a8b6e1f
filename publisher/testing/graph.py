"""What a strict stand-in for a Graph API (Facebook, Instagram, Threads) shares.

Graph's error document and usage headers, its time format, the version in every path, the
access token (an ``Authorization`` header, a query parameter or a form field; the one
configured, or error 190), bodies as JSON or a form, and ``fields=`` checked against what a
node has. Graph silently ignores parameters it does not know; a strict server refuses them,
with a Graph-shaped ``(#100)`` error whose message starts with "strict server:", so that an
adapter that misspells a field is caught.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from publisher.testing.strict import Reject, StrictServer

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
    """Usage headers: BUC (with the time to regain access) and app usage."""
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
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    content_type: str
    token_via: str  # "header", "query", "body" or "none"


class GraphServer(StrictServer):
    """The Graph plumbing of a strict server; the network's server adds its endpoints.
    Subclasses have ``token`` and ``version`` and a ``requests`` list."""

    token: str
    version: str
    requests: list[RecordedRequest]

    def __post_init__(self) -> None:
        super().__post_init__()
        self._trace = 0

    def inject_error(
        self,
        endpoint: str,
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
        body = error_body(code, message, type_=type_, subcode=subcode, is_transient=is_transient)
        self.inject_raw(
            endpoint,
            status if status is not None else DEFAULT_STATUS.get(code, 400),
            json.dumps(body),
            headers=headers,
            commit=commit,
            times=times,
        )

    def error(
        self, code: int, message: str, status: int = 400, subcode: int | None = None
    ) -> Reject:
        """A Graph error to raise."""
        self._trace += 1
        body = error_body(code, message, subcode=subcode, trace=f"Trace{self._trace:06d}")
        headers = {}
        if code == 190 and status == 401:
            headers["WWW-Authenticate"] = 'OAuth "Facebook Platform" "invalid_token" "' + (
                message.replace('"', "'") + '"'
            )
        return Reject(web.json_response(body, status=status, headers=headers))

    def strict(self, message: str) -> Reject:
        return self.error(100, f"(#100) strict server: {message}")

    def versioned(self, request: web.Request) -> list[str]:
        """The path's segments after the version, which must be the one served."""
        segments = [s for s in request.path.split("/") if s]
        if not segments or segments[0] != self.version:
            raise self.error(2635, f"strict server: only API {self.version} is served here")
        return segments[1:]

    async def read_fields(self, request: web.Request) -> dict[str, Any]:
        """A GET's none, or a JSON object or urlencoded form body (anything else refused)."""
        if request.method == "GET":
            if await request.read():
                raise self.strict("a GET with a body")
            return {}
        ctype = request.content_type
        if ctype == "application/json":
            try:
                doc = json.loads(await request.read())
            except ValueError:
                raise self.strict("the JSON body does not parse") from None
            if not isinstance(doc, dict):
                raise self.strict("the JSON body is not an object")
            return doc
        if ctype == "application/x-www-form-urlencoded":
            fields: dict[str, Any] = {}
            for key, value in (await request.post()).items():
                if not isinstance(value, str):
                    raise self.strict(f"a file in a urlencoded form ({key})")
                fields[key] = value
            return fields
        raise self.strict(f"this endpoint takes JSON or a urlencoded form, not {ctype}")

    def authenticate(self, request: web.Request, fields: Mapping[str, Any]) -> str:
        """Where the request carried the right token ("header", "query", "body"), or 190."""
        given: list[tuple[str, str]] = []
        auth = request.headers.get("Authorization", "")
        if auth:
            scheme, _, value = auth.partition(" ")
            if scheme.lower() not in ("bearer", "oauth") or not value:
                raise self.error(190, "Invalid OAuth access token - Cannot parse access token")
            given.append(("header", value.strip()))
        if "access_token" in request.query:
            given.append(("query", request.query["access_token"]))
        if "access_token" in fields:
            given.append(("body", str(fields["access_token"])))
        if not given:
            raise self.error(190, "An access token is required to request this resource.")
        if len({token for _, token in given}) > 1:
            raise self.strict("two different access tokens in one request")
        via, token = given[0]
        if token != self.token:
            status = 401 if via == "header" else 400
            raise self.error(190, "Invalid OAuth access token - Cannot parse access token", status)
        return via

    def record(self, request: web.Request, via: str) -> None:
        self.requests.append(
            RecordedRequest(
                request.method, request.path, dict(request.query), request.content_type, via
            )
        )

    def wanted_fields(self, request: web.Request, allowed: frozenset[str], node: str) -> set[str]:
        """``fields=`` of a read, each one the node has (else Graph's error 100); an edge
        expanded (``replies{id,text}``) counts by its name (``nested_fields`` reads it)."""
        wanted = set(self.field_specs(request))
        unknown = wanted - allowed
        if unknown:
            name = sorted(unknown)[0]
            raise self.error(
                100, f"(#100) Tried accessing nonexisting field ({name}) on node type ({node})"
            )
        return wanted

    def field_specs(self, request: web.Request) -> dict[str, str]:
        """Each field of ``fields=`` with what its braces hold ("" for a plain field)."""
        raw = request.query.get("fields", "")
        specs: dict[str, str] = {}
        depth, start = 0, 0
        for i, char in enumerate(raw + ","):
            if char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth < 0:
                    raise self.strict(f"unbalanced braces in fields={raw!r}")
            elif char == "," and depth == 0:
                item = raw[start:i].strip()
                start = i + 1
                if not item:
                    continue
                name, brace, inner = item.partition("{")
                if brace and not inner.endswith("}"):
                    raise self.strict(f"bad field expansion {item!r}")
                specs[name.strip()] = inner[:-1] if brace else ""
        if depth:
            raise self.strict(f"unbalanced braces in fields={raw!r}")
        return specs

    def nested_fields(
        self, request: web.Request, edge: str, allowed: frozenset[str], node: str
    ) -> set[str]:
        """The fields asked of an expanded edge (``replies{id,text}``): each one its node has."""
        inner = self.field_specs(request).get(edge, "")
        wanted = {f.strip() for f in inner.split(",") if f.strip()}
        unknown = wanted - allowed
        if unknown:
            name = sorted(unknown)[0]
            raise self.error(
                100, f"(#100) Tried accessing nonexisting field ({name}) on node type ({node})"
            )
        return wanted

    def only_query(self, request: web.Request, allowed: frozenset[str]) -> None:
        unknown = set(request.query) - allowed - {"access_token"}
        if unknown:
            raise self.strict(f"unknown parameters {sorted(unknown)}")

    def unknown_object(self, method: str, object_id: str) -> Reject:
        return self.error(
            100,
            f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not "
            "exist, cannot be loaded due to missing permissions, or does not support "
            "this operation.",
            subcode=33,
        )
