"""`publisher validate` renders every delivery still to publish and reports each network-level
problem at the line and column of the field that causes it (tests/gate/cases.py): the exact
place, the exit code, nothing else reported, the store unchanged and no network reached."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.config import SecretPolicy, load_config
from publisher.store import Store
from publisher.sync import sync_queue
from tests.conftest import Project
from tests.gate.cases import CASES, Case, make_media, queue_text
from tests.test_cli import Tripwire, cli, networks_at

NETWORKS = {"x", "mastodon", "bluesky", "facebook", "linkedin"}

BASELINE = """\
posts:
  - id: already-planned
    at: 2099-11-01 09:00
    accounts: [bird, masto, sky, page, pro]
    text: Bonjour
"""


@pytest.fixture
async def tripwire() -> AsyncIterator[Tripwire]:
    async with Tripwire() as t:
        yield t


@pytest.fixture
async def site(project: Project, tripwire: Tripwire) -> Project:
    """Accounts on the five networks, all pointed at the tripwire; media; a store that holds
    a plan already (synced from BASELINE)."""
    networks_at(project, tripwire.url)
    make_media(project.root)
    project.write_queue(BASELINE)
    config = load_config(project.config_path, secrets=SecretPolicy.WARN)
    store = await Store.open(project.database)
    try:
        report = await sync_queue(config, store, datetime(2026, 11, 1, tzinfo=UTC))
        assert report.applied, report
    finally:
        await store.close()
    return project


def fingerprint(root: Path) -> dict[str, str]:
    """Every file beside the queue (the store and its journals included), by content."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "queue.yaml"
    }


def test_the_table_covers_every_network_with_25_problems_or_more() -> None:
    problems = [a for c in CASES for a in c.expected]
    assert len(problems) >= 25
    assert {a.network for a in problems} == NETWORKS
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_validate_reports_each_problem_at_its_field(
    case: Case, site: Project, tripwire: Tripwire
) -> None:
    before = fingerprint(site.root)
    site.queue_path.write_text(queue_text(case), encoding="utf-8")
    config = ("--config", str(site.config_path))

    code, out, err = await cli("validate", *config)
    assert code == case.exit_code, err
    lines = err.splitlines()
    for at in case.expected:
        prefix = f"{site.queue_path}:{at.line}:{at.column}: "
        if at.severity == "warning":
            prefix += "warning: "
        suffix = f"({at.account}, {at.network})"
        assert any(
            line.startswith(prefix) and at.fragment in line and line.endswith(suffix)
            for line in lines
        ), f"{case.name}: no {prefix}…{at.fragment!r}…{suffix} in\n{err}"
    if case.exit_code:
        assert "cannot be published as written" in err and "valid —" not in out
    else:
        assert "valid —" in out

    code, out, _ = await cli("validate", "--format", "json", *config)
    assert code == case.exit_code
    doc = json.loads(out)
    found = {
        (d["line"], d["column"], d["severity"], d["account"], d["network"])
        for d in doc["diagnostics"]
        if d["account"] is not None  # the deliveries' problems; the config's are warnings
    }
    expected = {(a.line, a.column, a.severity, a.account, a.network) for a in case.expected}
    assert found == expected, f"{case.name}: {doc['diagnostics']}"
    assert doc["valid"] is (case.exit_code == 0)
    assert all(d["account"] is not None for d in doc["diagnostics"] if d["severity"] == "error")

    assert fingerprint(site.root) == before  # the store and everything beside it unchanged
    assert tripwire.hits == []
