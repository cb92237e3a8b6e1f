"""Every network's local server in one process, and what the daemon's tests need around them.

The chaos and fault tests run the real daemon as a subprocess and judge it by what the
servers received, not by what the daemon says it did. So the strict local servers (X, Graph,
Mastodon) run here, in a background thread with its own event loop, so that a test may block
(``time.sleep``, ``subprocess.run``) without stalling them. Bluesky is the real reference PDS
(``tests.networks.bluesky.pds``), read back over XRPC.

Each server is the adapters' own test server, subclassed only at its request handler to:

* record every arrival (time, method, path) and every rate-limit reset it announced, so a
  test can check that nothing arrived before a reset the daemon had been told about;
* add a little latency around publish requests, so that a SIGKILL often lands while a
  request is out (the post made, its answer not yet in the ledger);
* when a ``FaultPlan`` says so, answer a publish request with a fault, through the server's
  own failure injection (``fail``/``inject_*``), either before the post is made or after
  ("landed": the post exists, the answer is lost or says otherwise).

Post texts carry their identity (``"<post-id> part 1/2: ..."``) so what a server holds can
be matched to the ledger's deliveries.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from tests.networks.bluesky.pds import Account as BskyAccount
from tests.networks.facebook.server import GraphServer, usage_headers
from tests.networks.mastodon.server import MastodonServer
from tests.networks.x.server import XServer, invalid_request, status_body

T = TypeVar("T")

# Credentials: the servers' defaults, handed to the daemon through environment variables.
X_CREDENTIALS = {
    "X_API_KEY": "xck-consumer-key-0001",
    "X_API_SECRET": "xcs-consumer-secret-0002",
    "X_ACCESS_TOKEN": "1234567890-xat-access-token-0003",
    "X_ACCESS_SECRET": "xas-access-secret-0004",
}
FB_PAGE_ID = "1234567890"
FB_TOKEN = "EAAG-page-token-for-tests-4c1d"
MASTODON_TOKEN = "test-token-0123456789"

ACCOUNT_NETWORK = {
    "chaos-x": "x",
    "chaos-fb": "facebook",
    "chaos-masto": "mastodon",
    "chaos-bsky": "bluesky",
}
NETWORK_ACCOUNT = {network: account for account, network in ACCOUNT_NETWORK.items()}

# What each network says when it refuses a post for good (the fault test looks for it).
PERMANENT_REASON = {
    "x": "chaos: this text breaks the rules of X",
    "facebook": "chaos: this text breaks the rules of the page",
    "mastodon": "chaos: this text breaks the rules of the instance",
}

TERMINAL = frozenset({"published", "failed", "canceled", "missed"})
PENDING = frozenset({"scheduled", "retrying", "sending"})


# ---------------------------------------------------------------------------
# Texts that say which delivery part they are.

_MARK = re.compile(r"^(?P<post>[a-z0-9-]+) part (?P<n>\d+)/(?P<total>\d+): ")


def part_text(post_id: str, index: int, total: int, words: str) -> str:
    return f"{post_id} part {index + 1}/{total}: {words}"


def parse_part(text: str) -> tuple[str, int] | None:
    """(post id, 0-based part index) of a text made by ``part_text``."""
    m = _MARK.match(text)
    return (m.group("post"), int(m.group("n")) - 1) if m else None


# ---------------------------------------------------------------------------
# Faults.


class FaultKind(StrEnum):
    SERVER_ERROR = "5xx"  # nothing made
    SERVER_ERROR_LANDED = "5xx-landed"  # the post is made, the answer is a 5xx
    RATE_LIMITED = "429"  # with a reset a few seconds ahead
    TIMEOUT = "timeout"  # no answer before the client's timeout, nothing made
    TIMEOUT_LANDED = "timeout-landed"  # the post is made, the answer comes too late
    RESET = "reset"  # connection dropped after the body was read, nothing made
    RESET_LANDED = "reset-landed"  # the post is made, then the connection is dropped
    PERMANENT = "permanent"  # refused for good (a 400/422 with the network's words)


DEFAULT_WEIGHTS: Mapping[FaultKind, float] = {
    FaultKind.SERVER_ERROR: 0.25,
    FaultKind.SERVER_ERROR_LANDED: 0.15,
    FaultKind.RATE_LIMITED: 0.2,
    FaultKind.TIMEOUT: 0.1,
    FaultKind.TIMEOUT_LANDED: 0.1,
    FaultKind.RESET: 0.1,
    FaultKind.RESET_LANDED: 0.1,
}


class FaultPlan:
    """Which publish requests fail and how; seeded, so a failing run can be looked into."""

    def __init__(
        self,
        seed: int,
        rate: float = 0.3,
        weights: Mapping[FaultKind, float] = DEFAULT_WEIGHTS,
        permanent: Mapping[str, str] | None = None,  # network -> post id refused for good
        reset_in: tuple[float, float] = (2.0, 4.0),  # seconds ahead a 429 announces
        hang: float = 3.5,  # how long a "timeout" keeps the client waiting, at least
    ) -> None:
        self.seed = seed
        self.rate = rate
        self.kinds = list(weights)
        self.weights = [weights[k] for k in self.kinds]
        self.permanent = dict(permanent or {})
        self.reset_in = reset_in
        self.hang = hang
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def pick(self, network: str, post_id: str | None) -> FaultKind | None:
        with self._lock:
            if post_id is not None and self.permanent.get(network) == post_id:
                return FaultKind.PERMANENT
            if self._rng.random() >= self.rate:
                return None
            return self._rng.choices(self.kinds, self.weights)[0]

    def choice(self, options: Sequence[T]) -> T:
        with self._lock:
            return self._rng.choice(options)

    def reset_delay(self) -> float:
        with self._lock:
            return self._rng.uniform(*self.reset_in)


# ---------------------------------------------------------------------------
# What a server saw.


@dataclass(frozen=True)
class Arrival:
    at: float  # time.time() when the request reached the server
    method: str
    path: str
    publish: bool
    post_id: str | None = None


@dataclass(frozen=True)
class Announced:
    at: float  # when the 429 left the server
    reset: float  # the time (epoch seconds) it said the limit lifts


@dataclass(frozen=True)
class Injected:
    at: float
    kind: FaultKind
    post_id: str | None
    detail: str = ""


@dataclass
class Recorder:
    """One server's log of arrivals, announced resets and injected faults."""

    network: str
    plan: FaultPlan | None = None
    latency: tuple[float, float] = (0.0, 0.0)
    arrivals: list[Arrival] = field(default_factory=list)
    announced: list[Announced] = field(default_factory=list)
    injected: list[Injected] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the harness's own mistakes
    _rng: random.Random = field(default_factory=lambda: random.Random(7))

    def arrive(self, request: web.Request, publish: bool, post_id: str | None = None) -> None:
        self.arrivals.append(Arrival(time.time(), request.method, request.path, publish, post_id))

    async def pause(self) -> None:
        low, high = self.latency
        if high > 0:
            await asyncio.sleep(self._rng.uniform(low, high))

    def pick(self, post_id: str | None) -> FaultKind | None:
        return self.plan.pick(self.network, post_id) if self.plan is not None else None

    def note(self, kind: FaultKind, post_id: str | None, detail: str = "") -> None:
        self.injected.append(Injected(time.time(), kind, post_id, detail))

    def announce(self, reset: float) -> None:
        self.announced.append(Announced(time.time(), reset))


async def _body_post_id(request: web.Request, key: str) -> str | None:
    """The post id in a JSON publish body (read now; aiohttp keeps it for the server)."""
    try:
        doc = json.loads(await request.read())
    except ValueError:
        return None
    text = doc.get(key) if isinstance(doc, dict) else None
    found = parse_part(text) if isinstance(text, str) else None
    return found[0] if found else None


# ---------------------------------------------------------------------------
# The three in-process servers, each wrapped at its handler.


class ChaosX(XServer):
    PUBLISH = "/2/tweets"

    def __init__(self, rec: Recorder, **kw: Any) -> None:
        super().__init__(**kw)
        self.rec = rec
        self.reject_repeats = False  # a second post must show up, not be refused for us

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        publish = request.method == "POST" and request.path == self.PUBLISH
        if not publish:
            self.rec.arrive(request, publish)
            return await super()._handle(request)
        post_id = await _body_post_id(request, "text")
        self.rec.arrive(request, publish, post_id)
        await self.rec.pause()
        kind = self.rec.pick(post_id)
        if kind is None:
            response = await super()._handle(request)
            await self.rec.pause()
            return response
        self.rec.note(kind, post_id)
        return await self._fault(request, kind)

    async def _injected(self, request: web.Request) -> web.StreamResponse:
        """Answer through the failure just registered with ``fail`` (it fires on this one)."""
        failure = self.failures[-1]
        response = await super()._handle(request)
        if not failure.fired:
            failure.fired = True
            self.rec.problems.append(f"x: injected {failure.action} {failure.status} unused")
        return response

    async def _fault(self, request: web.Request, kind: FaultKind) -> web.StreamResponse:
        plan = self.rec.plan
        assert plan is not None
        if kind is FaultKind.PERMANENT:
            body = invalid_request(PERMANENT_REASON["x"])
            self.fail("POST", self.PUBLISH, status=400, body=body)
            return await self._injected(request)
        if kind is FaultKind.SERVER_ERROR:
            self.fail("POST", self.PUBLISH, status=plan.choice([500, 502, 503]))
            return await self._injected(request)
        if kind is FaultKind.RATE_LIMITED:
            reset = math.ceil(time.time() + plan.reset_delay())
            headers = {
                "x-rate-limit-limit": "200",
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(reset),
            }
            self.fail("POST", self.PUBLISH, status=429, headers=headers)
            response = await self._injected(request)
            self.rec.announce(reset)
            return response
        if kind is FaultKind.TIMEOUT:
            self.fail("POST", self.PUBLISH, action="hang")
            return await self._injected(request)
        if kind is FaultKind.RESET:
            self.fail("POST", self.PUBLISH, action="reset")
            return await self._injected(request)
        response = await super()._handle(request)  # the post is made ...
        if response.status != 201:
            return response
        if kind is FaultKind.SERVER_ERROR_LANDED:
            return web.json_response(status_body(503), status=503)  # ... and the answer lies
        if kind is FaultKind.TIMEOUT_LANDED:
            await asyncio.sleep(plan.hang)  # ... and the answer comes too late
            return response
        assert request.transport is not None  # RESET_LANDED: ... and the connection drops
        request.transport.abort()
        return response


class ChaosGraph(GraphServer):
    def attach(self, rec: Recorder) -> ChaosGraph:
        self.rec = rec
        return self

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        publish = request.method == "POST" and request.path.endswith(f"/{self.page_id}/feed")
        if not publish:
            self.rec.arrive(request, publish)
            return await super()._handle(request)
        post_id = await _body_post_id(request, "message")
        self.rec.arrive(request, publish, post_id)
        await self.rec.pause()
        kind = self.rec.pick(post_id)
        if kind is None:
            response = await super()._handle(request)
            await self.rec.pause()
            return response
        self.rec.note(kind, post_id)
        return await self._fault(request, kind)

    async def _injected(self, request: web.Request) -> web.StreamResponse:
        response = await super()._handle(request)
        left = self._injections.get("feed")
        if left:
            left.clear()
            self.rec.problems.append("facebook: an injected answer was not used")
        return response

    async def _fault(self, request: web.Request, kind: FaultKind) -> web.StreamResponse:
        plan = self.rec.plan
        assert plan is not None
        if kind is FaultKind.PERMANENT:
            self.inject_error("feed", 100, f"(#100) {PERMANENT_REASON['facebook']}", status=400)
            return await self._injected(request)
        if kind is FaultKind.SERVER_ERROR:
            variant = plan.choice(["code-1", "code-2", "html-502"])
            if variant == "code-1":  # "An unknown error occurred": the post may exist
                self.inject_error("feed", 1, "An unknown error occurred", status=500)
            elif variant == "code-2":
                self.inject_error(
                    "feed", 2, "Service temporarily unavailable", status=503, is_transient=True
                )
            else:
                self.inject_raw("feed", 502, "<html><body>502 Bad Gateway</body></html>",
                                content_type="text/html")
            return await self._injected(request)
        if kind is FaultKind.SERVER_ERROR_LANDED:
            self.inject_error("feed", 1, "An unknown error occurred", status=500, commit=True)
            return await self._injected(request)
        if kind is FaultKind.RATE_LIMITED:
            delay = plan.reset_delay()
            if plan.choice([True, False]):  # the Page's request limit, with BUC usage headers
                self.inject_error(
                    "feed",
                    32,
                    "(#32) Page request limit reached",
                    status=400,
                    headers=usage_headers(delay / 60),
                )
            else:  # a bare 429 with Retry-After
                delay = float(math.ceil(delay))
                self.inject_raw("feed", 429, "{}", headers={"Retry-After": str(int(delay))})
            response = await self._injected(request)
            self.rec.announce(time.time() + delay)
            return response
        if kind is FaultKind.TIMEOUT:
            await asyncio.sleep(plan.hang)  # nothing is made; the client gave up long ago
            return web.json_response({"error": "too late"}, status=504)
        if kind is FaultKind.TIMEOUT_LANDED:
            response = await super()._handle(request)
            await asyncio.sleep(plan.hang)
            return response
        self.inject_drop("feed", commit=kind is FaultKind.RESET_LANDED)
        return await self._injected(request)


class ChaosMastodon(MastodonServer):
    PUBLISH = "/api/v1/statuses"

    def __init__(self, rec: Recorder, **kw: Any) -> None:
        super().__init__(**kw)
        self.rec = rec

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        publish = request.method == "POST" and request.path == self.PUBLISH
        if not publish:
            self.rec.arrive(request, publish)
            return await super()._handle(request)
        post_id = await _body_post_id(request, "status")
        self.rec.arrive(request, publish, post_id)
        await self.rec.pause()
        kind = self.rec.pick(post_id)
        if kind is None:
            response = await super()._handle(request)
            await self.rec.pause()
            return response
        self.rec.note(kind, post_id)
        return await self._fault(request, kind)

    async def _injected(self, request: web.Request, failure: Any) -> web.StreamResponse:
        response = await super()._handle(request)
        if any(f is failure for _, _, f in self._failures):
            self._failures = [e for e in self._failures if e[2] is not failure]
            self.rec.problems.append("mastodon: an injected failure was not used")
        return response

    async def _fault(self, request: web.Request, kind: FaultKind) -> web.StreamResponse:
        plan = self.rec.plan
        assert plan is not None
        path = self.PUBLISH
        if kind is FaultKind.PERMANENT:
            error = {"error": f"Validation failed: {PERMANENT_REASON['mastodon']}"}
            return await self._injected(request, self.fail("POST", path, status=422, body=error))
        if kind is FaultKind.SERVER_ERROR:
            status = plan.choice([500, 502, 503])
            body: Any = "<html><body>502 Bad Gateway</body></html>" if status == 502 else None
            return await self._injected(
                request, self.fail("POST", path, status=status, body=body)
            )
        if kind is FaultKind.SERVER_ERROR_LANDED:
            return await self._injected(request, self.fail("POST", path, status=500, after=True))
        if kind is FaultKind.RATE_LIMITED:
            reset_at = datetime.now(UTC) + timedelta(seconds=plan.reset_delay())
            response = await self._injected(request, self.throttle("POST", path, reset_at))
            self.rec.announce(reset_at.timestamp())
            return response
        landed = kind in (FaultKind.TIMEOUT_LANDED, FaultKind.RESET_LANDED)
        mode = "hang" if kind in (FaultKind.TIMEOUT, FaultKind.TIMEOUT_LANDED) else "reset"
        return await self._injected(request, self.fail("POST", path, mode=mode, after=landed))


class WallClock:
    """The Mastodon server's clock: real time (its idempotency window, created_at)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


# ---------------------------------------------------------------------------
# All of them, in a thread.


@dataclass(frozen=True)
class Received:
    """A post a server holds (made through its API)."""

    network: str
    remote_id: str
    text: str


class Networks:
    """X, Graph and Mastodon servers on 127.0.0.1, served by a background event loop.

    ``with Networks(plan) as nets:`` then point the daemon at ``nets.x.url`` and the others.
    """

    def __init__(
        self, plan: FaultPlan | None = None, latency: tuple[float, float] = (0.0, 0.0)
    ) -> None:
        self.recorders = {
            n: Recorder(n, plan, latency) for n in ("x", "facebook", "mastodon")
        }
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.x: ChaosX
        self.fb: ChaosGraph
        self.masto: ChaosMastodon

    def run(self, work: Callable[[], Awaitable[T]], timeout: float = 60) -> T:
        async def call() -> T:
            return await work()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout)

    async def _start(self) -> None:
        self.x = ChaosX(self.recorders["x"])
        await self.x.start()
        self.fb = ChaosGraph(page_id=FB_PAGE_ID, token=FB_TOKEN, page_size=100).attach(
            self.recorders["facebook"]
        )
        await self.fb.start()
        self.masto = ChaosMastodon(
            self.recorders["mastodon"],
            token=MASTODON_TOKEN,
            clock=WallClock(),
            rate_limit=1_000_000,  # its own window would throttle restarts' lookups
        )
        await self.masto.__aenter__()

    async def _stop(self) -> None:
        await self.x.stop()
        await self.fb.stop()
        await self.masto.__aexit__(None, None, None)

    def __enter__(self) -> Networks:
        self._thread.start()
        self.run(self._start)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self._stop)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    def received(self) -> list[Received]:
        """Every post made through the three servers' APIs."""

        async def collect() -> list[Received]:
            out = [Received("x", p.id, str(p.body.get("text", ""))) for p in self.x.created]
            out += [Received("facebook", p.id, p.message or "") for p in self.fb.posts]
            out += [Received("mastodon", s.id, s.text) for s in self.masto.statuses]
            return out

        return self.run(collect)

    def idempotent_replays(self) -> list[str]:
        """Idempotency-Keys Mastodon saw twice on statuses it accepted: a second send its
        idempotency hid (harmless there, a duplicate on X or Facebook), or a deliberate resend
        under the same key: ``unintended_replays`` tells them apart with the ledger."""

        async def collect() -> list[str]:
            seen: set[str] = set()
            again = []
            for a in self.masto.accepted_for("POST", ChaosMastodon.PUBLISH):
                key = a.headers.get("Idempotency-Key", "")
                if key in seen:
                    again.append(key)
                seen.add(key)
            return again

        return self.run(collect)

    def problems(self) -> list[str]:
        """Schema violations in the servers' own answers, and harness mistakes."""
        out = [f"x: {p}" for p in self.x.problems] + [f"mastodon: {p}" for p in self.masto.problems]
        for rec in self.recorders.values():
            out += rec.problems
        return out


def bluesky_received(account: BskyAccount) -> list[Received]:
    return [
        Received("bluesky", r["uri"], str(r["value"].get("text", ""))) for r in account.posts()
    ]


# ---------------------------------------------------------------------------
# The project the daemon runs: publisher.toml, queue.yaml, secrets.


@dataclass(frozen=True)
class PlannedPost:
    id: str
    at: datetime
    accounts: tuple[str, ...]
    parts: tuple[str, ...]  # the text, then thread parts


def write_queue(path: Path, posts: Iterable[PlannedPost]) -> None:
    lines = ["posts:"]
    for p in posts:
        lines += [
            f"  - id: {p.id}",
            f"    at: {p.at.isoformat()}",
            f"    accounts: [{', '.join(p.accounts)}]",
            f"    text: {json.dumps(p.parts[0], ensure_ascii=False)}",
        ]
        if len(p.parts) > 1:
            lines.append("    parts:")
            lines += [f"      - {json.dumps(t, ensure_ascii=False)}" for t in p.parts[1:]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_config(
    root: Path,
    nets: Networks,
    bsky: BskyAccount | None,
    pds_url: str = "",
    *,
    engine: Mapping[str, str] | None = None,
    retry: Mapping[str, str | int] | None = None,
    accounts: Iterable[str] = ACCOUNT_NETWORK,
) -> Path:
    """publisher.toml with one account per network; secrets only as ${NAME} references."""
    wanted = set(accounts)
    text = [
        'queue = "queue.yaml"',
        f'database = "sqlite:///{root / "queue.db"}"',
        'timezone = "Europe/Paris"',
        'max_lateness = "24h"',
        "",
        "[engine]",
    ]
    text += [f'{k} = "{v}"' for k, v in (engine or {}).items()]
    text += ["", "[retry]"]
    text += [
        f"{k} = {v}" if isinstance(v, int) else f'{k} = "{v}"' for k, v in (retry or {}).items()
    ]
    if "chaos-x" in wanted:
        text += [
            "",
            "[accounts.chaos-x]",
            'network = "x"',
            'api_key = "${X_API_KEY}"',
            'api_secret = "${X_API_SECRET}"',
            'access_token = "${X_ACCESS_TOKEN}"',
            'access_secret = "${X_ACCESS_SECRET}"',
            f'api_base = "{nets.x.url}"',
        ]
    if "chaos-fb" in wanted:
        text += [
            "",
            "[accounts.chaos-fb]",
            'network = "facebook"',
            f'page_id = "{FB_PAGE_ID}"',
            'page_token = "${FB_PAGE_TOKEN}"',
            f'api_base = "{nets.fb.url}"',
        ]
    if "chaos-masto" in wanted:
        text += [
            "",
            "[accounts.chaos-masto]",
            'network = "mastodon"',
            f'instance = "{nets.masto.url}"',
            'token = "${MASTODON_TOKEN}"',
        ]
    if "chaos-bsky" in wanted:
        assert bsky is not None
        text += [
            "",
            "[accounts.chaos-bsky]",
            'network = "bluesky"',
            f'pds = "{pds_url}"',
            f'handle = "{bsky.handle}"',
            'app_password = "${BSKY_APP_PASSWORD}"',
        ]
    path = root / "publisher.toml"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


def secrets_env(bsky: BskyAccount | None) -> dict[str, str]:
    env = {**X_CREDENTIALS, "FB_PAGE_TOKEN": FB_TOKEN, "MASTODON_TOKEN": MASTODON_TOKEN}
    if bsky is not None:
        env["BSKY_APP_PASSWORD"] = bsky.app_password
    return env


# ---------------------------------------------------------------------------
# The daemon as a process.


class Daemon:
    """Starts, kills and stops ``publisher run``; keeps each run's output in its own file."""

    def __init__(self, config: Path, secrets: Mapping[str, str]) -> None:
        self.config = config
        self.env = {**os.environ, **secrets}
        self.env.pop("NOTIFY_SOCKET", None)
        self.env.pop("WATCHDOG_USEC", None)
        self.runs: list[Path] = []
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "a daemon is running"
        log = self.config.parent / f"daemon-{len(self.runs):02d}.log"
        self.runs.append(log)
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "publisher.cli", "run", "--config", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no drain, no last write; the next run finds what was left in flight."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop_if_running(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)

    def output(self, last: int | None = None) -> str:
        runs = self.runs if last is None else self.runs[-last:]
        return "\n".join(
            f"===== {p.name}\n{p.read_text(encoding='utf-8', errors='replace')}" for p in runs
        )

    def status(self) -> dict[str, Any]:
        """``publisher status --json``, as an operator would read it."""
        done = subprocess.run(
            [sys.executable, "-m", "publisher.cli", "status", "--json", "--config",
             str(self.config)],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        doc: dict[str, Any] = json.loads(done.stdout)
        return doc


def settled(doc: Mapping[str, Any], now: datetime, horizon: timedelta) -> bool:
    """Nothing left to send, and every unknown waits beyond ``horizon`` for its next lookup
    (or for a human)."""
    counts = doc["counts"]
    if any(counts.get(s, 0) for s in PENDING):
        return False
    for row in doc["needs_human"]["unknown"]:
        due = datetime.fromisoformat(str(row["due_at"]).replace("Z", "+00:00"))
        if due <= now + horizon:
            return False
    return True


def run_until_settled(
    daemon: Daemon, timeout: float, horizon: timedelta = timedelta(minutes=1), poll: float = 2.0
) -> dict[str, Any]:
    """Let the running daemon work until ``status --json`` shows it settled."""
    deadline = time.monotonic() + timeout
    while True:
        time.sleep(poll)
        assert daemon.alive(), "the daemon died:\n" + daemon.output(last=1)[-5000:]
        doc = daemon.status()
        if settled(doc, datetime.now(UTC), horizon):
            return doc
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not settled after {timeout:.0f}s: {doc['counts']}\n"
                + daemon.output(last=1)[-5000:]
            )


# ---------------------------------------------------------------------------
# The ledger, read straight from SQLite, and judged against the servers.


def read_ledger(db: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(deliveries, attempts), as rows."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        deliveries = [dict(r) for r in conn.execute("SELECT * FROM deliveries ORDER BY id")]
        attempts = [dict(r) for r in conn.execute("SELECT * FROM attempts ORDER BY id")]
    finally:
        conn.close()
    for d in deliveries:
        d["parts"] = json.loads(d["parts"] or "[]")
    return deliveries, attempts


def judge(
    deliveries: Sequence[Mapping[str, Any]],
    received: Sequence[Received],
    expected_parts: Mapping[tuple[str, str], int],
) -> list[str]:
    """Every way the ledger and the servers disagree; [] when they agree.

    ``expected_parts`` maps (post id, account) to the number of parts each delivery has.
    """
    problems: list[str] = []
    held: dict[tuple[str, str, int], list[str]] = {}  # (post, account, part) -> remote ids
    by_remote: dict[tuple[str, str], tuple[str, int]] = {}  # (account, remote id) -> (post, part)
    for r in received:
        found = parse_part(r.text)
        account = NETWORK_ACCOUNT[r.network]
        if found is None:
            problems.append(f"{r.network} holds a post we did not write: {r.text[:60]!r}")
            continue
        held.setdefault((found[0], account, found[1]), []).append(r.remote_id)
        by_remote[(account, r.remote_id)] = found
    for (post, account, part), ids in sorted(held.items()):
        if len(ids) > 1:
            problems.append(
                f"DUPLICATE: {post} part {part + 1} on {account} {len(ids)} times: {ids}"
            )
    states = {(d["post_id"], d["account"]): d for d in deliveries}
    for key in expected_parts:
        if key not in states:
            problems.append(f"LOST: no delivery for {key[0]} → {key[1]} in the ledger")
    for d in deliveries:
        key = (d["post_id"], d["account"])
        state = d["state"]
        on_server = sorted(p for (post, acc, p) in held if (post, acc) == key)
        if state == "unknown":
            if not (d["reason"] or d["last_error"]):
                problems.append(f"{key}: unknown without a reason")
            if on_server:
                problems.append(f"{key}: unknown in the ledger but parts {on_server} are out")
            continue
        if state not in TERMINAL:
            problems.append(f"{key}: left {state}")
            continue
        if state != "published":
            if on_server:
                problems.append(f"{key}: {state} in the ledger but parts {on_server} are out")
            continue
        parts = d["parts"]
        want = expected_parts.get(key, 1)
        if len(parts) != want:
            problems.append(f"{key}: published with {len(parts)} parts, expected {want}")
        if not d["remote_id"] or (parts and d["remote_id"] != parts[0]["remote_id"]):
            problems.append(f"{key}: remote_id {d['remote_id']!r} is not its first part's")
        for p in parts:
            where = by_remote.get((d["account"], p["remote_id"]))
            if where != (d["post_id"], p["index"]):
                problems.append(
                    f"{key}: part {p['index'] + 1} is {p['remote_id']} in the ledger, which the "
                    f"server holds as {where}"
                )
        if on_server != list(range(want)):
            problems.append(f"{key}: published, but the server holds parts {on_server}")
    return problems


RESEND_UNDER_KEY = "resending under the same idempotency key"


def unintended_replays(
    replays: Iterable[str],
    deliveries: Iterable[Mapping[str, Any]],
    attempts: Iterable[Mapping[str, Any]],
) -> list[str]:
    """Idempotency-Keys Mastodon saw twice that the ledger does not explain.

    The engine settles an unknown Mastodon delivery within the key's window by sending it
    again under the same key; any other repeat is a second send the key merely hid.
    """
    from publisher.adapters.base import DeliveryRef

    resent = {
        int(a["delivery_id"])
        for a in attempts
        if a["outcome"] == "resolved" and str(a["error"] or "").startswith(RESEND_UNDER_KEY)
    }
    allowed: set[str] = set()
    for d in deliveries:
        if int(d["id"]) in resent:
            ref = DeliveryRef(int(d["id"]), d["post_id"], d["account"], datetime.now(UTC))
            allowed.update(ref.part_key(i) for i in range(16))
    return [k for k in replays if k not in allowed]


def attempts_by_delivery(attempts: Iterable[Mapping[str, Any]]) -> Counter[int]:
    return Counter(int(a["delivery_id"]) for a in attempts)
