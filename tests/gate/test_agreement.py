"""`validate` and `dry-run` agree on every delivery: the same deliveries rendered, the same
errors and warnings for each, the same exit code. On the bundled example and on every case of
the table (tests/gate/cases.py)."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Project
from tests.gate.cases import CASES, Case, make_media, queue_text
from tests.paths import ROOT
from tests.test_cli import cli, networks_at

# A window that holds every delivery still to publish: dry-run's default starts now.
EVERYTHING = ("--from", "1970-01-01")


async def both(config: Path) -> tuple[int, dict[str, Any], int, dict[str, Any]]:
    vcode, vout, _ = await cli("validate", "--format", "json", "--config", str(config))
    dcode, dout, _ = await cli("dry-run", "--json", *EVERYTHING, "--config", str(config))
    return vcode, json.loads(vout), dcode, json.loads(dout)


def assert_agree(vcode: int, validated: dict[str, Any], dcode: int, dry: dict[str, Any]) -> None:
    assert vcode == dcode
    deliveries = {(d["post"], d["account"]): d for d in dry["deliveries"]}
    assert len(deliveries) == len(dry["deliveries"]) == validated["counts"]["pending"]
    said: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(
        lambda: {"error": [], "warning": []}
    )
    for d in validated["diagnostics"]:
        if d["post"] is not None:
            key = (d["post"], d["account"])
            assert key in deliveries, f"validate speaks of {key}, which dry-run does not show"
            assert d["network"] == deliveries[key]["network"]
            said[key][d["severity"]].append(d["message"])
    for key, d in deliveries.items():
        assert sorted(said[key]["error"]) == sorted(d["errors"]), key
        assert sorted(said[key]["warning"]) == sorted(d["warnings"]), key
    failing = sum(1 for d in deliveries.values() if d["errors"])
    assert validated["counts"]["failing"] == failing
    assert (vcode == 1) is (failing > 0)


async def test_validate_and_dry_run_agree_on_the_example(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    config = tmp_path / "examples" / "publisher.toml"
    vcode, validated, dcode, dry = await both(config)
    assert vcode == 0 and validated["valid"], validated["diagnostics"]
    assert len(dry["deliveries"]) == validated["counts"]["deliveries"] > 40
    assert_agree(vcode, validated, dcode, dry)
    assert any(d["warnings"] for d in dry["deliveries"])  # there is something to agree on
    assert not (tmp_path / "examples" / "queue.db").exists()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_validate_and_dry_run_agree_on_each_case(case: Case, project: Project) -> None:
    networks_at(project, "http://127.0.0.1:9")  # never reached: nothing is sent
    make_media(project.root)
    project.queue_path.write_text(queue_text(case), encoding="utf-8")
    vcode, validated, dcode, dry = await both(project.config_path)
    assert vcode == case.exit_code
    assert_agree(vcode, validated, dcode, dry)
