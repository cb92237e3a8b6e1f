"""Issue 19, items 4 and 5, as real processes: whatever the queue file holds and whatever the
disk does, the daemon keeps running, keeps publishing what it can, says why (log, /healthz,
`publisher status`, systemd), and recovers by itself once the cause is gone.

Two `log` accounts publish into the daemon's own log, so every publication is a log line.
Times are real (a dry run's time travel would use another database), a few seconds ahead.
The waits are generous guards against a hang, never a performance claim.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.smallfs import SmallFs, small_fs

LEAD = 4.0  # seconds from a good file to its posts' time: the break is seen well before
GUARD = 120.0  # a hang, not a slow machine

# The daemon runs under a memory limit, as in a container: an expansion the parser does not
# bound (the alias bomb, on code without the bound) then ends in MemoryError, which the daemon
# must survive, instead of swapping the test machine. MALLOC_ARENA_MAX keeps glibc's per-thread
# arenas (64 MiB of address space each) from counting against it.
MEMORY_LIMIT = 640 * 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(pid: str, at: str, account: str, text: str = "Bonjour") -> str:
    return f"  - id: {pid}\n    at: {at}\n    accounts: [{account}]\n    text: {json.dumps(text)}\n"


def queue(*posts: str) -> bytes:
    return ("posts:\n" + "".join(posts)).encode("utf-8")


def iso(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def alias_bomb() -> str:
    """About 1 KB that expands to 9**9 strings."""
    lines = ["    options:\n", "      a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n"]
    names = "abcdefghi"
    for i in range(1, 9):
        refs = ",".join([f"*{names[i - 1]}"] * 9)
        lines.append(f"      {names[i]}: &{names[i]} [{refs}]\n")
    return "".join(lines)


def appended(pid: str, text: str = "Bonjour", options: str = "") -> Callable[[bytes], bytes]:
    """The good file and one more post for account b, an hour ahead."""
    return lambda good: good + (post(pid, iso(3600), "b", text) + options).encode()


def with_bytes(pid: str, raw: bytes) -> Callable[[bytes], bytes]:
    """The good file and one more post whose text holds ``raw``."""
    return lambda good: good + post(pid, iso(3600), "b", "Bon_jour").encode().replace(b"_", raw)


def at(when: str) -> Callable[[bytes], bytes]:
    return lambda good: good + post("boom", when, "b").encode()


def runaway(good: bytes) -> bytes:
    """A generator that ran away: 40 MB, the last line cut in the middle of a character.
    Refused for its size where the parser bounds the file, for its last byte elsewhere."""
    return appended("huge", "lorem ipsum " * 3_500_000)(good) + b"\xe2"


# Each turns the good file (bytes) into a crashing one; None: a directory in its place.
CRASHING: list[tuple[str, Callable[[bytes], bytes | None]]] = [
    ("at overflowing", at("9999-12-31T23:59-05:00")),
    ("at underflowing", at("0001-01-01T00:00+05:00")),
    ("id of 4,000 hex digits", appended("0x" + "f" * 4000)),
    ("alias bomb in options", appended("bomb", options=alias_bomb())),
    ("NUL byte", with_bytes("nul", b"\0")),
    ("invalid UTF-8", with_bytes("latin", b"\xe9")),
    ("empty file", lambda good: b""),
    ("directory in its place", lambda good: None),
    ("40 MB", runaway),
]


@dataclass
class Daemon:
    root: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)
    starts: int = 0

    def __post_init__(self) -> None:
        self.log = self.root / "daemon.log"

    @property
    def config(self) -> Path:
        return self.root / "publisher.toml"

    @property
    def queue(self) -> Path:
        return self.root / "queue.yaml"

    def write_config(self, database: Path) -> None:
        self.config.write_text(
            f'queue = "queue.yaml"\ndatabase = "sqlite:///{database}"\n'
            'timezone = "Europe/Paris"\nmax_lateness = "2h"\n'
            '[engine]\nshutdown_timeout = "5s"\ndebounce = "100ms"\n'
            f'[metrics]\nlisten = "127.0.0.1:{self.port}"\n'
            '[accounts.a]\nnetwork = "log"\n[accounts.b]\nnetwork = "log"\n',
            encoding="utf-8",
        )

    def write_queue(self, data: bytes | None) -> None:
        """The editor's save: by rename, as most editors do (a directory: in its place)."""
        if self.queue.is_dir():
            self.queue.rmdir()
        if data is None:
            self.queue.unlink(missing_ok=True)
            self.queue.mkdir()
            return
        tmp = self.root / ".queue.yaml.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, self.queue)

    def start(self, env: dict[str, str] | None = None) -> None:
        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

        full_env = {**os.environ, "MALLOC_ARENA_MAX": "2", **(env or {})}
        if "NOTIFY_SOCKET" not in (env or {}):
            full_env.pop("NOTIFY_SOCKET", None)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "publisher.cli", "run", "--config", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=full_env,
                preexec_fn=limit,
            )
        self.starts += 1

    def once(self) -> None:
        """`publisher run --once`: the file's plan into the store, nothing due yet sent."""
        with self.log.open("ab") as out:
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "publisher.cli",
                    "run",
                    "--once",
                    "--config",
                    str(self.config),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=GUARD,
                check=False,
            )
        assert result.returncode == 0, self.output()

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(self.proc.wait, 30)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    async def health(self) -> tuple[int, dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}/healthz"
        timeout = aiohttp.ClientTimeout(total=5)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as s, s.get(url) as resp:
                return resp.status, await resp.json()
        except (aiohttp.ClientError, TimeoutError):
            return 0, {}

    def status(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "publisher.cli", "status", *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def status_json(self) -> dict[str, Any]:
        result = self.status("--json")
        assert result.returncode == 0, result.stderr
        doc: dict[str, Any] = json.loads(result.stdout)
        return doc

    def published(self, pid: str, account: str) -> bool:
        return f"{pid} → {account}: published" in self.output()


async def until(check: Callable[[], Any], what: str, daemon: Daemon | None = None) -> None:
    """Wait for ``check()`` (sync or async); fail, with the daemon's log, on a hang."""
    deadline = time.monotonic() + GUARD
    while time.monotonic() < deadline:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if daemon is not None and not daemon.alive():
            raise AssertionError(f"the daemon exited while waiting for {what}:\n{daemon.output()}")
        await asyncio.sleep(0.1)
    tail = daemon.output()[-4000:] if daemon is not None else ""
    raise AssertionError(f"{what}: not reached in {GUARD:.0f}s\n{tail}")


async def healthy(daemon: Daemon) -> bool:
    return (await daemon.health())[0] == 200


async def failing(daemon: Daemon) -> bool:
    status, body = await daemon.health()
    return status == 503 and any("queue load failed" in p for p in body.get("problems", []))


async def crash_round(
    daemon: Daemon, a: str, b: str, case: str, crashing: Callable[[bytes], bytes | None]
) -> None:
    """A good file with a post for each account, then the crashing one before their time."""
    applied = daemon.output().count("queue applied")
    good = queue(post(a, iso(LEAD), "a"), post(b, iso(LEAD), "b"))
    daemon.write_queue(good)
    await until(lambda: daemon.output().count("queue applied") > applied, case, daemon)
    await until(lambda: healthy(daemon), f"{case}: healthy again", daemon)
    errors = daemon.output().count("queue not applied")
    daemon.write_queue(crashing(good))
    await until(lambda: failing(daemon), f"{case}: /healthz fails", daemon)
    await until(lambda: daemon.output().count("queue not applied") > errors, case, daemon)
    load = daemon.status_json()["last_queue_load"]
    assert load is not None and load["ok"] is False and load["message"], (case, load)
    # The plan from before the break goes out, for both accounts, the break in place.
    await until(lambda: daemon.published(a, "a"), f"{case}: {a} published", daemon)
    await until(lambda: daemon.published(b, "b"), f"{case}: {b} published", daemon)
    log = daemon.output()
    assert log.rindex("queue not applied") < log.index(f"{a} → a: published"), case
    assert await failing(daemon), f"{case}: the error is still reported"
    assert daemon.alive(), case


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(tmp_path, free_port())
    yield d
    d.kill()


async def test_item4_every_crashing_queue_file_keeps_the_daemon_publishing(
    daemon: Daemon,
) -> None:
    """Each crashing file in turn, in one running daemon: the posts of both accounts planned
    before it are published while it is in place, the error is in the log, on /healthz and in
    `publisher status`, and the next good file is applied."""
    daemon.write_config(daemon.root / "queue.db")
    daemon.write_queue(queue(post("warmup", iso(3600), "a")))
    daemon.start()
    await until(lambda: healthy(daemon), "healthy at start", daemon)
    for i, (case, crashing) in enumerate(CRASHING):
        await crash_round(daemon, f"a{i}", f"b{i}", case, crashing)
    daemon.write_queue(queue(post("after", iso(1), "b")))
    await until(lambda: daemon.published("after", "b"), "recovered: a new post published", daemon)
    await until(lambda: healthy(daemon), "recovered: healthy", daemon)
    assert daemon.status_json()["last_queue_load"]["ok"] is True
    assert await daemon.stop() == 0, daemon.output()


async def test_item4_a_queue_crashing_at_start_still_serves_the_stored_plan(
    daemon: Daemon,
) -> None:
    """Broken while the daemon was down: it starts anyway (systemd would otherwise keep it
    down), publishes what the store holds, reports, and applies the fix."""
    daemon.write_config(daemon.root / "queue.db")
    good = queue(post("a1", iso(LEAD), "a"), post("b1", iso(LEAD), "b"))
    daemon.write_queue(good)
    daemon.once()
    daemon.write_queue(CRASHING[0][1](good))
    daemon.start()
    await until(lambda: failing(daemon), "/healthz fails at start", daemon)
    assert daemon.status_json()["last_queue_load"]["ok"] is False
    await until(lambda: daemon.published("a1", "a"), "a1 published", daemon)
    await until(lambda: daemon.published("b1", "b"), "b1 published", daemon)
    daemon.write_queue(queue(post("fixed", iso(1), "a")))
    await until(lambda: daemon.published("fixed", "a"), "fixed file applied", daemon)
    await until(lambda: healthy(daemon), "healthy once fixed", daemon)
    assert await daemon.stop() == 0, daemon.output()


# ----------------------------------------------------------------------------- item 5


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallFs]:
    yield from small_fs(tmp_path / "disk", size_mib=8)


class Notifications:
    """A NOTIFY_SOCKET, as systemd's: what the daemon tells the service manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.messages: list[str] = []

    def read(self) -> list[str]:
        while True:
            try:
                self.messages.extend(self.sock.recv(65536).decode().split("\n"))
            except BlockingIOError:
                return self.messages

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[Notifications]:
    n = Notifications(tmp_path / "notify.sock")
    yield n
    n.close()


def tracebacks(text: str) -> int:
    return text.count("Traceback (most recent call last)")


async def test_item5_read_only_database_at_start_waits_and_recovers(
    daemon: Daemon, disk: SmallFs, notify: Notifications
) -> None:
    """The database's file system is remounted read-only while the daemon is down (as the
    kernel does after disk errors). The daemon neither crashes nor exits: it is READY=1 with a
    STATUS= saying why, /healthz fails saying why, each try logs one line; `status` says the
    database is on a read-only file system; once it is writable again the daemon goes on by
    itself and publishes what came due meanwhile."""
    daemon.write_config(disk.path / "queue.db")
    daemon.write_queue(queue(post("a1", iso(LEAD), "a"), post("b1", iso(LEAD), "b")))
    daemon.once()
    disk.read_only()
    try:
        daemon.start(env={"NOTIFY_SOCKET": str(notify.path)})
        await until(lambda: "READY=1" in notify.read(), "READY=1 while waiting", daemon)
        statuses = [m for m in notify.read() if m.startswith("STATUS=")]
        assert any("database" in m for m in statuses), statuses
        status, body = await daemon.health()
        assert status == 503 and "database" in " ".join(body["problems"]), body
        await until(lambda: daemon.output().count("cannot open the database") >= 2, "a retry")
        assert daemon.alive()
        result = daemon.status()
        assert result.returncode == 1, result
        assert "read-only file system" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    finally:
        disk.writable()
    await until(lambda: daemon.published("a1", "a"), "a1 published once writable", daemon)
    await until(lambda: daemon.published("b1", "b"), "b1 published once writable", daemon)
    await until(lambda: healthy(daemon), "healthy once writable", daemon)
    assert tracebacks(daemon.output()) == 0, daemon.output()
    assert await daemon.stop() == 0, daemon.output()


def bulk(n: int) -> str:
    """Posts enough to need several MiB of database: more than a full disk leaves."""
    return "".join(
        post(f"bulk-{i}", iso(86400 + 60 * i), "b", "lorem ipsum " * 40) for i in range(n)
    )


async def test_item5_disk_full_during_a_queue_edit_is_retried_and_reported(
    daemon: Daemon, disk: SmallFs
) -> None:
    """ENOSPC, for real, from SQLite while it applies an edit: the daemon keeps running, says
    so (log, /healthz, `status`), retries by itself, and applies the edit once there is room."""
    daemon.write_config(disk.path / "queue.db")
    daemon.write_queue(queue(post("warmup", iso(3600), "a")))
    daemon.start()
    await until(lambda: healthy(daemon), "healthy at start", daemon)
    disk.fill()
    try:
        daemon.write_queue(
            queue(post("warmup", iso(3600), "a"), post("c1", iso(8), "a"), bulk(2000))
        )
        await until(lambda: failing(daemon), "/healthz fails on a full disk", daemon)
        _, body = await daemon.health()
        assert "full" in " ".join(body["problems"]), body
        await until(lambda: daemon.output().count("disk is full") >= 2, "retried", daemon)
        assert daemon.alive()
        doc = daemon.status_json()
        assert doc["database_problem"] and "free" in doc["database_problem"], doc
    finally:
        disk.free()
    await until(lambda: "queue applied: 2001 added" in daemon.output(), "applied with room", daemon)
    await until(lambda: daemon.published("c1", "a"), "c1 published", daemon)
    await until(lambda: healthy(daemon), "healthy with room", daemon)
    assert daemon.status_json()["last_queue_load"]["ok"] is True
    assert tracebacks(daemon.output()) == 0, daemon.output()
    assert await daemon.stop() == 0, daemon.output()


async def reload_refused(daemon: Daemon, notify: Notifications, breaking: str, pid: str) -> None:
    """SIGHUP with a config that cannot be read: refused in one line, READY=1 after
    RELOADING=1, and the queue still applied and published with the running config."""
    before = len(daemon.output())
    heard = len(notify.read())
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)
    await until(lambda: "READY=1" in notify.read()[heard:], f"{breaking}: READY=1", daemon)
    said = notify.messages[heard:]
    assert said.index("RELOADING=1") < said.index("READY=1"), said
    await until(lambda: "the running one stays" in daemon.output()[before:], breaking, daemon)
    new = daemon.output()[before:]
    refused = [line for line in new.splitlines() if "the running one stays" in line]
    assert len(refused) == 1, new
    if breaking == "directory":
        assert "Traceback" not in new, new
    # Nothing was lost: an edit after the reload is applied and published.
    daemon.write_queue(queue(post("warmup", iso(3600), "a"), post(pid, iso(1), "b")))
    await until(lambda: daemon.published(pid, "b"), f"{breaking}: {pid} published", daemon)
    assert await healthy(daemon), breaking


async def test_item5_config_replaced_by_a_directory_on_sighup(
    daemon: Daemon, notify: Notifications
) -> None:
    """A SIGHUP that cannot read the config (a directory in its place, then bytes that are not
    UTF-8): one error line each, the running config stays, every RELOADING=1 is followed by
    READY=1, and the queue is still applied and published."""
    daemon.write_config(daemon.root / "queue.db")
    good_config = daemon.config.read_bytes()
    daemon.write_queue(queue(post("warmup", iso(3600), "a")))
    daemon.start(env={"NOTIFY_SOCKET": str(notify.path)})
    await until(lambda: healthy(daemon), "healthy at start", daemon)
    for n, breaking in enumerate(("directory", "not UTF-8")):
        if breaking == "directory":
            daemon.config.unlink()
            daemon.config.mkdir()
        else:
            daemon.config.rmdir()
            daemon.config.write_bytes(good_config + b"\n# r\xe9glage\n")
        await reload_refused(daemon, notify, breaking, f"p{n}")
    daemon.config.write_bytes(good_config)
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)
    await until(lambda: "configuration reloaded" in daemon.output(), "reloaded once fixed", daemon)
    assert await daemon.stop() == 0, daemon.output()
