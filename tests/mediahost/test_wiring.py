"""The host built from ``[media]`` where the daemon and ``accounts check`` build adapters:
a directory relative to the config file, none for rendering, ``accounts check`` checking it
(write-free), and a reload that would change it refused."""

from __future__ import annotations

import json

import aiohttp

from publisher.commands.run import unsafe_reload
from publisher.mediahost.build import open_host
from publisher.mediahost.directory import DirectoryHost
from publisher.testing.s3server import LocalS3
from tests.conftest import Project
from tests.test_cli import cli

SERVED = '\n[media]\npublic_dir = "{dir}"\npublic_base_url = "https://media.example.org/p/"\n'


async def test_a_relative_public_dir_is_relative_to_the_config_file(
    project: Project, session: aiohttp.ClientSession
) -> None:
    project.extra = SERVED.format(dir="public")
    project.write_config()
    config = project.config()
    async with open_host(config, session) as host:
        assert isinstance(host, DirectoryHost)
        assert host.directory == (project.root / "public").resolve()
        assert host.base_url == "https://media.example.org/p/"
    async with open_host(config, None) as none:  # validate, dry-run: no session, no host
        assert none is None
    project.extra = ""
    project.write_config()
    async with open_host(project.config(), session) as none:
        assert none is None


async def test_accounts_check_checks_the_directory(project: Project) -> None:
    (project.root / "public").mkdir()
    project.extra = SERVED.format(dir="public")
    project.write_config()
    project.write_queue("posts: []\n")
    code, out, err = await cli("accounts", "check", "--json", "--config", str(project.config_path))
    assert code == 0, err
    host = json.loads(out)["media_host"]
    assert host["status"] == "ok"
    assert str(project.root / "public") in host["identity"]
    assert list((project.root / "public").iterdir()) == []  # write-free

    project.extra = SERVED.format(dir="missing")
    project.write_config()
    code, out, err = await cli("accounts", "check", "--config", str(project.config_path))
    assert code == 1
    (line,) = [line for line in out.splitlines() if "[media]" in line]
    assert line.startswith("ATTENTION") and "public_dir" in line
    # Asked about some accounts only: the host is not theirs to report.
    code, out, err = await cli(
        "accounts", "check", "--json", "--account", "alpha", "--config", str(project.config_path)
    )
    assert code == 0 and "media_host" not in json.loads(out)


async def test_accounts_check_heads_the_bucket(project: Project, local_s3: LocalS3) -> None:
    account = await local_s3.provision()
    project.extra = (
        f'\n[media.s3]\nbucket = "{account.bucket}"\nendpoint_url = "{account.endpoint_url}"\n'
        f'access_key_id = "{account.access_key_id}"\n'
        f'secret_access_key = "{account.secret_access_key}"\npresign = "1h"\n'
    )
    project.write_config()
    project.write_queue("posts: []\n")
    code, out, err = await cli("accounts", "check", "--json", "--config", str(project.config_path))
    assert code == 0, err
    assert json.loads(out)["media_host"]["identity"] == (
        f"bucket {account.bucket} at {account.endpoint_url}/"
    )
    project.extra = project.extra.replace(account.bucket, "not-" + account.bucket)
    project.write_config()
    code, out, err = await cli("accounts", "check", "--json", "--config", str(project.config_path))
    assert code == 1
    assert "does not exist" in json.loads(out)["media_host"]["detail"]
    assert account.secret_access_key not in out + err


def test_a_reload_cannot_change_the_host(project: Project) -> None:
    project.extra = SERVED.format(dir="public")
    project.write_config()
    old = project.config()
    project.extra = SERVED.format(dir="public") + 'roots = ["assets"]\n'
    project.write_config()
    assert unsafe_reload(old, project.config()) is None  # the media roots may change
    project.extra = SERVED.format(dir="elsewhere")
    project.write_config()
    assert unsafe_reload(old, project.config()) == "the [media] public host changed"
    project.extra = ""
    project.write_config()
    assert unsafe_reload(old, project.config()) == "the [media] public host changed"
