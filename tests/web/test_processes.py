"""``publisher web`` and the daemon serving the web view, as real processes."""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.processes import PUBLISHER, start_daemon
from tests.web.site import example, free_port

WAIT = 60  # seconds a process may take to listen: a guard against a hang, not a measure


def fetch(url: str) -> tuple[int, str]:
    """The status and text of ``url``, once something listens there."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_publisher_web_serves_the_local_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = example(tmp_path)
    port = free_port()
    log = tmp_path / "web.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*PUBLISHER, "web", "--config", str(config), "--listen", f"127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        status, text = fetch(f"http://127.0.0.1:{port}/calendar?at=2026-12-01")
        assert status == 200 and 'data-post="winter-sale-launch"' in text
        assert fetch(f"http://127.0.0.1:{port}/status")[0] == 200  # no store: said so
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(WAIT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert f"http://127.0.0.1:{port}/" in log.read_text()
    assert not (tmp_path / "queue.db").exists()  # it wrote nothing


@pytest.mark.slow
def test_the_daemon_serves_the_view_beside_its_metrics(tmp_path: Path) -> None:
    port = free_port()
    extra = f'\n[metrics]\nlisten = "127.0.0.1:{port}"\n\n[web]\non_metrics = true\n'
    config = example(tmp_path, extra_config=extra)
    daemon = start_daemon(config, "--dry-run", log=tmp_path / "daemon.log")
    try:
        status, text = fetch(f"http://127.0.0.1:{port}/calendar?at=2026-12-01")
        assert status == 200 and 'data-post="behind-the-scenes-thread"' in text, daemon.output()
        assert fetch(f"http://127.0.0.1:{port}/healthz")[0] in (200, 503)
        assert daemon.terminate() == 0
    finally:
        daemon.kill()


def test_the_daemon_refuses_to_start_with_a_web_view_beyond_loopback(tmp_path: Path) -> None:
    port = free_port()
    config = example(tmp_path, extra_config=f'\n[web]\nlisten = "0.0.0.0:{port}"\n')
    daemon = start_daemon(config, "--dry-run", log=tmp_path / "daemon.log")
    try:
        assert daemon.proc.wait(WAIT) == 1
    finally:
        daemon.kill()
    assert "needs a token" in daemon.output() and "refusing to start" in daemon.output()
