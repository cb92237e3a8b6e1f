"""A small XRPC stand-in for a PDS: sessions as the reference PDS hands them out, records
kept by key, and createRecord answering as an error-table case wants.

The reference PDS (``pds.py``) needs Node; this one answers the error table and the
contract's lookups without it. It also plays the AppView the PDS proxies ``app.bsky.*`` to
(the reference PDS cannot serve notifications without one): ``getPosts``, ``getProfile``,
and what the account hears (``listNotifications``, ``searchPosts``: ``xrpc_listen``), with
the lexicons' parameters only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiohttp import web

from publisher.testing import NOW, LocalServer
from tests.networks.bluesky.xrpc_listen import LISTEN_NSIDS, Listens

DID = "did:plc:errortables0000000000000"
B_RESET = NOW + timedelta(minutes=5)


def epoch(when: datetime) -> str:
    return str(int(when.timestamp()))


@dataclass
class Xrpc(Listens):
    """Just enough of a PDS: sessions, records, and createRecord answering as told.

    ``create``: "expired-once", "auth-required", "rate-limit", "retry-after", or "ok" (the
    record is created and kept; getRecord finds it). ``access`` starts every access token
    it hands out.
    """

    create: str = "ok"
    refresh_ok: bool = True
    login_ok_after_first: bool = True
    access: str = "access"
    calls: list[str] = field(default_factory=list)
    records: dict[str, dict[str, object]] = field(default_factory=dict)  # by rkey
    # What the AppView says of the records (app.bsky.feed.getPosts): counts by rkey, as
    # postView's optional integers (a name left out: the answer leaves it out, partial).
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)  # rkeys deleted: getPosts omits them
    followers: int = 0  # app.bsky.actor.getProfile's followersCount
    reads: str = "ok"  # "rate-limit": getPosts and getProfile answer 429
    asked: list[list[str]] = field(default_factory=list)  # each getPosts call's uris
    url: str = ""
    _logins: int = 0
    _server: LocalServer | None = None

    def _session(self, n: int) -> dict[str, object]:
        return {
            "did": DID,
            "handle": "brand.test",
            "accessJwt": f"{self.access}-{n}",
            "refreshJwt": f"refresh-{n}",
            "active": True,
        }

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        nsid = request.path.removeprefix("/xrpc/")
        self.calls.append(nsid)
        await request.read()
        auth = request.headers.get("Authorization", "")
        if nsid == "com.atproto.server.createSession":
            self._logins += 1
            if self._logins > 1 and not self.login_ok_after_first:
                refusal = {"error": "AuthenticationRequired", "message": "Invalid password"}
                return web.json_response(refusal, status=401)
            return web.json_response(self._session(1))
        if nsid == "com.atproto.server.refreshSession":
            if not self.refresh_ok or auth != "Bearer refresh-1":
                return web.json_response(
                    {"error": "ExpiredToken", "message": "Token has been revoked"}, status=400
                )
            return web.json_response(self._session(2))
        if nsid == "com.atproto.repo.getRecord":
            record = self.records.get(request.query.get("rkey", ""))
            if record is None:
                return web.json_response(
                    {"error": "RecordNotFound", "message": "Could not locate record"}, status=400
                )
            return web.json_response(record)
        if nsid in ("app.bsky.feed.getPosts", "app.bsky.actor.getProfile", *LISTEN_NSIDS):
            return self._appview(request, nsid, auth)
        if nsid != "com.atproto.repo.createRecord":
            return web.json_response({"error": "MethodNotImplemented"}, status=501)
        if self.create == "expired-once" and auth == f"Bearer {self.access}-1":
            return web.json_response(
                {"error": "ExpiredToken", "message": "Token has expired"}, status=400
            )
        if self.create == "auth-required":
            return web.json_response(
                {"error": "AuthenticationRequired", "message": "Authentication Required"},
                status=401,
            )
        if self.create == "rate-limit":
            return _rate_limited()
        if self.create == "retry-after":
            return web.json_response(
                {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                status=429,
                headers={"Retry-After": "45"},
            )
        body = json.loads(await request.read())
        refused = self.check_reply(body["record"])
        if refused:
            return _invalid(f"Invalid app.bsky.feed.post record: {refused}")
        rkey = body["rkey"]
        uri = f"at://{DID}/app.bsky.feed.post/{rkey}"
        self.records[rkey] = {"uri": uri, "cid": "bafyreiexample", "value": body["record"]}
        return web.json_response({"uri": uri, "cid": "bafyreiexample"})

    def _appview(self, request: web.Request, nsid: str, auth: str) -> web.Response:
        """getPosts and getProfile as the PDS answers them, proxied to the AppView: the
        lexicons' parameters only (``uris`` at most 25 at-uris; ``actor``), the account's
        access token required."""
        if not auth.startswith(f"Bearer {self.access}-"):
            return web.json_response(
                {"error": "AuthenticationRequired", "message": "Authentication Required"},
                status=401,
            )
        if self.reads == "rate-limit":
            return _rate_limited()
        if nsid in LISTEN_NSIDS:
            status, doc = self.listen(nsid, request.query)
            return web.json_response(doc, status=status)
        if nsid == "app.bsky.actor.getProfile":
            if set(request.query) != {"actor"} or request.query["actor"] not in (DID, "brand.test"):
                return _invalid("Error: actor must be a valid did or a handle")
            return web.json_response(
                {"did": DID, "handle": "brand.test", "followersCount": self.followers}
            )
        uris = request.query.getall("uris", [])
        if set(request.query) != {"uris"} or not 1 <= len(uris) <= 25:
            return _invalid("Error: uris must not be empty, nor have more than 25 elements")
        if any(not u.startswith("at://") for u in uris):
            return _invalid("Error: uris/0 must be a valid at-uri")
        self.asked.append(list(uris))
        posts = []
        for uri in uris:
            rkey = uri.rsplit("/", 1)[-1]
            record = self.records.get(rkey)
            if record is None or rkey in self.deleted or record["uri"] != uri:
                continue  # the AppView leaves out what it cannot find
            posts.append(
                {
                    "uri": uri,
                    "cid": record["cid"],
                    "author": {"did": DID, "handle": "brand.test"},
                    "record": record["value"],
                    "indexedAt": "2026-12-01T09:00:00.000Z",
                    **self.counts.get(rkey, {}),
                }
            )
        return web.json_response({"posts": posts})

    async def __aenter__(self) -> Xrpc:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = LocalServer(app)
        self.url = await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self._server.stop()


def _rate_limited() -> web.Response:
    return web.json_response(
        {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
        status=429,
        headers={
            "RateLimit-Limit": "5000",
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": epoch(B_RESET),
            "RateLimit-Policy": "5000;w=3600",
        },
    )


def _invalid(message: str) -> web.Response:
    return web.json_response({"error": "InvalidRequest", "message": message}, status=400)
