"""Telling a human: a command or a webhook, called with JSON when something needs them.

Called when a delivery fails or becomes unknown, and when an account needs attention. A
notification that cannot be delivered is logged, with why, on one line; it never stops
publishing. A command runs in its own process group under ``[notify] timeout``: past it,
or when the daemon stops, the whole group is killed, so nothing it started outlives us.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from publisher.config import NotifySettings
from publisher.secrets import REDACTOR
from publisher.states import DeliveryState
from publisher.store import Delivery, Transition
from publisher.sync import SyncReport

log = logging.getLogger("publisher.notify")

NOTIFY_STATES = frozenset({DeliveryState.FAILED, DeliveryState.UNKNOWN})
KILL_GRACE = 3.0  # seconds between SIGTERM and SIGKILL to a notify command's group
STOP_GRACE = 5.0  # seconds notifications still running at stop may take to finish
STDERR_KEPT = 4096  # bytes of a command's stderr kept for the log; the rest is read and dropped


def delivery_event(d: Delivery, t: Transition) -> dict[str, Any]:
    return {
        "event": f"delivery.{t.state.value}",
        "at": t.now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "delivery": d.id,
        "post": d.post_id,
        "account": d.account,
        "network": d.network,
        "state": t.state.value,
        "reason": REDACTOR.scrub(t.last_error or t.reason or ""),
        "attempts": d.attempts,
        "scheduled_at": d.scheduled_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


def attention_event(
    account: str, network: str, attention: str, reason: str, at: datetime
) -> dict[str, Any]:
    return {
        "event": "account.attention",
        "at": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "account": account,
        "network": network,
        "attention": attention,
        "reason": REDACTOR.scrub(reason),
    }


class HumanAlerts:
    """An engine observer that sends events to the configured command or URL."""

    def __init__(
        self, settings: NotifySettings, session: aiohttp.ClientSession | None = None
    ) -> None:
        self.settings = settings
        self.session = session
        self._tasks: set[asyncio.Task[None]] = set()
        self._groups: set[int] = set()  # process groups of commands still running
        self._attention_sent: set[tuple[str, str]] = set()

    @property
    def enabled(self) -> bool:
        return bool(self.settings.command or self.settings.url)

    def on_sync(self, report: SyncReport, now: datetime) -> None:
        return None

    def on_pass(self, now: datetime, next_due: datetime | None) -> None:
        return None

    def on_result(self, delivery: Delivery, t: Transition) -> None:
        if not self.enabled:
            return
        if t.state in NOTIFY_STATES:
            self.send(delivery_event(delivery, t))
        attention = getattr(t, "attention", None)
        if attention:
            key = (delivery.account, attention)
            if key not in self._attention_sent:
                self._attention_sent.add(key)
                self.send(
                    attention_event(
                        delivery.account, delivery.network, attention, t.last_error or "", t.now
                    )
                )

    def send(self, event: dict[str, Any]) -> None:
        task = asyncio.ensure_future(self._send(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, event: dict[str, Any]) -> None:
        body = json.dumps(event, ensure_ascii=False).encode()
        if self.settings.command:
            failure = await self._run_command(body)
            if failure:
                log.warning(
                    "notify command %s (%s) %s",
                    Path(self.settings.command[0]).name,
                    event.get("event", "?"),
                    REDACTOR.scrub(failure),
                    extra={"action": "notify"},
                )
        if self.settings.url:
            session = self.session
            own = session is None
            timeout = self.settings.timeout.total_seconds()
            if own:
                session = aiohttp.ClientSession()
            assert session is not None
            try:
                async with session.post(
                    self.settings.url,
                    data=body,
                    headers={"Content-Type": "application/json"},
                    timeout=aiohttp.ClientTimeout(total=timeout),
                ) as resp:
                    if resp.status >= 400:
                        log.warning(
                            "notify webhook answered %s", resp.status, extra={"action": "notify"}
                        )
            except TimeoutError:  # its text is empty: say what happened
                log.warning(
                    "notify webhook timed out after %s",
                    _seconds(timeout),
                    extra={"action": "notify"},
                )
            except aiohttp.ClientError as exc:
                log.warning(
                    "notify webhook failed: %s",
                    REDACTOR.scrub(str(exc)),
                    extra={"action": "notify"},
                )
            finally:
                if own:
                    await session.close()

    async def _run_command(self, body: bytes) -> str | None:
        """Run the command with ``body`` on stdin; None when it succeeded, else why not."""
        program = self.settings.command[0]
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.settings.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its own process group: killed whole, children too
            )
        except FileNotFoundError:
            return f"could not start: no such file: {program}"
        except PermissionError:
            return f"could not start: permission denied: {program}"
        except (OSError, ValueError) as exc:
            return f"could not start: {getattr(exc, 'strerror', None) or exc}"
        self._groups.add(proc.pid)
        timeout = self.settings.timeout.total_seconds()
        try:
            stderr = await asyncio.wait_for(_talk(proc, body), timeout)
        except TimeoutError:
            await _kill_group(proc)
            return f"timed out after {_seconds(timeout)} (killed)"
        except BaseException:  # cancelled (the daemon is going down): no orphan either
            _signal_group(proc.pid, signal.SIGKILL)
            raise
        finally:
            self._groups.discard(proc.pid)
        if proc.returncode == 0:
            return None
        first = " | ".join(
            _printable(line)
            for line in stderr.decode(errors="replace").splitlines()[:3]
            if line.strip()
        )
        code = proc.returncode or 0
        status = (
            f"was killed by {_signal_name(-code)}" if code < 0 else f"exited with status {code}"
        )
        return f"{status}: {first[:300]}" if first else f"{status} (no message on stderr)"

    async def drain(self, grace: float = STOP_GRACE) -> None:
        """At stop: notifications still out get ``grace`` seconds, then commands' process
        groups are killed and the rest is abandoned."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace)
        for pgid in list(self._groups):
            _signal_group(pgid, signal.SIGTERM)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=KILL_GRACE)
        for task in list(self._tasks):
            task.cancel()  # a cancelled command task SIGKILLs its group on the way out
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=KILL_GRACE)


async def _talk(proc: asyncio.subprocess.Process, body: bytes) -> bytes:
    """Write stdin and read stderr together (a command may write before it reads), keeping
    only the head of stderr however much it writes; then wait for the exit."""
    assert proc.stdin is not None and proc.stderr is not None
    stdin, stderr = proc.stdin, proc.stderr

    async def write() -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            stdin.write(body)
            await stdin.drain()
        stdin.close()

    async def read() -> bytes:
        kept = bytearray()
        while chunk := await stderr.read(65536):
            kept += chunk[: max(0, STDERR_KEPT - len(kept))]
        return bytes(kept)

    _, head = await asyncio.gather(write(), read())
    await proc.wait()
    return head


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM to the whole group, SIGKILL after a grace: a child that ignores the first
    or outlives its parent still goes."""
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), KILL_GRACE)
    finally:  # cancelled meanwhile (the daemon stops): still no survivor
        _signal_group(proc.pid, signal.SIGKILL)
    await proc.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _printable(line: str) -> str:
    """A line of someone else's stderr, safe for a one-line log event."""
    return "".join(c if c.isprintable() else "?" for c in line.strip())


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _seconds(value: float) -> str:
    return f"{value:g}s"
