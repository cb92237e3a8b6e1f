"""Shared fixtures: a project directory with real files, real databases, a fake clock."""

from __future__ import annotations

import asyncio
import os
import socket
import textwrap
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from publisher.clock import FakeClock
from publisher.config import Config, SecretPolicy, load_config

# The recording adapter lives in the test kit; engine tests import it from here too.
from publisher.testing.recording import Call, RecordingAdapter, recording_adapters  # noqa: F401

# The Bluesky PDS is one process for the whole session, shared by every module that uses it.
from tests.networks.bluesky.pds import pds, pds_account  # noqa: F401

PG_HOST, PG_PORT = "127.0.0.1", 5432
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 09:00 in Europe/Paris


def postgres_available() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return True
    except OSError:
        return False


def skip_or_fail_without_postgres() -> None:
    if postgres_available():
        return
    msg = (
        "PostgreSQL is not reachable at 127.0.0.1:5432 (start it: "
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)"
    )
    if os.environ.get("PUBLISHER_REQUIRE_POSTGRES") == "1":
        pytest.fail(msg)
    pytest.skip(msg)


async def _create_pg_database() -> str:
    import asyncpg

    name = f"publisher_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name


async def _drop_pg_database(name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh database on the real server, dropped afterwards."""
    skip_or_fail_without_postgres()
    name = await _create_pg_database()
    yield f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"
    await _drop_pg_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The store and engine suites run on both backends."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'queue.db'}"
        return
    skip_or_fail_without_postgres()
    name = await _create_pg_database()
    yield f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"
    await _drop_pg_database(name)


BASE_CONFIG = """\
queue = "queue.yaml"
database = "{database}"
timezone = "Europe/Paris"
max_lateness = "2h"

[engine]
concurrency = 8
per_account = 2
shutdown_timeout = "5s"
debounce = "100ms"

[retry]
max_attempts = 3
base_delay = "10s"
max_delay = "1m"
jitter = 0
"""


@dataclass
class Project:
    """A directory with a publisher.toml and a queue.yaml, as a user would have."""

    root: Path
    database: str
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: str = ""

    @property
    def config_path(self) -> Path:
        return self.root / "publisher.toml"

    @property
    def queue_path(self) -> Path:
        return self.root / "queue.yaml"

    def write_config(self) -> None:
        text = BASE_CONFIG.format(database=self.database) + self.extra
        for name, table in self.accounts.items():
            text += f"\n[accounts.{name}]\n"
            for key, value in table.items():
                text += f"{key} = {_toml(value)}\n"
        self.config_path.write_text(text, encoding="utf-8")

    def write_queue(self, text: str) -> None:
        self.queue_path.write_text(textwrap.dedent(text), encoding="utf-8")

    def config(self, policy: SecretPolicy = SecretPolicy.REQUIRE) -> Config:
        return load_config(self.config_path, secrets=policy)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.fixture
def project(tmp_path: Path) -> Project:
    p = Project(
        tmp_path,
        f"sqlite:///{tmp_path / 'queue.db'}",
        accounts={
            "alpha": {"network": "log"},
            "beta": {"network": "log"},
        },
    )
    p.write_config()
    return p


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0 - timedelta(minutes=5))


async def eventually(check: Callable[[], Any], timeout: float = 5.0) -> None:
    """Wait (really) until ``check()`` is truthy; for tests driving a running engine."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)
