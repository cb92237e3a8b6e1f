"""A network from another package (``examples/third_party_adapter``), once installed, is
found through the ``publisher.adapters`` entry point: ``validate`` and ``dry-run`` take an
account on it. Not installed, the same config names an unknown network.

The package is installed for real (pip, into a directory of its own put on the path), not
into the environment the other tests share.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher.adapters.registry import available
from tests.paths import ROOT
from tests.processes import run_publisher

EXAMPLE = ROOT / "examples" / "third_party_adapter"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example package, installed by pip into a directory of its own."""
    target = tmp_path_factory.mktemp("site")
    source = tmp_path_factory.mktemp("build") / "third_party_adapter"
    # Built from a copy: a build leaves its files beside the sources.
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    return target


def project(root: Path) -> Path:
    at = (datetime.now(UTC) + timedelta(days=2)).isoformat(timespec="minutes")
    (root / "queue.yaml").write_text(
        f"posts:\n  - id: launch\n    at: {at}\n    accounts: [loft]\n"
        "    text: Les soldes commencent ! #soldes\n",
        encoding="utf-8",
    )
    config = root / "publisher.toml"
    config.write_text(
        'queue = "queue.yaml"\ntimezone = "Europe/Paris"\n'
        f'database = "sqlite:///{root}/queue.db"\n'
        '[accounts.loft]\nnetwork = "pigeon"\nloft = "http://127.0.0.1:9"\n'
        'token = "${PIGEON_TOKEN}"\n',
        encoding="utf-8",
    )
    return config


def env_with(*paths: Path) -> dict[str, str]:
    extra = [str(p) for p in paths]
    current = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([*extra, *([current] if current else [])]),
        "PIGEON_TOKEN": "pigeon-token-for-tests-0042",
    }


def test_an_installed_network_is_found_by_its_entry_point(site: Path, tmp_path: Path) -> None:
    config = project(tmp_path)
    r = run_publisher("validate", "--config", str(config), env=env_with(site))
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_publisher("dry-run", "--json", "--config", str(config), env=env_with(site))
    assert r.returncode == 0, r.stderr
    (delivery,) = json.loads(r.stdout)["deliveries"]
    assert delivery["account"] == "loft"
    assert "pigeon-token-for-tests-0042" not in r.stdout + r.stderr


def test_without_the_package_the_network_is_unknown(tmp_path: Path) -> None:
    if "pigeon" in available():
        pytest.skip("publisher-pigeon is installed in this environment (scripts/test removes it)")
    config = project(tmp_path)
    r = run_publisher("validate", "--config", str(config), env=env_with())
    assert r.returncode != 0
    assert "unknown network 'pigeon'" in r.stdout + r.stderr


def test_a_first_comment_on_a_network_without_comments_is_refused_at_its_line(
    site: Path, tmp_path: Path
) -> None:
    """pigeon declares no comments (``Capabilities.comments`` is None): validate names the
    ``first_comment`` that reaches it, at its line and column."""
    config = project(tmp_path)
    queue = tmp_path / "queue.yaml"
    queue.write_text(
        queue.read_text(encoding="utf-8") + "    first_comment: Le lien est ici\n",
        encoding="utf-8",
    )
    r = run_publisher("validate", "--config", str(config), env=env_with(site))
    assert r.returncode == 1, r.stdout + r.stderr
    assert (
        "queue.yaml:6:20: posts[0].first_comment: pigeon takes no first comment: remove "
        "first_comment for it (loft, pigeon)"
    ) in r.stderr
