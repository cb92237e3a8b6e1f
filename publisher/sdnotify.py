"""The sd_notify protocol, without libsystemd: one datagram per message to ``$NOTIFY_SOCKET``.

Outside systemd (no ``NOTIFY_SOCKET``) every call is a no-op, so the daemon calls it
unconditionally. Sending never raises: a service manager that stops listening must not take
the daemon down with it; the first failure is logged, later ones are not.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping
from datetime import timedelta

from publisher.secrets import REDACTOR

log = logging.getLogger("publisher.sdnotify")


def _address(value: str) -> str | None:
    """A filesystem path, or ``@name`` for the abstract namespace (leading NUL on the wire)."""
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    return None


class Notifier:
    """Tells systemd about the daemon's life: ready, reloading, stopping, alive, status."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        self._address = _address(raw)
        if raw and self._address is None:
            log.warning("NOTIFY_SOCKET=%r is not a path or @abstract name; not notifying", raw)
        self._watchdog = _watchdog_interval(env)
        self._sock: socket.socket | None = None
        self._warned = False

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=value`` lines as one datagram; True if it left."""
        if self._address is None:
            return False
        data = "\n".join(assignments).encode("utf-8")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                # A full receive queue must not block the event loop; it counts as a failure.
                self._sock.setblocking(False)
            self._sock.sendto(data, self._address)
        except OSError as err:
            if not self._warned:
                self._warned = True
                log.warning("cannot notify systemd at %s: %s", self._address.lstrip("\0"), err)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *([_status(status)] if status is not None else []))

    def reloading(self) -> bool:
        """Before re-reading config/queue on SIGHUP; follow with ``ready()`` when done."""
        return self.notify("RELOADING=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *([_status(status)] if status is not None else []))

    def status(self, text: str) -> bool:
        """One line for ``systemctl status``; secrets are scrubbed since anyone may read it."""
        return self.notify(_status(text))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def extend_timeout(self, delta: timedelta) -> bool:
        """Ask for more time to start or stop (a long migration, a slow shutdown)."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={_usec(delta)}")

    def watchdog_interval(self) -> timedelta | None:
        """``WatchdogSec=`` as systemd passed it to this process, or None if not watched."""
        return self._watchdog

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _status(text: str) -> str:
    return "STATUS=" + " ".join(REDACTOR.scrub(text).split())


def _usec(delta: timedelta) -> int:
    return max(delta // timedelta(microseconds=1), 0)


def _watchdog_interval(env: Mapping[str, str]) -> timedelta | None:
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid is not None and pid.strip() != str(os.getpid()):
        return None  # the watchdog is meant for another process (a parent or a child of ours)
    return timedelta(microseconds=usec) if usec > 0 else None


async def watchdog_task(notifier: Notifier, interval: timedelta | None = None) -> None:
    """Ping at half the watchdog interval until cancelled.

    The ping is sent from the event loop on purpose: a loop blocked by a synchronous call
    stops pinging, and systemd restarts the daemon, which is the point of the watchdog.
    """
    if interval is None:
        interval = notifier.watchdog_interval()
    if interval is None or interval <= timedelta(0) or not notifier.enabled:
        return
    period = interval.total_seconds() / 2
    while True:
        notifier.watchdog()
        await asyncio.sleep(period)
