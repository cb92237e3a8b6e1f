"""A local HTTP sink speaking the subset of Mastodon the daemon uses, for the benchmarks.

It runs in its own process (``python -m bench.sink``) so that answering requests does not
take CPU from the daemon being measured. Every status is timestamped with ``time.time()`` on
arrival, and its body and headers are kept so the burst benchmark can replay exactly the same
requests with a bare client. On start it prints ``PORT <n>`` on stdout (it binds port 0).

For engagement readings it answers ``GET /api/v1/statuses/:id`` (fixed counts) and
``verify_credentials`` (a follower count); for listening, ``GET /api/v1/notifications``
(nothing new: what most reads of a quiet account find). Control endpoints: ``GET /_bench/count``,
``GET /_bench/arrivals`` (``?bodies=1`` adds the raw bodies and replayable headers),
``POST /_bench/reset``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web

REPLAYED_HEADERS = ("Accept", "Content-Type", "Authorization", "Idempotency-Key")
INSTANCE = json.dumps(
    {"configuration": {"statuses": {"max_characters": 500, "characters_reserved_per_url": 23}}}
).encode()


@dataclass
class Arrival:
    at: float
    key: str
    text: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Sink:
    token: str
    arrivals: list[Arrival] = field(default_factory=list)
    refused: int = 0
    next_id: int = 100_000
    reads: int = 0  # engagement reads (GET /api/v1/statuses/:id)
    listens: int = 0  # notification reads (GET /api/v1/notifications)

    async def status(self, request: web.Request) -> web.Response:
        at = time.time()
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            self.refused += 1
            return web.json_response({"error": "The access token is invalid"}, status=401)
        body = await request.read()
        try:
            doc = json.loads(body)
            text = str(doc.get("status", ""))
        except (ValueError, AttributeError):
            return web.json_response({"error": "Validation failed: not JSON"}, status=422)
        headers = {h: request.headers[h] for h in REPLAYED_HEADERS if h in request.headers}
        key = request.headers.get("Idempotency-Key", "")
        self.arrivals.append(Arrival(at, key, text, body, headers))
        self.next_id += 1
        sid = str(self.next_id)
        base = f"http://{request.host}"
        answer = {
            "id": sid,
            "url": f"{base}/@bench/{sid}",
            "uri": f"{base}/users/bench/statuses/{sid}",
            "content": f"<p>{text}</p>",
            "created_at": datetime.fromtimestamp(at, UTC).isoformat(),
            "visibility": doc.get("visibility", "public"),
            "account": {"id": "1", "acct": "bench", "username": "bench"},
            "media_attachments": [],
            "in_reply_to_id": doc.get("in_reply_to_id"),
        }
        return web.Response(body=json.dumps(answer).encode(), content_type="application/json")

    async def instance(self, _request: web.Request) -> web.Response:
        return web.Response(body=INSTANCE, content_type="application/json")

    async def counts(self, request: web.Request) -> web.Response:
        """A status's counts, for engagement readings (``bench/engagement_idle.py``)."""
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "The access token is invalid"}, status=401)
        sid = request.match_info["id"]
        self.reads += 1
        return web.json_response(
            {"id": sid, "favourites_count": 3, "reblogs_count": 1, "replies_count": 0}
        )

    async def verify(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "The access token is invalid"}, status=401)
        return web.json_response({"id": "1", "acct": "bench", "followers_count": 100})

    async def notifications(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "The access token is invalid"}, status=401)
        self.listens += 1
        return web.json_response([])

    async def count(self, _request: web.Request) -> web.Response:
        last = self.arrivals[-1].at if self.arrivals else None
        return web.json_response(
            {
                "count": len(self.arrivals),
                "last": last,
                "refused": self.refused,
                "reads": self.reads,
                "listens": self.listens,
            }
        )

    async def list_arrivals(self, request: web.Request) -> web.Response:
        bodies = request.query.get("bodies") == "1"
        rows: list[list[object]] = []
        for a in self.arrivals:
            row: list[object] = [a.at, a.key, a.text]
            if bodies:
                row += [a.body.decode("utf-8"), a.headers]
            rows.append(row)
        return web.json_response({"arrivals": rows, "refused": self.refused})

    async def reset(self, _request: web.Request) -> web.Response:
        self.arrivals.clear()
        self.refused = 0
        return web.json_response({"count": 0})

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/api/v1/statuses", self.status)
        app.router.add_get("/api/v2/instance", self.instance)
        app.router.add_get("/api/v1/statuses/{id}", self.counts)
        app.router.add_get("/api/v1/accounts/verify_credentials", self.verify)
        app.router.add_get("/api/v1/notifications", self.notifications)
        app.router.add_get("/_bench/count", self.count)
        app.router.add_get("/_bench/arrivals", self.list_arrivals)
        app.router.add_post("/_bench/reset", self.reset)
        return app


async def serve(token: str) -> None:
    sink = Sink(token)
    runner = web.AppRunner(sink.app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    print(f"PORT {port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    token = os.environ.get("BENCH_TOKEN", "")
    if not token:
        sys.exit("bench.sink: set BENCH_TOKEN")
    asyncio.run(serve(token))


if __name__ == "__main__":
    main()
