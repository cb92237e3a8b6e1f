"""``publisher accounts connect`` as an operator runs it: a real process whose browser (the
$BROWSER command ``webbrowser`` runs) follows the redirect; the credentials land where the
``${NAME}`` references find them, and the account then publishes with them."""

from __future__ import annotations

import asyncio
import os
import secrets
import stat
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from publisher.connect.vault import store
from publisher.testing.oauth import Browser
from tests.conftest import Project
from tests.connect.bot_servers import DiscordServer
from tests.connect.meta_servers import GraphServer, Page
from tests.connect.servers import MastodonOAuth
from tests.processes import PUBLISHER, run_publisher

BROWSER = f"""#!{sys.executable}
import asyncio, sys
import aiohttp

async def main() -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(sys.argv[1]) as response:
            await response.text()

asyncio.run(main())
"""


def environment(tmp_path: Path) -> dict[str, str]:
    browser = tmp_path / "browser"
    browser.write_text(BROWSER)
    browser.chmod(0o700)
    env = {k: v for k, v in os.environ.items() if k not in ("CREDENTIALS_DIRECTORY", "DISPLAY")}
    env["BROWSER"] = str(browser)
    return env


async def connect(project: Project, *args: str, env: Mapping[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *PUBLISHER,
        "accounts",
        "connect",
        "masto",
        "--config",
        str(project.config_path),
        *args,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def masto_project(project: Project, url: str, token: str = "${MASTO_TOKEN}") -> None:
    project.accounts = {"masto": {"network": "mastodon", "instance": url, "token": token}}
    project.write_config()


async def test_connect_then_the_account_publishes_with_the_new_token(
    project: Project, tmp_path: Path
) -> None:
    canary = "canary-" + secrets.token_urlsafe(24)
    oauth = MastodonOAuth(token=canary)
    async with oauth.server() as api:
        masto_project(project, api.url)
        config_before = project.config_path.read_bytes()
        creds = tmp_path / "creds"
        env = environment(tmp_path)
        code, out, err = await connect(project, "--credentials-dir", str(creds), env=env)
        assert code == 0, out + err
        assert f"stored ${{MASTO_TOKEN}} in {creds / 'MASTO_TOKEN'}" in out
        assert "accounts check: ok @brand" in out
        assert "scopes needed: read:accounts read:statuses write:media write:statuses" in out
        assert canary not in out + err  # the canary: no value in any output without --print
        token_file = creds / "MASTO_TOKEN"
        assert token_file.read_text() == canary + "\n"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert project.config_path.read_bytes() == config_before  # never written
        # Now the daemon's run finds the token where the reference points, and posts with it.
        at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        project.write_queue(f"""\
            posts:
              - {{id: hello, at: "{at}", accounts: [masto], text: Connected in one command}}
            """)
        run_env = {**env, "CREDENTIALS_DIRECTORY": str(creds)}
        done = await asyncio.to_thread(
            run_publisher, "run", "--once", "--config", str(project.config_path), env=run_env
        )
        assert done.returncode == 0, done.stderr
        assert canary not in done.stdout + done.stderr
        assert [s.text for s in api.statuses] == ["Connected in one command"]
        [posted] = api.accepted_for("POST", "/api/v1/statuses")
        assert posted.headers["Authorization"] == f"Bearer {canary}"


async def test_print_writes_no_file_and_shows_the_value_on_stdout_only(
    project: Project, tmp_path: Path
) -> None:
    canary = "canary-" + secrets.token_urlsafe(24)
    oauth = MastodonOAuth(token=canary)
    async with oauth.server() as api:
        masto_project(project, api.url)
        env = {**environment(tmp_path), "CREDENTIALS_DIRECTORY": str(tmp_path / "creds")}
        code, out, err = await connect(project, "--print", env=env)
        assert code == 0, out + err
        assert f"MASTO_TOKEN='{canary}'" in out.splitlines()
        assert canary not in err
        assert not (tmp_path / "creds").exists()


async def test_a_refused_or_abandoned_flow_changes_no_file(
    project: Project, tmp_path: Path
) -> None:
    oauth = MastodonOAuth()
    async with oauth.server() as api:
        masto_project(project, api.url)
        creds = tmp_path / "creds"
        creds.mkdir(mode=0o700)
        (creds / "MASTO_TOKEN").write_text("old-token-0123456789\n")
        (creds / "MASTO_TOKEN").chmod(0o600)
        before = (creds / "MASTO_TOKEN").stat()
        env = environment(tmp_path)
        oauth.issuer.deny = True
        code, _, err = await connect(project, "--credentials-dir", str(creds), env=env)
        assert code == 1
        assert "access_denied" in err and "nothing stored" in err
        code, _, err = await connect(
            project,
            "--credentials-dir",
            str(creds),
            "--no-browser",
            "--timeout",
            "1",
            env=env,
        )
        assert code == 1 and "abandoned" in err
        assert [p.name for p in creds.iterdir()] == ["MASTO_TOKEN"]
        after = (creds / "MASTO_TOKEN").stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
        assert (creds / "MASTO_TOKEN").read_text() == "old-token-0123456789\n"


async def test_a_secret_written_in_the_config_is_refused_before_any_request(
    project: Project, tmp_path: Path
) -> None:
    oauth = MastodonOAuth()
    async with oauth.server() as api:
        masto_project(project, api.url, token="literal-secret-0123456789")
        code, _, err = await connect(
            project, "--credentials-dir", str(tmp_path / "creds"), env=environment(tmp_path)
        )
        assert code == 1
        assert 'token = "${MASTO_TOKEN}"' in err and "literal-secret" not in err
        assert oauth.apps == [] and api.hits == []
        assert not (tmp_path / "creds").exists()


async def test_a_scope_not_granted_is_a_warning_and_an_exit_code(
    project: Project, tmp_path: Path
) -> None:
    oauth = MastodonOAuth()
    oauth.issuer.grant_only = frozenset({"read:accounts", "read:statuses", "write:statuses"})
    async with oauth.server() as api:
        masto_project(project, api.url)
        env = {**environment(tmp_path), "MASTO_TOKEN": "old-env-token-0123456789"}
        code, out, _ = await connect(project, "--credentials-dir", str(tmp_path / "creds"), env=env)
        assert code == 1
        assert "WARNING: not granted: write:media" in out
        assert "note: $MASTO_TOKEN is set in the environment, which wins over the file" in out
        assert (tmp_path / "creds" / "MASTO_TOKEN").exists()  # stored: the rest works


async def test_headless_paste_of_the_address_the_browser_ended_on(
    project: Project, tmp_path: Path
) -> None:
    """No browser on the server: the address is printed, opened elsewhere, and the address
    the browser ended on is pasted back on stdin."""
    oauth = MastodonOAuth()
    async with oauth.server() as api, aiohttp.ClientSession() as browsing:
        masto_project(project, api.url)
        creds = tmp_path / "creds"
        env = {k: v for k, v in environment(tmp_path).items() if k != "BROWSER"}
        proc = await asyncio.create_subprocess_exec(
            *PUBLISHER,
            "accounts",
            "connect",
            "masto",
            "--config",
            str(project.config_path),
            "--credentials-dir",
            str(creds),
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stderr is not None
        shown = ""
        while "/oauth/authorize?" not in shown:
            line = await asyncio.wait_for(proc.stderr.readline(), 60)
            assert line, "the address was never shown"
            shown = line.decode().strip()
        landed = await Browser(browsing).address_bar(shown)
        proc.stdin.write(landed.encode() + b"\n")
        await proc.stdin.drain()
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, (out + err).decode()
        assert (creds / "MASTO_TOKEN").read_text() == api.token + "\n"


async def test_a_network_whose_adapter_is_not_installed_is_stored_then_not_checked(
    project: Project, tmp_path: Path
) -> None:
    """Discord's flow needs no adapter; the check is the adapter's, by network name."""
    async with DiscordServer() as discord:
        project.accounts = {"masto": {"network": "discord", "webhook_url": "${DC_WEBHOOK}"}}
        project.write_config()
        creds = tmp_path / "creds"
        proc = await asyncio.create_subprocess_exec(
            *PUBLISHER,
            "accounts",
            "connect",
            "masto",
            "--config",
            str(project.config_path),
            "--credentials-dir",
            str(creds),
            env=environment(tmp_path),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(
            proc.communicate(discord.webhook_url().encode() + b"\n"), 60
        )
        text = (out + err).decode()
        assert (creds / "DC_WEBHOOK").read_text() == discord.webhook_url() + "\n"
        assert discord.token not in text
        assert discord.hits == ["webhook"] or "accounts check:" in text
        if "not checked" in text:  # until the discord adapter is installed
            assert proc.returncode == 1 and "unknown network 'discord'" in text


async def test_facebook_chain_through_the_command_ends_with_a_page_token_that_does_not_expire(
    project: Project, tmp_path: Path
) -> None:
    async with GraphServer([Page("101", "Brand Page"), Page("202", "Other Page")]) as graph:
        project.accounts = {
            "page": {
                "network": "facebook",
                "api_base": graph.url,
                "page_id": "202",
                "page_token": "${FB_PAGE_TOKEN}",
                "client_id": graph.client.client_id,
                "client_secret": "${META_SECRET}",
            }
        }
        project.write_config()
        creds = tmp_path / "creds"
        store(creds, {"META_SECRET": graph.client.client_secret or ""})
        proc = await asyncio.create_subprocess_exec(
            *PUBLISHER,
            "accounts",
            "connect",
            "page",
            "--config",
            str(project.config_path),
            "--port",
            "0",
            env={**environment(tmp_path), "CREDENTIALS_DIRECTORY": str(creds)},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out_b, err_b = await asyncio.wait_for(proc.communicate(), 120)
        out, err = out_b.decode(), err_b.decode()
        assert proc.returncode == 0, out + err
        token = (creds / "FB_PAGE_TOKEN").read_text().strip()
        assert graph.pages[1].tokens[token] is True  # from the long-lived user token
        assert token not in out + err and graph.client.client_secret not in out + err
        assert "accounts check: ok Other Page (202)" in out
        assert "the page token does not expire" in out


async def test_the_page_is_chosen_at_the_terminal_and_its_id_stored(
    project: Project, tmp_path: Path
) -> None:
    async with GraphServer([Page("101", "Brand Page"), Page("202", "Other Page")]) as graph:
        project.accounts = {
            "page": {
                "network": "facebook",
                "api_base": graph.url,
                "page_id": "${FB_PAGE_ID}",
                "page_token": "${FB_PAGE_TOKEN}",
                "client_id": graph.client.client_id,
                "client_secret": "${META_SECRET}",
            }
        }
        project.write_config()
        creds = tmp_path / "creds"
        store(creds, {"META_SECRET": graph.client.client_secret or ""})
        proc = await asyncio.create_subprocess_exec(
            *PUBLISHER,
            "accounts",
            "connect",
            "page",
            "--config",
            str(project.config_path),
            "--credentials-dir",
            str(creds),
            "--port",
            "0",
            env=environment(tmp_path),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stderr is not None
        said = b""
        while b"Number (1-2): " not in said:  # asked only once the login is done
            chunk = await asyncio.wait_for(proc.stderr.read(256), 60)
            assert chunk, said.decode()
            said += chunk
        assert b"2. Other Page (202)" in said
        proc.stdin.write(b"2\n")
        await proc.stdin.drain()
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, (out + err).decode()
        assert (creds / "FB_PAGE_ID").read_text() == "202\n"
        assert "accounts check: ok Other Page (202)" in out.decode()
