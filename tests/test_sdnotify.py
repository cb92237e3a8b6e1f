"""The sd_notify client against real unix datagram sockets, as systemd would listen."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.sdnotify import Notifier, watchdog_task
from publisher.secrets import REDACTOR


class Listener:
    """A bound datagram socket that records (monotonic time, message) in a thread."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.05)
        self.received: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.received.append((time.monotonic(), data.decode()))

    def messages(self, settle: float = 0.3) -> list[str]:
        deadline = time.monotonic() + settle
        count = -1
        while time.monotonic() < deadline and count != len(self.received):
            count = len(self.received)
            time.sleep(0.05)
        return [m for _, m in self.received]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # AF_UNIX paths are limited to 108 bytes; pytest's tmp_path can be longer.
    d = Path(tempfile.mkdtemp(prefix="sdn"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def path_listener(short_dir: Path) -> Iterator[tuple[Listener, str]]:
    path = str(short_dir / "notify")
    listener = Listener(path)
    yield listener, path
    listener.close()


def test_messages_arrive_in_order(path_listener: tuple[Listener, str]) -> None:
    listener, path = path_listener
    n = Notifier({"NOTIFY_SOCKET": path})
    assert n.enabled
    assert n.ready()
    assert n.status("publishing 3 posts")
    assert n.watchdog()
    assert n.stopping()
    n.close()
    assert listener.messages() == [
        "READY=1", "STATUS=publishing 3 posts", "WATCHDOG=1", "STOPPING=1"
    ]


def test_abstract_namespace_socket() -> None:
    name = f"publisher-test-{uuid.uuid4().hex}"
    listener = Listener("\0" + name)
    try:
        n = Notifier({"NOTIFY_SOCKET": "@" + name})
        assert n.ready("up")
        assert n.watchdog()
        n.close()
        assert listener.messages() == ["READY=1\nSTATUS=up", "WATCHDOG=1"]
    finally:
        listener.close()


def test_status_is_one_line_and_scrubbed(path_listener: tuple[Listener, str]) -> None:
    listener, path = path_listener
    canary = f"canary-{uuid.uuid4().hex}"
    REDACTOR.add(canary)
    n = Notifier({"NOTIFY_SOCKET": path})
    n.status(f"failed: token {canary}\nrejected")
    n.extend_timeout(timedelta(seconds=20))
    n.close()
    assert listener.messages() == [
        "STATUS=failed: token *** rejected", "EXTEND_TIMEOUT_USEC=20000000"
    ]


def test_no_op_without_notify_socket() -> None:
    n = Notifier({})
    assert not n.enabled
    assert not n.ready()
    assert not n.status("x")
    assert not n.watchdog()
    assert not n.stopping()
    assert n.watchdog_interval() is None


def test_uses_process_environment_by_default(
    path_listener: tuple[Listener, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    listener, path = path_listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "4000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    n = Notifier()
    assert n.watchdog_interval() == timedelta(seconds=4)
    n.ready()
    n.close()
    assert listener.messages() == ["READY=1"]


def test_send_failure_never_raises_and_logs_once(
    short_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    n = Notifier({"NOTIFY_SOCKET": str(short_dir / "nobody-listens")})
    with caplog.at_level(logging.WARNING, logger="publisher.sdnotify"):
        results = [n.ready(), n.watchdog(), n.status("x"), n.stopping()]
    assert results == [False] * 4
    warnings = [r for r in caplog.records if r.name == "publisher.sdnotify"]
    assert len(warnings) == 1
    assert "cannot notify systemd" in warnings[0].getMessage()


def test_unsupported_address_is_disabled(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="publisher.sdnotify"):
        n = Notifier({"NOTIFY_SOCKET": "vsock:2:1234"})
    assert not n.enabled
    assert not n.ready()
    assert len(caplog.records) == 1


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, timedelta(seconds=30)),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, timedelta(seconds=30)),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: timedelta | None) -> None:
    assert Notifier(env).watchdog_interval() == expected


async def test_watchdog_task_does_nothing_when_not_watched(
    path_listener: tuple[Listener, str],
) -> None:
    listener, path = path_listener
    n = Notifier({"NOTIFY_SOCKET": path})  # no WATCHDOG_USEC
    await asyncio.wait_for(watchdog_task(n), timeout=1)  # returns at once
    await asyncio.wait_for(watchdog_task(Notifier({}), timedelta(seconds=1)), timeout=1)
    n.close()
    assert listener.messages(settle=0.1) == []


async def test_blocked_event_loop_stops_the_pings(path_listener: tuple[Listener, str]) -> None:
    """Pings come from the loop: while a coroutine blocks it, none go out."""
    listener, path = path_listener
    n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})  # ping every 0.1 s
    task = asyncio.create_task(watchdog_task(n))
    try:
        await asyncio.sleep(0.6)

        async def blocker() -> tuple[float, float]:
            start = time.monotonic()
            time.sleep(1.2)
            return start, time.monotonic()

        blocked_from, blocked_until = await blocker()
        await asyncio.sleep(0.6)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        n.close()
    listener.messages(settle=0.1)
    pings = [t for t, m in listener.received if m == "WATCHDOG=1"]
    before = [t for t in pings if t < blocked_from]
    after = [t for t in pings if t > blocked_until]
    # Pings flow before and after (loose counts: about 6 each on an idle machine)...
    assert len(before) >= 2
    assert len(after) >= 2
    # ...and not during: allow one in-flight datagram at each edge of the blocked period.
    inside = [t for t in pings if blocked_from + 0.15 < t < blocked_until - 0.15]
    assert inside == []
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert max(gaps) >= 0.8  # the blocked second shows as one long silence
