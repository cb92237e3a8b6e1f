"""The benchmarks behind issues 2, 3, 9 and 19, in one command: ``python -m bench.run``.

Each benchmark runs the real thing (the daemon as a subprocess with the real clock, publishing
through ``adapters/mastodon.py`` to ``bench/sink.py`` in its own process) and prints its
figures; one table with the targets closes the run. Nothing here asserts: the numbers depend on
the machine, so they are measured and reported, never used as pass/fail in tests.

``--quick`` shrinks every size tenfold and the timed windows to 15 s, for a smoke run;
``--only NAME`` runs one benchmark (queue, precision, burst, idle, scale, render, startup,
engagement, listen, queueglob).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import ctypes
import io
import json
import math
import os
import pstats
import re
import secrets
import select
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
ZONE_NAME = "Europe/Paris"
ZONE = ZoneInfo(ZONE_NAME)
# Not a credential: the sink accepts whatever the daemon was given.
TOKEN = f"bench-{secrets.token_hex(8)}"
PG_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": "postgres"}
NAMES = (
    "queue",
    "precision",
    "burst",
    "idle",
    "scale",
    "render",
    "startup",
    "engagement",
    "listen",
    "queueglob",
)
LOADS: list[float] = []  # the machine's load average, sampled around each benchmark


@dataclass(frozen=True)
class Sizes:
    queue_posts: int = 10_000
    queue_runs: int = 3
    resync_runs: int = 5
    precision_posts: int = 2_000
    precision_accounts: int = 20
    precision_window: float = 60.0
    burst_deliveries: int = 5_000
    burst_accounts: int = 500
    idle_posts: int = 10_000
    idle_window: float = 60.0
    scale_deliveries: int = 5_000
    scale_accounts: int = 500
    scale_workers: tuple[int, ...] = (1, 2, 4)
    concurrency: int = 64
    per_account: int = 4
    lead: float = 10.0  # seconds from a daemon's start to its first due post


FULL = Sizes()
QUICK = replace(
    FULL,
    queue_posts=1_000,
    precision_posts=200,
    precision_accounts=10,
    precision_window=15.0,
    burst_deliveries=500,
    burst_accounts=50,
    idle_posts=1_000,
    idle_window=15.0,
    scale_deliveries=500,
    scale_accounts=50,
)


@dataclass
class Figure:
    bench: str
    name: str
    value: str
    target: str = ""
    ok: bool | None = None  # None: informative, no target


def say(bench: str, message: str) -> None:
    print(f"[{bench}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Child processes: daemons and the sink die with the benchmark, whatever ends it.

_CHILDREN: list[subprocess.Popen[bytes]] = []


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the benchmark process goes away."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(
    args: Sequence[str], *, log: Path, env: dict[str, str], stdout_pipe: bool = False
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(args),
            stdout=subprocess.PIPE if stdout_pipe else out,
            stderr=out if stdout_pipe else subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            preexec_fn=_die_with_parent,
        )
    _CHILDREN.append(proc)
    return proc


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def reap_children() -> None:
    for proc in _CHILDREN:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    env["BENCH_TOKEN"] = TOKEN
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class SinkProcess:
    """``bench/sink.py`` in its own process, and the control calls the benchmarks need."""

    def __init__(self, workdir: Path, http: aiohttp.ClientSession) -> None:
        self.log = workdir / "sink.log"
        self.http = http
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def __enter__(self) -> SinkProcess:
        self.proc = spawn(
            [sys.executable, "-m", "bench.sink"], log=self.log, env=child_env(), stdout_pipe=True
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline().decode() if ready else ""
        m = re.match(r"PORT (\d+)", line)
        if m is None:
            stop_process(self.proc)
            raise RuntimeError(f"the sink did not start:\n{tail(self.log)}")
        self.url = f"http://127.0.0.1:{m.group(1)}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            stop_process(self.proc, 10)

    async def _get(self, path: str) -> Any:
        async with self.http.get(self.url + path) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def count(self) -> int:
        return int((await self._get("/_bench/count"))["count"])

    async def arrivals(self, bodies: bool = False) -> list[list[Any]]:
        doc = await self._get("/_bench/arrivals" + ("?bodies=1" if bodies else ""))
        return list(doc["arrivals"])

    async def reset(self) -> None:
        async with self.http.post(self.url + "/_bench/reset") as resp:
            resp.raise_for_status()


class Daemon:
    """``publisher run`` as a subprocess, with its own sd_notify socket to know when it is ready."""

    def __init__(self, config: Path, workdir: Path, name: str, *, profile: bool = False) -> None:
        self.config = config
        self.log = workdir / f"{name}.log"
        self.notify_path = workdir / f"{name}.notify"
        self.profile = workdir / f"{name}.prof" if profile else None
        self.sock: socket.socket | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.ready_at: float | None = None

    def start(self) -> Daemon:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.notify_path))
        self.sock.setblocking(False)
        # Drained as datagrams come: the kernel queues only a few (net.unix.max_dgram_qlen).
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self.drain_notify)
        env = {**child_env(), "NOTIFY_SOCKET": str(self.notify_path)}
        python = [sys.executable]
        if self.profile is not None:
            python += ["-m", "cProfile", "-o", str(self.profile)]
        self.started = time.time()
        self.proc = spawn(
            [*python, "-m", "publisher.cli", "run", "--config", str(self.config)],
            log=self.log,
            env=env,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def drain_notify(self) -> None:
        """Read what the daemon told "systemd"; note when it first said READY=1."""
        while self.sock is not None:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            if self.ready_at is None and "READY=1" in data.decode(errors="replace").split("\n"):
                self.ready_at = time.time()

    async def wait_ready(self, within: float) -> float:
        """Seconds from spawn to READY=1 (sent after the first sync and pass)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            self.drain_notify()
            if self.ready_at is not None:
                return self.ready_at - self.started
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the daemon exited ({self.proc.returncode}):\n{tail(self.log)}")
            await asyncio.sleep(0.02)
        raise RuntimeError(f"the daemon was not ready after {within:.0f} s:\n{tail(self.log)}")

    def cpu_seconds(self) -> float:
        """utime + stime of the daemon (all its threads), from /proc."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_mb(self, key: str) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"{key} not in /proc/{self.pid}/status")

    def stop(self) -> None:
        if self.proc is not None:
            code = stop_process(self.proc)
            if code not in (0, -signal.SIGTERM):
                print(f"daemon exited with {code}:\n{tail(self.log)}", file=sys.stderr)
        if self.sock is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
        with contextlib.suppress(FileNotFoundError):
            self.notify_path.unlink()


def check_alive(running: Sequence[Daemon]) -> None:
    for d in running:
        if d.proc is not None and d.proc.poll() is not None:
            raise RuntimeError(f"a daemon exited ({d.proc.returncode}):\n{tail(d.log)}")


@contextlib.contextmanager
def daemons(
    config: Path, workdir: Path, n: int, *, profile: bool = False
) -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    try:
        for i in range(n):
            started.append(Daemon(config, workdir, f"daemon-{i}", profile=profile).start())
        yield started
    finally:
        for d in started:
            d.stop()


async def sleep_until(wall: float) -> None:
    """Until a wall-clock instant (the daemons schedule on the wall clock too)."""
    await asyncio.sleep(max(0.0, wall - time.time()))


# ---------------------------------------------------------------------------
# Files: publisher.toml and queue.yaml, written the way operators and editors write them.


@dataclass(frozen=True)
class Account:
    name: str
    network: str = "log"
    slots: tuple[str, ...] = ()
    max_per_day: int | None = None


def write_config(
    root: Path,
    accounts: Sequence[Account],
    *,
    database: str,
    sink_url: str = "",
    sizes: Sizes = FULL,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = [
        'queue = "queue.yaml"',
        f'database = "{database}"',
        f'timezone = "{ZONE_NAME}"',
        'max_lateness = "2h"',
        "",
        "[engine]",
        f"concurrency = {sizes.concurrency}",
        f"per_account = {sizes.per_account}",
        'shutdown_timeout = "10s"',
        "",
    ]
    for a in accounts:
        lines += [f"[accounts.{a.name}]", f'network = "{a.network}"']
        if a.network == "mastodon":
            lines += [f'instance = "{sink_url}"', 'token = "${BENCH_TOKEN}"']
        if a.slots:
            lines.append("slots = [" + ", ".join(f'"{s}"' for s in a.slots) + "]")
        if a.max_per_day is not None:
            lines.append(f"max_per_day = {a.max_per_day}")
        lines.append("")
    path = root / "publisher.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


WORDS = tuple(
    " ".join(
        (
            "soldes hiver collection atelier laine pull boutique livraison offerte nouveauté",
            "couture équipe Toulouse Pyrénées tricot écharpe bonnet cadeau emballage zéro",
            "déchet conseil entretien lavage doux printemps été automne vitrine inscription",
            "gratuite places limitées merci clients fidèles recette café portrait coulisses",
            "fabrication locale",
        )
    ).split(" ")
)
TAGS = ("#soldes", "#faitmain", "#laine", "#madeinfrance", "#zerodechet", "#noël", "#atelier")


def sentence(rng: Random, words: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def realistic_queue(
    n: int,
    accounts: Sequence[str],
    start: datetime,
    rng: Random,
    *,
    media: Sequence[str] = (),
    slot_accounts: Sequence[str] = (),
    step: timedelta = timedelta(minutes=7),
) -> str:
    """A queue an editorial team could have written: mixed time styles, accounts, overrides."""
    out = [
        "# yaml-language-server: $schema=../publisher/schema/queue.schema.json",
        "",
        "defaults:",
        f"  accounts: [{accounts[0]}, {accounts[1]}]",
        "  language: fr",
        "",
        "posts:",
    ]
    for i in range(n):
        at = start + step * i + timedelta(seconds=rng.randrange(0, 300))
        out.append(f"  - id: post-{i:05d}")
        if slot_accounts and i % 50 == 7:
            out.append(f"    accounts: [{rng.choice(slot_accounts)}]")  # no `at`: next free slot
        else:
            style = i % 3
            if style == 0:  # local time in the configured zone
                out.append(f"    at: {at.astimezone(ZONE):%Y-%m-%d %H:%M}")
            elif style == 1:
                out.append(f"    at: {at.astimezone(ZONE).isoformat(timespec='seconds')}")
            else:
                out.append(f"    at: {at.astimezone(UTC):%Y-%m-%dT%H:%M}Z")
            if i % 4:
                chosen = rng.sample(list(accounts), rng.randint(1, min(3, len(accounts))))
                out.append(f"    accounts: [{', '.join(chosen)}]")
        if i % 2 == 0:
            out.append(
                f"    text: {json.dumps(sentence(rng, rng.randint(8, 30)), ensure_ascii=False)}"
            )
        else:
            out.append("    text: |")
            out.append(f"      {sentence(rng, rng.randint(10, 35))} {rng.choice(TAGS)}")
            if i % 3 == 0:
                out.append(f"      https://example.com/p/{i}")
        if i % 15 == 0:
            out.append("    language: en")
        if i % 10 == 3:
            out.append(
                f"    not_after: {(at + timedelta(hours=4)).astimezone(ZONE):%Y-%m-%d %H:%M}"
            )
        if i % 30 == 11:
            out.append("    thread: numbered")
            out.append("    parts:")
            for _ in range(rng.randint(1, 3)):
                out.append(f"      - {json.dumps(sentence(rng, 20), ensure_ascii=False)}")
        if media and i % 25 == 5:
            out.append("    media:")
            out.append(f"      - file: {rng.choice(media)}")
            out.append(f"        alt: {json.dumps(sentence(rng, 8), ensure_ascii=False)}")
        if i % 5 == 2:  # overrides that change the words, not the media
            target = rng.choice([*accounts, "log"])
            out.append("    overrides:")
            out.append(f"      {target}:")
            out.append(f"        text: {json.dumps(sentence(rng, 12), ensure_ascii=False)}")
        out.append("")
    return "\n".join(out) + "\n"


def iso(ts: float) -> str:
    """A wall-clock instant as ISO 8601 with the zone's offset, to the millisecond."""
    return datetime.fromtimestamp(ts, ZONE).isoformat(timespec="milliseconds")


def timed_queue(posts: Sequence[tuple[str, float, Sequence[str], str]]) -> str:
    out = ["posts:"]
    for pid, at, accounts, text in posts:
        out += [
            f"  - id: {pid}",
            f"    at: {iso(at)}",
            f"    accounts: [{', '.join(accounts)}]",
            f"    text: {json.dumps(text, ensure_ascii=False)}",
        ]
    return "\n".join(out) + "\n"


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    k = max(0, math.ceil(p / 100 * len(sorted_values)) - 1)
    return sorted_values[k]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


# ---------------------------------------------------------------------------
# 1. Queue (issue 2): validate + sync of a large file, and the re-sync after a one-post edit.


async def sync_stages(
    config: Any, store: Any, now: datetime, cache: Any = None
) -> list[tuple[str, float]]:
    """``sync_queue``'s steps one by one, timed: where a sync spends its time.

    Mirrors publisher/sync.py (diagnostics only: the figures above time the real function),
    incremental when ``cache`` (a SyncCache) holds the plan the store holds.
    """
    from publisher.queuefile import parse_queue, queue_text
    from publisher.schedule import plan_deliveries
    from publisher.store import LoadState
    from publisher.sync import (
        _incremental_index,
        _remember_full,
        _remember_increment,
        diff_plan,
        kept_assignments,
        plan_fingerprint,
    )

    stages: list[tuple[str, float]] = []
    t0 = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t0
        t = time.perf_counter()
        stages.append((name, t - t0))
        t0 = t

    data = config.queue_path.read_bytes()
    fingerprint = plan_fingerprint(config, data)
    await store.load_state()
    lap("read + fingerprint + load_state")
    parse_cache = cache.parse if cache is not None else None
    queue = parse_queue(
        queue_text(config.queue_path, data), config.queue_path, config, cache=parse_cache
    )
    how = f", {parse_cache.parsed} of {len(queue.posts)} posts parsed" if parse_cache else ""
    lap(f"parse_queue (YAML, validation, media stat{how})")
    async with store.sync_turn():
        applied = cache._valid_for(await store.load_state()) if cache is not None else None
        if applied is not None:
            step = await _incremental_index(queue, config, store, now, applied)
            lap(f"plan_deliveries + read {len(step.index)} deliveries of {len(step.fetched)} posts")
            changes, report = diff_plan(
                queue, step.planned, config, step.index, applied.posts, now, fetched=step.fetched
            )
            report.unchanged += step.total - len(step.planned)
            lap("diff_plan (incremental)")
        else:
            index = await store.plan_index()
            lap("store.plan_index (read every delivery)")
            planned = plan_deliveries(queue, config, now, kept_assignments(index))
            lap("plan_deliveries")
            posts = await store.post_index()
            lap("store.post_index")
            changes, report = diff_plan(queue, planned, config, index, posts, now)
            lap("diff_plan (content hashes)")
        await store.apply(changes, LoadState(now, True, fingerprint, report.summary(), now))
        lap(f"store.apply ({report.summary()})")
        if applied is not None:
            _remember_increment(applied, fingerprint, now, step, changes)
            lap("remember the plan")
        elif cache is not None:
            cache._applied = _remember_full(
                fingerprint, now, queue, config, planned, index, changes
            )
            lap("remember the plan")
    return stages


def _stages_text(title: str, stages: Sequence[tuple[str, float]]) -> str:
    width = max(len(name) for name, _ in stages)
    rows = [f"  {name.ljust(width)}  {t * 1000:8.1f} ms" for name, t in stages]
    total = sum(t for _, t in stages)
    return "\n".join([f"--- {title}: {total:.3f} s ---", *rows, ""])


def _profile_text(prof: cProfile.Profile, limit: int = 18) -> str:
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("tottime").print_stats(limit)
    return buf.getvalue()


async def bench_queue(sizes: Sizes, workdir: Path, *, profile: bool) -> list[Figure]:
    from publisher.config import SecretPolicy, load_config
    from publisher.queuefile import parse_queue
    from publisher.store import Store
    from publisher.sync import SyncCache, sync_queue

    root = workdir / "queue"
    (root / "media").mkdir(parents=True)
    fixtures = ROOT / "tests" / "fixtures"
    media = []
    for name in ("pixel.png", "pixel.jpg", "pixel.webp"):
        shutil.copy(fixtures / name, root / "media" / name)
        media.append(f"media/{name}")
    accounts = [
        Account("brand-fr", slots=("mon-fri 09:00", "mon-fri 17:30")),
        Account("brand-en", slots=("mon-fri 10:00",)),
        Account("brand-de"),
        Account("shop-news", max_per_day=20),
        Account("jobs"),
        Account("team-log", slots=("daily 08:30",)),
    ]
    config_path = write_config(root, accounts, database=f"sqlite:///{root}/unused.db")
    now = datetime.now(UTC)
    start = (now + timedelta(days=3)).replace(hour=6, minute=0, second=0, microsecond=0)
    names = [a.name for a in accounts]
    text = realistic_queue(
        sizes.queue_posts,
        names,
        start,
        Random(2),
        media=media,
        slot_accounts=[a.name for a in accounts if a.slots],
    )
    queue_path = root / "queue.yaml"
    queue_path.write_text(text, encoding="utf-8")
    say("queue", f"{sizes.queue_posts} posts, {len(text) / 1e6:.1f} MB, {len(names)} log accounts")

    # Warm-up, not timed: the first call pays for imports (adapters load lazily) and caches.
    load_config(config_path, secrets=SecretPolicy.REQUIRE)
    yaml.load(text[: text.index("\n  - id: post-00100")], Loader=yaml.CSafeLoader)

    sync_times: list[float] = []
    yaml_times: list[float] = []
    parse_times: list[float] = []
    deliveries = 0
    store = None
    cache = SyncCache()
    for run in range(sizes.queue_runs):
        if store is not None:
            await store.close()
        store = await Store.open(f"sqlite:///{root}/run-{run}.db")  # migrations: not timed
        # What the daemon keeps from one sync to the next (its first sync fills it).
        cache = SyncCache()
        t0 = time.perf_counter()
        config = load_config(config_path, secrets=SecretPolicy.REQUIRE)
        report = await sync_queue(config, store, now, cache=cache)
        sync_times.append(time.perf_counter() - t0)
        if report.errors or not report.applied:
            raise RuntimeError(
                "the generated queue did not apply:\n" + "\n".join(map(str, report.errors[:5]))
            )
        deliveries = report.added
        t0 = time.perf_counter()
        yaml.load(text, Loader=yaml.CSafeLoader)
        yaml_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        parse_queue(text, queue_path, config)
        parse_times.append(time.perf_counter() - t0)
        say(
            "queue", f"run {run + 1}: sync {sync_times[-1]:.2f} s, yaml.load {yaml_times[-1]:.2f} s"
        )
    assert store is not None

    # Re-sync after editing one post's text (an even-numbered post: its text is on one line).
    k = (sizes.queue_posts // 2) & ~1
    head = f"  - id: post-{k:05d}\n"
    at = text.index(head)
    text_at = text.index('    text: "', at) + len('    text: "')
    resync_times: list[float] = []
    updated = 0
    for j in range(sizes.resync_runs):
        edited = text[:text_at] + f"Édité {j} : " + text[text_at:]
        queue_path.write_text(edited, encoding="utf-8")
        t0 = time.perf_counter()
        report = await sync_queue(config, store, now, cache=cache)
        resync_times.append(time.perf_counter() - t0)
        updated = report.updated
        if report.errors or report.skipped:
            raise RuntimeError(f"the edit did not sync: {report.summary()}")
    say("queue", f"re-sync: {', '.join(f'{t:.3f}' for t in resync_times)} s ({updated} updated)")

    sync_s, yaml_s, resync_s = median(sync_times), median(yaml_times), median(resync_times)
    ratio = sync_s / yaml_s
    profiles = profile or ratio > 3 or resync_s > 0.3
    if profiles:
        fresh = await Store.open(f"sqlite:///{root}/stages.db")
        queue_path.write_text(text, encoding="utf-8")
        first = await sync_stages(config, fresh, now)
        await fresh.close()
        queue_path.write_text(text[:text_at] + "Étapes : " + text[text_at:], encoding="utf-8")
        again = await sync_stages(config, store, now, cache)
        print()
        print(
            _stages_text(f"stages: sync of {sizes.queue_posts:,} posts into a fresh store", first)
        )
        print(_stages_text("stages: re-sync after a one-post edit", again))
        prof = cProfile.Profile()
        prof.enable()
        parse_queue(text, queue_path, config)
        prof.disable()
        print("\n--- profile: parse_queue (validation), by own time ---\n" + _profile_text(prof))
        fresh = await Store.open(f"sqlite:///{root}/profile.db")
        prof = cProfile.Profile()
        prof.enable()
        await sync_queue(config, fresh, now)
        prof.disable()
        await fresh.close()
        print(
            "--- profile: sync_queue into a fresh store (main thread: its parse_queue runs in a "
            "worker thread, profiled above) ---\n" + _profile_text(prof)
        )
        edited = text[:text_at] + "Profilé : " + text[text_at:]
        queue_path.write_text(edited, encoding="utf-8")
        prof = cProfile.Profile()
        prof.enable()
        await sync_queue(config, store, now, cache=cache)
        prof.disable()
        print(
            "--- profile: re-sync after a one-post edit (main thread) ---\n" + _profile_text(prof)
        )
    await store.close()

    n = f"{sizes.queue_posts:,}"
    return [
        Figure(
            "queue",
            f"validate+sync {n} posts ({deliveries:,} deliveries), median",
            f"{sync_s:.2f} s",
        ),
        Figure("queue", "  of which parse_queue (parse+validate)", f"{median(parse_times):.2f} s"),
        Figure("queue", "bare yaml.load CSafeLoader, median", f"{yaml_s:.2f} s"),
        Figure("queue", "validate+sync / yaml.load", f"{ratio:.2f}×", "≤ 3", ratio <= 3),
        Figure(
            "queue",
            "re-sync after a one-post edit, median",
            f"{resync_s:.3f} s",
            "≤ 0.3 s",
            resync_s <= 0.3,
        ),
    ]


# ---------------------------------------------------------------------------
# 2. Precision (issue 3): how late each post reaches the network, at a steady rate.


async def bench_precision(sizes: Sizes, workdir: Path, http: aiohttp.ClientSession) -> list[Figure]:
    root = workdir / "precision"
    root.mkdir(parents=True)
    n, window = sizes.precision_posts, sizes.precision_window
    with SinkProcess(root, http) as sink:
        accounts = [Account(f"masto-{i:02d}", "mastodon") for i in range(sizes.precision_accounts)]
        config = write_config(
            root, accounts, database=f"sqlite:///{root}/queue.db", sink_url=sink.url, sizes=sizes
        )
        first_ms = round((time.time() + sizes.lead) * 1000)
        step_ms = window * 1000 / n
        rng = Random(3)
        posts = []
        scheduled: dict[str, float] = {}
        for i in range(n):
            at = round(first_ms + i * step_ms) / 1000
            pid = f"p{i:05d}"
            body = f"{pid} {sentence(rng, rng.randint(6, 20))}"
            posts.append((pid, at, [accounts[i % len(accounts)].name], body))
            scheduled[pid] = at
        (root / "queue.yaml").write_text(timed_queue(posts), encoding="utf-8")
        first, last = posts[0][1], posts[-1][1]
        say(
            "precision",
            f"{n} posts over {len(accounts)} accounts, "
            f"one every {step_ms:.0f} ms for {window:.0f} s",
        )
        with daemons(config, root, 1) as (daemon,):
            ready = await daemon.wait_ready(sizes.lead + 60)
            late_start = daemon.ready_at is not None and daemon.ready_at > first
            say(
                "precision",
                f"daemon ready after {ready:.1f} s"
                + (" (after the first due post!)" if late_start else ""),
            )
            deadline = last + 30
            while time.time() < deadline:
                check_alive([daemon])
                if time.time() > last and await sink.count() >= n:
                    break
                await asyncio.sleep(0.5)
        arrivals = await sink.arrivals()
    lags: list[float] = []
    keys: Counter[str] = Counter()
    for at, key, body in arrivals:
        keys[key] += 1
        lags.append(float(at) - scheduled[str(body).split(" ", 1)[0]])
    lags.sort()
    dup = sum(c - 1 for c in keys.values())
    if not lags:
        return [Figure("precision", "posts received", f"0 / {n}", f"{n} / {n}", False)]
    p50, p99, worst = percentile(lags, 50), percentile(lags, 99), lags[-1]
    note = " (daemon ready late)" if late_start else ""
    return [
        Figure(
            "precision",
            f"posts received of {n:,} ({len(accounts)} accounts, {window:.0f} s)",
            f"{len(keys):,}",
            f"{n:,}",
            len(keys) == n and dup == 0,
        ),
        Figure("precision", "lag p50 (arrival − scheduled)", f"{p50 * 1000:.1f} ms"),
        Figure("precision", "lag p99" + note, f"{p99 * 1000:.1f} ms", "≤ 50 ms", p99 <= 0.050),
        Figure("precision", "lag max", f"{worst * 1000:.1f} ms"),
        Figure(
            "precision",
            "earliest (negative = early)",
            f"{lags[0] * 1000:.1f} ms",
            "≥ 0",
            lags[0] >= 0,
        ),
    ]


# ---------------------------------------------------------------------------
# 3. Burst (issue 3): everything due at once; the daemon against a bare aiohttp client.


def burst_posts(
    deliveries: int, accounts: Sequence[str], at: float, per_post: int = 5
) -> list[tuple[str, float, Sequence[str], str]]:
    rng = Random(4)
    posts: list[tuple[str, float, Sequence[str], str]] = []
    for i in range(deliveries // per_post):
        chosen = [accounts[(i * per_post + k) % len(accounts)] for k in range(per_post)]
        posts.append((f"b{i:05d}", at, chosen, f"b{i:05d} {sentence(rng, rng.randint(8, 25))}"))
    return posts


def _package(filename: str) -> str:
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins (C)"
    parts = Path(filename).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    for mine in ("publisher", "adapters"):
        if mine in parts:
            i = parts.index(mine)
            return "/".join(parts[i : i + 2]).removesuffix(".py")
    return f"stdlib {Path(filename).stem}"


def profile_by_package(path: Path, limit: int = 20) -> str:
    """Own time per package or module: where the daemon's CPU goes (waiting left out)."""
    stats = pstats.Stats(str(path))
    own: Counter[str] = Counter()
    for (filename, _line, func), row in stats.stats.items():  # type: ignore[attr-defined]
        if "poll' of 'select.epoll" in func:
            continue  # the loop waiting for I/O, not CPU
        name = _package(filename)
        if name == "builtins (C)":
            name = f"builtins: {func}" if row[2] > 0.05 else "builtins (other)"
        own[name] += row[2]
    total = sum(own.values())
    lines = [f"  own CPU time, waiting excluded: {total:.2f} s"]
    for name, t in own.most_common(limit):
        lines.append(f"  {t:7.2f} s  {100 * t / total:5.1f} %  {name}")
    return "\n".join(lines)


def sqlite_published(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        row = conn.execute("SELECT count(*) FROM deliveries WHERE state = 'published'").fetchone()
        return int(row[0])
    finally:
        conn.close()


async def wait_published(
    sink: SinkProcess,
    n: int,
    published: Callable[[], Awaitable[int]],
    within: float,
    running: Sequence[Daemon],
) -> float:
    """When all ``n`` deliveries are recorded published: the sink first, then the database.

    The sink is asked first (cheap, another process); the database is polled at 20 Hz only
    once every request has arrived, so polling costs the daemon next to nothing.
    """
    deadline = time.time() + within
    sink_done = False
    while time.time() < deadline:
        check_alive(running)
        if not sink_done:
            sink_done = await sink.count() >= n
        if sink_done and await published() >= n:
            return time.time()
        await asyncio.sleep(0.05 if sink_done else 0.1)
    raise RuntimeError(f"not all {n} deliveries were published within {within:.0f} s")


async def replay(
    url: str, requests: Sequence[tuple[bytes, dict[str, str]]], concurrency: int
) -> tuple[float, int]:
    """The same requests, sent by a bare aiohttp client at the same concurrency."""
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=0)
    errors = 0
    pending = iter(requests)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            for body, headers in pending:
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    errors += resp.status != 200

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - t0, errors


async def adapters_alone(
    config_path: Path, db: Path, concurrency: int
) -> tuple[float, float, int]:
    """The daemon's own adapters with nothing around them: every delivery the burst published
    rendered and sent again, ``concurrency`` at a time, by ``publisher run``'s HTTP session
    and adapters, with no engine, no database and no log. No daemon can go faster than this:
    it is the ceiling of the burst ratio. Returns (seconds, CPU seconds, errors)."""
    from publisher.adapters.base import AdapterError, DeliveryRef
    from publisher.clock import SystemClock
    from publisher.commands.run import adapter_context, http_session
    from publisher.config import SecretPolicy, load_config
    from publisher.engine.runtime import LIVE, build_adapters
    from publisher.secrets import SecretSource
    from publisher.store import Store

    config = load_config(
        config_path, secrets=SecretPolicy.REQUIRE, source=SecretSource({"BENCH_TOKEN": TOKEN}, None)
    )
    store = await Store.open(f"sqlite:///{db}", readonly=True)
    try:
        work = await store.all_deliveries()
    finally:
        await store.close()
    errors = 0
    async with http_session(config, LIVE) as session:
        adapters = build_adapters(config, adapter_context(session, SystemClock()), LIVE)
        await asyncio.gather(*(a.prepare() for a in adapters.values()))
        pending = iter(work)

        async def worker() -> None:
            nonlocal errors
            for d in pending:
                adapter = adapters[d.account]
                ref = DeliveryRef(d.id, d.post_id, d.account, d.scheduled_at)
                try:
                    await adapter.publish(adapter.render(d.content()), ref)
                except AdapterError:
                    errors += 1

        cpu0 = time.process_time()
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - t0, time.process_time() - cpu0, errors


async def bench_burst(
    sizes: Sizes, workdir: Path, http: aiohttp.ClientSession, *, profile: bool = False
) -> list[Figure]:
    root = workdir / "burst"
    root.mkdir(parents=True)
    n = sizes.burst_deliveries
    with SinkProcess(root, http) as sink:
        accounts = [Account(f"b{i:03d}", "mastodon") for i in range(sizes.burst_accounts)]
        db = root / "queue.db"
        config = write_config(
            root, accounts, database=f"sqlite:///{db}", sink_url=sink.url, sizes=sizes
        )
        due = math.ceil(time.time() + sizes.lead)
        posts = burst_posts(n, [a.name for a in accounts], due)
        n = sum(len(p[2]) for p in posts)
        (root / "queue.yaml").write_text(timed_queue(posts), encoding="utf-8")
        say("burst", f"{n} deliveries over {len(accounts)} accounts, all due at {iso(due)}")
        with daemons(config, root, 1, profile=profile) as (daemon,):
            ready = await daemon.wait_ready(sizes.lead + 60)
            late = daemon.ready_at is not None and daemon.ready_at > due
            say(
                "burst",
                f"daemon ready after {ready:.1f} s" + (" (after the due instant!)" if late else ""),
            )
            await sleep_until(due)
            cpu0 = daemon.cpu_seconds()

            async def published() -> int:
                return sqlite_published(db)

            done = await wait_published(sink, n, published, 300, [daemon])
            cpu = daemon.cpu_seconds() - cpu0
        daemon_s = done - due
        if daemon.profile is not None and daemon.profile.exists():
            print("\n--- profile: the daemon through the burst (start to stop) ---")
            print(profile_by_package(daemon.profile))
            buf = io.StringIO()
            stats = pstats.Stats(str(daemon.profile), stream=buf).strip_dirs()
            stats.sort_stats("tottime").print_stats(30)
            print(buf.getvalue())
        arrivals = await sink.arrivals(bodies=True)
        last_arrival = max(float(a[0]) for a in arrivals) - due
        dup = len(arrivals) - len({a[1] for a in arrivals})
        say(
            "burst",
            f"daemon: {daemon_s:.2f} s (last request at +{last_arrival:.2f} s), {dup} duplicates",
        )
        requests = [(str(a[3]).encode(), dict(a[4])) for a in arrivals]
        # The bare client's time varies run to run (by half, on a small VM): the median of 3.
        bare_runs: list[tuple[float, float, int]] = []
        for _ in range(3):
            await sink.reset()
            bare_cpu0 = time.process_time()
            t, errors = await replay(sink.url + "/api/v1/statuses", requests, sizes.concurrency)
            bare_runs.append((t, time.process_time() - bare_cpu0, errors))
        bare_s, bare_cpu, errors = sorted(bare_runs)[1]
        got = await sink.count()
        say(
            "burst",
            f"bare aiohttp: {bare_s:.2f} s (runs: "
            + ", ".join(f"{r[0]:.2f}" for r in bare_runs)
            + f"), {got} received, {errors} errors",
        )
        await sink.reset()
        alone_s, alone_cpu, alone_errors = await adapters_alone(config, db, sizes.concurrency)
        say(
            "burst",
            f"adapters alone: {alone_s:.2f} s, {await sink.count()} received, "
            f"{alone_errors} errors",
        )
    ratio = bare_s / daemon_s  # throughput daemon / throughput bare
    note = " (daemon ready late)" if late else ""
    note += " (under cProfile)" if profile else ""
    return [
        Figure(
            "burst",
            f"daemon: {n:,} deliveries, {len(accounts)} accounts, due → all published{note}",
            f"{daemon_s:.2f} s ({n / daemon_s:,.0f}/s)",
        ),
        Figure("burst", "  of which due → last request at the sink", f"{last_arrival:.2f} s"),
        Figure(
            "burst",
            f"bare aiohttp, same {len(requests):,} requests, concurrency {sizes.concurrency}",
            f"{bare_s:.2f} s ({len(requests) / bare_s:,.0f}/s)",
        ),
        Figure(
            "burst",
            "adapters alone (render + publish; no engine, store or log)",
            f"{alone_s:.2f} s ({n / alone_s:,.0f}/s), ratio {bare_s / alone_s:.2f}",
        ),
        Figure("burst", "throughput daemon / bare", f"{ratio:.2f}", "≥ 0.6", ratio >= 0.6),
        Figure("burst", "duplicates at the sink", str(dup), "0", dup == 0),
        Figure(
            "burst",
            "CPU per delivery: daemon / adapters alone / bare client",
            f"{cpu / n * 1000:.2f} ms / {alone_cpu / n * 1000:.2f} ms"
            f" / {bare_cpu / len(requests) * 1000:.2f} ms",
        ),
    ]


# ---------------------------------------------------------------------------
# 4. Idle (issue 3): what a daemon with a week of posts ahead costs while it waits.


async def bench_idle(sizes: Sizes, workdir: Path) -> list[Figure]:
    root = workdir / "idle"
    accounts = [
        Account(name)
        for name in ("brand-fr", "brand-en", "brand-de", "shop-news", "jobs", "team-log")
    ]
    config = write_config(root, accounts, database=f"sqlite:///{root}/queue.db", sizes=sizes)
    start = datetime.now(UTC) + timedelta(days=7)
    text = realistic_queue(sizes.idle_posts, [a.name for a in accounts], start, Random(5))
    (root / "queue.yaml").write_text(text, encoding="utf-8")
    window = sizes.idle_window
    # The floor: the same daemon and accounts with nothing queued (imports, engine, one sync).
    empty = root / "empty"
    empty.mkdir()
    (empty / "queue.yaml").write_text("posts: []\n", encoding="utf-8")
    empty_config = write_config(
        empty, accounts, database=f"sqlite:///{empty}/queue.db", sizes=sizes
    )
    with daemons(empty_config, empty, 1) as (bare,):
        await bare.wait_ready(120)
        floor = bare.memory_mb("VmHWM")
    say("idle", f"peak RSS with an empty queue: {floor:.0f} MB")
    say("idle", f"{sizes.idle_posts} posts from next week on; {window:.0f} s idle window")
    with daemons(config, root, 1) as (daemon,):
        ready = await daemon.wait_ready(120)
        startup_cpu = daemon.cpu_seconds()
        say("idle", f"daemon ready after {ready:.1f} s ({startup_cpu:.1f} CPU-s to get there)")
        cpu0, t0 = daemon.cpu_seconds(), time.monotonic()
        await sleep_until(time.time() + window)
        cpu1, elapsed = daemon.cpu_seconds(), time.monotonic() - t0
        hwm, rss = daemon.memory_mb("VmHWM"), daemon.memory_mb("VmRSS")
    per_minute = (cpu1 - cpu0) / (elapsed / 60)
    return [
        Figure(
            "idle",
            f"CPU while idle ({sizes.idle_posts:,} future posts, {window:.0f} s window)",
            f"{per_minute:.3f} CPU-s/min",
            "≤ 0.3 CPU-s/min",
            per_minute <= 0.3,
        ),
        Figure(
            "idle",
            "peak RSS (VmHWM), start + first sync included",
            f"{hwm:.0f} MB",
            "≤ 120 MB",
            hwm <= 120,
        ),
        Figure("idle", "RSS at the end of the window", f"{rss:.0f} MB"),
        Figure("idle", "peak RSS of the same daemon with an empty queue", f"{floor:.0f} MB"),
        Figure(
            "idle", "start → ready (first sync done)", f"{ready:.1f} s, {startup_cpu:.1f} CPU-s"
        ),
    ]


# ---------------------------------------------------------------------------
# 5. Scale-out (issue 9): the burst on PostgreSQL with 1, 2 and 4 daemons sharing it.


@contextlib.asynccontextmanager
async def pg_database(name: str) -> AsyncIterator[str]:
    import asyncpg

    admin = await asyncpg.connect(**PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql://postgres@127.0.0.1:5432/{name}"
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def pg_published(pg: Any) -> Callable[[], Awaitable[int]]:
    async def published() -> int:
        return int(await pg.fetchval("SELECT count(*) FROM deliveries WHERE state = 'published'"))

    return published


async def bench_scale(
    sizes: Sizes, workdir: Path, http: aiohttp.ClientSession, *, nudge: bool = False
) -> list[Figure]:
    """``nudge``: SIGHUP every daemon once all are ready, so each re-reads the plan."""
    import asyncpg

    root = workdir / "scale"
    root.mkdir(parents=True)
    figures: list[Figure] = []
    rates: dict[int, float] = {}
    with SinkProcess(root, http) as sink:
        accounts = [Account(f"s{i:03d}", "mastodon") for i in range(sizes.scale_accounts)]
        names = [a.name for a in accounts]
        for workers in sizes.scale_workers:
            await sink.reset()
            run = root / f"workers-{workers}"
            run.mkdir()
            async with pg_database(f"publisher_bench_{os.getpid()}_{workers}") as url:
                config = write_config(run, accounts, database=url, sink_url=sink.url, sizes=sizes)
                due = math.ceil(time.time() + sizes.lead + 3 * workers)
                posts = burst_posts(sizes.scale_deliveries, names, due)
                n = sum(len(p[2]) for p in posts)
                (run / "queue.yaml").write_text(timed_queue(posts), encoding="utf-8")
                say("scale", f"{workers} daemon(s) on PostgreSQL: {n} deliveries due at {iso(due)}")
                pg = await asyncpg.connect(url)
                try:
                    with daemons(config, run, workers) as running:
                        for d in running:
                            await d.wait_ready(sizes.lead + 60)
                        late = any(d.ready_at is not None and d.ready_at > due for d in running)
                        slowest = max((d.ready_at or 0) - d.started for d in running)
                        say(
                            "scale",
                            f"all ready, the last after {slowest:.1f} s"
                            + (" (after the due instant!)" if late else ""),
                        )
                        if nudge:
                            for d in running:
                                os.kill(d.pid, signal.SIGHUP)
                        await sleep_until(due)
                        cpu0 = sum(d.cpu_seconds() for d in running)
                        done = await wait_published(sink, n, pg_published(pg), 300, running)
                        cpu = sum(d.cpu_seconds() for d in running) - cpu0
                        await asyncio.sleep(1)  # a late duplicate would arrive now
                    split = await pg.fetch(
                        "SELECT worker, count(*) AS n FROM attempts WHERE outcome = 'published'"
                        " GROUP BY worker ORDER BY n DESC"
                    )
                finally:
                    await pg.close()
            arrivals = await sink.arrivals()
            keys = Counter(str(a[1]) for a in arrivals)
            dup = sum(c - 1 for c in keys.values())
            missing = n - len(keys)
            rate = rates[workers] = n / (done - due)
            counts = [int(r["n"]) for r in split]
            counts += [0] * (workers - len(counts))
            shares = "/".join(map(str, counts))
            say(
                "scale",
                f"{workers} daemon(s): {done - due:.2f} s, {rate:,.0f}/s, "
                f"split {shares}, {dup} duplicates",
            )
            ok = dup == 0 and missing == 0
            figures.append(
                Figure(
                    "scale",
                    f"{workers} daemon(s), {n:,} deliveries: deliveries/s (split {shares})"
                    + (" (ready late)" if late else "")
                    + (" (SIGHUP nudge)" if nudge else ""),
                    f"{rate:,.0f}/s, {cpu / n * 1000:.2f} ms CPU each",
                    "exactly once",
                    ok,
                )
            )
            if dup or missing:
                figures.append(
                    Figure(
                        "scale",
                        f"  {workers} daemon(s): duplicates / missing",
                        f"{dup} / {missing}",
                        "0 / 0",
                        False,
                    )
                )
    if 1 in rates and len(rates) > 1:
        ups = ", ".join(f"{w}: {r / rates[1]:.2f}×" for w, r in rates.items() if w != 1)
        figures.append(Figure("scale", "speed-up over 1 daemon", ups))
    return figures


# ---------------------------------------------------------------------------


def bench_render(quick: bool) -> list[Figure]:
    """Each network's render of the slowest texts found for issue 19, at the size limit."""
    from bench.render import counting_times, render_times
    from publisher.limits import MAX_TEXT_CHARS

    size = MAX_TEXT_CHARS // 10 if quick else MAX_TEXT_CHARS
    figures = []
    for network, text, seconds, parts in render_times(size):
        say("render", f"{network}: {text}, {seconds:.2f} s, {parts} part(s)")
        what = "prose" if text == "prose" else "slowest text"
        figures.append(
            Figure(
                "render",
                f"{network}, {what} of {size:,} characters",
                f"{seconds:.2f} s ({text}; {parts} part{'s' if parts > 1 else ''})",
            )
        )
    posts = 1_000 if quick else 10_000
    for network, seconds in counting_times(posts):
        say("render", f"{network}: counting {posts:,} posts, {seconds:.2f} s")
        figures.append(Figure("render", f"{network}, counting {posts:,} posts", f"{seconds:.2f} s"))
    return figures


async def bench_engagement(quick: bool, workdir: Path) -> list[Figure]:
    """Idle CPU and RSS of a daemon holding published posts with readings pending, against
    the same daemon with engagement off (issue 16): ``bench/engagement_idle.py``."""
    from bench.engagement_idle import measure

    posts = 1_000 if quick else 10_000
    root = workdir / "engagement"
    root.mkdir()
    off, on = await measure(posts, 15.0 if quick else 60.0, 10.0, root)
    ratio = on.cpu_per_minute / off.cpu_per_minute if off.cpu_per_minute > 0 else float("nan")
    return [
        Figure(
            "engagement",
            f"idle CPU, {posts:,} published posts, readings pending ({on.pending:,})",
            f"{on.cpu_per_minute:.3f} CPU-s/min; off {off.cpu_per_minute:.3f}: {ratio:.2f}x",
        ),
        Figure(
            "engagement",
            "RSS at the end, collecting / not",
            f"{on.rss_mb:.0f} MB / {off.rss_mb:.0f} MB: {on.rss_mb / off.rss_mb:.2f}x",
        ),
    ]


async def bench_listen(quick: bool, workdir: Path) -> list[Figure]:
    """Idle CPU and RSS of a daemon listening on 500 accounts at a 5-minute interval,
    against the same daemon not listening (issue 20): ``bench/listen_idle.py``."""
    from bench.listen_idle import measure

    accounts, interval = (100, 60) if quick else (500, 300)
    root = workdir / "listen"
    root.mkdir()
    off, on = await measure(accounts, interval, interval + 30.0, 20.0, root)
    ratio = on.cpu_per_minute / off.cpu_per_minute if off.cpu_per_minute > 0 else float("nan")
    return [
        Figure(
            "listen",
            f"idle CPU, {accounts} accounts listening every {interval} s ({on.reads} reads)",
            f"{on.cpu_per_minute:.3f} CPU-s/min; off {off.cpu_per_minute:.3f}: {ratio:.2f}x",
        ),
        Figure(
            "listen",
            "RSS at the end, listening / not",
            f"{on.rss_mb:.0f} MB / {off.rss_mb:.0f} MB: {on.rss_mb / off.rss_mb:.2f}x",
        ),
    ]


def bench_startup(quick: bool) -> list[Figure]:
    """``--help``, ``validate`` and ``dry-run`` on the example, each against ``python -c pass``
    (issue 15, item 5): medians of whole processes, bytecode cached."""
    from bench.startup import startup_times

    figures = []
    for t in startup_times(5 if quick else 11):
        say("startup", f"{t.command}: {t.wall:.3f} s ({t.ratio:.1f}× python -c pass)")
        figures.append(
            Figure(
                "startup",
                t.command,
                f"{t.wall:.3f} s, {t.cpu:.3f} s CPU; python -c pass {t.bare_wall:.3f} s; "
                f"{t.ratio:.1f}×" + (f" (exit {t.exit_code})" if t.exit_code else ""),
                f"≤ {t.target} s" if t.target is not None else "",
                None if t.target is None else t.wall <= t.target and t.exit_code == 0,
            )
        )
    return figures


def load_average() -> float:
    return os.getloadavg()[0]


def print_table(figures: Sequence[Figure], quick: bool, loads: Sequence[float]) -> None:
    head = ("benchmark", "figure", "measured", "target", "")
    rows = [
        (f.bench, f.name, f.value, f.target, "" if f.ok is None else ("ok" if f.ok else "MISSED"))
        for f in figures
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    line = "  ".join("-" * w for w in widths)
    print()
    print(
        f"publisher benchmarks{' (--quick)' if quick else ''}: {os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}, {datetime.now(UTC):%Y-%m-%d %H:%M}Z; "
        f"1-min load average {min(loads):.1f}–{max(loads):.1f} during the run"
    )
    if max(loads) > (os.cpu_count() or 1) / 2:
        print("note: other work was running on this machine; the timings are pessimistic")
    print(line)
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip())
    print(line)
    last = ""
    for r in rows:
        if last and r[0] != last:
            print()
        last = r[0]
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    print(line)


async def run(args: argparse.Namespace, workdir: Path) -> list[Figure]:
    sizes = QUICK if args.quick else FULL
    chosen = [args.only] if args.only else list(NAMES)
    figures: list[Figure] = []
    async with aiohttp.ClientSession() as http:
        for name in chosen:
            LOADS.append(load_average())
            say(name, f"start (1-min load average {LOADS[-1]:.1f})")
            t0 = time.monotonic()
            try:
                if name == "queue":
                    figures += await bench_queue(sizes, workdir, profile=args.profile)
                elif name == "precision":
                    figures += await bench_precision(sizes, workdir, http)
                elif name == "burst":
                    figures += await bench_burst(sizes, workdir, http, profile=args.profile)
                elif name == "idle":
                    figures += await bench_idle(sizes, workdir)
                elif name == "scale":
                    figures += await bench_scale(sizes, workdir, http, nudge=args.nudge)
                elif name == "render":
                    figures += bench_render(args.quick)
                elif name == "startup":
                    figures += bench_startup(args.quick)
                elif name == "engagement":
                    figures += await bench_engagement(args.quick, workdir)
                elif name == "listen":
                    figures += await bench_listen(args.quick, workdir)
                elif name == "queueglob":
                    from bench.queue_glob import bench_queue_glob

                    figures += await bench_queue_glob(sizes, workdir, args.quick)
            except Exception as err:  # one broken benchmark must not hide the others
                print(f"[{name}] FAILED: {err}", file=sys.stderr)
                figures.append(Figure(name, "benchmark failed (see above)", "—", "", False))
            say(name, f"done in {time.monotonic() - t0:.0f} s")
            LOADS.append(load_average())
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--quick", action="store_true", help="sizes ÷10, 15 s windows: a smoke run")
    parser.add_argument("--only", choices=NAMES, help="run one benchmark")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the queue sync even when on target, and the burst daemon",
    )
    parser.add_argument(
        "--nudge",
        action="store_true",
        help="scale: SIGHUP every daemon once all are ready (each re-reads the plan)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (logs, databases)"
    )
    args = parser.parse_args(argv)

    def terminate(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    workdir = Path(tempfile.mkdtemp(prefix="publisher-bench-"))
    try:
        figures = asyncio.run(run(args, workdir))
    except KeyboardInterrupt:
        print("interrupted: daemons stopped, temporary databases dropped", file=sys.stderr)
        return 130
    finally:
        reap_children()
        if args.keep:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print_table(figures, args.quick, LOADS)
    return 1 if any(f.ok is False and f.name.startswith("benchmark failed") for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
