"""Four daemons on one PostgreSQL database share the work, through kill -9 and SIGSTOP.

Why this test exists: with several daemons the only things that keep a post from going out
twice are the store's claims (``FOR UPDATE SKIP LOCKED``), the per-account advisory locks, the
leases with their heartbeat, and the fence every later write checks. A unit test can call them
in order; only real processes, really killed and really frozen, show that they hold together.

The daemons publish to the strict local X, Graph and Mastodon servers, which answer each
created post after a short random delay, so that most of the time some request is out when a
daemon is frozen: its lease lapses, another daemon takes the delivery over (``unknown``, then
a lookup), and the frozen one's late result must be refused. Every verdict is taken from what
the servers hold, not from what the daemons say they did.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from tests.adapters.facebook_server import GraphServer
from tests.adapters.mastodon_server import MastodonServer
from tests.adapters.x_server import XServer
from tests.conftest import (
    PG_HOST,
    PG_PORT,
    _create_pg_database,
    _drop_pg_database,
    skip_or_fail_without_postgres,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SEED = int(os.environ.get("PUBLISHER_CHAOS_SEED", "20261201"))
DAEMONS = 4
POSTS = 350  # each to the six shared accounts: 2,100 deliveries
SPREAD = 36.0  # seconds over which they fall due
LEAD = 9.0  # seconds from spawning the daemons to the first due post
KILLS = 6
STOPS = 6
LEASE = 3.0  # [lease] duration; a SIGSTOP lasts longer than this
CAPPED_POSTS = 14  # to the capped account: max_per_day 10, min_interval 2 s
MAX_PER_DAY = 10
MIN_INTERVAL = 2.0
ZONE = ZoneInfo("Europe/Paris")
SETTLE_TIMEOUT = 75.0
REFUSED = "result not written, another worker owns it now"
POST_ID = re.compile(r"\b(p\d{4}|cap\d{2})\b")

SHARED = ["x-a", "x-b", "fb-a", "fb-b", "masto-a", "masto-b"]
CAPPED = "capped"
TERMINAL = {"published", "failed", "canceled", "missed"}

X_SECRETS = {
    "consumer_key": "xck-chaos-consumer-0001",
    "consumer_secret": "xcs-chaos-consumer-secret-0002",
    "access_token": "1234567890-xat-chaos-access-0003",
    "access_secret": "xas-chaos-access-secret-0004",
}
FB_TOKEN = "EAAG-chaos-page-token-77f1"
MASTO_TOKEN = "masto-chaos-token-5c0ffee"


# ------------------------------------------------------------------------------- servers


class WallClock:
    """The Mastodon server's clock is the real one here: the daemons run on real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def _answer_later(request: web.Request, rng: random.Random) -> float:
    """Created posts are answered after a while, so that requests are out when a daemon
    freezes; reads are answered at once."""
    return rng.uniform(0.02, 0.3) if request.method == "POST" else 0.0


class SlowX(XServer):
    def __init__(self, rng: random.Random, **kw: Any) -> None:
        super().__init__(**kw)
        self.rng = rng
        self.reject_repeats = False  # X's own duplicate check would hide a second send

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        response = await super()._handle(request)
        await asyncio.sleep(_answer_later(request, self.rng))
        return response


class SlowGraph(GraphServer):
    rng: random.Random = random.Random(0)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        response = await super()._handle(request)
        await asyncio.sleep(_answer_later(request, self.rng))
        return response


class SlowMastodon(MastodonServer):
    def __init__(self, rng: random.Random, **kw: Any) -> None:
        super().__init__(**kw)
        self.rng = rng

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        response = await super()._handle(request)
        await asyncio.sleep(_answer_later(request, self.rng))
        return response


@dataclass
class Created:
    """One post as a server holds it."""

    remote_id: str
    text: str
    at: datetime


@dataclass
class Servers:
    x: dict[str, SlowX]
    fb: dict[str, SlowGraph]
    masto: dict[str, SlowMastodon]

    def created(self, account: str) -> list[Created]:
        """The posts this account's server created, oldest first."""
        if account in self.x:
            return [Created(p.id, p.text, p.created_at) for p in self.x[account].created]
        if account in self.fb:
            return [
                Created(p.id, p.message or "", p.created_time) for p in self.fb[account].posts
            ]
        return [Created(s.id, s.text, s.created_at) for s in self.masto[account].statuses]

    def problems(self) -> list[str]:
        out = [f"{name}: {p}" for name, s in self.x.items() for p in s.problems]
        out += [f"{name}: {p}" for name, s in self.masto.items() for p in s.problems]
        return out


@contextlib.asynccontextmanager
async def servers(rng: random.Random) -> AsyncIterator[Servers]:
    xs = {
        "x-a": SlowX(random.Random(rng.random()), user_id="1111111111", **X_SECRETS),
        "x-b": SlowX(random.Random(rng.random()), user_id="2222222222", **X_SECRETS),
    }
    fbs = {
        "fb-a": SlowGraph(page_id="1000000001", token=FB_TOKEN, page_size=100),
        "fb-b": SlowGraph(page_id="1000000002", token=FB_TOKEN, page_size=100),
    }
    for g in fbs.values():
        g.rng = random.Random(rng.random())
    mastos = {
        name: SlowMastodon(
            random.Random(rng.random()),
            token=MASTO_TOKEN,
            clock=WallClock(),
            rate_limit=1_000_000,
            username=name.replace("-", ""),
        )
        for name in ("masto-a", "masto-b", CAPPED)
    }
    async with contextlib.AsyncExitStack() as stack:
        for server in (*xs.values(), *fbs.values(), *mastos.values()):
            await stack.enter_async_context(server)
        yield Servers(xs, fbs, mastos)


# ------------------------------------------------------------------------------- files


def write_config(root: Path, database: str, s: Servers) -> Path:
    text = f"""\
queue = "queue.yaml"
database = "{database}"
timezone = "Europe/Paris"
max_lateness = "1h"

[engine]
concurrency = 16
per_account = 3
shutdown_timeout = "5s"
debounce = "100ms"
request_timeout = "15s"
resolve_delay = "1s"

[retry]
max_attempts = 8
base_delay = "1s"
max_delay = "4s"
jitter = 0

[lease]
duration = "{LEASE:.0f}s"
heartbeat = "1s"

[log]
format = "json"
"""
    for name, x in s.x.items():
        text += f"""
[accounts.{name}]
network = "x"
api_key = "${{X_API_KEY}}"
api_secret = "${{X_API_SECRET}}"
access_token = "${{X_ACCESS_TOKEN}}"
access_secret = "${{X_ACCESS_SECRET}}"
api_base = "{x.url}"
user_id = "{x.user_id}"
"""
    for name, g in s.fb.items():
        text += f"""
[accounts.{name}]
network = "facebook"
page_id = "{g.page_id}"
page_token = "${{FB_PAGE_TOKEN}}"
api_base = "{g.url}"
"""
    for name, m in s.masto.items():
        text += f"""
[accounts.{name}]
network = "mastodon"
instance = "{m.url}"
token = "${{MASTODON_TOKEN}}"
"""
        if name == CAPPED:
            text += f'max_per_day = {MAX_PER_DAY}\nmin_interval = "{MIN_INTERVAL:.0f}s"\n'
    path = root / "publisher.toml"
    path.write_text(text, encoding="utf-8")
    return path


def write_queue(root: Path, t0: datetime) -> dict[str, str]:
    """The posts, due over ``SPREAD`` seconds from ``t0``; returns each post's text."""
    texts: dict[str, str] = {}
    lines = ["posts:"]

    def post(pid: str, at: datetime, accounts: list[str]) -> None:
        texts[pid] = f"Chaos post {pid}, seed {SEED}: one daemon, once."
        lines.extend(
            [
                f"  - id: {pid}",
                f"    at: {at.isoformat()}",
                f"    accounts: [{', '.join(accounts)}]",
                f"    text: {json.dumps(texts[pid])}",
            ]
        )

    for i in range(POSTS):
        post(f"p{i:04d}", t0 + timedelta(seconds=SPREAD * i / POSTS), SHARED)
    for i in range(CAPPED_POSTS):
        post(f"cap{i:02d}", t0 + timedelta(seconds=1 + 0.25 * i), [CAPPED])
    (root / "queue.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return texts


# ------------------------------------------------------------------------------- daemons


def daemon_env() -> dict[str, str]:
    env = {
        **os.environ,
        "X_API_KEY": X_SECRETS["consumer_key"],
        "X_API_SECRET": X_SECRETS["consumer_secret"],
        "X_ACCESS_TOKEN": X_SECRETS["access_token"],
        "X_ACCESS_SECRET": X_SECRETS["access_secret"],
        "FB_PAGE_TOKEN": FB_TOKEN,
        "MASTODON_TOKEN": MASTO_TOKEN,
    }
    env.pop("NOTIFY_SOCKET", None)
    env.pop("WATCHDOG_USEC", None)
    return env


@dataclass
class Slot:
    """One of the daemons; a killed one is restarted in the same slot, with a new log."""

    index: int
    proc: subprocess.Popen[bytes]
    logs: list[Path]
    stopped: bool = False
    down: bool = False

    @property
    def healthy(self) -> bool:
        return not (self.stopped or self.down) and self.proc.poll() is None


@dataclass
class Fleet:
    root: Path
    config: Path
    slots: list[Slot] = field(default_factory=list)
    spawned: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_count: int = 0

    def _spawn(self) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.root / f"daemon-{self.log_count}.log"
        self.log_count += 1
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "publisher.cli", "run", "--config", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=daemon_env(),
            )
        self.spawned.append(proc)
        return proc, log

    def start(self, n: int) -> None:
        for i in range(n):
            proc, log = self._spawn()
            self.slots.append(Slot(i, proc, [log]))

    def restart(self, slot: Slot) -> None:
        proc, log = self._spawn()
        slot.proc = proc
        slot.logs.append(log)
        slot.down = False

    def by_pid(self, pid: int) -> Slot | None:
        return next((s for s in self.slots if s.proc.pid == pid), None)

    def logs(self) -> list[Path]:
        return [log for s in self.slots for log in s.logs]

    def cleanup(self) -> None:
        for p in self.spawned:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.send_signal(signal.SIGCONT)
                    p.kill()
                p.wait()


@pytest.fixture
def fleet_root(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


# ------------------------------------------------------------------------------- database


@dataclass
class Row:
    id: int
    post_id: str
    account: str
    state: str
    reason: str | None
    remote_id: str | None
    due_at: datetime
    lease_owner: str | None
    fence: int


class Db:
    """Read-only views of the shared database, straight from SQL."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def rows(self) -> list[Row]:
        records = await self.conn.fetch(
            "SELECT id, post_id, account, state, reason, remote_id, due_at, lease_owner, fence "
            "FROM deliveries ORDER BY id"
        )
        return [Row(**dict(r)) for r in records]

    async def lease_holders(self) -> set[int]:
        """The pids of the daemons holding a lease right now."""
        records = await self.conn.fetch(
            "SELECT DISTINCT lease_owner FROM deliveries WHERE state = 'sending'"
        )
        pids = set()
        for r in records:
            owner = r["lease_owner"] or ""
            with contextlib.suppress(ValueError):
                pids.add(int(owner.rsplit(":", 1)[-1]))
        return pids

    async def attempts(self) -> list[dict[str, Any]]:
        records = await self.conn.fetch(
            "SELECT delivery_id, post_id, account, number, outcome, error, remote_id, worker "
            "FROM attempts ORDER BY id"
        )
        return [dict(r) for r in records]


def unsettled(rows: list[Row], now: datetime) -> list[Row]:
    """Deliveries still moving: in flight, due, or an unknown whose lookup is due."""
    out = []
    for r in rows:
        if r.state in TERMINAL:
            continue
        if r.state == "unknown" and r.reason and r.due_at > now + timedelta(seconds=5):
            continue  # a lookup said "cannot tell": left for later (or a human), with why
        if (
            r.account == CAPPED
            and r.state in ("scheduled", "retrying")
            and (r.reason or "").startswith(f"max_per_day {MAX_PER_DAY}")
            and r.due_at > now + timedelta(hours=1)
        ):
            continue  # deferred to tomorrow by the cap: the cap working
        out.append(r)
    return out


# ------------------------------------------------------------------------------- chaos


@dataclass
class Chaos:
    fleet: Fleet
    db: Db
    rng: random.Random
    kills: list[tuple[float, int, int]] = field(default_factory=list)  # (t, slot, pid)
    stops: list[tuple[float, int, int, float, bool]] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def eligible(self) -> list[Slot]:
        healthy = [s for s in self.fleet.slots if s.healthy]
        return healthy if len(healthy) >= 2 else []  # always leave one daemon working

    async def kill(self) -> None:
        targets = self.eligible()
        if not targets:
            return
        slot = self.rng.choice(targets)
        pid = slot.proc.pid
        slot.down = True
        slot.proc.send_signal(signal.SIGKILL)
        self.kills.append((time.monotonic(), slot.index, pid))
        pause = self.rng.uniform(0.5, 2.0)

        async def later() -> None:
            await asyncio.to_thread(slot.proc.wait)
            await asyncio.sleep(pause)
            self.fleet.restart(slot)

        self._background(later())

    async def stop(self) -> None:
        targets = self.eligible()
        if not targets:
            return
        # Prefer a daemon with a request out: that is the case fencing is for.
        holders = await self.db.lease_holders()
        busy = [s for s in targets if s.proc.pid in holders]
        slot = self.rng.choice(busy or targets)
        duration = LEASE + self.rng.uniform(2.0, 3.5)
        slot.stopped = True
        slot.proc.send_signal(signal.SIGSTOP)
        self.stops.append((time.monotonic(), slot.index, slot.proc.pid, duration, bool(busy)))

        async def later() -> None:
            await asyncio.sleep(duration)
            slot.proc.send_signal(signal.SIGCONT)
            slot.stopped = False

        self._background(later())

    def _background(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self, start: float, end: float) -> None:
        """``KILLS`` kills and ``STOPS`` freezes at seeded random moments in [start, end]."""
        kinds = ["kill"] * KILLS + ["stop"] * STOPS
        self.rng.shuffle(kinds)
        # Evenly spaced slots with jitter: random moments that never pile up on each other.
        step = (end - start) / len(kinds)
        moments = [start + step * (i + self.rng.uniform(0.1, 0.9)) for i in range(len(kinds))]
        for at, kind in zip(moments, kinds, strict=True):
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            await (self.kill() if kind == "kill" else self.stop())
        while self.tasks:
            await asyncio.gather(*list(self.tasks))


# ------------------------------------------------------------------------------- logs


def read_events(paths: list[Path]) -> tuple[list[dict[str, Any]], list[str]]:
    """Each daemon's JSON log lines, and any line that is not JSON (tracebacks)."""
    events: list[dict[str, Any]] = []
    other: list[str] = []
    for path in paths:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                other.append(f"{path.name}: {line}")
                continue
            if isinstance(doc, dict):
                doc["_log"] = path.name
                events.append(doc)
    return events, other


# ------------------------------------------------------------------------------- the test


async def test_four_daemons_share_one_database_through_kills_and_freezes(
    fleet_root: Path,
) -> None:
    skip_or_fail_without_postgres()
    import asyncpg

    rng = random.Random(SEED)
    name = await _create_pg_database()
    database = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"
    fleet: Fleet | None = None
    conn: Any = None
    try:
        async with servers(rng) as s:
            config = write_config(fleet_root, database, s)
            t0 = datetime.now(UTC) + timedelta(seconds=LEAD)
            texts = write_queue(fleet_root, t0)
            fleet = Fleet(fleet_root, config)
            fleet.start(DAEMONS)  # at once: they race to migrate and to apply the queue
            mono_t0 = time.monotonic() + LEAD

            # Wait for the schema and the plan to be there before watching.
            deadline = time.monotonic() + LEAD + 20
            while True:
                with contextlib.suppress(OSError, asyncpg.PostgresError):
                    if conn is None:
                        conn = await asyncpg.connect(
                            host=PG_HOST, port=PG_PORT, user="postgres", database=name
                        )
                    n = await conn.fetchval("SELECT count(*) FROM deliveries")
                    if n == POSTS * len(SHARED) + CAPPED_POSTS:
                        break
                if time.monotonic() > deadline:
                    raise AssertionError(
                        "the daemons did not apply the queue:\n" + _tails(fleet.logs())
                    )
                await asyncio.sleep(0.2)
            db = Db(conn)

            chaos = Chaos(fleet, db, random.Random(rng.random()))
            await chaos.run(mono_t0 + 1.0, mono_t0 + SPREAD + 3.0)

            # Let them settle: every delivery terminal, or unknown with a reason.
            deadline = time.monotonic() + SETTLE_TIMEOUT
            while time.monotonic() < deadline:
                if not unsettled(await db.rows(), datetime.now(UTC)):
                    break
                await asyncio.sleep(0.5)

            for slot in fleet.slots:
                assert slot.proc.poll() is None, (
                    f"daemon {slot.index} died on its own:\n" + _tails(slot.logs[-1:])
                )
                slot.proc.send_signal(signal.SIGTERM)
            codes = [await asyncio.to_thread(slot.proc.wait, 30) for slot in fleet.slots]

            rows = await db.rows()
            attempts = await db.attempts()
            commits = await conn.fetchval(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = $1", name
            )
            print(f"database transactions committed: {commits}")
            status = _status_json(config)
            events, stray = read_events(fleet.logs())
            report = Report(s, rows, attempts, events, stray, chaos, texts)
            print(report.summary())

            assert codes == [0] * DAEMONS, f"exit codes {codes}\n" + _tails(fleet.logs())
            report.check()
            counts = Counter(r.state for r in rows)
            for state, n in counts.items():
                assert status["counts"][state] == n, (state, status["counts"])
    finally:
        if fleet is not None:
            fleet.cleanup()
        if conn is not None:
            await conn.close()
        await _drop_pg_database(name)


@dataclass
class Report:
    """What the servers hold against what the ledger says, and the checks on it."""

    servers: Servers
    rows: list[Row]
    attempts: list[dict[str, Any]]
    events: list[dict[str, Any]]
    stray: list[str]
    chaos: Chaos
    texts: dict[str, str]

    def server_posts(self) -> dict[tuple[str, str], list[Created]]:
        """(post, account) -> the posts a server created for it."""
        out: dict[tuple[str, str], list[Created]] = defaultdict(list)
        for account in [*SHARED, CAPPED]:
            for c in self.servers.created(account):
                m = POST_ID.search(c.text)
                key = (m.group(1) if m else f"?{c.text[:40]}", account)
                out[key].append(c)
        return out

    def refused(self) -> list[dict[str, Any]]:
        return [e for e in self.events if REFUSED in str(e.get("message", ""))]

    def lapsed(self) -> list[dict[str, Any]]:
        return [e for e in self.events if "lease lapsed" in str(e.get("message", ""))]

    def summary(self) -> str:
        counts = Counter(r.state for r in self.rows)
        posts = self.server_posts()
        dupes = {k: len(v) for k, v in posts.items() if len(v) > 1}
        created = Counter(k[1] for k, v in posts.items() for _ in v)
        outcomes = Counter(a["outcome"] for a in self.attempts)
        lines = [
            f"seed {SEED}: {len(self.rows)} deliveries {dict(sorted(counts.items()))}",
            f"servers created {dict(sorted(created.items()))}; duplicates {dupes}",
            f"ledger outcomes {dict(sorted(outcomes.items()))}",
            f"kills {len(self.chaos.kills)}, freezes {len(self.chaos.stops)} "
            f"({sum(1 for st in self.chaos.stops if st[4])} on a daemon with a lease)",
            f"leases lapsed {len(self.lapsed())}, late results refused {len(self.refused())}",
        ]
        for e in self.refused():
            lines.append(f"  refused: {e['_log']}: {e['message']}")
        for r in self.rows:
            if r.state not in TERMINAL and not (r.account == CAPPED and r.state == "scheduled"):
                lines.append(f"  {r.post_id} → {r.account}: {r.state}: {r.reason}")
        return "\n".join(lines)

    def check(self) -> None:
        rows, posts = self.rows, self.server_posts()
        problems = self.servers.problems()
        assert not problems, problems

        # The plan was applied once: one row per (post, account), nothing else.
        keys = Counter((r.post_id, r.account) for r in rows)
        assert len(rows) == POSTS * len(SHARED) + CAPPED_POSTS
        assert all(n == 1 for n in keys.values())
        applied = [e for e in self.events if str(e.get("message", "")).startswith("queue applied")]
        inserted = [int(m.group(1)) for e in applied if (m := re.search(r"(\d+) added", e["message"]))]
        assert sorted(inserted)[-1:] == [len(rows)] and sum(inserted) == len(rows), applied
        assert not [e for e in self.events if e.get("action") == "sync" and e.get("level") in (
            "ERROR", "error")], "a sync failed"

        # Nothing went out twice, and nothing reached a server that the ledger does not know.
        dupes = {k: [c.remote_id for c in v] for k, v in posts.items() if len(v) > 1}
        assert not dupes, f"published more than once: {dupes}\n{self.summary()}"
        by_key = {(r.post_id, r.account): r for r in rows}
        strays = [k for k in posts if k not in by_key]
        assert not strays, f"server posts that match no delivery: {strays}"
        for key, created in posts.items():
            row = by_key[key]
            assert row.state == "published", (
                f"{key} is on the server ({created[0].remote_id}) but the delivery is "
                f"{row.state}: {row.reason}"
            )
            assert row.remote_id == created[0].remote_id, (key, row.remote_id, created)
            assert created[0].text.startswith(f"Chaos post {key[0]},"), created[0].text

        # Nothing lost: published, or an end state, or unknown with a reason.
        for r in rows:
            if r.state == "published":
                assert (r.post_id, r.account) in posts, f"{r} is published but not on the server"
            elif r.state == "unknown":
                assert r.reason, f"{r} is unknown without a reason"
            elif r.account == CAPPED and r.state in ("scheduled", "retrying"):
                assert (r.reason or "").startswith(f"max_per_day {MAX_PER_DAY}"), r
            else:
                assert r.state in TERMINAL, f"{r} was left {r.state}"

        # The ledger's remote ids are all on the servers, and agree with the deliveries.
        server_ids = {(k[1], c.remote_id): k for k, v in posts.items() for c in v}
        for a in self.attempts:
            if a["outcome"] in ("published", "resolved") and a["remote_id"]:
                key = server_ids.get((a["account"], a["remote_id"]))
                assert key == (a["post_id"], a["account"]), f"ledger row not on the server: {a}"

        # The caps held across daemons: arrivals at least min_interval apart, max_per_day a day.
        arrivals = sorted(c.at for (pid, acc), v in posts.items() if acc == CAPPED for c in v)
        gaps = [(b - a).total_seconds() for a, b in zip(arrivals, arrivals[1:], strict=False)]
        # The cap is measured from the claim; the request leaves a few milliseconds later.
        assert all(g >= MIN_INTERVAL - 0.05 for g in gaps), f"min_interval broken: {gaps}"
        per_day = Counter(a.astimezone(ZONE).date() for a in arrivals)
        assert all(n <= MAX_PER_DAY for n in per_day.values()), per_day
        capped = [r for r in rows if r.account == CAPPED]
        assert len(arrivals) == min(MAX_PER_DAY, CAPPED_POSTS) or len(per_day) > 1, (
            arrivals,
            [(r.post_id, r.state, r.reason) for r in capped],
        )

        # The chaos happened, and the freezes were the case fencing is for.
        assert len(self.chaos.kills) >= 5 and len(self.chaos.stops) >= 5
        assert self.lapsed(), "no lease lapsed: the freezes proved nothing"
        assert self.refused(), "no frozen daemon's late result was refused"
        bad = [line for line in self.stray if "Traceback" in line]
        assert not bad, "\n".join(self.stray[:80])


def _status_json(config: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "publisher.cli", "status", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        env=daemon_env(),
        check=True,
    )
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc


def _tails(paths: list[Path], n: int = 30) -> str:
    out = []
    for p in paths:
        lines = p.read_text(encoding="utf-8", errors="replace").splitlines()
        out.append(f"--- {p.name}\n" + "\n".join(lines[-n:]))
    return "\n".join(out)
