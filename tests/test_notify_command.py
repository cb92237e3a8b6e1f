"""Issue 19, item 7: a notify command runs under a timeout that kills its whole process
group, says on one line why it failed, and never outlives the daemon.

Real commands (shell scripts that hang, spawn children, write to stderr, exit non-zero),
real process groups, real signals.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher.config import NotifySettings
from publisher.engine.notify import HumanAlerts
from publisher.secrets import Secret
from publisher.testing.servers import LocalServer
from tests.daemon.test_process import (  # noqa: F401 - fixtures
    SlowMastodon,
    masto,
    spawn,
    wait_for,
    write_files,
)

EVENT = {"event": "delivery.failed", "post": "p1", "account": "alpha"}

# Starts a child that would outlive it, writes both pids, then hangs. `trap '' TERM` in the
# stubborn variant makes the group survive SIGTERM, so only SIGKILL ends it.
HUNG = """\
#!/bin/sh
{trap}
sleep 300 &
echo $$ $! > "{pids}.tmp" && mv "{pids}.tmp" "{pids}"
sleep 300
"""


def script(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent that may never reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def pids_of(path: Path) -> list[int]:
    return [int(p) for p in path.read_text().split()]


async def notify_once(settings: NotifySettings, *, hangs: bool = False) -> None:
    alerts = HumanAlerts(settings)
    alerts.send(EVENT)
    if hangs:
        # A guard against a hang, not a limit: the command ends at its own timeout.
        await alerts.drain(grace=60)
    else:
        await alerts.drain()


@pytest.mark.parametrize("stubborn", [False, True], ids=["obeys-sigterm", "ignores-sigterm"])
async def test_item7_hung_notify_command_is_killed_with_its_children_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, stubborn: bool
) -> None:
    pids = tmp_path / "pids"
    hung = script(
        tmp_path / "page-me",
        HUNG.format(trap="trap '' TERM" if stubborn else "", pids=pids),
    )
    caplog.set_level(logging.WARNING, logger="publisher.notify")
    await notify_once(NotifySettings(command=[str(hung)], timeout=timedelta(seconds=1)), hangs=True)
    assert pids.exists()
    parent, child = pids_of(pids)
    await wait_for(lambda: not alive(parent) and not alive(child), timeout=10)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["notify command page-me (delivery.failed) timed out after 1s (killed)"]


async def test_item7_failing_notify_command_reports_status_and_stderr_scrubbed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    Secret("PAGER_TOKEN", "pager-token-7f3a9c")  # registers the value with the redactor
    failing = script(
        tmp_path / "page-me",
        "#!/bin/sh\ncat > /dev/null\n"
        "echo 'pager refused token pager-token-7f3a9c' >&2\necho 'try later' >&2\nexit 3\n",
    )
    caplog.set_level(logging.WARNING, logger="publisher.notify")
    await notify_once(NotifySettings(command=[str(failing)]))
    assert [r.getMessage() for r in caplog.records] == [
        "notify command page-me (delivery.failed) exited with status 3: "
        "pager refused token *** | try later"
    ]


async def test_item7_notify_command_that_cannot_start_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "no-such-pager"
    not_executable = tmp_path / "pager.txt"
    not_executable.write_text("#!/bin/sh\nexit 0\n")
    caplog.set_level(logging.WARNING, logger="publisher.notify")
    await notify_once(NotifySettings(command=[str(missing)]))
    await notify_once(NotifySettings(command=[str(not_executable)]))
    assert [r.getMessage() for r in caplog.records] == [
        f"notify command no-such-pager (delivery.failed) could not start: no such file: {missing}",
        f"notify command pager.txt (delivery.failed) could not start: "
        f"permission denied: {not_executable}",
    ]


async def test_item7_daemon_stop_kills_running_notify_commands(
    tmp_path: Path,
    masto: SlowMastodon,  # noqa: F811 - the fixture
    spawn: object,  # noqa: F811 - the fixture
) -> None:
    """A revoked token makes the daemon page a human; the pager hangs with a child; SIGTERM
    stops the daemon, and neither the pager nor its child is left behind."""
    pids = tmp_path / "pids"
    hung = script(tmp_path / "page-me", HUNG.format(trap="", pids=pids))
    now = datetime.now(UTC)
    config = write_files(
        tmp_path,
        masto.url,
        [("p1", now + timedelta(seconds=1), "Bonjour")],
        extra=f'[notify]\ncommand = ["{hung}"]\n',  # the default timeout, 30s
    )
    daemon = spawn(config, env={"MASTO_TOKEN": "revoked-token-000"})  # type: ignore[operator]
    await wait_for(pids.exists, timeout=30)
    parent, child = pids_of(pids)
    assert alive(parent) and alive(child)
    daemon.proc.send_signal(signal.SIGTERM)
    # A guard against a hang: the daemon gives notifications a few seconds, then kills them.
    assert await asyncio.to_thread(daemon.proc.wait, 60) == 0, daemon.output()
    await wait_for(lambda: not alive(parent) and not alive(child), timeout=10)
    assert "Traceback" not in daemon.output()


def test_item7_timeout_is_a_config_setting(tmp_path: Path) -> None:
    from publisher.config import load_config

    config = tmp_path / "publisher.toml"
    config.write_text(
        '[notify]\ncommand = ["/usr/local/bin/page-me"]\ntimeout = "45s"\n'
        '[accounts.alpha]\nnetwork = "log"\n'
    )
    assert load_config(config).notify.timeout == timedelta(seconds=45)
    assert NotifySettings().timeout == timedelta(seconds=30)


async def test_item7_hung_webhook_says_it_timed_out(caplog: pytest.LogCaptureFixture) -> None:
    """The webhook had the same empty reason ("notify webhook failed: ") on a timeout."""
    from aiohttp import web

    release = asyncio.Event()

    async def hang(_request: web.Request) -> web.Response:
        await release.wait()
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hang)
    caplog.set_level(logging.WARNING, logger="publisher.notify")
    async with LocalServer(app) as server:
        try:
            await notify_once(
                NotifySettings(url=f"{server.url}/hook", timeout=timedelta(seconds=1)),
                hangs=True,
            )
        finally:
            release.set()
    assert [r.getMessage() for r in caplog.records] == ["notify webhook timed out after 1s"]
