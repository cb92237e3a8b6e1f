"""Fast start (issue 15, item 5): ``publisher --help``, ``validate`` and ``dry-run`` on the
example load none of the heavy modules that only the daemon, the network calls and the store
need.

A test of what is imported, never of time (the times are in ``bench/README.md``, measured by
``bench/startup.py``). Each command runs in a fresh interpreter, which then reports what its
``sys.modules`` holds. The example is copied without any database, as an editor's checkout or
a CI job has it: with a database, ``validate`` reads it and the store loads, as it must.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.paths import ROOT

# The network libraries, the database layer, the daemon's watchers and metrics, the chart.
HEAVY = (
    "aiohttp",
    "tweepy",
    "oauthlib",
    "requests",
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "asyncpg",
    "watchfiles",
    "prometheus_client",
    "matplotlib",
    "aiobotocore",
    "botocore",
    "publisher.mediahost",
)
# Parsing the arguments needs none of the config, the queue parser or the text layer either.
NOT_FOR_PARSING = (
    *HEAVY,
    "pydantic",
    "yaml",
    "regex",
    "asyncio",
    "publisher.config",
    "publisher.queuefile",
    "publisher.adapters",
    "publisher.text",
    "publisher.store",
)

PROBE = """
import json, sys
report, args = sys.argv[1], sys.argv[2:]
from publisher.cli import main
code = main(args)
with open(report, "w", encoding="utf-8") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""


def probe(tmp_path: Path, *args: str) -> tuple[dict[str, Any], str]:
    """Run ``publisher ARGS`` in a new interpreter: its exit code and loaded modules, and
    what it printed."""
    report = tmp_path / "modules.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(report), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert report.exists(), result.stderr
    doc: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    return doc, result.stdout


def loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` (or any of their submodules) were imported."""
    return sorted({n for n in names for m in modules if m == n or m.startswith(n + ".")})


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """The example's config, queue and media, with no database beside them, and an S3 media
    host (whose client, aiobotocore, only a command that sends may load)."""
    site = tmp_path / "example"
    shutil.copytree(ROOT / "examples", site, ignore=shutil.ignore_patterns("*.db", "*.db-*"))
    config = site / "publisher.toml"
    with config.open("a", encoding="utf-8") as f:
        f.write(
            '\n[media.s3]\nbucket = "brand-media"\naccess_key_id = "${S3_ACCESS_KEY_ID}"\n'
            'secret_access_key = "${S3_SECRET_ACCESS_KEY}"\npresign = "1h"\n'
        )
    return config


def test_the_heavy_modules_exist() -> None:
    """Each name is a module this environment has: a misspelt one would never be 'loaded'."""
    for name in (*HEAVY, "pydantic", "yaml", "regex"):
        assert importlib.util.find_spec(name) is not None, name


def test_help_parses_with_light_imports(tmp_path: Path) -> None:
    doc, out = probe(tmp_path, "--help")
    assert doc["code"] == 0
    assert "validate" in out and "dry-run" in out
    assert loaded(doc["modules"], NOT_FOR_PARSING) == []


def test_validate_loads_no_network_or_database_module(tmp_path: Path, example: Path) -> None:
    doc, out = probe(tmp_path, "validate", "--config", str(example))
    assert doc["code"] == 0, out
    assert "valid —" in out
    assert loaded(doc["modules"], HEAVY) == []
    # It did parse the queue and load the adapters the config names, without their HTTP.
    assert {"publisher.queuefile", "publisher.adapters.x", "publisher.adapters.mastodon"} <= set(
        doc["modules"]
    )


def test_dry_run_renders_without_network_or_database_modules(tmp_path: Path, example: Path) -> None:
    doc, out = probe(tmp_path, "dry-run", "--config", str(example), "--from", "2000-01-01T00:00Z")
    assert doc["code"] == 0, out
    assert out.count("payload:") >= 10  # every network of the example rendered its posts
    assert loaded(doc["modules"], HEAVY) == []
    assert "publisher.text" in doc["modules"]


async def test_validate_with_a_database_reads_it(tmp_path: Path, example: Path) -> None:
    """The other side of the seam: once the daemon has a database, ``validate`` diffs the
    queue against it, and only then loads the store."""
    from publisher.store import Store

    store = await Store.open(f"sqlite:///{example.parent / 'queue.db'}")
    await store.close()
    doc, out = probe(tmp_path, "validate", "--config", str(example))
    assert doc["code"] == 0, out
    assert "sqlalchemy" in doc["modules"]
