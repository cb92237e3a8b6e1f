"""The ``publisher`` command as a real process: a daemon to start and stop, a command to run.

``run`` and ``run --once`` install signal handlers and own their event loop, so tests run
them as systemd does, as a process of their own. ``env`` is the process's whole environment
(None: this one's).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PUBLISHER = (sys.executable, "-m", "publisher.cli")


def run_publisher(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``publisher *args`` to its end; its output captured as text."""
    return subprocess.run(
        [*PUBLISHER, *args],
        capture_output=True,
        text=True,
        env=None if env is None else dict(env),
        cwd=cwd,
        timeout=timeout,
        check=check,
    )


def status_json(config: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``publisher status --json`` as a process: what an operator's script would read."""
    out = run_publisher("status", "--json", "--config", str(config), env=env, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


@dataclass
class Daemon:
    """A ``publisher run`` process; its output (stdout and stderr) goes to ``log``."""

    proc: subprocess.Popen[str]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def running(self) -> bool:
        return self.proc.poll() is None

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, as systemd stops it; its exit code once it has drained."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL if it still runs (a test's clean-up)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def start_daemon(
    config: Path,
    *args: str,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Daemon:
    """``publisher run --config config *args`` started in the background."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*PUBLISHER, "run", "--config", str(config), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
            cwd=cwd,
            text=True,
        )
    return Daemon(proc, log)


def mastodon_status(base_url: str, n: int, text: str) -> dict[str, Any]:
    """The status a stand-in Mastodon instance answers for its ``n``-th post: what the daemon
    process tests' small servers share."""
    return {
        "id": str(1000 + n),
        "uri": f"{base_url}/statuses/{1000 + n}",
        "url": f"{base_url}/@brand/{1000 + n}",
        "content": f"<p>{text}</p>",
        "created_at": datetime.now(UTC).isoformat(),
        "visibility": "public",
        "account": {"id": "1", "acct": "brand", "username": "brand"},
        "media_attachments": [],
    }
