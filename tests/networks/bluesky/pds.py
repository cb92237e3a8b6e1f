"""The real Bluesky reference PDS, started once per test session.

``tests/peers/bluesky-pds.sh`` installs ``@atproto/pds``
from npm into a cache
directory outside the repository (``$PUBLISHER_PDS_DIR``, default
``~/.cache/publisher/bluesky-pds``) so the slow first install happens once per machine, then
starts the PDS and an in-memory did:plc directory on free ports. Without node and npm the tests
fail loudly: CI must run them, a silent skip would hide a broken adapter.

Import the fixtures into a test module: ``from tests.networks.bluesky.pds import pds, pds_account``.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.paths import PEERS

START_SH = Path(
    os.environ.get("PUBLISHER_PDS_START", str(PEERS / "bluesky-pds.sh"))
)
JWT_SECRET = "publisher-tests-jwt-secret"  # so tests can mint an expired access token
ADMIN_PASSWORD = "publisher-tests-admin"
START_TIMEOUT = 900  # the first start compiles better-sqlite3 (about 90 s, more on slow CI)
READY = re.compile(r"READY PLC (\S+) PDS (\S+) pid (\d+)")


def _cache_dir() -> Path:
    configured = os.environ.get("PUBLISHER_PDS_DIR")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "publisher" / "bluesky-pds"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PdsError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body

    @property
    def error(self) -> str:
        return str(self.body.get("error", "")) if isinstance(self.body, dict) else ""


@dataclass(frozen=True)
class Pds:
    """A running PDS, with small synchronous XRPC helpers for test setup and read-back."""

    url: str
    plc_url: str
    pid: int

    def xrpc(
        self,
        nsid: str,
        body: Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, str] | None = None,
        token: str | None = None,
        basic: tuple[str, str] | None = None,
    ) -> Any:
        query = "?" + urllib.parse.urlencode(params) if params else ""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}/xrpc/{nsid}{query}", data=data)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if basic:
            raw = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {raw}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                text = resp.read()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as err:
            text = err.read()
            try:
                doc = json.loads(text)
            except ValueError:
                doc = text.decode(errors="replace")
            raise PdsError(err.code, doc) from None

    def create_account(self, handle: str) -> Account:
        password = secrets.token_urlsafe(12)
        doc = self.xrpc(
            "com.atproto.server.createAccount",
            {"handle": handle, "email": f"{handle}@example.com", "password": password},
        )
        app = self.xrpc(
            "com.atproto.server.createAppPassword",
            {"name": "publisher-tests"},
            token=doc["accessJwt"],
        )
        return Account(self, handle, doc["did"], password, app["password"], doc["accessJwt"])

    def get_record(self, did: str, rkey: str, collection: str = "app.bsky.feed.post") -> Any:
        return self.xrpc(
            "com.atproto.repo.getRecord",
            params={"repo": did, "collection": collection, "rkey": rkey},
        )

    def list_records(self, did: str, collection: str = "app.bsky.feed.post") -> list[Any]:
        records: list[Any] = []
        cursor = ""
        while True:
            params = {"repo": did, "collection": collection, "limit": "100"}
            if cursor:
                params["cursor"] = cursor
            page = self.xrpc("com.atproto.repo.listRecords", params=params)
            records.extend(page["records"])
            cursor = page.get("cursor", "")
            if not cursor or not page["records"]:
                return records

    def mint_access_token(self, did: str, *, expired_seconds_ago: int = 60) -> str:
        """An access JWT the PDS itself would have issued, already expired."""
        now = int(time.time())
        header = {"typ": "at+jwt", "alg": "HS256"}
        claims = {
            "scope": "com.atproto.appPass",
            "aud": "did:web:localhost",
            "sub": did,
            "iat": now - 7200,
            "exp": now - expired_seconds_ago,
        }

        def b64(doc: Mapping[str, Any]) -> str:
            raw = json.dumps(doc, separators=(",", ":")).encode()
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        signing = f"{b64(header)}.{b64(claims)}"
        sig = hmac.new(JWT_SECRET.encode(), signing.encode(), hashlib.sha256).digest()
        return f"{signing}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"


@dataclass(frozen=True)
class Account:
    pds: Pds
    handle: str
    did: str
    password: str
    app_password: str
    access: str

    def posts(self) -> list[Any]:
        return self.pds.list_records(self.did)


def unique_handle(prefix: str) -> str:
    """A handle no earlier test of this PDS run used (handles must end in ``.test``)."""
    return f"{prefix}-{secrets.token_hex(3)}.test"


def _start(directory: Path, data_dir: Path) -> Pds:
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.fail(
                f"the Bluesky PDS tests need {tool} (Node.js 20 and npm) on PATH to run the "
                f"reference PDS ({START_SH}); install them, e.g. apt-get install nodejs npm",
                pytrace=False,
            )
    if not START_SH.exists():
        pytest.fail(f"the PDS start script {START_SH} is missing", pytrace=False)
    directory.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PLC_PORT": str(_free_port()),
        "PDS_PORT": str(_free_port()),
        "PDS_DATA_DIRECTORY": str(data_dir),
        "PDS_JWT_SECRET": JWT_SECRET,
        "PDS_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    # start.sh keeps its log, pid file and npm install in the directory: one start at a time.
    with open(directory / ".publisher-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            done = subprocess.run(
                ["bash", str(START_SH), str(directory)],
                env=env,
                capture_output=True,
                text=True,
                timeout=START_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"the Bluesky PDS did not start within {START_TIMEOUT} s; see "
                f"{directory}/install.log and {directory}/pds.log",
                pytrace=False,
            )
    out = done.stdout + done.stderr
    match = READY.search(out)
    if done.returncode != 0 or match is None:
        install_log = directory / "install.log"
        tail = install_log.read_text(errors="replace")[-2000:] if install_log.exists() else ""
        pytest.fail(
            f"the Bluesky PDS failed to start (exit {done.returncode}):\n{out[-3000:]}\n"
            f"install.log tail:\n{tail}",
            pytrace=False,
        )
    plc_url, pds_url, pid = match.group(1), match.group(2), int(match.group(3))
    if pds_url.rsplit(":", 1)[-1] != env["PDS_PORT"]:
        _stop(pid)
        pytest.fail(f"start.sh reported another PDS ({pds_url}), not ours", pytrace=False)
    return Pds(pds_url, plc_url, pid)


def _stop(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def pds() -> Iterator[Pds]:
    """The reference PDS for the whole test session; stopped at its end."""
    data_dir = Path(tempfile.mkdtemp(prefix="publisher-pds-data-"))
    server = _start(_cache_dir(), data_dir)
    try:
        yield server
    finally:
        _stop(server.pid)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def pds_account(pds: Pds) -> Account:
    """A fresh account for one test module, with an app password."""
    return pds.create_account(unique_handle("pub"))
