"""The wheel installs one top-level package, ``publisher``: the adapters live inside it.

PyPI's ``adapters`` package installs a top-level module of that name; ours must not, or the
two could not live in one environment (issue 14).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.paths import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,  # a guard against a hang, not a limit
    )
    (built,) = out.glob("publisher-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_has_no_top_level_adapters_module(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"publisher"}, tops
    assert "publisher/adapters/base.py" in names
    networks = ("x", "mastodon", "bluesky", "facebook", "linkedin", "telegram", "discord",
                "instagram", "threads", "log")
    for network in networks:
        assert f"publisher/adapters/{network}.py" in names


def test_the_entry_points_name_modules_inside_publisher(wheel: zipfile.ZipFile) -> None:
    (entry_points,) = (n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))
    text = wheel.read(entry_points).decode()
    section = text.split("[publisher.adapters]", 1)[1].split("[", 1)[0]
    targets = [line.split("=", 1)[1].strip() for line in section.splitlines() if "=" in line]
    assert len(targets) == 10
    assert all(t.startswith("publisher.adapters.") for t in targets), targets


def test_the_link_that_installs_adapters_inside_publisher() -> None:
    link = ROOT / "publisher" / "adapters"
    assert link.is_symlink() and Path(link.readlink()) == Path("../adapters")


def test_the_web_views_templates_and_styles_ship_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    web = ROOT / "publisher" / "web"
    shipped = {
        f"publisher/web/{kind}/{p.name}"
        for kind in ("templates", "static")
        for p in (web / kind).iterdir()
    }
    assert len(shipped) >= 9 and shipped <= names, sorted(shipped - names)
